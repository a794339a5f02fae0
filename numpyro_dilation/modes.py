r"""Modes of the target found from annealed chains, and their Gaussian mixture.

Annealing finds modes but does not weight them correctly (DESIGN.md §3). This
module turns the chains' positions at the end of warm-up into a description of
the modes, used as the proposal of independence Metropolis–Hastings moves
(:mod:`numpyro_dilation.global_moves`) and as an importance-sampling proposal
for the log-evidence.

For flat positions :math:`y_c \in \mathbb{R}^d`, :math:`c = 1..C`:

1. *Ascent.* :math:`T` steps of :math:`y \leftarrow y + h_c v\odot\nabla\log\gamma(y)`
   (the Langevin drift with the chain's tuned step :math:`h_c`, so the scale is
   the target's), a step being kept only if it raises :math:`\log\gamma` (else
   :math:`h_c` is halved); then a few Newton steps
   :math:`y \leftarrow y + H^{-1}\nabla\log\gamma(y)`,
   :math:`H = -\nabla^2\log\gamma(y)`, kept only if they raise :math:`\log\gamma`.
2. *Laplace.* At each optimum, :math:`\Sigma_c = H^{-1}` with the eigenvalues
   of :math:`H` floored at ``eig_floor`` × the largest (a non-positive-definite
   Hessian marks the point as unreliable: it is not used as a mode).
3. *Merging.* Greedy, in chain order: an optimum joins the first existing mode
   :math:`m` with Mahalanobis distance
   :math:`(y_c - \mu_m)^\top \Sigma_m^{-1} (y_c - \mu_m) < \delta^2`
   (``merge_distance`` :math:`=\delta`), keeping the higher of the two as the
   representative; otherwise it opens a new mode (at most ``max_modes``).
4. *Weights.* Laplace masses :math:`\hat w_m \propto \gamma(\mu_m)|\Sigma_m|^{1/2}`,
   mixed with uniform weights for robustness:
   :math:`w_m = (1-\epsilon)\hat w_m + \epsilon/M`.

The proposal is the defensive mixture

.. math::

    q(y) = \sum_m w_m\big[(1-\delta)\,\mathcal N(y;\mu_m, s^2\Sigma_m)
           + \delta\,t_\nu(y;\mu_m, s^2\Sigma_m)\big]

with inflation :math:`s^2` (``inflation``; by default
:math:`s^2 = 1/(1 - \tfrac13\sqrt{2/d})`, :func:`proposal_inflation`), tail share :math:`\delta`
(``tail_weight``) and a multivariate Student-t of :math:`\nu` degrees of
freedom (``tail_dof``). The Student-t part bounds the importance weight
:math:`\gamma/q` where the posterior's tails are heavier than the Laplace
Gaussian's (a scale parameter, a regression with unknown noise): without it a
chain out in such a tail has :math:`\gamma(y)/q(y)` so large that no
independence proposal is ever accepted from there.

**High dimension.** Above :data:`DENSE_MAX_DIM` dimensions (``covariance="auto"``) no
:math:`d\times d` object is formed:

1. the ascent has no Newton steps; an optimum is stationary if
   :math:`g^\top V g \le` ``stationarity_tol`` :math:`\cdot d` in the pooled metric
   :math:`V` = ``inverse_mass_matrix``;
2. merging is greedy in start order: a start is compared with the representative nearest
   to it in the metric :math:`V^{-1}`, and joins it if :math:`\log\gamma` at five
   evenly spaced points of the segment between them stays above the lower end's value
   minus 2 nats (no barrier: on a log-concave mode this holds for any two points,
   converged or not, so one mode stays one mode however far the ascent got);
3. :math:`\Sigma_m = \operatorname{diag}(1/H_{ii})`, :math:`H_{ii}` from :math:`d`
   Hessian-vector products at each mode found (coordinates where :math:`H_{ii}` is not
   positive keep :math:`1/V_{ii}`); then ``num_newton_steps`` diagonal Newton steps
   :math:`y_i \leftarrow y_i + \partial_i\log\gamma(y)/H_{ii}` refine the mode (each
   kept only if it raises :math:`\log\gamma`). These are the conditional variances: for a mode with
   correlated coordinates the proposal is narrower than the mode, so the moves stay exact
   but are accepted less often.

Memory is :math:`O(M d)` for the mixture and :math:`O(B d)` per Hessian-vector batch;
the cost per start is the ascent plus a few log-densities, plus :math:`M d`
Hessian-vector products in all.
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.scipy.linalg import solve_triangular
from jax.scipy.special import gammaln, logsumexp

from numpyro_dilation.batching import map_starts

__all__ = [
    "DENSE_MAX_DIM",
    "DIAGONAL_START_CHAINS",
    "ModeMixture",
    "GlobalMoves",
    "find_modes",
    "find_modes_per_chain",
    "hessian_diagonal",
    "mixture_logpdf",
    "nearest_mode",
    "uses_dense_covariance",
    "mixture_sample",
    "mode_start_chains",
    "empty_mixture",
    "contracted_starts",
    "proposal_inflation",
]


_SEGMENT_POINTS = 5  # interior points of the barrier test between two optima
_BARRIER_NATS = 2.0  # a dip of more than this below both ends separates two modes

DENSE_MAX_DIM = 100
"""Largest dimension in which ``GlobalMoves(covariance="auto")`` keeps a dense Laplace
covariance per mode (memory :math:`O(M d^2)` for :math:`M` modes, and a dense Hessian and
its eigendecomposition at every start of the mode finding, :math:`O(d)` gradients and
:math:`O(d^3)` flops each). Above it the covariances are diagonal (module docstring,
"High dimension"): memory :math:`O(M d)`, and the only Hessian work is :math:`d`
Hessian-vector products at each mode found.

**Example**

.. code-block:: python

    from numpyro_dilation.modes import DENSE_MAX_DIM, GlobalMoves, uses_dense_covariance

    print(DENSE_MAX_DIM, uses_dense_covariance(GlobalMoves(), 50))  # 100 True
    print(uses_dense_covariance(GlobalMoves(), 400))  # False: diagonal above DENSE_MAX_DIM
"""


def uses_dense_covariance(config: "GlobalMoves", dim: int) -> bool:
    """Whether ``config`` gives dense Laplace covariances in dimension ``dim``.

    **Example**

    .. code-block:: python

        from numpyro_dilation.modes import GlobalMoves, uses_dense_covariance

        print(uses_dense_covariance(GlobalMoves(covariance="diagonal"), 2))  # False
    """
    if config.covariance == "auto":
        return dim <= DENSE_MAX_DIM
    return config.covariance == "dense"


class GlobalMoves(NamedTuple):
    r"""Settings of mode finding (:func:`find_modes`, see the module docstring for
    the maths) and of the global moves that use the modes.

    max_modes
        Most modes kept (fixed-size arrays; the rest merge or are dropped).
    num_ascent_steps, num_newton_steps
        Gradient-ascent and Newton iterations from each chain's position.
    merge_distance
        :math:`\delta`: optima closer than :math:`\delta` in the Mahalanobis
        metric of a mode's Laplace covariance are the same mode.
    inflation
        :math:`s^2`, proposal covariance :math:`s^2\Sigma_m`: a number, or ``"auto"``
        (default) for :math:`s^2 = 1/(1 - \tfrac13\sqrt{2/d})` (1.5 in :math:`d = 2`,
        1.18 in :math:`d = 10`, 1.07 in :math:`d = 50`; :func:`proposal_inflation`).
    uniform_weight
        :math:`\epsilon`, share of uniform weight in the proposal's mode weights.
    eig_floor
        Eigenvalues of :math:`H` are floored at this fraction of the largest.
    stationarity_tol
        An optimum is a mode only if its Newton decrement
        :math:`g^\top H^{-1} g \le` ``stationarity_tol`` :math:`\cdot d`.
    tail_weight, tail_dof
        :math:`\delta` and :math:`\nu` of the Student-t share of every component.
    center_contractions
        Ratios :math:`\rho`: the ascent also starts from the chains' annealing centers
        contracted toward their mean, :math:`\bar c + \rho(c_i - \bar c)`
        (:func:`contracted_starts`), after the chains (and the explorer's returns), so
        these starts only fill slots that are left. In high dimension an overdispersed
        initial law reaches only the widest modes: a narrow mode's basin is a ball
        around it, and random points far from it lie in the basin of the wider one.
        ``()`` turns this off.
    every
        A global move after every ``every``-th local step in the sampling phase.
    covariance
        ``"dense"``, ``"diagonal"`` or ``"auto"`` (default: dense up to
        :data:`DENSE_MAX_DIM` dimensions, diagonal above); see the module docstring.
    num_start_chains
        How many chains' positions (with their U-turn returns and contracted centers)
        start the mode finding in the NumPyro kernel: a number, or ``"auto"`` (default):
        every chain with dense covariances, :data:`DIAGONAL_START_CHAINS` (64) evenly
        spaced chains with diagonal ones (:func:`mode_start_chains`).

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        import numpyro
        import numpyro.distributions as dist
        from numpyro.infer import MCMC

        from numpyro_dilation import DilationLangevin, GlobalMoves, UTurn

        def model():
            # two well-separated modes at -3 and +3
            mix = dist.MixtureSameFamily(
                dist.Categorical(jnp.array([0.5, 0.5])), dist.Normal(jnp.array([-3.0, 3.0]), 0.5)
            )
            numpyro.sample("x", mix)

        kernel = DilationLangevin(
            model,
            global_moves=GlobalMoves(max_modes=8, num_ascent_steps=20),
            uturn=UTurn(kind="explore", lambda_u=1e-3, num_steps=20),
        )
        mcmc = MCMC(kernel, num_warmup=60, num_samples=40, num_chains=8,
                    chain_method="vectorized", progress_bar=False)
        mcmc.run(jax.random.key(0))
        x = mcmc.get_samples()["x"]
        print((x > 0).mean())  # about 0.5: both modes, weighted correctly
    """

    max_modes: int = 64
    num_ascent_steps: int = 100
    num_newton_steps: int = 3
    merge_distance: float = 3.0
    inflation: float | str = "auto"
    uniform_weight: float = 0.2
    eig_floor: float = 1e-6
    every: int = 1
    stationarity_tol: float = 1.0
    tail_weight: float = 0.1
    tail_dof: float = 4.0
    center_contractions: tuple[float, ...] = (0.3, 0.1)
    covariance: str = "auto"
    num_start_chains: int | str = "auto"


DIAGONAL_START_CHAINS = 64
"""Chains whose positions start the mode finding with diagonal covariances
(``GlobalMoves(num_start_chains="auto")`` above :data:`DENSE_MAX_DIM` dimensions). The
mode finding from every chain of a 256-chain run cost about half of the run's gradients on
the real-model suite's models of 100-400 dimensions (``python -m benchmarks.warmup_cost``);
64 starting chains find every mode that holds at least 5% of the chains with probability
:math:`1 - 0.95^{64} > 0.96`.

**Example**

.. code-block:: python

    from numpyro_dilation.modes import DIAGONAL_START_CHAINS, GlobalMoves, mode_start_chains

    print(DIAGONAL_START_CHAINS, mode_start_chains(GlobalMoves(), 256, 400))  # 64 64
    print(mode_start_chains(GlobalMoves(), 256, 50))  # 256: every chain below DENSE_MAX_DIM
"""


def mode_start_chains(config: GlobalMoves, num_chains: int, dim: int) -> int:
    """How many of ``num_chains`` chains start the mode finding in dimension ``dim``.

    **Example**

    .. code-block:: python

        from numpyro_dilation.modes import GlobalMoves, mode_start_chains

        print(mode_start_chains(GlobalMoves(num_start_chains=16), 256, 2))  # 16
    """
    if config.num_start_chains == "auto":
        if uses_dense_covariance(config, dim):
            return num_chains
        return min(num_chains, DIAGONAL_START_CHAINS)
    return min(num_chains, int(config.num_start_chains))


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


def empty_mixture(
    dim: int,
    max_modes: int,
    dtype=jnp.float32,
    tail_weight: float = GlobalMoves._field_defaults["tail_weight"],
    tail_dof: float = GlobalMoves._field_defaults["tail_dof"],
    dense: bool = True,
) -> ModeMixture:
    """A mixture with no modes (placeholder before the modes are found): every
    :math:`\\log w_m = -\\infty`, so :math:`q \\equiv 0` and global moves are skipped.

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
    log_t_const = gammaln(0.5 * (nu + d)) - gammaln(0.5 * nu) - 0.5 * d * jnp.log(nu * jnp.pi)

    def component(mean, chol):
        r2, log_det = _whitened_norm2(chol, y - mean)
        gauss = -0.5 * r2 - 0.5 * d * jnp.log(2 * jnp.pi)
        student = log_t_const - 0.5 * (nu + d) * jnp.log1p(r2 / nu)
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
    m = jax.random.categorical(key_m, mixture.log_weights)
    z = jax.random.normal(key_z, mixture.means.shape[-1:], dtype)
    # Student-t draw: z * sqrt(nu / u), u ~ chi^2_nu = 2 Gamma(nu / 2).
    nu = mixture.tail_dof
    u = 2.0 * jax.random.gamma(key_u, 0.5 * nu, dtype=dtype)
    heavy = jax.random.bernoulli(key_t, mixture.tail_weight)
    scale = jnp.where(heavy, jnp.sqrt(nu / u), 1.0).astype(dtype)
    chol = mixture.chol[m]
    step = chol @ (scale * z) if chol.ndim == 2 else chol * (scale * z)
    return mixture.means[m] + step


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
    """Preconditioned gradient ascent with per-step backtracking; returns (y, logdensity)."""
    value_and_grad = jax.value_and_grad(logdensity_fn)

    def body(_, carry):
        y, ld, g, h = carry
        y_new = y + h * inverse_mass * g
        ld_new, g_new = value_and_grad(y_new)
        better = jnp.isfinite(ld_new) & _finite(g_new) & (ld_new >= ld)
        return (
            jnp.where(better, y_new, y),
            jnp.where(better, ld_new, ld),
            jnp.where(better, g_new, g),
            jnp.where(better, h, 0.5 * h),
        )

    ld, g = value_and_grad(y)
    y, ld, _, _ = lax.fori_loop(0, num_steps, body, (y, ld, g, step_size))
    return y, ld


def _precision(logdensity_fn: Callable, y, eig_floor: float):
    """Floored :math:`H = -\\nabla^2\\log\\gamma(y)`, its eigendecomposition, and validity."""
    hess = -jax.hessian(logdensity_fn)(y)
    hess = 0.5 * (hess + hess.T)
    eigval, eigvec = jnp.linalg.eigh(hess)
    valid = _finite(eigval) & (eigval[0] > 0)
    floor = eig_floor * jnp.maximum(jnp.max(jnp.abs(eigval)), 1e-30)
    eigval = jnp.where(jnp.isfinite(eigval), jnp.maximum(eigval, floor), 1.0)
    eigvec = jnp.where(jnp.isfinite(eigvec), eigvec, jnp.eye(y.shape[0], dtype=y.dtype))
    return eigval, eigvec, valid


def _newton(logdensity_fn: Callable, y, ld, num_steps: int, eig_floor: float):
    value_and_grad = jax.value_and_grad(logdensity_fn)

    def body(_, carry):
        y, ld = carry
        _, g = value_and_grad(y)
        eigval, eigvec, _ = _precision(logdensity_fn, y, eig_floor)
        step = eigvec @ ((eigvec.T @ g) / eigval)
        y_new = y + step
        ld_new = logdensity_fn(y_new)
        better = jnp.isfinite(ld_new) & (ld_new >= ld) & _finite(y_new)
        return jnp.where(better, y_new, y), jnp.where(better, ld_new, ld)

    return lax.fori_loop(0, num_steps, body, (y, ld))


def find_modes(
    positions: jax.Array,
    logdensity_fn: Callable,
    step_size: jax.Array,
    config: GlobalMoves | None = None,
    inverse_mass_matrix: jax.Array | None = None,
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

    Returns
    -------
    ``(mixture, num_grad_evals)``: the :class:`ModeMixture` and the gradient
    evaluations spent per chain (a Hessian counts as ``d`` gradients).

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
        print(num_grads)  # 66 = 50 ascent + 1 + 3 Newton * (d + 2) + d + 1 gradients per chain
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
    if not uses_dense_covariance(config, dim):
        return _find_modes_diagonal(positions, logdensity_fn, step_size, config, inverse_mass)

    def optimize(y, h):
        y, ld = _ascend(logdensity_fn, y, h, config.num_ascent_steps, inverse_mass)
        y, ld = _newton(logdensity_fn, y, ld, config.num_newton_steps, config.eig_floor)
        eigval, eigvec, valid = _precision(logdensity_fn, y, config.eig_floor)
        g = jax.grad(logdensity_fn)(y)
        decrement = jnp.sum((eigvec.T @ g) ** 2 / eigval)  # g^T H^{-1} g
        valid = valid & jnp.isfinite(ld)
        return y, ld, eigval, eigvec, valid, valid & (decrement <= config.stationarity_tol * dim)

    ys, lds, eigvals, eigvecs, loose, strict = map_starts(optimize, positions, step_size)
    valid = jnp.where(jnp.any(strict), strict, loose)
    max_modes = config.max_modes
    delta2 = config.merge_distance**2

    # Greedy merge, in chain order, into at most max_modes slots.
    def merge(c, carry):
        idx, n = carry  # idx[m]: chain representing slot m
        y, ld = ys[c], lds[c]
        rep_y, rep_val, rep_vec = ys[idx], eigvals[idx], eigvecs[idx]
        proj = jnp.einsum("mji,mj->mi", rep_vec, y[None] - rep_y)
        dist2 = jnp.sum(proj**2 * rep_val, axis=-1)
        dist2 = jnp.where(jnp.arange(max_modes) < n, dist2, jnp.inf)
        j = jnp.argmin(dist2)
        close = dist2[j] < delta2
        replace = close & (ld > lds[idx[j]])
        add = (~close) & (n < max_modes)
        idx = jnp.where(valid[c] & replace, idx.at[j].set(c), idx)
        idx = jnp.where(valid[c] & add, idx.at[n].set(c), idx)
        n = n + (valid[c] & add).astype(n.dtype)
        return idx, n

    idx0 = jnp.zeros((max_modes,), jnp.int32)
    idx, num_modes = lax.fori_loop(0, num_chains, merge, (idx0, jnp.zeros((), jnp.int32)))
    used = jnp.arange(max_modes) < num_modes

    means = ys[idx]
    eigval, eigvec = eigvals[idx], eigvecs[idx]
    # Proposal covariance s^2 Sigma = V diag(s^2 / eig) V^T; chol via QR-free Cholesky.
    inflation = proposal_inflation(config.inflation, dim)
    cov = jnp.einsum("mij,mj,mkj->mik", eigvec, inflation / eigval, eigvec)
    chol = jnp.linalg.cholesky(cov)
    eye = jnp.broadcast_to(jnp.eye(dim, dtype=dtype), chol.shape)
    chol = jnp.where(used[:, None, None], chol, eye)
    laplace = lds[idx] - 0.5 * jnp.sum(jnp.log(eigval), -1) + 0.5 * dim * jnp.log(2 * jnp.pi)
    laplace = jnp.where(used, laplace, -jnp.inf)
    log_weights = _defensive_weights(laplace, used, num_modes, config.uniform_weight)
    log_weights = log_weights.astype(dtype)
    mixture = ModeMixture(
        means,
        chol,
        log_weights,
        laplace.astype(dtype),
        num_modes,
        jnp.asarray(config.tail_weight, dtype),
        jnp.asarray(config.tail_dof, dtype),
    )
    grads = config.num_ascent_steps + 1 + config.num_newton_steps * (dim + 2) + dim + 1
    return mixture, jnp.asarray(grads, jnp.int32)


def _no_barrier(logdensity_fn: Callable, a, ld_a, b, ld_b) -> jax.Array:
    """Whether :math:`\\log\\gamma` stays above :math:`\\min(\\log\\gamma(a), \\log\\gamma(b))`
    minus :data:`_BARRIER_NATS` at :data:`_SEGMENT_POINTS` evenly spaced interior points of
    the segment from ``a`` to ``b`` (then both lie in one mode)."""
    ts = jnp.linspace(0.0, 1.0, _SEGMENT_POINTS + 2, dtype=a.dtype)[1:-1]
    lds = jax.vmap(lambda t: logdensity_fn(a + t * (b - a)))(ts)
    return jnp.all(lds >= jnp.minimum(ld_a, ld_b) - _BARRIER_NATS)


def _find_modes_diagonal(positions, logdensity_fn, step_size, config, inverse_mass):
    """:func:`find_modes` with diagonal covariances (module docstring, "High dimension")."""
    num, dim = positions.shape
    dtype = positions.dtype
    precision = 1.0 / inverse_mass

    def optimize(y, h):
        y, ld = _ascend(logdensity_fn, y, h, config.num_ascent_steps, inverse_mass)
        g = jax.grad(logdensity_fn)(y)
        valid = jnp.isfinite(ld) & _finite(g) & _finite(y)
        decrement = jnp.sum(inverse_mass * g * g)  # g^T V g in the pooled metric
        return y, ld, valid, valid & (decrement <= config.stationarity_tol * dim)

    ys, lds, loose, strict = map_starts(optimize, positions, step_size)
    valid = jnp.where(jnp.any(strict), strict, loose)
    max_modes = config.max_modes

    # Greedy, in start order: a start joins the representative nearest in the pooled
    # metric if the segment between them has no barrier, else it opens a new mode.
    def merge(c, carry):
        idx, n = carry
        y, ld = ys[c], lds[c]
        dist2 = jnp.sum(precision * (y - ys[idx]) ** 2, axis=-1)
        dist2 = jnp.where(jnp.arange(max_modes) < n, dist2, jnp.inf)
        j = jnp.argmin(dist2)
        same = (n > 0) & _no_barrier(logdensity_fn, y, ld, ys[idx[j]], lds[idx[j]])
        replace = same & (ld > lds[idx[j]])
        add = (~same) & (n < max_modes)
        idx = jnp.where(valid[c] & replace, idx.at[j].set(c), idx)
        idx = jnp.where(valid[c] & add, idx.at[n].set(c), idx)
        return idx, n + (valid[c] & add).astype(n.dtype)

    idx0 = jnp.zeros((max_modes,), jnp.int32)
    idx, num_modes = lax.fori_loop(0, num, merge, (idx0, jnp.zeros((), jnp.int32)))
    used = jnp.arange(max_modes) < num_modes
    value_and_grad = jax.value_and_grad(logdensity_fn)

    def refine(m, carry):
        # only the used slots pay for their d Hessian-vector products; then diagonal
        # Newton steps y <- y + g / diag(H), kept if they raise log gamma
        means, mode_lds, curv = carry
        h = hessian_diagonal(logdensity_fn, means[m])
        h = jnp.where(jnp.isfinite(h) & (h > 0), h, precision)
        h = jnp.maximum(h, config.eig_floor * jnp.max(h)).astype(dtype)

        def newton(_, point):
            y, ld = point
            _, g = value_and_grad(y)
            y_new = y + g / h
            ld_new = logdensity_fn(y_new)
            better = jnp.isfinite(ld_new) & (ld_new >= ld) & _finite(y_new)
            return jnp.where(better, y_new, y), jnp.where(better, ld_new, ld)

        y, ld = lax.fori_loop(0, config.num_newton_steps, newton, (means[m], mode_lds[m]))
        return means.at[m].set(y), mode_lds.at[m].set(ld), curv.at[m].set(h)

    carry = (ys[idx], lds[idx], jnp.ones((max_modes, dim), dtype))
    means, mode_lds, curv = lax.fori_loop(0, num_modes, refine, carry)
    inflation = proposal_inflation(config.inflation, dim)
    chol = jnp.where(used[:, None], jnp.sqrt(inflation / curv), 1.0).astype(dtype)
    laplace = mode_lds - 0.5 * jnp.sum(jnp.log(curv), -1) + 0.5 * dim * jnp.log(2 * jnp.pi)
    laplace = jnp.where(used, laplace, -jnp.inf)
    log_weights = _defensive_weights(laplace, used, num_modes, config.uniform_weight)
    mixture = ModeMixture(
        means,
        chol,
        log_weights.astype(dtype),
        laplace.astype(dtype),
        num_modes,
        jnp.asarray(config.tail_weight, dtype),
        jnp.asarray(config.tail_dof, dtype),
    )
    # per start: ascent, its first and last gradient, the segment's log-densities; and a
    # share of the d Hessian-vector products and the Newton steps at each mode found
    per_mode = dim + 2 * config.num_newton_steps
    hessian_share = (num_modes * per_mode + num - 1) // num
    grads = config.num_ascent_steps + 2 + _SEGMENT_POINTS + hessian_share
    return mixture, grads.astype(jnp.int32)


def _defensive_weights(laplace, used, num_modes, eps):
    """:math:`\\log w_m`: Laplace weights mixed with a share ``eps`` of uniform weights."""
    log_w_laplace = laplace - logsumexp(laplace)
    log_w_uniform = jnp.where(used, -jnp.log(jnp.maximum(num_modes, 1)), -jnp.inf)
    log_weights = jnp.logaddexp(jnp.log1p(-eps) + log_w_laplace, jnp.log(eps) + log_w_uniform)
    return jnp.where(used, log_weights, -jnp.inf)


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

    Why: for a mixture whose components have different widths, the basin (under
    gradient ascent or annealing) of a narrow component is a ball around it, while
    the wider component's basin holds every point far away. In dimension :math:`d`
    a draw of an overdispersed initial law is at distance about
    :math:`s\sqrt d` from everything, so every chain ends in the widest mode.
    Measured on ``two_mode_50`` (``benchmarks``): from :math:`\mathcal N(0, 3^2 I)`
    starts all 256 chains end in the wide mode of weight 1/3; from the same starts
    contracted by 0.3 the ascent reaches both modes.

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


def proposal_inflation(inflation: float | str, dim: int) -> float:
    r"""The proposal's covariance inflation :math:`s^2` in dimension :math:`d` = ``dim``.

    A number is returned as it is. ``"auto"`` gives

    .. math:: s^2 = \Big(1 - \tfrac13\sqrt{2/d}\Big)^{-1},

    which keeps the spread of the independence sampler's log importance weights the
    same in every dimension for a Gaussian mode. With :math:`y \sim \mathcal N(\mu,
    \Sigma)` and proposal :math:`\mathcal N(\mu, s^2\Sigma)`,
    :math:`\log[\gamma(y)/q(y)] = -\tfrac12 r^2 (1 - s^{-2}) + \text{const}` with
    :math:`r^2 \sim \chi^2_d`, whose standard deviation is
    :math:`(1 - s^{-2})\sqrt{d/2}`; the formula holds it at :math:`\tfrac13`, its
    value for the fixed :math:`s^2 = 1.5` in :math:`d = 2`. A fixed 1.5 lets that
    spread grow as :math:`\sqrt d`, and the acceptance of the global moves falls:
    measured on ``two_mode_50`` (256 chains × (400 + 100)), acceptance 0.18 and a
    mode-indicator R-hat of 1.10 with 1.5, 0.71 and 1.009 with 1.1.

    **Example**

    .. code-block:: python

        from numpyro_dilation.modes import proposal_inflation

        print([round(proposal_inflation("auto", d), 3) for d in (2, 10, 50)])  # [1.5, 1.175, 1.071]
        print(proposal_inflation(2.0, 50))  # 2.0: a number is kept
    """
    if isinstance(inflation, str):
        if inflation != "auto":
            raise ValueError(f"`inflation` must be a positive number or 'auto', got {inflation!r}.")
        return 1.0 / (1.0 - (2.0 / max(int(dim), 1)) ** 0.5 / 3.0)
    return float(inflation)
