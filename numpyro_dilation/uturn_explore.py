r"""The U-turn explorer: approximate U-turns from overdispersed centers at mode-finding
time, whose end points join the chains' own as starts of mode finding (the
``UTurn(kind="explore")`` default wherever global moves run with enough chains:
:data:`~numpyro_dilation.run_plan.AUTO_EXPLORER_MIN_CHAINS`); the maths is in
:mod:`numpyro_dilation.uturn`.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np
from blackjax.types import PRNGKey

if TYPE_CHECKING:
    pass
from numpyro_dilation.batching import map_starts
from numpyro_dilation.modes import (
    GlobalMoves,
    ModeMixture,
    find_modes_per_chain,
    nearest_mode,
)
from numpyro_dilation.schedules import make_schedule
from numpyro_dilation.uturn_kernel import (
    uturn_return,
)
from numpyro_dilation.uturn_settings import (
    UTurn,
    _lambda_grid,
    check_uturn,
)

__all__ = ["explore", "explore_modes", "overdispersed_centers", "assign_modes"]


def _centers(center, positions: jax.Array) -> jax.Array:
    """Per-point centers ``(n, d)``: ``None`` (mean of ``positions``), ``(d,)`` or ``(n, d)``."""
    if center is None:
        center = jnp.mean(positions, axis=0)
    center = jnp.asarray(center, positions.dtype)
    return jnp.broadcast_to(center, positions.shape)


def overdispersed_centers(
    rng_key: PRNGKey, positions: jax.Array, scale: float, shape: tuple[int, ...]
) -> jax.Array:
    r"""Draws of :math:`\mathcal N(\bar y, \kappa^2 S)`, shape ``shape + (d,)``.

    :math:`\bar y` and :math:`S` are the mean and covariance of the rows of
    ``positions`` ``(n, d)`` (:math:`S` plus :math:`10^{-6}\operatorname{tr}S/d` on the
    diagonal, so fewer chains than dimensions still work); :math:`\kappa` = ``scale``.

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from numpyro_dilation.uturn import overdispersed_centers

        positions = jax.random.normal(jax.random.key(0), (8, 2)) * jnp.array([1.0, 0.1])  # 8 chains
        centers = overdispersed_centers(jax.random.key(1), positions, 3.0, (500,))
        print(centers.shape)  # (500, 2)
        print(centers.std(axis=0) / positions.std(axis=0, ddof=1))  # about [3, 3]: kappa = 3
    """
    positions = jnp.asarray(positions)
    dim = positions.shape[1]
    cov = jnp.atleast_2d(jnp.cov(positions, rowvar=False))
    jitter = 1e-6 * jnp.maximum(jnp.trace(cov) / dim, 1e-12)
    chol = jnp.linalg.cholesky(cov + jitter * jnp.eye(dim, dtype=cov.dtype))
    z = jax.random.normal(rng_key, tuple(shape) + (dim,), positions.dtype)
    return jnp.mean(positions, axis=0) + scale * z @ chol.T


def explore(
    rng_key: PRNGKey,
    positions: jax.Array,
    logdensity_fn: Callable,
    step_size: float | jax.Array,
    config: UTurn | None = None,
    center: jax.Array | None = None,
    metropolis: bool = True,
    inverse_mass_matrix: jax.Array | None = None,
) -> jax.Array:
    r"""Approximate U-turns from every position at every level of ``config.lambda_u``.

    Parameters
    ----------
    positions
        Flat positions :math:`y_c`, shape ``(C, d)`` (e.g. the chains at the end of warm-up).
    logdensity_fn
        :math:`\log\gamma` on flat positions of shape ``(d,)``.
    step_size
        :math:`h`, a scalar or per-position ``(C,)``.
    config
        :class:`UTurn` (``lambda_u``, ``num_steps``, ``schedule``, ``center_scale``;
        the rest is ignored).
    center
        ``None`` (mean of ``positions``), shape ``(d,)``, or per-position ``(C, d)``
        (e.g. each chain's annealing center). With ``config.center_scale == 0`` the
        U-turns use these centers; with ``center_scale > 0`` each U-turn draws a
        fresh center from :func:`overdispersed_centers` of the positions and these
        centers together.
    metropolis, inverse_mass_matrix
        As in :func:`uturn_return`.

    Returns
    -------
    The returns, shape ``(L * C, d)`` for :math:`L` levels (level-major).

    Examples
    --------

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from jax.scipy.special import logsumexp
        from numpyro_dilation.uturn import UTurn, explore

        def logdensity(y):  # two unit Gaussians at (-3, 0) and (3, 0), 2-d
            mus = jnp.array([[-3.0, 0.0], [3.0, 0.0]])
            return logsumexp(-0.5 * jnp.sum((y - mus) ** 2, axis=-1))

        positions = jnp.array([[-3.2, 0.1], [-2.7, -0.4], [-3.1, 0.6], [-2.9, 0.0]])  # left mode
        config = UTurn(kind="explore", lambda_u=(0.5, 1e-4), num_steps=30, center_scale=0.0)
        returns = explore(jax.random.key(0), positions, logdensity, 0.5, config, jnp.zeros(2))
        print(returns.shape)  # (8, 2): 2 levels x 4 chains, level-major
        print(returns[:4, 0], returns[4:, 0])  # from 0.5: all left (< 0); from 1e-4: some right
    """
    config = UTurn() if config is None else config
    check_uturn(config)
    schedule = "linear" if config.schedule is None else config.schedule
    positions = jnp.asarray(positions)
    num, dim = positions.shape
    steps = jnp.broadcast_to(jnp.asarray(step_size, positions.dtype), (num,))
    levels = np.stack(
        [make_schedule(schedule, config.num_steps, lam) for lam in _lambda_grid(config)]
    )
    levels = jnp.asarray(levels, positions.dtype)
    key_run, key_center = jax.random.split(rng_key)
    given = _centers(center, positions)
    if config.center_scale > 0:
        cloud = positions if center is None else jnp.concatenate([positions, given])
        centers = overdispersed_centers(key_center, cloud, config.center_scale, (len(levels), num))
    else:
        centers = jnp.broadcast_to(given, (len(levels), num, dim))

    def one(key, y, h, c, lv):
        return uturn_return(key, y, logdensity_fn, lv, h, c, metropolis, inverse_mass_matrix)[0]

    num_levels = len(levels)
    keys = jax.random.split(key_run, num_levels * num)
    rows = (  # level-major: row l * C + c is chain c from level l
        jnp.tile(positions, (num_levels, 1)),
        jnp.tile(steps, num_levels),
        centers.reshape(num_levels * num, dim),
        jnp.repeat(levels, num, axis=0),
    )
    return map_starts(one, keys, *rows)  # (L * C, d)


def explore_modes(
    rng_key: PRNGKey,
    positions: jax.Array,
    logdensity_fn: Callable,
    step_size: float | jax.Array,
    config: UTurn | None = None,
    center: jax.Array | None = None,
    global_moves: GlobalMoves | None = None,
    inverse_mass_matrix: jax.Array | None = None,
    starts: jax.Array | None = None,
) -> tuple[ModeMixture, jax.Array]:
    """:func:`~numpyro_dilation.mode_finding.find_modes` on the positions *and* their U-turn
    returns.

    The drop-in replacement of ``find_modes(positions, logdensity_fn, step_size,
    global_moves, inverse_mass_matrix)`` at the end of warm-up: the mixture's modes
    are those reached by the chains or by the explorer (:func:`explore`, MALA
    re-annealing with the same preconditioner). Returns ``(mixture,
    num_grad_evals)`` with the gradients spent per chain (explorer included): the modes
    come from the :math:`C(1 + L)` points :math:`\\{y_c\\} \\cup \\{\\tilde y_{c,l}\\}`
    (:math:`L` levels :math:`\\lambda_u`), followed by ``starts`` (``(R C, d)``, e.g.
    :func:`~numpyro_dilation.mode_finding.contracted_starts`; each start's ascent uses the
    step size of chain ``r mod C``) when given.

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from jax.scipy.special import logsumexp
        from numpyro_dilation.uturn import UTurn, explore_modes

        def logdensity(y):  # two unit Gaussians at (-3, 0) and (3, 0), 2-d
            mus = jnp.array([[-3.0, 0.0], [3.0, 0.0]])
            return logsumexp(-0.5 * jnp.sum((y - mus) ** 2, axis=-1))

        # all 4 chains ended in the left mode; U-turns toward the center 0 find the other one
        positions = jnp.array([[-3.2, 0.1], [-2.7, -0.4], [-3.1, 0.6], [-2.9, 0.0]])
        config = UTurn(kind="explore", lambda_u=(1e-4, 1e-5), num_steps=30, center_scale=0.0)
        mixture, num_grads = explore_modes(
            jax.random.key(0), positions, logdensity, 0.5, config, center=jnp.zeros(2)
        )
        print(int(mixture.num_modes), mixture.means[: int(mixture.num_modes)])  # 2 modes
    """
    config = UTurn() if config is None else config
    positions = jnp.asarray(positions)
    num = positions.shape[0]
    steps = jnp.broadcast_to(jnp.asarray(step_size, positions.dtype), (num,))
    returns = explore(
        rng_key, positions, logdensity_fn, steps, config, center, True, inverse_mass_matrix
    )
    num_levels = returns.shape[0] // num
    groups = [positions, returns] + ([starts] if starts is not None else [])
    mixture, grads = find_modes_per_chain(
        groups, logdensity_fn, steps, global_moves, inverse_mass_matrix
    )
    explore_grads = num_levels * (2 * config.num_steps - 1)
    return mixture, grads + explore_grads


# --------------------------------------------------------------------------- diagnostic


def assign_modes(points: jax.Array, mixture: ModeMixture) -> np.ndarray:
    r"""Nearest mode of each point in the Mahalanobis metric of its covariance.

    ``points`` ``(n, d)``; returns int labels ``(n,)`` in ``[0, num_modes)``,
    :math:`\arg\min_m |L_m^{-1}(y - \mu_m)|^2` (the common inflation of the
    proposal covariances :math:`L_m L_m^\top = s^2\Sigma_m` does not change the argmin).

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from jax.scipy.special import logsumexp
        from numpyro_dilation.modes import find_modes
        from numpyro_dilation.uturn import assign_modes

        def logdensity(y):  # two unit Gaussians at (-3, 0) and (3, 0), 2-d
            mus = jnp.array([[-3.0, 0.0], [3.0, 0.0]])
            return logsumexp(-0.5 * jnp.sum((y - mus) ** 2, axis=-1))

        mixture, _ = find_modes(jnp.array([[-2.0, 0.0], [2.0, 0.0]]), logdensity, 0.5)
        print(mixture.means[:2])  # [[-3, 0], [3, 0]]: mode 0 on the left, mode 1 on the right
        points = jnp.array([[-4.0, 1.0], [0.5, 0.0], [2.0, -2.0]])
        print(assign_modes(points, mixture))  # [0 1 1]
    """
    n = int(mixture.num_modes)
    if n == 0:
        raise ValueError("The mixture has no mode.")
    return nearest_mode(points, mixture.means[:n], mixture.chol[:n])
