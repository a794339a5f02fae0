r"""The mixture of the modes found (:class:`ModeMixture`): its density, its draws and the
nearest mode of a point; the global moves' proposal. The maths is in
:mod:`numpyro_dilation.modes`.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.scipy.linalg import solve_triangular
from jax.scipy.special import gammaln

from numpyro_dilation.blocks import BlockStructure, no_blocks
from numpyro_dilation.mode_settings import (
    GlobalMoves,
)

__all__ = [
    "ModeMixture",
    "TRUNCATION",
    "chi_square_sample",
    "empty_mixture",
    "mixture_logpdf",
    "mixture_sample",
    "nearest_mode",
    "slot_sample",
    "truncated_mixture_logpdf",
]


class ModeMixture(NamedTuple):
    """The defensive Gaussian/Student-t mixture over flat positions (module
    docstring), fixed-size (``M = max_modes``).

    means
        :math:`\\mu_m`, shape ``(M, d)``.
    chol
        Cholesky factors :math:`L_m` of the *proposal* covariances
        :math:`s^2\\Sigma_m`, shape ``(M, d, d)``; for diagonal covariances their
        diagonals (the proposal's standard deviations), shape ``(M, d)``.
    log_weights
        :math:`\\log w_m`, shape ``(M,)``; ``-inf`` for unused slots.
    laplace_log_mass
        :math:`\\log\\gamma(\\mu_m) + \\tfrac12\\log|2\\pi\\Sigma_m|`, the Laplace
        approximation of each mode's mass, shape ``(M,)``.
    num_modes
        Number of used slots (int scalar); 0 means "no usable mode".
    tail_weight, tail_dof
        :math:`\\delta` and :math:`\\nu` (float scalars).
    blocks
        The blocks of the block-wise global moves
        (:class:`~numpyro_dilation.block_moves.BlockStructure`), or ``None`` (a mixture
        that the population sampler has not prepared for block moves: none are made).
    stopped
        Whether the population sampler has stopped the global moves (bool scalar): none
        was accepted in the warm-up (:data:`~numpyro_dilation.mode_settings.STOP_ACCEPTANCE`),
        so the draws do not pay for them.
    num_found
        How many modes the mode finding that made this mixture found (int scalar): equal to
        ``num_modes``, but kept by :func:`~numpyro_dilation.starts.occupied_modes` when the
        restart after the pilot pass drops the modes that no chain occupies, so that the run
        pass knows whether its wide starts get a second try
        (:func:`~numpyro_dilation.population_modes.wide_starts_run`).

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from jax.scipy.special import logsumexp
        from numpyro_dilation.modes import GlobalMoves, find_modes

        def logdensity(y):  # masses 0.25 and 0.75 at (-3, 0) and (3, 0), 2-d
            mus = jnp.array([[-3.0, 0.0], [3.0, 0.0]])
            return logsumexp(jnp.log(jnp.array([0.25, 0.75])) - 0.5 * jnp.sum((y - mus) ** 2, -1))

        positions = jnp.array([[-2.0, 1.0], [2.5, 0.5], [3.5, -1.0]])  # 3 chains, 2 modes
        mixture, _ = find_modes(positions, logdensity, 0.5, GlobalMoves(max_modes=4))
        n = int(mixture.num_modes)  # 2 of the 4 slots are used
        print(mixture.means[:n], jnp.exp(mixture.log_weights[:n]))  # (-3, 0), (3, 0); 0.3 0.7
        print(mixture.chol[0] @ mixture.chol[0].T)  # s^2 Sigma_0 = 1.5 I (inflation 1.5)
        print(mixture.laplace_log_mass[:n], mixture.tail_weight)  # log(2 pi mass): 0.45 1.55; 0.1
    """

    means: jax.Array
    chol: jax.Array
    log_weights: jax.Array
    laplace_log_mass: jax.Array
    num_modes: jax.Array
    tail_weight: jax.Array
    tail_dof: jax.Array
    blocks: BlockStructure | None = None
    stopped: jax.Array | bool = False
    num_found: jax.Array | int = 0


def empty_mixture(
    dim: int,
    max_modes: int,
    dtype=jnp.float32,
    tail_weight: float = GlobalMoves._field_defaults["tail_weight"],
    tail_dof: float = GlobalMoves._field_defaults["tail_dof"],
    dense: bool = True,
) -> ModeMixture:
    """A mixture with no modes (placeholder before the modes are found): every
    :math:`\\log w_m = -\\infty`, so :math:`q \\equiv 0` and global moves are skipped;
    its blocks are :func:`~numpyro_dilation.block_moves.no_blocks`.

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from numpyro_dilation.modes import empty_mixture, mixture_logpdf

        mixture = empty_mixture(dim=2, max_modes=3)
        print(mixture.num_modes, mixture.means.shape, mixture.chol.shape)  # 0 (3, 2) (3, 2, 2)
        print(mixture.log_weights, mixture.tail_weight)  # [-inf -inf -inf] 0.1: no used slot
        print(mixture_logpdf(mixture, jnp.zeros(2)))  # -inf: no mode, no mass
    """
    return ModeMixture(
        means=jnp.zeros((max_modes, dim), dtype),
        chol=jnp.broadcast_to(jnp.eye(dim, dtype=dtype), (max_modes, dim, dim))
        if dense
        else jnp.ones((max_modes, dim), dtype),
        log_weights=jnp.full((max_modes,), -jnp.inf, dtype),
        laplace_log_mass=jnp.full((max_modes,), -jnp.inf, dtype),
        num_modes=jnp.zeros((), jnp.int32),
        tail_weight=jnp.asarray(tail_weight, dtype),
        tail_dof=jnp.asarray(tail_dof, dtype),
        blocks=no_blocks(dim, max_modes, dtype),
        stopped=jnp.zeros((), bool),
        num_found=jnp.zeros((), jnp.int32),
    )


def mixture_logpdf(mixture: ModeMixture, y: jax.Array) -> jax.Array:
    r""":math:`\log q(y) = \log\sum_m w_m[(1-\delta)\mathcal N(y; \mu_m, L_m L_m^\top)
    + \delta\, t_\nu(y; \mu_m, L_m L_m^\top)]`, with
    :math:`r^2 = \|L_m^{-1}(y-\mu_m)\|^2`,
    :math:`\log\mathcal N = -\tfrac12 r^2 - \log|L_m| - \tfrac d2\log 2\pi` and
    :math:`\log t_\nu = \log\Gamma(\tfrac{\nu+d}2) - \log\Gamma(\tfrac\nu2)
    - \tfrac d2\log(\nu\pi) - \log|L_m| - \tfrac{\nu+d}2\log(1 + r^2/\nu)`.

    ``y`` has shape ``(d,)``; returns a scalar.

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from jax.scipy.stats import multivariate_normal
        from numpyro_dilation.modes import GlobalMoves, find_modes, mixture_logpdf

        logdensity = lambda y: -0.5 * jnp.sum((y - 1.0) ** 2)  # N(1, I) in 2-d: one mode
        config = GlobalMoves(inflation=1.0, tail_weight=0.0)  # q = N(mu, Sigma), no Student-t share
        mixture, _ = find_modes(jnp.zeros((2, 2)), logdensity, 0.5, config)
        y = jnp.array([0.5, 2.0])
        print(mixture_logpdf(mixture, y))  # -2.463 = log N(y; (1, 1), I)
        print(multivariate_normal.logpdf(y, jnp.ones(2), jnp.eye(2)))  # the same
    """
    d = y.shape[-1]
    nu, delta = mixture.tail_dof, mixture.tail_weight

    def component(mean, chol):
        r2, log_det = _whitened_norm2(chol, y - mean)
        gauss, student = log_gauss_and_student(r2, d, nu)
        return jnp.logaddexp(jnp.log1p(-delta) + gauss, jnp.log(delta) + student) - log_det

    # Only the used slots (0 .. num_modes-1): a loop with a shared trip count, so the
    # cost is num_modes components, not max_modes (under vmap over chains the mixture
    # is unbatched and the loop stays a loop). A loop of traced length: not
    # reverse-mode differentiable (nothing here differentiates q).
    def add(m, acc):
        log_comp = component(mixture.means[m], mixture.chol[m])
        return jnp.logaddexp(acc, mixture.log_weights[m] + log_comp)

    init = jnp.full((), -jnp.inf, jnp.result_type(y.dtype, mixture.means.dtype))
    return lax.fori_loop(0, mixture.num_modes, add, init)


TRUNCATION = 0.9
"""Mass :math:`p` of each Gaussian component that :func:`truncated_mixture_logpdf` keeps.

**Example**

.. code-block:: python

    from numpyro_dilation.mode_mixture import TRUNCATION

    print(TRUNCATION)  # 0.9
"""


def truncated_mixture_logpdf(mixture: ModeMixture, y: jax.Array) -> jax.Array:
    r""":math:`\log\tilde q(y)` for the mixture's Gaussian parts, each truncated to its
    ellipsoid of mass :math:`p` = :data:`TRUNCATION`:

    .. math:: \tilde q(y) = \sum_m \omega_m\,\mathcal N(y; \mu_m, L_m L_m^\top)\,
              \frac{[r_m^2 \le c_p]}{p}, \qquad c_p = F^{-1}_{\chi^2_d}(p),

    with :math:`\omega_m` the modes' Laplace weights (``laplace_log_mass`` normalized;
    not the proposal weights, whose uniform share also weighs modes of negligible mass):
    a normalized density with bounded support (``-inf`` outside every ellipsoid), the
    :math:`\tilde q` of the modified harmonic mean (Gelfand and Dey 1994; Geweke 1999),
    :math:`1/Z = \mathbb E_\pi[\tilde q(y)/\gamma(y)]`, whose weights are bounded where
    :math:`\gamma` is bounded away from 0 on the ellipsoids. Mass of :math:`\tilde q` where
    :math:`\pi` has almost none is (almost) never visited by the draws and biases the
    estimate by that share, hence the Laplace weights. ``y`` has shape ``(d,)``.

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from numpyro_dilation.modes import GlobalMoves, find_modes
        from numpyro_dilation.mode_mixture import truncated_mixture_logpdf

        logdensity = lambda y: -0.5 * jnp.sum(y**2)  # N(0, I) in 2-d
        mixture, _ = find_modes(jnp.ones((2, 2)), logdensity, 0.5, GlobalMoves(inflation=1.0))
        print(truncated_mixture_logpdf(mixture, jnp.zeros(2)))  # -1.732 = log(N(0; 0, I) / 0.9)
        print(truncated_mixture_logpdf(mixture, jnp.array([3.0, 0.0])))  # -inf: outside
    """
    from scipy.stats import chi2

    d = y.shape[-1]
    cut = float(chi2.ppf(TRUNCATION, d))

    used = jnp.arange(mixture.means.shape[0]) < mixture.num_modes
    log_mass = jnp.where(used, mixture.laplace_log_mass, -jnp.inf)
    log_omega = log_mass - jax.scipy.special.logsumexp(log_mass)

    def add(m, acc):
        r2, log_det = _whitened_norm2(mixture.chol[m], y - mixture.means[m])
        gauss = log_gauss_and_student(r2, d, mixture.tail_dof)[0] - log_det
        inside = jnp.where(r2 <= cut, gauss, -jnp.inf)
        return jnp.logaddexp(acc, log_omega[m] + inside)

    init = jnp.full((), -jnp.inf, jnp.result_type(y.dtype, mixture.means.dtype))
    return lax.fori_loop(0, mixture.num_modes, add, init) - jnp.log(TRUNCATION)


def mixture_sample(rng_key: jax.Array, mixture: ModeMixture) -> jax.Array:
    """One draw :math:`y \\sim q`, shape ``(d,)``.

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from jax.scipy.special import gammaln, logsumexp
        from numpyro_dilation.modes import GlobalMoves, find_modes, mixture_logpdf, mixture_sample

        def logdensity(y):  # two unit Gaussians at (-3, 0) and (3, 0), 2-d
            mus = jnp.array([[-3.0, 0.0], [3.0, 0.0]])
            return logsumexp(-0.5 * jnp.sum((y - mus) ** 2, axis=-1))

        positions = jax.random.normal(jax.random.key(0), (8, 2)) * 3.0  # 8 "chains"
        mixture, num_grads = find_modes(positions, logdensity, 0.5, GlobalMoves(max_modes=4))
        print(int(mixture.num_modes), mixture.means[: int(mixture.num_modes)])  # 2 modes, (+-3, 0)
        y = mixture_sample(jax.random.key(1), mixture)  # one draw of the proposal, shape (2,)
        print(y, mixture_logpdf(mixture, y))
    """
    key_m, key_z, key_t, key_u = jax.random.split(rng_key, 4)
    dtype = mixture.means.dtype
    m = slot_sample(key_m, mixture.log_weights)
    z = jax.random.normal(key_z, mixture.means.shape[-1:], dtype)
    # Student-t draw: z * sqrt(nu / u), u ~ chi^2_nu = 2 Gamma(nu / 2).
    nu = mixture.tail_dof
    u = chi_square_sample(key_u, nu, (), dtype)
    heavy = jax.random.bernoulli(key_t, mixture.tail_weight)
    scale = jnp.where(heavy, jnp.sqrt(nu / u), 1.0).astype(dtype)
    chol = mixture.chol[m]
    step = chol @ (scale * z) if chol.ndim == 2 else chol * (scale * z)
    return mixture.means[m] + step


def slot_sample(
    rng_key: jax.Array, log_weights: jax.Array, shape: tuple[int, ...] = ()
) -> jax.Array:
    r"""Independent slots :math:`m`, each with probability :math:`w_m/\sum_j w_j`
    (``log_weights`` :math:`\log w`, shape ``(M,)``, ``-inf`` for unused slots), by the
    inverse of the cumulative weights: :math:`m = \#\{j : W_j \le u W_M\}`, :math:`W_j =
    \sum_{i \le j} w_i`, :math:`u \sim U(0, 1)`: one uniform per draw, where
    ``jax.random.categorical`` draws a Gumbel variable per slot (measured for 256 chains and
    64 slots on a 2-core CPU: 10 µs against 168 µs, most of the global move's cost on a
    cheap log-density). A slot of weight 0 is never drawn; int32, shape ``shape`` (the
    global moves draw one slot, the block moves one per coordinate:
    :func:`~numpyro_dilation.block_moves.product_sample`).

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from numpyro_dilation.mode_mixture import slot_sample

        log_w = jnp.log(jnp.array([0.2, 0.0, 0.8, 0.0]))  # slots 1 and 3 unused
        keys = jax.random.split(jax.random.key(0), 10_000)
        draws = jax.vmap(lambda k: slot_sample(k, log_w))(keys)
        print(jnp.bincount(draws, length=4) / 10_000)  # about [0.2 0. 0.8 0.]
    """
    top = jnp.max(log_weights)
    shift = jnp.where(jnp.isfinite(top), top, 0.0)
    cumulative = jnp.cumsum(jnp.where(log_weights > -jnp.inf, jnp.exp(log_weights - shift), 0.0))
    u = jax.random.uniform(rng_key, shape, cumulative.dtype) * cumulative[-1]
    # u * W_M may round up to W_M: the last slot of positive weight (argmax: its first index)
    count = jnp.sum(cumulative <= u[..., None], axis=-1, dtype=jnp.int32)
    return jnp.minimum(count, jnp.argmax(cumulative).astype(jnp.int32))


def chi_square_sample(
    rng_key: jax.Array, nu: jax.Array, shape: tuple[int, ...] = (), dtype=jnp.float32
) -> jax.Array:
    r"""Draws of :math:`\chi^2_\nu = 2\,\mathrm{Gamma}(\nu/2, 1)`, shape ``shape``, for any
    :math:`\nu > 0` (traced or not): Marsaglia & Tsang's (2000) exact rejection sampler
    for the Gamma shape :math:`a = \nu/2` when :math:`\nu \ge 2` (each try is accepted
    with probability above 0.95), and for :math:`a = \nu/2 + 1` times :math:`U^{2/\nu}` when
    :math:`\nu < 2` (:math:`\mathrm{Gamma}(a) = \mathrm{Gamma}(a + 1)\,U^{1/a}`). One small
    loop over tries: it compiles to a few fused kernels, where ``jax.random.gamma`` under
    ``vmap`` compiles to about 75 (measured in the population step). Used for the Student-t
    scale of the global moves' proposals (:func:`mixture_sample` and
    :func:`~numpyro_dilation.block_moves.product_sample`).

    **Example**

    .. code-block:: python

        import jax
        from numpyro_dilation.mode_mixture import chi_square_sample

        u = chi_square_sample(jax.random.key(0), 4.0, (100_000,))
        print(u.mean(), u.var())  # about 4 and 8: chi^2_4 has mean nu and variance 2 nu
    """
    nu = jnp.asarray(nu, dtype)
    key_try, key_boost = jax.random.split(rng_key)
    a = 0.5 * nu
    small = a < 1.0
    d = jnp.where(small, a + 1.0, a) - 1.0 / 3.0
    c = 1.0 / jnp.sqrt(9.0 * d)

    def body(carry):
        i, done, x = carry
        z, w = jax.random.normal(jax.random.fold_in(key_try, i), (2, *shape), dtype)
        u = jax.scipy.special.ndtr(w)  # uniform: Phi of an independent standard normal
        v = (1.0 + c * z) ** 3
        log_v = jnp.log(jnp.where(v > 0, v, 1.0))
        accept = ~done & (v > 0) & (jnp.log(u) < 0.5 * z * z + d - d * v + d * log_v)
        return i + 1, done | accept, jnp.where(accept, d * v, x)

    start = (jnp.zeros((), jnp.int32), jnp.zeros(shape, bool), jnp.ones(shape, dtype))
    x = lax.while_loop(lambda carry: ~jnp.all(carry[1]), body, start)[2]
    boost = jax.random.uniform(key_boost, shape, dtype, minval=jnp.finfo(dtype).tiny)
    return 2.0 * x * jnp.where(small, boost ** (1.0 / jnp.where(small, a, 1.0)), 1.0)


def log_gauss_and_student(r2, size, nu) -> tuple[jax.Array, jax.Array]:
    """:math:`(\\log\\mathcal N, \\log t_\\nu)` of a point at squared whitened distance
    ``r2`` from the center in ``size`` dimensions, before :math:`-\\log|L|` (the mixture's
    components; the block marginals of :mod:`numpyro_dilation.block_moves`). Broadcasts."""
    gauss = -0.5 * r2 - 0.5 * size * jnp.log(2 * jnp.pi)
    log_t_const = gammaln(0.5 * (nu + size)) - gammaln(0.5 * nu) - 0.5 * size * jnp.log(nu * jnp.pi)
    return gauss, log_t_const - 0.5 * (nu + size) * jnp.log1p(r2 / nu)


def _whitened_norm2(chol: jax.Array, diff: jax.Array) -> tuple[jax.Array, jax.Array]:
    """:math:`(\\|L^{-1} x\\|^2, \\log|L|)` for one factor ``chol`` (dense ``(d, d)``
    lower-triangular, or its diagonal ``(d,)``) and ``diff`` :math:`x` of shape ``(d,)``."""
    if chol.ndim == 1:
        z = diff / chol
        return jnp.sum(z * z), jnp.sum(jnp.log(jnp.abs(chol)))
    z = solve_triangular(chol, diff, lower=True)
    return jnp.sum(z * z), jnp.sum(jnp.log(jnp.abs(jnp.diagonal(chol))))


def nearest_mode(points: jax.Array, means: jax.Array, chol: jax.Array) -> np.ndarray:
    r"""Index of the mode with the smallest Mahalanobis distance
    :math:`\|L_m^{-1}(y - \mu_m)\|` for each row of ``points`` ``(n, d)``, given the
    used modes' ``means`` ``(M, d)`` and factors ``chol`` (``(M, d, d)`` or ``(M, d)``).

    Computed on the host with NumPy and SciPy, one mode at a time (memory
    :math:`O(n d)`), never with XLA: the end-of-run check calls it from inside a host
    callback of the running sampler, where an XLA computation can deadlock on CPU
    (a batched triangular solve splits over the intra-op thread pool, one of whose
    threads is the one waiting in the callback; measured: the radon model, d = 89, hung
    at the end of warm-up).

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from numpyro_dilation.modes import nearest_mode

        means = jnp.array([[-3.0, 0.0], [3.0, 0.0]])
        chol = jnp.ones((2, 2))  # diagonal factors: unit standard deviations
        print(nearest_mode(jnp.array([[-1.0, 2.0], [0.5, 0.0]]), means, chol))  # [0 1]
    """
    from scipy.linalg import solve_triangular as host_solve_triangular

    points = np.asarray(points, dtype=float)
    means = np.asarray(means, dtype=float)
    chol = np.asarray(chol, dtype=float)
    best = np.full(points.shape[0], np.inf)
    labels = np.zeros(points.shape[0], dtype=np.int64)
    for m in range(means.shape[0]):
        diff = points - means[m]
        if chol.ndim == 2:
            z = diff / chol[m]
        else:
            z = host_solve_triangular(chol[m], diff.T, lower=True, check_finite=False).T
        with np.errstate(invalid="ignore", over="ignore"):
            dist2 = np.sum(z * z, axis=1)
        closer = dist2 < best
        best = np.where(closer, dist2, best)
        labels = np.where(closer, m, labels)
    return labels
