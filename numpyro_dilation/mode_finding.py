r"""Mode finding: gradient ascent and Newton steps from the chains' positions, merging of
the optima that no barrier separates, Laplace covariances and weights, the per-chain and
high-dimensional (diagonal) variants. The maths is in :mod:`numpyro_dilation.modes`.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import lax
from jax.scipy.special import logsumexp

from numpyro_dilation._control import cond_or_zeros
from numpyro_dilation.batching import map_starts
from numpyro_dilation.mode_mixture import (
    ModeMixture,
)
from numpyro_dilation.mode_settings import (
    GlobalMoves,
    proposal_inflation,
    uses_dense_covariance,
)

__all__ = [
    "contracted_starts",
    "find_modes",
    "find_modes_per_chain",
    "hessian_diagonal",
]


_SEGMENT_POINTS = 5  # interior points of the barrier test between two optima
_BARRIER_NATS = 2.0  # a dip of more than this below both ends separates two modes


def hessian_diagonal(logdensity_fn: Callable, y: jax.Array, batch_size: int = 64) -> jax.Array:
    """:math:`\\operatorname{diag}(-\\nabla^2\\log\\gamma(y))` from :math:`d` Hessian-vector
    products :math:`-\\nabla^2\\log\\gamma(y)\\,e_i` (forward over reverse), ``batch_size``
    at a time: memory :math:`O(\\text{batch} \\cdot d)` beside the model's own, never
    :math:`d \\times d`.

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from numpyro_dilation.modes import hessian_diagonal

        logdensity = lambda y: -0.5 * jnp.sum(jnp.array([1.0, 4.0, 9.0]) * y**2) - y[0] * y[1]
        print(hessian_diagonal(logdensity, jnp.ones(3)))  # [1. 4. 9.]
    """
    grad = jax.grad(logdensity_fn)
    dim = y.shape[0]

    def entry(i):
        e = jnp.zeros_like(y).at[i].set(1)
        return -jax.jvp(grad, (y,), (e,))[1][i]

    return lax.map(entry, jnp.arange(dim), batch_size=min(batch_size, dim))


def _finite(x):
    return jnp.all(jnp.isfinite(x))


def _ascend(logdensity_fn: Callable, y, step_size, num_steps: int, inverse_mass):
    """Preconditioned gradient ascent with per-step backtracking: ``num_steps + 1``
    evaluations of value and gradient at one call site, the first at ``y`` (a step of
    length 0). Returns ``(y, ld, g)``, the end point with its log-density and gradient."""
    value_and_grad = jax.value_and_grad(logdensity_fn)

    def body(i, carry):
        y, ld, g, h = carry
        first = i == 0
        y_new = y + jnp.where(first, 0.0, h) * inverse_mass * g
        ld_new, g_new = value_and_grad(y_new)
        better = jnp.isfinite(ld_new) & _finite(g_new) & (first | (ld_new >= ld))
        return (
            jnp.where(better, y_new, y),
            jnp.where(better, ld_new, ld),
            jnp.where(better, g_new, g),
            jnp.where(better | first, h, 0.5 * h),
        )

    start = (y, jnp.asarray(-jnp.inf, y.dtype), jnp.zeros_like(y), jnp.asarray(step_size, y.dtype))
    return lax.fori_loop(0, num_steps + 1, body, start)[:3]


def _value_grad_hessian(logdensity_fn: Callable) -> Callable:
    """``y -> (log γ(y), ∇log γ(y), ∇²log γ(y))`` from one forward-over-reverse pass
    (``jacfwd`` of the gradient, whose primal is the value and gradient): one call site of
    the model's gradient, compiled once."""

    def grad_and_aux(y):
        ld, g = jax.value_and_grad(logdensity_fn)(y)
        return g, (ld, g)

    def evaluate(y):
        hess, (ld, g) = jax.jacfwd(grad_and_aux, has_aux=True)(y)
        return ld, g, hess

    return evaluate


def _precision(hess, eig_floor: float):
    """Floored :math:`H = -\\nabla^2\\log\\gamma(y)` from the Hessian ``hess``: its
    eigendecomposition and validity."""
    hess = -0.5 * (hess + hess.T)
    eigval, eigvec = jnp.linalg.eigh(hess)
    valid = _finite(eigval) & (eigval[0] > 0)
    floor = eig_floor * jnp.maximum(jnp.max(jnp.abs(eigval)), 1e-30)
    eigval = jnp.where(jnp.isfinite(eigval), jnp.maximum(eigval, floor), 1.0)
    eigvec = jnp.where(jnp.isfinite(eigvec), eigvec, jnp.eye(hess.shape[0], dtype=hess.dtype))
    return eigval, eigvec, valid


def _newton(logdensity_fn: Callable, y, num_steps: int, eig_floor: float):
    """``num_steps`` Newton steps from ``y``, each kept only if it does not lower
    :math:`\\log\\gamma`, as ``num_steps + 1`` evaluations of value, gradient and
    Hessian (:func:`_value_grad_hessian`): the first at ``y``, each next one at the step
    from the best point so far. Returns ``(y, ld, g, eigval, eigvec, valid)`` at the
    best point: its floored precision (:func:`_precision`) is the Laplace covariance's."""
    evaluate = _value_grad_hessian(logdensity_fn)
    dim, dtype = y.shape[0], y.dtype

    def body(_, carry):
        y_try, best = carry
        ld, g, hess = evaluate(y_try)
        better = jnp.isfinite(ld) & (ld >= best[1]) & _finite(y_try)
        tried = (y_try, ld, g, *_precision(hess, eig_floor))
        best = jax.tree.map(lambda new, old: jnp.where(better, new, old), tried, best)
        y, _, g, eigval, eigvec, _ = best
        return y + eigvec @ ((eigvec.T @ g) / eigval), best

    none = (y, jnp.asarray(-jnp.inf, dtype), jnp.zeros_like(y), jnp.ones((dim,), dtype),
            jnp.eye(dim, dtype=dtype), jnp.zeros((), bool))  # nothing kept yet
    return lax.fori_loop(0, num_steps + 1, body, (y, none))[1]


def find_modes(
    positions: jax.Array,
    logdensity_fn: Callable,
    step_size: jax.Array,
    config: GlobalMoves | None = None,
    inverse_mass_matrix: jax.Array | None = None,
    active: jax.Array | None = None,
    strict_only: jax.Array | None = None,
) -> tuple[ModeMixture, jax.Array]:
    """Modes reached by the chains and their proposal mixture.

    Parameters
    ----------
    positions
        Flat chain positions, shape ``(C, d)``.
    logdensity_fn
        :math:`\\log\\gamma` on flat positions of shape ``(d,)``.
    step_size
        Per-chain step sizes :math:`h_c` (shape ``(C,)``) or a scalar.
    config
        :class:`GlobalMoves` (defaults if ``None``).
    inverse_mass_matrix
        Diagonal preconditioner :math:`v` of the ascent, shape ``(d,)`` (ones if ``None``;
        of a dense ``(d, d)`` one, its diagonal is used):
        :math:`y \\leftarrow y + h_c\\, v \\odot \\nabla\\log\\gamma(y)`.
    active, strict_only
        Booleans ``(C,)``: the starts used (all if ``None``; an inactive one is neither
        ascended nor refined, at no cost where starts are mapped one at a time, as on CPU),
        and those whose ends become modes only where the Newton steps converged, without
        deciding whether the others' unconverged ends count (none if ``None``; the wide
        starts of :mod:`~numpyro_dilation.population_modes`).

    Returns
    -------
    ``(mixture, num_grad_evals)``: the :class:`ModeMixture` and the gradient
    evaluations spent per active start (a Hessian counts as ``d`` gradients).

    Examples
    --------

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from jax.scipy.special import logsumexp
        from numpyro_dilation.modes import GlobalMoves, find_modes

        def logdensity(y):  # two unit Gaussians at (-3, 0) and (3, 0), 2-d
            mus = jnp.array([[-3.0, 0.0], [3.0, 0.0]])
            return logsumexp(-0.5 * jnp.sum((y - mus) ** 2, axis=-1))

        positions = jax.random.normal(jax.random.key(0), (8, 2)) * 3.0  # 8 chains' positions
        config = GlobalMoves(max_modes=4, num_ascent_steps=50)
        mixture, num_grads = find_modes(positions, logdensity, 0.5, config)
        print(mixture.num_modes, mixture.means[: int(mixture.num_modes)])  # 2 modes, at (+-3, 0)
        print(num_grads)  # 63 = 50 ascent + 1 + (3 Newton + 1) * (d + 1) gradients per chain
    """
    config = GlobalMoves() if config is None else config
    num_chains, dim = positions.shape
    dtype = positions.dtype
    step_size = jnp.broadcast_to(jnp.asarray(step_size, dtype), (num_chains,))
    inverse_mass = (
        jnp.ones((dim,), dtype)
        if inverse_mass_matrix is None
        else jnp.asarray(inverse_mass_matrix, dtype)
    )
    if inverse_mass.ndim == 2:  # a dense preconditioner: its diagonal steers the ascent
        inverse_mass = jnp.diagonal(inverse_mass)
    active = jnp.ones((num_chains,), bool) if active is None else jnp.asarray(active, bool)
    num_active = jnp.maximum(jnp.sum(active, dtype=jnp.int32), 1)
    strict_only = jnp.zeros_like(active) if strict_only is None else jnp.asarray(strict_only)
    if not uses_dense_covariance(config, dim):
        return _find_modes_diagonal(positions, logdensity_fn, step_size, config,
                                    inverse_mass, active, num_active, strict_only)

    def optimize(y, h):
        y, ld, g = _ascend(logdensity_fn, y, h, config.num_ascent_steps, inverse_mass)
        return y, ld, jnp.isfinite(ld) & _finite(g) & _finite(y)

    ends, end_lds, finite = map_starts(  # a start not active is not ascended
        lambda on, y, h: cond_or_zeros(on, optimize, y, h), active, positions, step_size
    )

    def refined(y):  # Newton steps from y; the optimum, its precision, and whether valid
        y, ld, g, eigval, eigvec, ok = _newton(
            logdensity_fn, y, config.num_newton_steps, config.eig_floor
        )
        decrement = jnp.sum((eigvec.T @ g) ** 2 / eigval)  # g^T H^{-1} g
        ok = ok & jnp.isfinite(ld)
        return y, ld, eigval, eigvec, ok, ok & (decrement <= config.stationarity_tol * dim)

    delta2 = config.merge_distance**2
    newton_grads = (config.num_newton_steps + 1) * (dim + 1)  # a Hessian: d + 1 gradients
    grads = config.num_ascent_steps + 1
    if newton_grads <= grads:  # Newton steps from every start cost no more than its ascent
        ys, lds, eigvals, eigvecs, loose, strict = map_starts(
            lambda on, y: cond_or_zeros(on, refined, y), active, ends
        )
        num_reps, grads = num_chains, jnp.asarray(grads + newton_grads)
    else:  # ascent ends with no barrier between them share one refinement
        span = jnp.nan_to_num(jnp.max(jnp.where(finite, end_lds, -jnp.inf)) - jnp.min(
            jnp.where(finite, end_lds, jnp.inf)))  # strict_only ends rank below all others
        rep, num_reps = _merge_ascents(logdensity_fn, ends, end_lds, finite, 1.0 / inverse_mass,
                                       num_chains, end_lds - strict_only * (span + 1.0))

        def refine(r, slots):
            return tuple(a.at[r].set(b) for a, b in zip(slots, refined(ends[rep[r]]), strict=True))

        slots = (ends, end_lds, jnp.ones((num_chains, dim), dtype),
                 jnp.broadcast_to(jnp.eye(dim, dtype=dtype), (num_chains, dim, dim)),
                 jnp.zeros((num_chains,), bool), jnp.zeros((num_chains,), bool))
        ys, lds, eigvals, eigvecs, loose, strict = lax.fori_loop(0, num_reps, refine, slots)
        # per start: its ascent and the segment's log-densities; a share of the refinements
        grads = grads + _SEGMENT_POINTS + (num_reps * newton_grads + num_active - 1) // num_active
        strict_only = strict_only[rep]  # a representative stands for its group
    valid = _valid(strict, loose, strict_only)
    max_modes = config.max_modes

    def nearest(c, idx, n):  # the nearest mode in its Mahalanobis metric, and if within delta
        proj = jnp.einsum("mji,mj->mi", eigvecs[idx], ys[c][None] - ys[idx])
        dist2 = jnp.sum(proj**2 * eigvals[idx], axis=-1)
        j = jnp.argmin(jnp.where(jnp.arange(max_modes) < n, dist2, jnp.inf))
        return j, (n > 0) & (dist2[j] < delta2)

    # greedy merge of the refined optima, in order, into at most max_modes modes
    idx, num_modes = _greedy_slots(num_reps, lds, valid, max_modes, nearest)
    used = jnp.arange(max_modes) < num_modes

    means = ys[idx]
    eigval, eigvec = eigvals[idx], eigvecs[idx]
    # Proposal covariance s^2 Sigma = V diag(s^2 / eig) V^T; chol via QR-free Cholesky.
    inflation = proposal_inflation(config.inflation, dim)
    cov = jnp.einsum("mij,mj,mkj->mik", eigvec, inflation / eigval, eigvec)
    chol = jnp.where(used[:, None, None], jnp.linalg.cholesky(cov), jnp.eye(dim, dtype=dtype))
    mixture = _mixture(means, chol, lds[idx], jnp.log(eigval), num_modes, config)
    return mixture, grads.astype(jnp.int32)


def _no_barrier(logdensity_fn: Callable, a, ld_a, b, ld_b) -> jax.Array:
    """Whether :math:`\\log\\gamma` stays above :math:`\\min(\\log\\gamma(a), \\log\\gamma(b))`
    minus :data:`_BARRIER_NATS` at :data:`_SEGMENT_POINTS` evenly spaced interior points of
    the segment from ``a`` to ``b`` (then both lie in one mode)."""
    ts = jnp.linspace(0.0, 1.0, _SEGMENT_POINTS + 2, dtype=a.dtype)[1:-1]
    lds = jax.vmap(lambda t: logdensity_fn(a + t * (b - a)))(ts)
    return jnp.all(lds >= jnp.minimum(ld_a, ld_b) - _BARRIER_NATS)


def _merge_ascents(logdensity_fn, ys, lds, valid, precision, num_slots, priority=None):
    """Greedy, in start order: a valid ascent end joins the representative nearest to it in
    the metric ``precision`` (diagonal) if no barrier (:func:`_no_barrier`) lies between
    them (the end of higher ``priority``, by default ``lds``, represents both), else it
    opens a new slot (at most ``num_slots``). Returns ``(idx, n)``: the representatives'
    rows, shape ``(num_slots,)``, and how many slots are used."""

    def nearest(c, idx, n):  # the nearest representative, and if no barrier between them
        dist2 = jnp.sum(precision * (ys[c] - ys[idx]) ** 2, axis=-1)
        j = jnp.argmin(jnp.where(jnp.arange(num_slots) < n, dist2, jnp.inf))
        return j, (n > 0) & _no_barrier(logdensity_fn, ys[c], lds[c], ys[idx[j]], lds[idx[j]])

    return _greedy_slots(ys.shape[0], lds if priority is None else priority, valid, num_slots,
                         nearest)


def _valid(strict, loose, strict_only):
    """Ends that become modes: ``strict`` (converged) ones if any not ``strict_only`` start
    converged, else the ``loose`` ones; a ``strict_only`` start's only if converged."""
    base = jnp.where(jnp.any(strict & ~strict_only), strict, loose)
    return jnp.where(strict_only, strict, base)


def _greedy_slots(count, lds, valid, num_slots, nearest):
    """The greedy merge shared by the mode finding's two groupings: items ``0..count-1``
    in order; a valid item ``c`` whose ``nearest(c, idx, n) -> (j, same)`` finds it the
    same as slot ``j`` replaces that slot's item if its log-density ``lds[c]`` is higher,
    else it opens slot ``n`` while fewer than ``num_slots`` are used. Returns ``(idx, n)``:
    the slots' items, shape ``(num_slots,)``, and how many are used."""

    def merge(c, carry):
        idx, n = carry
        # an invalid item changes nothing: its nearest-slot test (in one grouping a
        # barrier test's log-densities) is skipped, a real branch in this loop
        j, same = cond_or_zeros(valid[c], nearest, c, idx, n)
        replace = same & (lds[c] > lds[idx[j]])
        add = (~same) & (n < num_slots)
        idx = jnp.where(valid[c] & replace, idx.at[j].set(c), idx)
        idx = jnp.where(valid[c] & add, idx.at[n].set(c), idx)
        return idx, n + (valid[c] & add).astype(n.dtype)

    idx0 = jnp.zeros((num_slots,), jnp.int32)
    return lax.fori_loop(0, count, merge, (idx0, jnp.zeros((), jnp.int32)))


def _find_modes_diagonal(
    positions, logdensity_fn, step_size, config, inverse_mass, active, num_active, strict_only
):
    """:func:`find_modes` with diagonal covariances (module docstring, "High dimension")."""
    dim = positions.shape[1]
    dtype = positions.dtype
    precision = 1.0 / inverse_mass

    def optimize(y, h):
        y, ld, g = _ascend(logdensity_fn, y, h, config.num_ascent_steps, inverse_mass)
        valid = jnp.isfinite(ld) & _finite(g) & _finite(y)
        decrement = jnp.sum(inverse_mass * g * g)  # g^T V g in the pooled metric
        return y, ld, g, valid, valid & (decrement <= config.stationarity_tol * dim)

    ys, lds, gs, loose, strict = map_starts(
        lambda on, y, h: cond_or_zeros(on, optimize, y, h), active, positions, step_size
    )
    valid = _valid(strict, loose, strict_only)
    max_modes = config.max_modes

    idx, num_modes = _merge_ascents(logdensity_fn, ys, lds, valid, precision, max_modes)
    used = jnp.arange(max_modes) < num_modes
    value_and_grad = jax.value_and_grad(logdensity_fn)
    mode_gs = gs[idx]  # the gradients at the representatives, from their ascents

    def refine(m, carry):
        # only the used slots pay for their d Hessian-vector products; then diagonal
        # Newton steps y <- y + g / diag(H), kept if they raise log gamma
        means, mode_lds, curv = carry
        h = hessian_diagonal(logdensity_fn, means[m])
        h = jnp.where(jnp.isfinite(h) & (h > 0), h, precision)
        h = jnp.maximum(h, config.eig_floor * jnp.max(h)).astype(dtype)

        def newton(_, point):  # the gradient at the point kept comes with it
            y, ld, g = point
            y_new = y + g / h
            ld_new, g_new = value_and_grad(y_new)
            better = jnp.isfinite(ld_new) & (ld_new >= ld) & _finite(y_new)
            return tuple(jnp.where(better, a, b) for a, b in ((y_new, y), (ld_new, ld), (g_new, g)))

        y, ld, _ = lax.fori_loop(
            0, config.num_newton_steps, newton, (means[m], mode_lds[m], mode_gs[m])
        )
        return means.at[m].set(y), mode_lds.at[m].set(ld), curv.at[m].set(h)

    carry = (ys[idx], lds[idx], jnp.ones((max_modes, dim), dtype))
    means, mode_lds, curv = lax.fori_loop(0, num_modes, refine, carry)
    inflation = proposal_inflation(config.inflation, dim)
    chol = jnp.where(used[:, None], jnp.sqrt(inflation / curv), 1.0).astype(dtype)
    mixture = _mixture(means, chol, mode_lds, jnp.log(curv), num_modes, config)
    # per start: ascent, its first gradient, the segment's log-densities; and a share of
    # the d Hessian-vector products and the Newton steps at each mode found
    per_mode = dim + config.num_newton_steps
    hessian_share = (num_modes * per_mode + num_active - 1) // num_active
    grads = config.num_ascent_steps + 1 + _SEGMENT_POINTS + hessian_share
    return mixture, grads.astype(jnp.int32)


def _mixture(means, chol, mode_lds, log_eigvals, num_modes, config) -> ModeMixture:
    r"""The :class:`ModeMixture` of the first ``num_modes`` rows: Laplace masses
    :math:`\log\hat w_m = \log\gamma(\mu_m) - \tfrac12\sum_i\log\lambda_{m,i} + \tfrac d2\log
    2\pi` from the precisions' eigenvalues, mixed with a share :math:`\epsilon`
    (``uniform_weight``) of uniform weights: :math:`w_m = (1-\epsilon)\hat w_m + \epsilon/M`."""
    dtype, dim = means.dtype, means.shape[-1]
    used = jnp.arange(means.shape[0]) < num_modes
    laplace = mode_lds - 0.5 * jnp.sum(log_eigvals, -1) + 0.5 * dim * jnp.log(2 * jnp.pi)
    laplace = jnp.where(used, laplace, -jnp.inf)
    eps = config.uniform_weight
    log_w_uniform = jnp.where(used, -jnp.log(jnp.maximum(num_modes, 1)), -jnp.inf)
    log_weights = jnp.logaddexp(
        jnp.log1p(-eps) + laplace - logsumexp(laplace), jnp.log(eps) + log_w_uniform
    )
    return ModeMixture(
        means,
        chol,
        jnp.where(used, log_weights, -jnp.inf).astype(dtype),
        laplace.astype(dtype),
        num_modes,
        jnp.asarray(config.tail_weight, dtype),
        jnp.asarray(config.tail_dof, dtype),
        stopped=jnp.zeros((), bool), num_found=num_modes,
    )


def find_modes_per_chain(
    groups: list[jax.Array],
    logdensity_fn: Callable,
    step_size: jax.Array,
    config: GlobalMoves | None = None,
    inverse_mass_matrix: jax.Array | None = None,
) -> tuple[ModeMixture, jax.Array]:
    """:func:`find_modes` from several groups of starting points per chain.

    ``groups``: arrays of shape ``(k C, d)`` for ``C`` chains (the chains' positions,
    U-turn returns, :func:`contracted_starts`, ...), concatenated in order (the greedy
    merge favours earlier groups); ``step_size``: ``(C,)`` or a scalar, the ascent of
    row ``r`` of a group using chain ``r mod C``'s step. Returns ``(mixture,
    num_grad_evals)`` with the gradients spent *per chain* (all its starts).

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from jax.scipy.special import logsumexp
        from numpyro_dilation.modes import contracted_starts, find_modes_per_chain

        def logdensity(y):  # two unit Gaussians at (-3, 0) and (3, 0), 2-d
            mus = jnp.array([[-3.0, 0.0], [3.0, 0.0]])
            return logsumexp(-0.5 * jnp.sum((y - mus) ** 2, axis=-1))

        chains = jnp.array([[-3.1, 0.2], [-2.8, -0.1]])  # both chains in the left mode
        centers = jnp.array([[-6.0, 0.0], [8.0, 0.0]])
        mixture, grads = find_modes_per_chain(
            [chains, contracted_starts(centers, (0.5,))], logdensity, 0.5
        )
        print(int(mixture.num_modes))  # 2: the start (4.5, 0) climbs to the right mode
        print(grads)  # 232 = 2 x 116: two starts per chain, 116 gradients per start
    """
    num, dim = groups[0].shape
    dtype = groups[0].dtype
    parts = []
    for g in groups:
        g = jnp.asarray(g, dtype)
        if g.ndim != 2 or g.shape[1] != dim or g.shape[0] % num:
            raise ValueError(
                f"every group of starting points must have shape (k * {num}, {dim}) "
                f"(whole multiples of the chains), got {g.shape}."
            )
        parts.append(g)
    points = jnp.concatenate(parts, axis=0)
    copies = points.shape[0] // num
    steps = jnp.broadcast_to(jnp.asarray(step_size, dtype), (num,))
    mixture, grads = find_modes(
        points, logdensity_fn, jnp.tile(steps, copies), config, inverse_mass_matrix
    )
    return mixture, copies * grads


def contracted_starts(centers: jax.Array, ratios) -> jax.Array:
    r"""The centers contracted toward their mean, one copy per ratio.

    For centers :math:`c_i` (rows of ``centers``, shape ``(C, d)``) with mean
    :math:`\bar c` and ratios :math:`\rho_1..\rho_R`, returns the ``(R C, d)`` points
    :math:`\bar c + \rho_r (c_i - \bar c)`, ratio-major: starting points of the mode
    finding at the scales between the initial law's spread (:math:`\rho = 1`) and its
    center (:math:`\rho = 0`).

    Why: a narrow component's basin is a ball around it, the wider one's holds every point
    far away (``GlobalMoves.center_contractions``). On ``two_mode_50`` from
    :math:`\mathcal N(0, 3^2 I)` starts all 256 chains end in the wide mode of weight 1/3;
    from the same starts contracted by 0.3 the ascent reaches both modes.

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from numpyro_dilation.modes import contracted_starts

        centers = jnp.array([[0.0, 0.0], [4.0, 0.0], [2.0, 6.0]])  # mean (2, 2)
        print(contracted_starts(centers, (0.5,)))  # [[1, 1], [3, 1], [2, 4]]
        print(contracted_starts(centers, (0.5, 0.0)).shape)  # (6, 2)
    """
    centers = jnp.asarray(centers)
    ratios = jnp.asarray(ratios, centers.dtype).reshape(-1, 1, 1)
    mean = jnp.mean(centers, axis=0)
    return (mean + ratios * (centers - mean)).reshape(-1, centers.shape[-1])
