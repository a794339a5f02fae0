r"""Benchmark targets with exact samplers, known mode weights and (where known) log Z.

Every target is a density :math:`\pi(x) = \gamma(x)/Z` on :math:`\mathbb R^d`
given by its unnormalized log-density :math:`\log\gamma` (a JAX function of a
flat array of shape ``(d,)``), together with

- an exact sampler (NumPy, shape ``(n, d_out)``) in the *output space* in which
  metrics are computed (the identity map for all targets except the
  posteriordb one, whose output is the constrained parameter vector);
- the exact mean and covariance in the output space;
- the mode weights and a nearest-mode assignment ``assign(draws) -> labels``
  (``None`` for unimodal targets);
- :math:`\log Z` when known;
- ``init_scale`` :math:`s`: every sampler starts from (or, for tempered SMC,
  tempers from) :math:`\mathcal N(0, s^2 I)`, the same broad initial law for all;
- ``ula_step_size`` :math:`h` for the paper-faithful annealed ULA, chosen by the
  rule :math:`h = 0.04\,\sigma_{\min}^2` (smallest component standard deviation;
  DESIGN.md §3 measured ring8 at :math:`h = 0.01`, which is this rule).

Targets (see :data:`TARGETS`): ``ring8``, ``gmm40``, ``two_mode_10``,
``two_mode_50``, ``funnel_10``, ``many_well_32``, ``gauss_mix_unordered``, ``mixture_k5``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

__all__ = [
    "Target",
    "GaussianMixture",
    "TARGETS",
    "get_target",
    "ring8",
    "gmm40",
    "two_mode",
    "RING8_CENTER",
    "ring8_parameters",
    "gmm40_parameters",
    "TWO_MODE_WEIGHTS",
    "TWO_MODE_SDS",
    "funnel",
    "many_well",
    "gauss_mix_unordered",
    "mixture_k5",
]

Array = jax.Array


@dataclass(frozen=True)
class Target:
    """A benchmark density and everything known about it exactly.

    name, title, description
        Registry key, display name, one-line definition.
    dim
        :math:`d`, dimension of the sampling space (flat, unconstrained).
    logdensity_fn
        :math:`\\log\\gamma`, JAX function ``(d,) -> ()``.
    sample_fn
        Exact sampler ``(numpy Generator, n) -> (n, d_out)`` in output space.
    mean, cov
        Exact mean ``(d_out,)`` and covariance ``(d_out, d_out)`` in output space.
    mode_weights
        Exact mode weights ``(K,)`` (sum 1), or ``None`` for a unimodal target.
    assign_fn
        Nearest-mode assignment ``(n, d_out) -> (n,)`` int labels in ``[0, K)``.
    log_z
        :math:`\\log Z = \\log\\int\\gamma`, or ``None`` if unknown.
    init_scale
        :math:`s` of the common initial law :math:`\\mathcal N(0, s^2 I_d)`.
    ula_step_size
        :math:`h` of the paper-faithful annealed ULA.
    to_output
        Map ``(n, d) -> (n, d_out)`` from the sampling space to output space.
    extra_metrics
        Optional ``(draws_out) -> dict`` of target-specific metrics.
    mode_locations
        Optional ``(K, d_out)`` mode centers (for plots).
    """

    name: str
    title: str
    description: str
    dim: int
    logdensity_fn: Callable[[Array], Array]
    sample_fn: Callable[[np.random.Generator, int], np.ndarray]
    mean: np.ndarray
    cov: np.ndarray
    init_scale: float
    ula_step_size: float
    mode_weights: np.ndarray | None = None
    assign_fn: Callable[[np.ndarray], np.ndarray] | None = None
    log_z: float | None = None
    to_output: Callable[[np.ndarray], np.ndarray] = field(default=np.asarray)
    extra_metrics: Callable[[np.ndarray], dict] | None = None
    mode_locations: np.ndarray | None = None

    @property
    def num_modes(self) -> int:
        return 1 if self.mode_weights is None else len(self.mode_weights)

    @property
    def multimodal(self) -> bool:
        return self.num_modes > 1

    def init_positions(self, rng_key: Array, n: int) -> Array:
        """``n`` draws of the common initial law :math:`\\mathcal N(0, s^2 I_d)`, ``(n, d)``."""
        return self.init_scale * jax.random.normal(rng_key, (n, self.dim))

    def init_logdensity(self, x: Array) -> Array:
        """Normalized log-density of the initial law at ``x`` of shape ``(d,)``."""
        s = self.init_scale
        return -0.5 * jnp.sum(x**2) / s**2 - self.dim * (jnp.log(s) + 0.5 * math.log(2 * math.pi))


# --------------------------------------------------------------------------- mixtures


class GaussianMixture:
    r"""Isotropic Gaussian mixture :math:`\sum_k w_k\,\mathcal N(m_k, \sigma_k^2 I_d)`.

    Normalized, so :math:`\log Z = 0`. Nearest-mode assignment: the component
    with the highest density at :math:`x`, :math:`\arg\max_k \log\mathcal
    N(x; m_k, \sigma_k^2 I)` (unweighted; the Euclidean-nearest mean when all
    :math:`\sigma_k` are equal).

    Parameters
    ----------
    weights
        ``(K,)``, positive; normalized here.
    means
        ``(K, d)``.
    sds
        ``(K,)`` component standard deviations.
    """

    def __init__(self, weights, means, sds):
        w = np.asarray(weights, dtype=float)
        self.weights = w / w.sum()
        self.means = np.asarray(means, dtype=float)
        self.sds = np.asarray(sds, dtype=float) * np.ones(len(w))
        self.dim = self.means.shape[1]
        d = self.dim
        self._log_norm = np.log(self.weights) - d * np.log(self.sds) - 0.5 * d * np.log(2 * np.pi)

    def logdensity(self, x: Array) -> Array:
        """:math:`\\log\\pi(x)` for ``x`` of shape ``(d,)``."""
        sq = jnp.sum((x - jnp.asarray(self.means, x.dtype)) ** 2, axis=-1)
        return logsumexp(
            jnp.asarray(self._log_norm, x.dtype) - 0.5 * sq / jnp.asarray(self.sds**2, x.dtype)
        )

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        k = rng.choice(len(self.weights), size=n, p=self.weights)
        return self.means[k] + self.sds[k, None] * rng.standard_normal((n, self.dim))

    def assign(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        sq = (
            np.sum(x**2, 1)[:, None]
            - 2.0 * x @ self.means.T
            + np.sum(self.means**2, 1)[None, :]
        )
        score = -0.5 * sq / self.sds[None, :] ** 2 - self.dim * np.log(self.sds)[None, :]
        return np.argmax(score, axis=1)

    def moments(self) -> tuple[np.ndarray, np.ndarray]:
        r"""Exact moments.

        :math:`m = \sum_k w_k m_k`, :math:`\Sigma = \sum_k w_k(\sigma_k^2 I + m_k m_k^T) - m m^T`.
        """
        w, m = self.weights, self.means
        mean = w @ m
        second = np.einsum("k,ki,kj->ij", w, m, m) + np.eye(self.dim) * (w @ self.sds**2)
        return mean, second - np.outer(mean, mean)


def _mixture_target(name, title, description, mix: GaussianMixture, init_scale, h) -> Target:
    mean, cov = mix.moments()
    return Target(
        name=name,
        title=title,
        description=description,
        dim=mix.dim,
        logdensity_fn=mix.logdensity,
        sample_fn=mix.sample,
        mean=mean,
        cov=cov,
        init_scale=init_scale,
        ula_step_size=h,
        mode_weights=mix.weights,
        assign_fn=mix.assign,
        log_z=0.0,
        mode_locations=mix.means,
    )


RING8_CENTER = (2.0, 1.0)
"""Center of ring8's circle of modes."""


def ring8_parameters() -> tuple[np.ndarray, np.ndarray, float]:
    """ring8's ``(weights, means, sd)``: weights 1..8 (unnormalized), means ``(8, 2)`` on the
    circle of radius 5 around :data:`RING8_CENTER`, one sd for all components."""
    angles = 2 * np.pi * np.arange(8) / 8
    cx, cy = RING8_CENTER
    means = np.stack([cx + 5 * np.cos(angles), cy + 5 * np.sin(angles)], axis=1)
    return np.arange(1, 9), means, 0.5


def ring8() -> Target:
    """8 modes on a circle of radius 5 around (2, 1), weights ∝ 1..8, sd 0.5 (DESIGN.md §3)."""
    mix = GaussianMixture(*ring8_parameters())
    return _mixture_target(
        "ring8",
        "ring8 (2-D, 8 modes)",
        "8 isotropic Gaussians (sd 0.5) at (2, 1) + 5 (cos 2πk/8, sin 2πk/8), "
        "weights (k+1)/36, k = 0..7",
        mix,
        init_scale=5.0,
        h=0.01,
    )


def gmm40_parameters(seed: int = 0) -> tuple[np.ndarray, np.ndarray, float]:
    """GMM-40's ``(weights, means, sd)``: 40 equal (unnormalized) weights, means ``(40, 2)``
    uniform in [-40, 40]^2 from NumPy ``default_rng(seed)``, sd 1."""
    means = np.random.default_rng(seed).uniform(-40.0, 40.0, size=(40, 2))
    return np.ones(40), means, 1.0


def gmm40(seed: int = 0) -> Target:
    """40 equal-weight N(m_k, I), m_k uniform in [-40, 40]^2 (NumPy ``default_rng(seed)``)."""
    mix = GaussianMixture(*gmm40_parameters(seed))
    return _mixture_target(
        "gmm40",
        "GMM-40 (2-D, 40 modes)",
        f"40 N(m_k, I_2), equal weights, m_k ~ Uniform([-40, 40]^2) drawn with "
        f"numpy default_rng({seed})",
        mix,
        init_scale=20.0,
        h=0.04,
    )


TWO_MODE_WEIGHTS, TWO_MODE_SDS = (1.0, 2.0), (1.0, 0.7)
"""The two-mode targets' (unnormalized) weights and component sds."""


def two_mode(dim: int, separation: float = 8.0) -> Target:
    r"""Two Gaussians in :math:`d` dimensions: weights 1/3 (sd 1.0) and 2/3 (sd 0.7).

    Means :math:`\mp (\text{separation}/2)\,\mathbf 1/\sqrt d`: Euclidean distance
    ``separation`` = 8 between them along the diagonal, midpoint at the origin
    (the lighter mode is the wider one, DESIGN.md §3's 10-d target).
    """
    u = np.ones(dim) / np.sqrt(dim)
    means = np.stack([-0.5 * separation * u, 0.5 * separation * u])
    mix = GaussianMixture(TWO_MODE_WEIGHTS, means, TWO_MODE_SDS)
    return _mixture_target(
        f"two_mode_{dim}",
        f"two-mode Gaussian mixture (d = {dim})",
        f"(1/3) N(-4u, I) + (2/3) N(4u, 0.49 I), u = 1/sqrt(d) (1, ..., 1), d = {dim}",
        mix,
        init_scale=3.0,
        h=0.02,
    )


# --------------------------------------------------------------------------- funnel


def funnel(dim: int = 10, scale: float = 3.0) -> Target:
    r"""Neal's funnel, :math:`v \sim \mathcal N(0, 9)`, :math:`x_i \mid v \sim \mathcal N(0, e^v)`.

    :math:`x = (v, x_1, \dots, x_{d-1})`, normalized (:math:`\log Z = 0`);
    :math:`\mathrm{Var}(x_i) = E[e^v] = e^{9/2}`. Unimodal (no mode weights).
    ULA step: :math:`0.04\,\sigma_{\min}^2` with :math:`\sigma_{\min} = e^{-3}`,
    the conditional sd at :math:`v = -6` (two sds into the neck).
    """
    n = dim - 1

    def logdensity(x):
        v, z = x[0], x[1:]
        log_pv = -0.5 * v**2 / scale**2 - jnp.log(scale) - 0.5 * jnp.log(2 * jnp.pi)
        log_pz = -0.5 * jnp.sum(z**2) * jnp.exp(-v) - 0.5 * n * v - 0.5 * n * jnp.log(2 * jnp.pi)
        return log_pv + log_pz

    def sample(rng, m):
        v = scale * rng.standard_normal(m)
        z = np.exp(0.5 * v)[:, None] * rng.standard_normal((m, n))
        return np.concatenate([v[:, None], z], axis=1)

    cov = np.diag([scale**2] + [math.exp(scale**2 / 2)] * n)
    return Target(
        name=f"funnel_{dim}",
        title=f"Neal's funnel (d = {dim})",
        description=f"v ~ N(0, 9), x_i | v ~ N(0, e^v), i = 1..{n}",
        dim=dim,
        logdensity_fn=logdensity,
        sample_fn=sample,
        mean=np.zeros(dim),
        cov=cov,
        init_scale=3.0,
        ula_step_size=0.04 * math.exp(-6.0),
        log_z=0.0,
    )


# --------------------------------------------------------------------------- many-well


def _double_well_log(x):
    return -(x**4) + 6.0 * x**2 + 0.5 * x


class _DoubleWell:
    r"""One double well :math:`p(x) \propto \exp(-x^4 + 6x^2 + x/2)`, by quadrature.

    Quadrature on [-5, 5] (the density is below :math:`e^{-350}` of its peak
    outside); sampling by inverting the tabulated CDF (linear interpolation on
    400,001 points).
    """

    def __init__(self, lo: float = -5.0, hi: float = 5.0, n: int = 400_001):
        grid = np.linspace(lo, hi, n)
        logp = _double_well_log(grid)
        peak = logp.max()
        p = np.exp(logp - peak)
        dx = grid[1] - grid[0]
        cdf = np.concatenate([[0.0], np.cumsum(0.5 * (p[1:] + p[:-1]) * dx)])
        z = cdf[-1]
        self.log_z = float(np.log(z) + peak)
        dens = p / z
        self.grid, self.cdf = grid, cdf / z
        self.mean = float(np.trapezoid(grid * dens, grid))
        self.var = float(np.trapezoid((grid - self.mean) ** 2 * dens, grid))
        self.p_right = float(np.trapezoid(np.where(grid > 0, dens, 0.0), grid))

    def sample(self, rng, shape):
        return np.interp(rng.uniform(size=shape), self.cdf, self.grid)


def many_well(dim: int = 32) -> Target:
    r"""Many-Well: :math:`d/2` independent copies of the 2-D double well.

    :math:`\log\gamma(x) = \sum_{j} \left(-a_j^4 + 6a_j^2 + a_j/2 - b_j^2/2\right)`
    with :math:`x = (a_1, b_1, a_2, b_2, \dots)`: :math:`2^{d/2}` modes (the sign
    pattern of the :math:`a_j`). :math:`\log Z = (d/2)(\log Z_1 + \tfrac12\log 2\pi)`,
    :math:`Z_1` by quadrature. Mode label :math:`\sum_j [a_j > 0]\, 2^j`. Extra
    metric ``well_tv``: the mean over wells of the TV between the estimated and
    exact :math:`P(a_j > 0)`.
    """
    if dim % 2:
        raise ValueError(f"many_well needs an even dimension, got {dim}")
    n_wells = dim // 2
    well = _DoubleWell()

    def logdensity(x):
        pairs = x.reshape(n_wells, 2)
        return jnp.sum(_double_well_log(pairs[:, 0]) - 0.5 * pairs[:, 1] ** 2)

    def sample(rng, m):
        out = np.empty((m, n_wells, 2))
        out[:, :, 0] = well.sample(rng, (m, n_wells))
        out[:, :, 1] = rng.standard_normal((m, n_wells))
        return out.reshape(m, dim)

    powers = 2 ** np.arange(n_wells)

    def assign(x):
        right = np.asarray(x)[:, 0::2] > 0
        return (right * powers).sum(axis=1)

    # weight of label L = prod_j p^{bit_j} (1-p)^{1-bit_j}
    bits = (np.arange(2**n_wells)[:, None] >> np.arange(n_wells)[None, :]) & 1
    log_w = bits * np.log(well.p_right) + (1 - bits) * np.log1p(-well.p_right)
    weights = np.exp(log_w.sum(axis=1))

    def extra(x):
        p_hat = (np.asarray(x)[:, 0::2] > 0).mean(axis=0)
        return {"well_tv": float(np.mean(np.abs(p_hat - well.p_right)))}

    mean = np.tile([well.mean, 0.0], n_wells)
    cov = np.diag(np.tile([well.var, 1.0], n_wells))
    return Target(
        name=f"many_well_{dim}",
        title=f"Many-Well (d = {dim}, 2^{n_wells} modes)",
        description=f"{n_wells} independent double wells exp(-a^4 + 6a^2 + a/2 - b^2/2)",
        dim=dim,
        logdensity_fn=logdensity,
        sample_fn=sample,
        mean=mean,
        cov=cov,
        init_scale=2.0,
        ula_step_size=0.002,
        mode_weights=weights / weights.sum(),
        assign_fn=assign,
        log_z=n_wells * (well.log_z + 0.5 * math.log(2 * math.pi)),
        extra_metrics=extra,
    )


def _lehmer_index(perms: np.ndarray) -> np.ndarray:
    """Index in ``[0, K!)`` of each row of ``perms`` ``(n, K)`` (a permutation of
    ``0..K-1``), by its Lehmer code."""
    perms = np.asarray(perms)
    n, k = perms.shape
    index = np.zeros(n, dtype=np.int64)
    for i in range(k):
        smaller_after = (perms[:, i + 1 :] < perms[:, i : i + 1]).sum(axis=1)
        index = index * (k - i) + smaller_after
    return index


def mixture_k5(
    separation: float = 10.0, per_component: int = 100, seed: int = 0, k: int = 5
) -> Target:
    r"""Label switching: the posterior of the means of an unordered 5-component mixture.

    Data: :math:`y_i`, 100 draws from each of :math:`\mathcal N(c_j, 1)`, :math:`c_j =
    10(j - 2)`, :math:`j = 0..4` (``seed`` 0). Model: :math:`y_i \sim \sum_k \tfrac15
    \mathcal N(\mu_k, 1)`, :math:`\mu_k \sim \mathcal N(0, 10^2)` independently, so the
    posterior of :math:`\mu \in \mathbb R^5` is symmetric under the :math:`5! = 120`
    relabellings: 120 modes of weight 1/120 exactly, each the posterior of one labelling.
    (``k`` components instead of 5 for smaller versions, :math:`c_j` centered likewise.)
    Mode label: the permutation class (the ranks of :math:`\mu_1..\mu_5`, indexed by
    their Lehmer code). Extra metric ``component_tv``: the largest over the labels
    :math:`k` of the TV between the shares of the rank of :math:`\mu_k` and the exact
    1/5 each (the per-component marginals).

    "Exact" draws, mean, covariance and :math:`\log Z`: a labelling's posterior is taken
    as the conjugate one of the points assigned to their nearest :math:`c_j`
    (:math:`\mu_{(j)} \sim \mathcal N`, independent); the other components' share of
    each point's likelihood, neglected, changes the log-likelihood at the modes by
    ``cross_term`` (:math:`1.5 \\cdot 10^{-5}`, computed below and stored in the
    description), far below the Monte Carlo errors measured. :math:`\log Z = \log 120 +
    \sum_j \log Z_j` (the modes overlap by :math:`< 10^{-100}`).
    """
    tau = 10.0
    rng = np.random.default_rng(seed)
    centers = separation * (np.arange(k) - (k - 1) / 2)
    y = (centers[:, None] + rng.standard_normal((k, per_component))).ravel()
    nearest = np.argmin(np.abs(y[:, None] - centers[None, :]), axis=1)
    counts = np.bincount(nearest, minlength=k)
    sums = np.bincount(nearest, weights=y, minlength=k)
    post_prec = counts + 1.0 / tau**2
    post_mean, post_sd = sums / post_prec, 1.0 / np.sqrt(post_prec)
    log_z_j = []
    for j in range(k):
        yj = y[nearest == j]
        n = len(yj)
        quad = yj @ yj - tau**2 * yj.sum() ** 2 / (1 + n * tau**2)
        log_z_j.append(n * np.log(1 / k) - 0.5 * n * np.log(2 * np.pi)
                       - 0.5 * np.log1p(n * tau**2) - 0.5 * quad)  # fmt: skip
    log_z = math.log(math.factorial(k)) + float(np.sum(log_z_j))
    y_j = jnp.asarray(y)

    def logdensity(mu):
        comp = -0.5 * (y_j[:, None] - mu[None, :]) ** 2 - 0.5 * math.log(2 * math.pi)
        loglik = jnp.sum(logsumexp(comp, axis=1) + math.log(1 / k))
        prior = jnp.sum(-0.5 * (mu / tau) ** 2 - math.log(tau) - 0.5 * math.log(2 * math.pi))
        return loglik + prior

    comp = -0.5 * (y[:, None] - post_mean[None, :]) ** 2
    cross_term = float(
        np.sum(logsumexp(np.asarray(comp), axis=1) - comp[np.arange(len(y)), nearest])
    )

    def sample(rng_, m):
        ordered = post_mean + post_sd * rng_.standard_normal((m, k))
        perms = np.argsort(rng_.uniform(size=(m, k)), axis=1)
        return np.take_along_axis(ordered, perms, axis=1)

    def assign(x):
        ranks = np.argsort(np.argsort(np.asarray(x), axis=1), axis=1)
        return _lehmer_index(ranks)

    def extra(x):
        ranks = np.argsort(np.argsort(np.asarray(x), axis=1), axis=1)
        shares = np.stack([np.bincount(ranks[:, i], minlength=k) / len(ranks) for i in range(k)])
        return {"component_tv": float(np.max(0.5 * np.abs(shares - 1 / k).sum(axis=1)))}

    m1 = post_mean.mean()
    second = np.mean(post_sd**2 + post_mean**2)
    off = (post_mean.sum() ** 2 - np.sum(post_mean**2)) / (k * (k - 1))
    cov = np.full((k, k), off - m1**2)
    np.fill_diagonal(cov, second - m1**2)
    return Target(
        name="mixture_k5" if k == 5 else f"mixture_k{k}",
        title=f"label switching: unordered {k}-component mixture (d = {k}, "
        f"{math.factorial(k)} modes)",
        description=f"means of {k} unit-variance components, equal weights, N(0, 10^2) priors, "
        f"{k * per_component} points; {math.factorial(k)} relabellings "
        f"(cross_term {cross_term:.1e})",
        dim=k,
        logdensity_fn=logdensity,
        sample_fn=sample,
        mean=np.full(k, m1),
        cov=cov,
        init_scale=tau,
        ula_step_size=0.04 * float(post_sd.min()) ** 2,
        mode_weights=np.full(math.factorial(k), 1 / math.factorial(k)),
        assign_fn=assign,
        log_z=log_z,
        extra_metrics=extra,
    )


# --------------------------------------------------------------------------- posteriordb


def gauss_mix_unordered() -> Target:
    r"""posteriordb's ``low_dim_gauss_mix`` without the ordering of ``mu``: two modes.

    Sampling space: NumPyro's unconstrained 5-vector (``mu`` (2), ``log sigma``
    (2), ``logit theta``). Output space: :math:`(\mu_1, \mu_2, \sigma_1,
    \sigma_2, \theta)`. The relabelling :math:`(\mu, \sigma, \theta) \mapsto
    (\mu^{\leftarrow}, \sigma^{\leftarrow}, 1 - \theta)` is a symmetry, so the modes
    (label 0: :math:`\mu_1 < \mu_2`, label 1: :math:`\mu_1 > \mu_2`) have weight
    1/2 each. "Exact" draws: the 10,000 posteriordb reference draws of the
    ordered posterior, resampled with replacement and relabelled with
    probability 1/2; mean and covariance from both labellings of every
    reference draw. :math:`\log Z` unknown. Needs the shared posteriordb files.
    """
    from jax.flatten_util import ravel_pytree
    from numpyro.infer.util import initialize_model

    from benchmarks.posteriordb import get_spec, load_reference_draws, model_kwargs

    name = "low_dim_gauss_mix_unordered"
    spec = get_spec(name)
    kwargs = model_kwargs(name)
    param_info, potential_fn, postprocess_fn, _ = initialize_model(
        jax.random.key(0), spec.model, model_kwargs=kwargs, dynamic_args=False
    )
    _, unravel = ravel_pytree(param_info.z)

    def logdensity(x):
        return -potential_fn(unravel(x))

    def constrain_one(x):
        c = postprocess_fn(unravel(x))
        return jnp.concatenate([c["mu"], c["sigma"], jnp.atleast_1d(c["theta"])])

    constrain = jax.jit(jax.vmap(constrain_one))

    def to_output(x):
        return np.asarray(constrain(jnp.asarray(x)), dtype=float)

    ref = load_reference_draws(spec.posteriordb_name)
    ordered = np.concatenate(
        [
            ref["mu"].reshape(-1, 2),
            ref["sigma"].reshape(-1, 2),
            ref["theta"].reshape(-1, 1),
        ],
        axis=1,
    )
    swapped = ordered[:, [1, 0, 3, 2, 4]].copy()
    swapped[:, 4] = 1.0 - swapped[:, 4]
    both = np.concatenate([ordered, swapped])

    def sample(rng, n):
        idx = rng.integers(0, len(ordered), size=n)
        flip = rng.uniform(size=n) < 0.5
        return np.where(flip[:, None], swapped[idx], ordered[idx])

    def assign(x):
        x = np.asarray(x)
        return (x[:, 0] > x[:, 1]).astype(int)

    # smallest posterior sd in unconstrained space: log sigma, ~0.03 -> h = 0.04 * 0.03^2
    return Target(
        name="gauss_mix_unordered",
        title="label-switching mixture posterior (posteriordb low_dim_gauss_mix, unordered)",
        description="posteriordb low_dim_gauss_mix data (N = 1000) with mu ~ N(0, 2) unordered",
        dim=5,
        logdensity_fn=logdensity,
        sample_fn=sample,
        mean=both.mean(axis=0),
        cov=np.cov(both, rowvar=False),
        init_scale=2.0,
        ula_step_size=4e-5,
        mode_weights=np.array([0.5, 0.5]),
        assign_fn=assign,
        log_z=None,
        to_output=to_output,
    )


TARGETS: dict[str, Callable[[], Target]] = {
    "ring8": ring8,
    "gmm40": gmm40,
    "two_mode_10": partial(two_mode, 10),
    "two_mode_50": partial(two_mode, 50),
    "funnel_10": partial(funnel, 10),
    "many_well_32": partial(many_well, 32),
    "gauss_mix_unordered": gauss_mix_unordered,
    "mixture_k5": mixture_k5,
}
"""Target factories by name (built lazily: the posteriordb one reads shared files)."""


def get_target(name: str) -> Target:
    """Build the target ``name``; ``two_mode_<d>`` works for any ``d``."""
    if name in TARGETS:
        return TARGETS[name]()
    if name.startswith("two_mode_") and name[len("two_mode_") :].isdigit():
        return two_mode(int(name[len("two_mode_") :]))
    raise KeyError(f"unknown target {name!r}; known: {', '.join(TARGETS)}")
