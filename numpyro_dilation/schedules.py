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

from numpyro_dilation.validation import check_probability

__all__ = [
    "linear_schedule",
    "geometric_schedule",
    "cosine_schedule",
    "validate_schedule",
    "make_schedule",
    "SCHEDULES",
]

DEFAULT_LAMBDA_MIN = 1e-3
"""First level of a named schedule unless ``lambda_min`` says otherwise (every front end's
default: :class:`~numpyro_dilation.mcmc.DilationLangevin`,
:func:`~numpyro_dilation.population.population_sampler`,
:func:`~numpyro_dilation.annealing.dilation_langevin`)."""


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

    **Example**

    .. code-block:: python

        import numpy as np
        from numpyro_dilation.schedules import linear_schedule

        levels = linear_schedule(5, 0.2)
        print(levels)  # [0.2 0.4 0.6 0.8 1. ]: equal increments
        print(np.sqrt(levels[:-1] / levels[1:]))  # contraction per step, fading to 1: 0.71 ... 0.89
    """
    _check(num_steps, lambda_min)
    t = _fractions(num_steps)
    return _end_at_one(lambda_min + (1.0 - lambda_min) * t)


def geometric_schedule(num_steps: int, lambda_min: float) -> np.ndarray:
    r""":math:`\lambda_k = \lambda_\min^{1 - k/(K-1)}`, shape ``(num_steps,)``.

    **Example**

    .. code-block:: python

        import numpy as np
        from numpyro_dilation.schedules import geometric_schedule

        levels = geometric_schedule(4, 1e-3)
        print(levels)  # [0.001 0.01 0.1 1.]: equal ratios
        print(np.sqrt(levels[:-1] / levels[1:]))  # constant contraction per step: sqrt(0.1) = 0.316
    """
    _check(num_steps, lambda_min)
    t = _fractions(num_steps)
    return _end_at_one(np.exp((1.0 - t) * np.log(lambda_min)))


def cosine_schedule(num_steps: int, lambda_min: float) -> np.ndarray:
    r""":math:`\lambda_k = \lambda_\min + (1 - \lambda_\min)(1 - \cos(\pi k/(K-1)))/2`.

    **Example**

    .. code-block:: python

        import numpy as np
        from numpyro_dilation.schedules import cosine_schedule

        levels = cosine_schedule(5, 0.01)
        print(levels)  # [0.01 0.155 0.505 0.855 1.]
        print(np.diff(levels))  # [0.145 0.35 0.35 0.145]: small steps at both ends
    """
    _check(num_steps, lambda_min)
    t = _fractions(num_steps)
    return _end_at_one(lambda_min + (1.0 - lambda_min) * 0.5 * (1.0 - np.cos(np.pi * t)))


SCHEDULES: dict[str, Callable[[int, float], np.ndarray]] = {
    "linear": linear_schedule,
    "geometric": geometric_schedule,
    "cosine": cosine_schedule,
}
"""The named schedules, ``name -> constructor(num_steps, lambda_min)``, each returning
:math:`\\lambda_1 = \\lambda_{\\min} < \\dots < \\lambda_K = 1`: the names that
``schedule=`` accepts (:func:`make_schedule`).

**Example**

.. code-block:: python

    from numpyro_dilation.schedules import SCHEDULES

    print(sorted(SCHEDULES))  # ['cosine', 'geometric', 'linear']
    for name, constructor in SCHEDULES.items():
        print(name, constructor(3, 0.01))  # linear [0.01 0.505 1.], geometric [0.01 0.1 1.], ...
"""


def validate_schedule(schedule) -> np.ndarray:
    """Check a user-given schedule and return it as a 1-D float64 NumPy array.

    A schedule is :math:`0 < \\lambda_1 < \\dots < \\lambda_K = 1`.
    Raises ``ValueError`` unless it is a non-empty 1-D sequence, strictly
    increasing, inside (0, 1] and ending at exactly 1.

    **Example**

    .. code-block:: python

        from numpyro_dilation.schedules import validate_schedule

        print(validate_schedule([0.01, 0.1, 1.0]))  # [0.01 0.1 1.]: a float64 NumPy array
        for bad in ([0.5, 0.1, 1.0], [0.1, 0.5], [0.0, 1.0]):
            try:
                validate_schedule(bad)
            except ValueError as err:
                print(err)  # not increasing; does not end at 1; level 0 is outside (0, 1]
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
    explicit array (its length must then equal ``num_steps``); the result is
    :math:`0 < \\lambda_1 < \\dots < \\lambda_K = 1` with :math:`K` = ``num_steps``.

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


def resolve_levels(schedule, num_annealing_steps, lambda_min) -> np.ndarray:
    """The annealing levels from a sampler's arguments, shape ``(K,)``; ``K = 0`` (no
    annealing) gives an empty array. ``num_annealing_steps=None`` means the length of an
    explicit ``schedule`` array, else 0; otherwise as :func:`make_schedule`."""
    explicit = not (isinstance(schedule, str) or callable(schedule))
    if num_annealing_steps is None:
        num_annealing_steps = len(validate_schedule(schedule)) if explicit else 0
    if (
        not isinstance(num_annealing_steps, (int, np.integer))
        or isinstance(num_annealing_steps, bool)
        or num_annealing_steps < 0
    ):
        raise ValueError(
            "`num_annealing_steps` (the schedule's `num_steps`) must be an integer >= 0, "
            f"got {num_annealing_steps!r}."
        )
    if not explicit:
        check_probability("lambda_min", lambda_min)
    if num_annealing_steps == 0:
        if explicit:
            make_schedule(schedule, 0, lambda_min)  # its length error
        return np.ones(0)
    return make_schedule(schedule, int(num_annealing_steps), lambda_min)
