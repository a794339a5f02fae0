"""Models from NumPyro's ``examples/`` directory and their data, for
``benchmarks.numpyro_examples``. The models are NumPyro's own (github.com/pyro-ppl/numpyro,
``examples/``, Apache-2.0, by the Pyro/NumPyro contributors), their sampling statements
unchanged; each docstring names the example file and what was simplified. Where an example
downloads its data they are simulated here (fixed seed, same shapes); where it simulates its
own, its generator is used. ``hmm_enum`` is left out (NUTS alone takes about 12 minutes).
``EXAMPLES``: name -> :class:`Example` (model, ``() -> (args, kwargs)``, ``() -> {scalar name:
(exact mean, exact sd)}`` or ``None``, description; optionally the latent sites to compare,
default all, and a function of the draws giving derived scalars to compare instead).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax import random
from numpyro.contrib.control_flow import scan
from numpyro.handlers import reparam
from numpyro.infer.reparam import LocScaleReparam

Data = tuple[tuple, dict]
Exact = dict[str, tuple[float, float]]


class Example(NamedTuple):
    """One benchmark model: the first four fields are the registry's entry."""

    model: Callable
    data: Callable[[], Data]
    exact: Callable[[], Exact] | None
    description: str
    sites: list[str] | None = None
    derived: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None


def fully_pooled(at_bats, hits=None):
    """baseball.py ``fully_pooled``, unchanged."""
    num_players = at_bats.shape[0]
    phi = numpyro.sample("phi", dist.Uniform(0, 1))
    with numpyro.plate("num_players", num_players):
        return numpyro.sample("obs", dist.Binomial(at_bats, probs=phi), obs=hits)


def not_pooled(at_bats, hits=None):
    """baseball.py ``not_pooled``, unchanged."""
    num_players = at_bats.shape[0]
    with numpyro.plate("num_players", num_players):
        phi = numpyro.sample("phi", dist.Uniform(0, 1))
        return numpyro.sample("obs", dist.Binomial(at_bats, probs=phi), obs=hits)


def partially_pooled(at_bats, hits=None):
    """baseball.py ``partially_pooled``, unchanged."""
    num_players = at_bats.shape[0]
    m = numpyro.sample("m", dist.Uniform(0, 1))
    kappa = numpyro.sample("kappa", dist.Pareto(1, 1.5))
    with numpyro.plate("num_players", num_players):
        phi = numpyro.sample("phi", dist.Beta(m * kappa, (1 - m) * kappa))
        return numpyro.sample("obs", dist.Binomial(at_bats, probs=phi), obs=hits)


def partially_pooled_with_logit(at_bats, hits=None):
    """baseball.py ``partially_pooled_with_logit``, unchanged."""
    num_players = at_bats.shape[0]
    loc = numpyro.sample("loc", dist.Normal(-1, 1))
    scale = numpyro.sample("scale", dist.HalfCauchy(1))
    with numpyro.plate("num_players", num_players):
        alpha = numpyro.sample("alpha", dist.Normal(loc, scale))
        return numpyro.sample("obs", dist.Binomial(at_bats, logits=alpha), obs=hits)


def baseball_data() -> Data:
    """18 players with 45 at-bats each, as Efron and Morris's table the example downloads;
    the hits simulated (``default_rng(0)``: ability ~ Beta(27, 73), hits ~ Binomial(45))."""
    rng = np.random.default_rng(0)
    p_true = rng.beta(27, 73, size=18)
    hits = jnp.asarray(rng.binomial(45, p_true).astype(float))
    return (jnp.full(18, 45.0), hits), {}


def _beta_mean_sd(a: float, b: float) -> tuple[float, float]:
    return a / (a + b), float(np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1))))


def baseball_exact(pooled: bool) -> Exact:
    """Uniform priors, binomial likelihoods: ``phi | data ~ Beta(1 + hits, 1 + misses)``, one
    for all players (``pooled``) or one per player."""
    (at_bats, hits), _ = baseball_data()
    if pooled:
        h, n = float(hits.sum()), float(at_bats.sum())
        return {"phi": _beta_mean_sd(1 + h, 1 + n - h)}
    return {f"phi[{i}]": _beta_mean_sd(1 + float(h), 1 + float(n - h))
            for i, (n, h) in enumerate(zip(at_bats, hits))}  # fmt: skip


def glmm(dept, male, applications, admit=None):
    """ucbadmit.py ``glmm`` without its prediction branch (``admit=None``)."""
    v_mu = numpyro.sample("v_mu", dist.Normal(0, jnp.array([4.0, 1.0])))
    sigma = numpyro.sample("sigma", dist.HalfNormal(jnp.ones(2)))
    L_Rho = numpyro.sample("L_Rho", dist.LKJCholesky(2, concentration=2))
    scale_tril = sigma[..., jnp.newaxis] * L_Rho
    num_dept = len(np.unique(dept))
    z = numpyro.sample("z", dist.Normal(jnp.zeros((num_dept, 2)), 1))
    v = jnp.dot(scale_tril, z.T).T
    logits = v_mu[0] + v[dept, 0] + (v_mu[1] + v[dept, 1]) * male
    numpyro.sample("admit", dist.Binomial(applications, logits=logits), obs=admit)


def ucbadmit_data() -> Data:
    """The UC Berkeley admissions table (6 departments x 2 genders), typed in."""
    dept = np.repeat(np.arange(6), 2)
    male = np.tile(np.array([1, 0]), 6)
    applications = np.array([825, 108, 560, 25, 325, 593, 417, 375, 191, 393, 373, 341])
    admit = np.array([512, 89, 353, 17, 120, 202, 138, 131, 53, 94, 22, 24])
    return (dept, male, applications, admit), {}


def proportion_model(design_matrix, outcome=None):
    """proportion_test.py ``model``, unchanged."""
    beta = numpyro.sample("coefficients", dist.MultivariateNormal(
        loc=0.0, covariance_matrix=jnp.eye(design_matrix.shape[1])))  # fmt: skip
    logits = design_matrix.dot(beta)
    with numpyro.plate("data", design_matrix.shape[0]):
        numpyro.sample("obs", dist.Bernoulli(logits=logits), obs=outcome)


def proportion_data() -> Data:
    """proportion_test.py's ``make_dataset`` (100,000 customers), key 0."""
    key1, key2, key3 = random.split(random.key(0), 3)
    num_calls, num_no_calls = 51342, 48658
    made_purchase_got_called = dist.Bernoulli(0.084).sample(key1, sample_shape=(num_calls,))
    made_purchase_no_calls = dist.Bernoulli(0.061).sample(key2, sample_shape=(num_no_calls,))
    made_purchase = jnp.concatenate([made_purchase_got_called, made_purchase_no_calls])
    is_female = dist.Bernoulli(0.5).sample(key3, sample_shape=(n := num_calls + num_no_calls,))
    got_called = jnp.concatenate([jnp.ones(num_calls), jnp.zeros(num_no_calls)])
    design_matrix = jnp.hstack([jnp.ones((n, 1)), got_called.reshape(-1, 1),
                                is_female.reshape(-1, 1)])  # fmt: skip
    return (design_matrix, made_purchase), {}


def funnel(dim=10):
    """funnel.py ``model`` (centered), unchanged."""
    y = numpyro.sample("y", dist.Normal(0, 3))
    numpyro.sample("x", dist.Normal(jnp.zeros(dim - 1), jnp.exp(y / 2)))


# funnel.py's ``reparam_model``: ``x`` non-centered by ``LocScaleReparam(0)``.
funnel_reparam = reparam(funnel, config={"x": LocScaleReparam(0)})


def no_data() -> Data:
    """The funnel has no data (``dim=10``, the example's default)."""
    return (), {}


def funnel_exact(noncentered: bool) -> Exact:
    """``y ~ Normal(0, 3)``, and non-centered ``x_decentered ~ Normal(0, 1)`` independent (the
    centered ``x`` marginal has no moments worth estimating: its kurtosis is huge)."""
    return {"y": (0.0, 3.0)} | ({f"x_decentered[{i}]": (0.0, 1.0) for i in range(9)}
                                if noncentered else {})  # fmt: skip


def ar2_scan(y):
    """ar2.py ``ar2_scan``, unchanged."""
    alpha_1 = numpyro.sample("alpha_1", dist.Normal(0, 1))
    alpha_2 = numpyro.sample("alpha_2", dist.Normal(0, 1))
    const = numpyro.sample("const", dist.Normal(0, 1))
    sigma = numpyro.sample("sigma", dist.HalfNormal(1))

    def transition(carry, _):
        y_prev, y_prev_prev = carry
        m_t = const + alpha_1 * y_prev + alpha_2 * y_prev_prev
        y_t = numpyro.sample("y", dist.Normal(m_t, sigma))
        carry = (y_t, y_prev)
        return carry, m_t

    timesteps = jnp.arange(y.shape[0] - 2)
    init = (y[1], y[0])
    with numpyro.handlers.condition(data={"y": y[2:]}):
        _, mu = scan(transition, init, timesteps)
    numpyro.deterministic("mu", mu)


def ar2_data() -> Data:
    """ar2.py's own series: ``sin(t)`` plus N(0, 0.1^2) noise, 142 points, key 0."""
    t = jnp.arange(0, 142)
    y = jnp.sin(t) + random.normal(random.key(0), (142,)) * 0.1
    return (), {"y": y}


def holt_winters(y, n_seasons, future=0):
    """holt_winters.py ``holt_winters``, unchanged."""
    T = y.shape[0]
    level_smoothing = numpyro.sample("level_smoothing", dist.Beta(1, 1))
    trend_smoothing = numpyro.sample("trend_smoothing", dist.Beta(1, 1))
    seasonality_smoothing = numpyro.sample("seasonality_smoothing", dist.Beta(1, 1))
    adj_seasonality_smoothing = seasonality_smoothing * (1 - level_smoothing)
    noise = numpyro.sample("noise", dist.HalfNormal(1))
    level_init = numpyro.sample("level_init", dist.Normal(0, 1))
    trend_init = numpyro.sample("trend_init", dist.Normal(0, 1))
    with numpyro.plate("n_seasons", n_seasons):
        seasonality_init = numpyro.sample("seasonality_init", dist.Normal(0, 1))

    def transition_fn(carry, t):
        previous_level, previous_trend, previous_seasonality = carry
        level = jnp.where(t < T, level_smoothing * (y[t] - previous_seasonality[0])
                          + (1 - level_smoothing) * (previous_level + previous_trend),
                          previous_level)
        trend = jnp.where(t < T, trend_smoothing * (level - previous_level)
                          + (1 - trend_smoothing) * previous_trend, previous_trend)
        new_season = jnp.where(t < T, adj_seasonality_smoothing
                               * (y[t] - (previous_level + previous_trend))
                               + (1 - adj_seasonality_smoothing) * previous_seasonality[0],
                               previous_seasonality[0])
        step = jnp.where(t < T, 1, t - T + 1)
        mu = previous_level + step * previous_trend + previous_seasonality[0]
        pred = numpyro.sample("pred", dist.Normal(mu, noise))
        seasonality = jnp.concatenate([previous_seasonality[1:], new_season[None]], axis=0)
        return (level, trend, seasonality), pred

    with numpyro.handlers.condition(data={"pred": y}):
        _, preds = scan(transition_fn, (level_init, trend_init, seasonality_init),
                        jnp.arange(T + future))  # fmt: skip
    if future > 0:
        numpyro.deterministic("y_forecast", preds[-future:])


def holt_winters_data() -> Data:
    """holt_winters.py's own series (T=6 periods of 10 points, trend 0.3, the last period held
    out as in the example), key 0."""
    T, future, n_points = 6, 1, 10
    rng_key, _ = random.split(random.key(0))
    t = jnp.linspace(0, T + future, (T + future) * n_points)
    y = jnp.sin(2 * np.pi * t) + 0.3 * t + random.normal(rng_key, t.shape) * 0.1
    return (), {"y": y[: -future * n_points], "n_seasons": n_points}


def gp_kernel(X, Z, var, length, noise, jitter=1.0e-6, include_noise=True):
    """gp.py ``kernel``, unchanged."""
    deltaXsq = jnp.power((X[:, None] - Z) / length, 2.0)
    k = var * jnp.exp(-0.5 * deltaXsq)
    if include_noise:
        k += (noise + jitter) * jnp.eye(X.shape[0])
    return k


def gp_model(X, Y):
    """gp.py ``model``, unchanged."""
    var = numpyro.sample("kernel_var", dist.LogNormal(0.0, 10.0))
    noise = numpyro.sample("kernel_noise", dist.LogNormal(0.0, 10.0))
    length = numpyro.sample("kernel_length", dist.LogNormal(0.0, 10.0))
    k = gp_kernel(X, X, var, length, noise)
    numpyro.sample("Y", dist.MultivariateNormal(loc=jnp.zeros(X.shape[0]),
                                                covariance_matrix=k), obs=Y)  # fmt: skip


def gp_data() -> Data:
    """gp.py's ``get_data`` (N=25, sigma_obs=0.15), ``np.random.seed(0)``."""
    np.random.seed(0)
    X = jnp.linspace(-1, 1, 25)
    Y = X + 0.2 * jnp.power(X, 3.0) + 0.5 * jnp.power(0.5 + X, 2.0) * jnp.sin(4.0 * X)
    Y += 0.15 * np.random.randn(25)
    Y -= jnp.mean(Y)
    Y /= jnp.std(Y)
    return (X, Y), {}


def _dot(X, Z):
    return jnp.dot(X, Z[..., None])[..., 0]


def _sparse_kernel(X, Z, eta1, eta2, c, jitter=1.0e-4):
    """sparse_regression.py ``kernel``, unchanged."""
    eta1sq = jnp.square(eta1)
    eta2sq = jnp.square(eta2)
    k1 = 0.5 * eta2sq * jnp.square(1.0 + _dot(X, Z))
    k2 = -0.5 * eta2sq * _dot(jnp.square(X), jnp.square(Z))
    k3 = (eta1sq - eta2sq) * _dot(X, Z)
    k4 = jnp.square(c) - 0.5 * eta2sq
    if X.shape == Z.shape:
        k4 += jitter * jnp.eye(X.shape[0])
    return k1 + k2 + k3 + k4


def sparse_model(X, Y, hypers):
    """sparse_regression.py ``model``, unchanged."""
    S, P, N = hypers["expected_sparsity"], X.shape[1], X.shape[0]
    sigma = numpyro.sample("sigma", dist.HalfNormal(hypers["alpha3"]))
    phi = sigma * (S / jnp.sqrt(N)) / (P - S)
    eta1 = numpyro.sample("eta1", dist.HalfCauchy(phi))
    msq = numpyro.sample("msq", dist.InverseGamma(hypers["alpha1"], hypers["beta1"]))
    xisq = numpyro.sample("xisq", dist.InverseGamma(hypers["alpha2"], hypers["beta2"]))
    eta2 = jnp.square(eta1) * jnp.sqrt(xisq) / msq
    lam = numpyro.sample("lambda", dist.HalfCauchy(jnp.ones(P)))
    kappa = jnp.sqrt(msq) * lam / jnp.sqrt(msq + jnp.square(eta1 * lam))
    kX = kappa * X
    k = _sparse_kernel(kX, kX, eta1, eta2, hypers["c"]) + sigma**2 * jnp.eye(N)
    numpyro.sample("Y", dist.MultivariateNormal(loc=jnp.zeros(X.shape[0]),
                                                covariance_matrix=k), obs=Y)  # fmt: skip


def sparse_data() -> Data:
    """sparse_regression.py's ``get_data`` at N=40, P=10, S=2 (the example's defaults: N=100,
    P=20, S=3), ``np.random.seed(0)``; the example's hyperparameters."""
    N, P, S = 40, 10, 2
    np.random.seed(0)
    X = np.random.randn(N, P)
    W = 0.5 + 2.5 * np.random.rand(S)
    Y = np.sum(X[:, 0:S] * W, axis=-1) + X[:, 0] * X[:, 1] + 0.05 * np.random.randn(N)
    Y -= jnp.mean(Y)
    hypers = {"expected_sparsity": max(1.0, P / 10), "alpha1": 3.0, "beta1": 1.0,
              "alpha2": 3.0, "beta2": 1.0, "alpha3": 1.0, "c": 1.0}  # fmt: skip
    return (X, Y / jnp.std(Y), hypers), {}


def _horseshoe_mean(X):
    """horseshoe_regression.py's shared prior: local and global half-Cauchy scales, the
    coefficients ``betas`` (deterministic) and the linear predictor ``X @ betas``."""
    D_X = X.shape[1]
    lambdas = numpyro.sample("lambdas", dist.HalfCauchy(jnp.ones(D_X)))
    tau = numpyro.sample("tau", dist.HalfCauchy(jnp.ones(1)))
    unscaled_betas = numpyro.sample("unscaled_betas", dist.Normal(0.0, jnp.ones(D_X)))
    scaled_betas = numpyro.deterministic("betas", tau * lambdas * unscaled_betas)
    return jnp.dot(X, scaled_betas)


def horseshoe_normal(X, Y):
    """horseshoe_regression.py ``model_normal_likelihood``, unchanged."""
    mean_function = _horseshoe_mean(X)
    prec_obs = numpyro.sample("prec_obs", dist.Gamma(3.0, 1.0))
    sigma_obs = 1.0 / jnp.sqrt(prec_obs)
    numpyro.sample("Y", dist.Normal(mean_function, sigma_obs), obs=Y)


def horseshoe_bernoulli(X, Y):
    """horseshoe_regression.py ``model_bernoulli_likelihood``, unchanged."""
    numpyro.sample("Y", dist.Bernoulli(logits=_horseshoe_mean(X)), obs=Y)


def horseshoe_data(response: str = "continuous") -> Data:
    """horseshoe_regression.py's ``get_data`` at N=100, D_X=20 for both likelihoods (the
    example: D_X=32, and N=400 for the Bernoulli one), ``np.random.seed(0)``: three true
    coefficients 2, -1, 0.5."""
    from scipy.special import expit

    np.random.seed(0)
    X = np.random.randn(100, 20)
    Y = jnp.dot(X[:, :3], np.array([2.0, -1.0, 0.50]))
    Y -= jnp.mean(Y)
    if response == "continuous":
        Y += 0.05 * np.random.randn(100)
    else:
        Y = np.random.binomial(1, expit(Y))
    return (X, Y), {}


def zip_model(X, Y):
    """zero_inflated_poisson.py ``model``, unchanged."""
    D_X = X.shape[1]
    b1 = numpyro.sample("b1", dist.Normal(0.0, 1.0).expand([D_X]).to_event(1))
    b2 = numpyro.sample("b2", dist.Normal(0.0, 1.0).expand([D_X]).to_event(1))
    q = jax.scipy.special.expit(jnp.dot(X, b1[:, None])).reshape(-1)
    lam = jnp.exp(jnp.dot(X, b2[:, None]).reshape(-1))
    with numpyro.plate("obs", X.shape[0]):
        numpyro.sample("Y", dist.ZeroInflatedPoisson(gate=q, rate=lam), obs=Y)


def zip_data() -> Data:
    """The example downloads the fish data (250 groups, 4 covariates and an intercept; about
    200 training rows): 200 rows simulated like it, ``default_rng(0)``."""
    n = 200
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.binomial(1, 0.86, n), rng.binomial(1, 0.59, n),
                         rng.integers(1, 5, n), rng.integers(0, 4, n),
                         np.ones(n)]).astype(float)  # fmt: skip
    b1 = np.array([-0.3, -0.5, -0.6, 1.5, 1.0])
    b2 = np.array([1.4, 0.7, 0.9, -1.2, -2.0])
    gate = 1 / (1 + np.exp(-X @ b1))
    Y = np.where(rng.random(n) < gate, 0, rng.poisson(np.exp(X @ b2))).astype(float)
    return (jnp.asarray(X), jnp.asarray(Y)), {}


def var2_scan(y):
    """var2.py ``var2_scan``, unchanged."""
    T, K = y.shape
    c = numpyro.sample("c", dist.Normal(0, 1).expand([K]))
    Phi1 = numpyro.sample("Phi1", dist.Normal(0, 1).expand([K, K]).to_event(2))
    Phi2 = numpyro.sample("Phi2", dist.Normal(0, 1).expand([K, K]).to_event(2))
    sigma = numpyro.sample("sigma", dist.HalfNormal(1.0).expand([K]).to_event(1))
    L_omega = numpyro.sample("L_omega", dist.LKJCholesky(dimension=K, concentration=1.0))
    L_Sigma = sigma[..., None] * L_omega

    def transition(carry, t):
        y_prev1, y_prev2, y_obs = carry
        m_t = c + jnp.dot(Phi1, y_prev1) + jnp.dot(Phi2, y_prev2)
        y_t = numpyro.sample(f"y_{t}", dist.MultivariateNormal(loc=m_t, scale_tril=L_Sigma),
                             obs=y_obs[t])  # fmt: skip
        return (y_t, y_prev1, y_obs), m_t

    init_carry = (y[1], y[0], y[2:])
    _, mu = scan(transition, init_carry, jnp.arange(T - 2))
    numpyro.deterministic("mu", mu)


def var2_data() -> Data:
    """var2.py's own simulated VAR(2) series (T=100, K=2), ``np.random.seed(0)``."""
    T, K = 100, 2
    np.random.seed(0)
    c = np.array([0.5, -0.3])
    Phi1 = np.array([[0.7, 0.1], [0.2, 0.5]])
    Phi2 = np.array([[0.2, -0.1], [-0.1, 0.2]])
    sigma = np.array([[0.1, 0.02], [0.02, 0.1]])
    y = np.zeros((T, K))
    y[:2] = np.random.multivariate_normal(np.zeros(K), sigma, size=2)
    for t in range(2, T):
        eps = np.random.multivariate_normal(np.zeros(K), sigma)
        y[t] = c + Phi1 @ y[t - 1] + Phi2 @ y[t - 2] + eps
    return (jnp.asarray(y),), {}


def bnn(X, Y, D_H, D_Y=1):
    """bnn.py ``model`` (``tanh`` nonlinearity), unchanged."""
    N, D_X = X.shape
    w1 = numpyro.sample("w1", dist.Normal(jnp.zeros((D_X, D_H)), jnp.ones((D_X, D_H))))
    z1 = jnp.tanh(jnp.matmul(X, w1))
    w2 = numpyro.sample("w2", dist.Normal(jnp.zeros((D_H, D_H)), jnp.ones((D_H, D_H))))
    z2 = jnp.tanh(jnp.matmul(z1, w2))
    w3 = numpyro.sample("w3", dist.Normal(jnp.zeros((D_H, D_Y)), jnp.ones((D_H, D_Y))))
    z3 = jnp.matmul(z2, w3)
    prec_obs = numpyro.sample("prec_obs", dist.Gamma(3.0, 1.0))
    sigma_obs = 1.0 / jnp.sqrt(prec_obs)
    with numpyro.plate("data", N):
        numpyro.sample("Y", dist.Normal(z3, sigma_obs).to_event(1), obs=Y)


def bnn_data() -> Data:
    """bnn.py's ``get_data`` (N=100, D_X=3), 5 hidden units: its defaults; seed 0."""
    np.random.seed(0)
    X = jnp.linspace(-1, 1, 100)
    X = jnp.power(X[:, np.newaxis], jnp.arange(3))
    W = 0.5 * np.random.randn(3)
    Y = jnp.dot(X, W) + 0.5 * jnp.power(0.5 + X[:, 1], 2.0) * jnp.sin(4.0 * X[:, 1])
    Y += 0.05 * np.random.randn(100)
    Y = Y[:, np.newaxis] - jnp.mean(Y)
    return (X, Y / jnp.std(Y), 5), {}


_BNN_TEST_X = np.power(np.linspace(-1.3, 1.3, 7)[:, None], np.arange(3))


def bnn_functions(draws: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The network's mean at 7 inputs in [-1.3, 1.3], and ``prec_obs``: the weights
    themselves are identified only up to sign flips and permutations of the hidden units."""
    z1 = np.tanh(np.einsum("nx,cdxh->cdnh", _BNN_TEST_X, draws["w1"]))
    z2 = np.tanh(np.einsum("cdnh,cdhk->cdnk", z1, draws["w2"]))
    z3 = np.einsum("cdnk,cdky->cdny", z2, draws["w3"])[..., 0]
    out = {f"f({x:+.2f})": z3[..., i] for i, x in enumerate(_BNN_TEST_X[:, 1])}
    out["prec_obs"] = draws["prec_obs"]
    return out


_BB, _HS = "baseball.py", "horseshoe_regression.py, N=100, D=20,"
EXAMPLES: dict[str, Example] = {
    "baseball_fully_pooled": Example(fully_pooled, baseball_data, partial(baseball_exact, True),
                                     f"{_BB} one batting average"),
    "baseball_not_pooled": Example(not_pooled, baseball_data, partial(baseball_exact, False),
                                   f"{_BB} 18 independent averages"),
    "baseball_partially_pooled": Example(partially_pooled, baseball_data, None,
                                         f"{_BB} Beta hierarchy, Pareto concentration"),
    "baseball_partially_pooled_with_logit": Example(partially_pooled_with_logit, baseball_data,
                                                    None, f"{_BB} centered logit hierarchy"),
    "ucbadmit": Example(glmm, ucbadmit_data, None, "ucbadmit.py, GLMM, 2x2 LKJ correlation"),
    "proportion_test": Example(proportion_model, proportion_data, None,
                               "proportion_test.py, logistic regression, 100,000 rows"),
    "funnel_centered": Example(funnel, no_data, partial(funnel_exact, False),
                               "funnel.py, Neal's funnel (10 dimensions), centered"),
    "funnel_reparam": Example(funnel_reparam, no_data, partial(funnel_exact, True),
                              "funnel.py, the funnel non-centered (LocScaleReparam)"),
    "ar2": Example(ar2_scan, ar2_data, None, "ar2.py, AR(2) by scan",
                   sites=["alpha_1", "alpha_2", "const", "sigma"]),
    "holt_winters": Example(holt_winters, holt_winters_data, None, "holt_winters.py, by scan"),
    "zero_inflated_poisson": Example(zip_model, zip_data, None, "zero_inflated_poisson.py"),
    "var2": Example(var2_scan, var2_data, None, "var2.py, VAR(2) with an LKJ correlation",
                    sites=["c", "Phi1", "Phi2", "sigma", "L_omega"]),
    "gp": Example(gp_model, gp_data, None, "gp.py, GP hyperparameters, LogNormal(0, 10) priors"),
    "sparse_regression": Example(sparse_model, sparse_data, None, "sparse_regression.py, N=40"),
    "horseshoe_normal": Example(horseshoe_normal, horseshoe_data, None, f"{_HS} normal"),
    "horseshoe_bernoulli": Example(horseshoe_bernoulli, partial(horseshoe_data, "binary"), None,
                                   f"{_HS} Bernoulli"),
    "bnn": Example(bnn, bnn_data, None, "bnn.py, 2 tanh layers of 5 units, N=100",
                   sites=[], derived=bnn_functions),
}  # fmt: skip
