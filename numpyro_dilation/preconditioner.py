"""Preconditioners pooled across chains from the target's curvature.

Each chain :math:`c` of a population (up to :data:`CURVATURE_CHAINS` of them where the
curvature is exact; or the one chain of a run alone) measures the
curvature :math:`H^{(c)} = -\\nabla^2\\log\\gamma(y_c)` at its position; the population's
preconditioner (inverse mass matrix) :math:`v` is the inverse of the elementwise median
:math:`\\bar H = \\mathrm{median}_c H^{(c)}`. The median, unlike the mean, ignores the few
chains that sit where the curvature is extreme (a funnel's neck, a far tail). Where
:math:`\\bar H` is not positive (a saddle, a flat or a non-finite direction), the chains'
spread along that direction is used instead, or 1 if they do not spread.

Shapes: positions ``(C, d)``; diagonal curvatures ``(C, d)`` give ``v`` of shape ``(d,)``;
dense curvatures ``(C, d, d)`` give ``v`` of shape ``(d, d)`` (symmetric positive
definite). No NumPyro import: these are pure functions of arrays, and
:func:`update_preconditioner` applies them to a population's state.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import random

from numpyro_dilation.batching import map_items
from numpyro_dilation.kernel import DilationState
from numpyro_dilation.low_rank import low_rank_correction
from numpyro_dilation.modes import DENSE_MAX_DIM, hessian_diagonal
from numpyro_dilation.population_settings import PopulationSettings
from numpyro_dilation.population_state import (
    DilationLangevinState,
    ravel_chains,
    with_inverse_mass_matrix,
)
from numpyro_dilation.step_size import (
    dual_averaging_start,
    find_initial_step_size,
    step_size_search_proposals,
)

__all__ = [
    "CURVATURE_CHAINS",
    "HUTCHINSON_PROBES",
    "curvature_chains",
    "pooled_inverse_mass_diagonal",
    "pooled_inverse_mass_dense",
    "update_preconditioner",
]


def _finite_median(x: jax.Array) -> jax.Array:
    """Median over axis 0 of the finite entries (NaN where none is finite)."""
    return jnp.nanmedian(jnp.where(jnp.isfinite(x), x, jnp.nan), axis=0)


def pooled_inverse_mass_diagonal(curvatures: jax.Array, positions: jax.Array) -> jax.Array:
    """Diagonal (Jacobi) preconditioner :math:`v_i = 1/\\mathrm{median}_c H^{(c)}_{ii}`.

    ``curvatures``: :math:`H^{(c)}_{ii}`, shape ``(C, d)``; ``positions``: shape ``(C, d)``.
    Coordinates whose median curvature is not finite and positive get the chains'
    variance :math:`\\mathrm{var}_c\\, y_{ci}` (or 1 when it is 0 or not finite).
    Returns ``v``, shape ``(d,)``.

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from numpyro_dilation.preconditioner import pooled_inverse_mass_diagonal

        curv = jnp.array([[4.0, -1.0], [4.0, -2.0], [100.0, -1.0]])  # 3 chains, d = 2
        pos = jnp.array([[0.0, -3.0], [0.0, 0.0], [0.0, 3.0]])
        print(pooled_inverse_mass_diagonal(curv, pos))  # [0.25 6.]: 1/4, then the spread
    """
    curv = _finite_median(curvatures)
    var = jnp.var(positions, axis=0)
    fallback = jnp.where(jnp.isfinite(var) & (var > 0), var, 1.0)
    good = jnp.isfinite(curv) & (curv > 0)
    return jnp.where(good, 1.0 / jnp.where(good, curv, 1.0), fallback).astype(positions.dtype)


def pooled_inverse_mass_dense(hessians: jax.Array, positions: jax.Array) -> jax.Array:
    """Dense preconditioner :math:`v = \\bar H^{-1}`, :math:`\\bar H = \\mathrm{median}_c
    H^{(c)}` (elementwise, then symmetrized).

    ``hessians``: :math:`H^{(c)} = -\\nabla^2\\log\\gamma(y_c)`, shape ``(C, d, d)``;
    ``positions``: shape ``(C, d)``. With :math:`\\bar H = U\\,\\mathrm{diag}(\\mu)\\,U^\\top`,
    every eigenvalue :math:`\\mu_j` that is not finite and positive is replaced by
    :math:`1/\\mathrm{var}_c(u_j^\\top y_c)` (or 1), and :math:`v = U\\,\\mathrm{diag}(1/\\mu)
    \\,U^\\top`. Entries of :math:`\\bar H` that no chain measured finitely count as 0.
    Its diagonal equals :func:`pooled_inverse_mass_diagonal`'s when :math:`\\bar H` is
    diagonal. Returns ``v``, shape ``(d, d)``, symmetric positive definite. Cost:
    one :math:`d\\times d` eigendecomposition; memory :math:`O(Cd^2)` for the inputs.

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from numpyro_dilation.preconditioner import pooled_inverse_mass_dense

        cov = jnp.array([[10.0, 0.8], [0.8, 0.1]])  # a Gaussian: the same H at every point
        hess = jnp.broadcast_to(jnp.linalg.inv(cov), (3, 2, 2))
        print(pooled_inverse_mass_dense(hess, jnp.zeros((3, 2))))  # cov again
    """
    h = _finite_median(hessians)
    h = jnp.where(jnp.isfinite(h), h, 0.0)
    h = 0.5 * (h + h.T)
    mu, u = jnp.linalg.eigh(h)
    spread = jnp.var(positions @ u, axis=0)
    fallback = jnp.where(jnp.isfinite(spread) & (spread > 0), 1.0 / spread, 1.0)
    good = jnp.isfinite(mu) & (mu > 0)
    mu = jnp.where(good, mu, fallback)
    v = (u / mu) @ u.T
    return (0.5 * (v + v.T)).astype(positions.dtype)


HUTCHINSON_PROBES = 8
"""Rademacher probes per chain of the preconditioner's curvature estimate above
:data:`~numpyro_dilation.mode_settings.DENSE_MAX_DIM` dimensions: each chain's
:math:`\\widehat{H_{ii}} = \\frac18\\sum_k u_{ki}(Hu_k)_i` (unbiased), and the median over
chains is taken as below. Cost 8 Hessian-vector products per chain and update instead of
:math:`d`; memory :math:`O(8d)` per chain instead of :math:`d^2`.

**Example**

.. code-block:: python

    from numpyro_dilation.preconditioner import HUTCHINSON_PROBES

    print(HUTCHINSON_PROBES)  # 8
"""


CURVATURE_CHAINS = 16
"""Most chains whose exact curvature (the Hessian's diagonal, or with ``dense_mass`` the
whole Hessian: :math:`d` Hessian-vector products each) an update measures: the median is
taken over :func:`curvature_chains`, evenly spaced chains of the population, so that an
update costs :math:`O(\\min(C, 16)\\,d)` Hessian-vector products and memory
:math:`O(\\min(C, 16)\\,d^2)` with ``dense_mass``, not :math:`O(Cd)` and :math:`O(Cd^2)`. The
median of 16 exact curvatures still ignores the few chains where the curvature is extreme
(up to 7 of the 16). Hutchinson's estimate (above
:data:`~numpyro_dilation.mode_settings.DENSE_MAX_DIM`) costs 8 products per chain and keeps
all the chains, whose median also averages its probes' noise. Measured on the radon-like
model (:math:`d = 89`, 64 chains): an update took 0.123 s with every chain's Hessian
diagonal and takes 0.018 s with 16 (BENCHMARKS.md, "The preconditioner's curvature from 16
chains").

**Example**

.. code-block:: python

    from numpyro_dilation.preconditioner import CURVATURE_CHAINS

    print(CURVATURE_CHAINS)  # 16
"""


def curvature_chains(num_chains: int) -> jax.Array:
    """Indices of the chains whose exact curvature an update measures:
    :math:`\\min(C, 16)` evenly spaced chains (:data:`CURVATURE_CHAINS`), all of them for
    16 chains or fewer. ``num_chains``: :math:`C`, a Python integer.

    **Example**

    .. code-block:: python

        from numpyro_dilation.preconditioner import curvature_chains

        print(curvature_chains(64)[:3], curvature_chains(8).shape)  # [0 4 8] (8,)
    """
    num = min(num_chains, CURVATURE_CHAINS)
    return jnp.arange(num) * (num_chains // num)


def update_preconditioner(
    state: DilationLangevinState, logdensity_fn: Callable, settings: PopulationSettings
) -> tuple[DilationLangevinState, jax.Array]:
    r"""Preconditioner pooled across chains (:mod:`numpyro_dilation.preconditioner`):
    Jacobi, :math:`v_i = 1/\mathrm{median}_c H^{(c)}_{ii}` with :math:`H^{(c)} =
    -\nabla^2\log\gamma(y_c)` at the positions of :data:`CURVATURE_CHAINS` of the chains
    (every chain's, with Hutchinson's estimate), or with ``dense_mass``
    :math:`v = (\mathrm{median}_c H^{(c)})^{-1}` (a batch of one chain: that chain's
    curvature); with a low-rank part in the state (``adapt_state.mass_low_rank``, from
    ``mass_rank``), its directions and scales are re-estimated on top of the new diagonal
    (:func:`~numpyro_dilation.low_rank.low_rank_correction`, :math:`r` more Hessian-vector
    products per chain); then each chain re-finds its step size (with the full
    preconditioner) and restarts dual averaging.
    Curvature, unlike the chains' spread, is informative even before the chains have
    moved along wide directions.

    Returns ``(state, grads)``: ``grads`` (shape ``(num_chains,)``) is each
    chain's cost, one Hessian counted as :math:`d` gradients (a forward-over-
    reverse Hessian is :math:`d` Hessian-vector products) for each of the
    :func:`curvature_chains` that measured one (:data:`HUTCHINSON_PROBES` for every chain
    above :data:`~numpyro_dilation.mode_settings.DENSE_MAX_DIM` dimensions) plus the step-size
    search's proposals (:func:`~numpyro_dilation.annealing.step_size_search_proposals`):
    vmapped, the search loops until the slowest chain stops and every chain pays
    for the longest search.

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from numpyro_dilation.population import init
        from numpyro_dilation.population_settings import make_settings
        from numpyro_dilation.preconditioner import update_preconditioner

        logdensity = lambda x: -0.5 * jnp.sum(x**2 / jnp.array([0.01, 100.0]))  # sds 0.1, 10
        settings = make_settings(100, 2)
        keys = jax.random.split(jax.random.key(0), 8)
        state = init(jnp.ones((8, 2)), logdensity, keys, settings)
        state, grads = update_preconditioner(state, logdensity, settings)
        print(state.inverse_mass_matrix)  # [0.01 100.]: the variances, from the curvature
    """
    flat, unravel_one = ravel_chains(state.z)
    dim = flat.shape[1]
    flat_logdensity = lambda u: logdensity_fn(unravel_one(u))  # noqa: E731
    one_at_a_time = settings.one_chain_at_a_time
    config = settings.config
    # exact curvatures from CURVATURE_CHAINS chains; Hutchinson's from all (its noise)
    rows = curvature_chains(flat.shape[0])

    if settings.dense_mass:  # the whole Hessian, d Hessian-vector products

        def curvature(y, key):
            del key
            return -jax.hessian(flat_logdensity)(y)

        hessian_cost = dim
    elif dim <= DENSE_MAX_DIM:

        def curvature(y, key):
            del key
            if one_at_a_time:  # one Hessian-vector product at a time
                return hessian_diagonal(flat_logdensity, y, batch_size=1)
            return -jnp.diagonal(jax.hessian(flat_logdensity)(y))

        hessian_cost = dim
    else:  # Hutchinson: E[u * (H u)] = diag(H) for Rademacher u, HUTCHINSON_PROBES HVPs

        def curvature(y, key):
            probes = random.rademacher(key, (HUTCHINSON_PROBES, dim), y.dtype)
            grad = jax.grad(flat_logdensity)
            hvp = jax.vmap(lambda u: jax.jvp(grad, (y,), (u,))[1])(probes)
            return -jnp.mean(probes * hvp, axis=0)

        hessian_cost, rows = HUTCHINSON_PROBES, slice(None)  # every chain, no gather
    probe_keys = jax.vmap(lambda k: random.fold_in(k, 2))(state.rng_key)
    curv = map_items(curvature, one_at_a_time)(flat[rows], probe_keys[rows])
    pool = pooled_inverse_mass_dense if settings.dense_mass else pooled_inverse_mass_diagonal
    v = pool(curv, flat)
    low_rank = state.adapt_state.mass_low_rank  # its presence (set at init) decides
    if low_rank is not None:
        grad_flat = ravel_chains(jax.tree.map(jnp.negative, state.z_grad))[0]
        rank = low_rank.scales.shape[0]
        grad = jax.grad(flat_logdensity)
        low_rank = low_rank_correction(
            flat,
            grad_flat,
            v,
            rank,
            lambda y, u: -jax.jvp(grad, (y,), (u,))[1],
            lambda fn: map_items(fn, one_at_a_time),
        )
    metric = v if low_rank is None else low_rank

    def restart(key, z, ld, grad, lam, center, step_size):
        d = DilationState(z, ld, grad, lam, center)
        h = find_initial_step_size(
            key, d, logdensity_fn, config.target_accept_prob, step_size, metric
        )
        return h, dual_averaging_start(config.target_accept_prob, h)

    # the chains that measured their curvature pay for it (the low-rank part: every chain)
    hessian_grads = jnp.zeros(state.i.shape, jnp.int32).at[rows].set(hessian_cost)
    if low_rank is not None:
        hessian_grads = hessian_grads + rank
    if not config.adapt_step_size:  # a fixed h is kept (coordinate i then moves by h v_i)
        return with_inverse_mass_matrix(state, v, low_rank), hessian_grads
    keys = jax.vmap(lambda k: random.fold_in(k, 1))(state.rng_key)
    step_size, da = map_items(restart, one_at_a_time)(
        keys,
        state.z,
        -state.potential_energy,
        jax.tree.map(jnp.negative, state.z_grad),
        state.lam,
        state.center,
        state.adapt_state.step_size,
    )
    search_grads = step_size_search_proposals(state.adapt_state.step_size, step_size)
    search_grads = jnp.max(search_grads)  # vmapped: all chains run the longest search
    state = state._replace(
        adapt_state=state.adapt_state._replace(
            step_size=step_size, dual_averaging=da, inverse_mass_matrix=v, mass_low_rank=low_rank
        )
    )
    return state, hessian_grads + search_grads
