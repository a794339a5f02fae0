r"""Annealing schedules :math:`0 < \lambda_0 < \dots < \lambda_{K-1} = 1`.

Each constructor returns a float64 NumPy array (static configuration) of
length ``num_steps`` (one level per annealing step) that starts at
``lambda_min`` and ends at exactly 1:

- linear: :math:`\lambda_k = \lambda_\min + (1 - \lambda_\min)\, t_k`;
- geometric: :math:`\lambda_k = \lambda_\min^{\,1 - t_k}`;
- cosine: :math:`\lambda_k = \lambda_\min + (1 - \lambda_\min)\,
  \tfrac{1}{2}(1 - \cos \pi t_k)`,

with :math:`t_k = k / (K - 1)`. The per-step contraction toward the center in
target coordinates is :math:`\sqrt{\lambda_k/\lambda_{k+1}}`: it fades to 1
for the linear and cosine schedules and stays constant for the geometric one.
"""

from collections.abc import Callable

import numpy as np

__all__ = [
    "linear_schedule",
    "geometric_schedule",
    "cosine_schedule",
    "validate_schedule",
    "make_schedule",
    "SCHEDULES",
]


def _check(num_steps: int, lambda_min: float) -> None:
    if not isinstance(num_steps, (int, np.integer)) or num_steps < 1:
        raise ValueError(f"`num_steps` must be a positive integer, got {num_steps!r}.")
    if not (0.0 < float(lambda_min) < 1.0):
        raise ValueError(f"`lambda_min` must lie in (0, 1), got {lambda_min!r}.")


def _fractions(num_steps: int) -> np.ndarray:
    if num_steps == 1:
        return np.ones(1)
    return np.linspace(0.0, 1.0, num_steps)


def _end_at_one(levels: np.ndarray) -> np.ndarray:
    levels = np.asarray(levels, dtype=float)
    levels[-1] = 1.0  # exact, whatever the rounding of the formula
    return levels


def linear_schedule(num_steps: int, lambda_min: float) -> np.ndarray:
    r""":math:`\lambda_k = \lambda_\min + (1 - \lambda_\min)\,k/(K-1)`, shape ``(num_steps,)``.

    **Example**: see :func:`~numpyro_dilation.schedules.make_schedule`.
    """
    _check(num_steps, lambda_min)
    t = _fractions(num_steps)
    return _end_at_one(lambda_min + (1.0 - lambda_min) * t)


def geometric_schedule(num_steps: int, lambda_min: float) -> np.ndarray:
    r""":math:`\lambda_k = \lambda_\min^{1 - k/(K-1)}`, shape ``(num_steps,)``.

    **Example**: see :func:`~numpyro_dilation.schedules.make_schedule`.
    """
    _check(num_steps, lambda_min)
    t = _fractions(num_steps)
    return _end_at_one(np.exp((1.0 - t) * np.log(lambda_min)))


def cosine_schedule(num_steps: int, lambda_min: float) -> np.ndarray:
    r""":math:`\lambda_k = \lambda_\min + (1 - \lambda_\min)(1 - \cos(\pi k/(K-1)))/2`.

    **Example**: see :func:`~numpyro_dilation.schedules.make_schedule`.
    """
    _check(num_steps, lambda_min)
    t = _fractions(num_steps)
    return _end_at_one(lambda_min + (1.0 - lambda_min) * 0.5 * (1.0 - np.cos(np.pi * t)))


SCHEDULES: dict[str, Callable[[int, float], np.ndarray]] = {
    "linear": linear_schedule,
    "geometric": geometric_schedule,
    "cosine": cosine_schedule,
}


def validate_schedule(schedule) -> np.ndarray:
    """Check a user-given schedule and return it as a 1-D float64 NumPy array.

    Raises ``ValueError`` unless it is a non-empty 1-D sequence, strictly
    increasing, inside (0, 1] and ending at exactly 1.

    **Example**: see :func:`~numpyro_dilation.schedules.make_schedule`.
    """
    arr = np.asarray(schedule, dtype=float)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(
            f"`schedule` must be a non-empty 1-D array of levels, got shape {arr.shape}."
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError("`schedule` must contain only finite levels.")
    if arr[0] <= 0.0 or arr[-1] > 1.0:
        raise ValueError(
            f"`schedule` levels must lie in (0, 1], got range [{arr.min()}, {arr.max()}]."
        )
    if arr.size > 1 and not np.all(np.diff(arr) > 0):
        raise ValueError("`schedule` must be strictly increasing.")
    if arr[-1] != 1.0:
        raise ValueError(f"`schedule` must end at 1, got last level {arr[-1]}.")
    return arr


def make_schedule(schedule, num_steps: int, lambda_min: float) -> np.ndarray:
    """Resolve ``schedule`` into a validated array of ``num_steps`` levels.

    ``schedule`` is a name in :data:`SCHEDULES` (``"linear"``, ``"geometric"``,
    ``"cosine"``), a callable ``(num_steps, lambda_min) -> array``, or an
    explicit array (its length must then equal ``num_steps``).

    **Example**

    .. code-block:: python

        import numpy as np
        from numpyro_dilation.schedules import (
            cosine_schedule,
            geometric_schedule,
            linear_schedule,
            make_schedule,
            validate_schedule,
        )

        print(linear_schedule(5, 0.01))  # [0.01 0.2575 0.505 0.7525 1.]
        print(geometric_schedule(5, 0.01))  # [0.01 0.0316 0.1 0.316 1.]
        print(cosine_schedule(5, 0.01))  # [0.01 0.155 0.505 0.855 1.]
        assert np.array_equal(make_schedule("geometric", 5, 0.01), geometric_schedule(5, 0.01))
        print(make_schedule(lambda n, lmin: np.linspace(lmin, 1.0, n) ** 2, 4, 0.1))
        print(validate_schedule([0.1, 0.5, 1.0]))  # [0.1 0.5 1.]
        try:
            validate_schedule([0.5, 0.1, 1.0])
        except ValueError as err:
            print(err)  # `schedule` must be strictly increasing.
    """
    if isinstance(schedule, str):
        if schedule not in SCHEDULES:
            raise ValueError(
                f"`schedule` must be one of {sorted(SCHEDULES)} or an array, got {schedule!r}."
            )
        levels = SCHEDULES[schedule](num_steps, lambda_min)
    elif callable(schedule):
        _check(num_steps, lambda_min)
        levels = schedule(num_steps, lambda_min)
    else:
        levels = schedule
    levels = validate_schedule(levels)
    if levels.shape[0] != num_steps:
        raise ValueError(
            f"`schedule` has {levels.shape[0]} levels but {num_steps} annealing "
            "steps were asked for."
        )
    return levels
