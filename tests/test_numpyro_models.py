"""NumPyro's kernel-test models, sampled with DilationLangevin, against exact answers.

The kinds of models NumPyro's own MCMC tests use (``test/infer/test_mcmc.py``),
each written here with data of our own and an answer computed independently
of any sampler: conjugacy, Student-t / inverse-gamma marginals, Gaussian
linear algebra, or quadrature.

- unnormalized Gaussian through ``potential_fn``;
- logistic regression (posterior moments by quadrature on a 3-D grid);
- beta-Bernoulli (two independent latents, a batch of Betas);
- Dirichlet-categorical (stick-breaking support);
- change-point model whose discrete change time is marginalized by
  enumeration (``config_enumerate``, needs ``funsor``);
- flat improper priors (``ImproperUniform`` on the reals and on (0, inf));
- a prior with a ``sample_shape``.

Every check is a Monte Carlo z-test: ``|estimate - exact| / MCSE < Z_MAX``
where the MCSE comes from ArviZ's bulk ESS over all chains (``conftest.mcse_z``),
applied to each posterior mean and to each posterior variance (the mean of
``(x - exact mean)**2``). A *power guard* asserts that the ESS is large enough
for the test to mean something, so a sampler that stops moving fails instead
of passing on huge error bars.

Cost. Compiling a DilationLangevin run costs far more than running it at
these budgets (and a joint model of several blocks compiles slower than the
blocks apart), so the default suite runs the four models that
tests/test_numpyro_kernel.py does not already cover at a small budget; the
``slow`` tests run all seven at the small budget and again with 4x the
chains and more iterations.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from conftest import mcse_z
from numpyro.distributions import constraints
from numpyro.infer import MCMC
from scipy import optimize, special, stats

from numpyro_dilation import DilationLangevin

Z_MAX = 4.5
"""z threshold: about 1e-5 two-sided per check for a correct sampler."""

MIN_ESS = 100.0
"""Power guard: the bulk ESS below which a z-test is too weak to count."""

SMALL = {"num_chains": 64, "num_warmup": 400, "num_samples": 300}
LARGE = {"num_chains": 256, "num_warmup": 600, "num_samples": 400}


def run_dilation(
    budget: dict, seed: int, *args, model=None, potential_fn=None, init_params=None, **kwargs
) -> dict[str, np.ndarray]:
    """``DilationLangevin`` (default settings), vectorized chains.

    Returns the draws grouped by chain, ``{site: (chains, draws, *event)}``.
    """
    kernel = DilationLangevin(model=model, potential_fn=potential_fn)
    mcmc = MCMC(kernel, chain_method="vectorized", progress_bar=False, **budget)
    mcmc.run(jax.random.key(seed), *args, init_params=init_params, **kwargs)
    return {k: np.asarray(v, dtype=float) for k, v in mcmc.get_samples(group_by_chain=True).items()}


def check_mean_and_variance(x: np.ndarray, mean: float, var: float, label: str) -> None:
    """z-tests of the posterior mean and variance of one scalar, ``x`` of shape (chains, draws)."""
    ess = float(az.ess(x, method="bulk"))
    assert ess > MIN_ESS, f"{label}: bulk ESS {ess:.0f} too small for the test to have power"
    z_mean = mcse_z(x, mean)
    z_var = mcse_z((x - mean) ** 2, var)
    assert z_mean < Z_MAX, f"{label}: mean {x.mean():.5g} vs exact {mean:.5g} (z = {z_mean:.1f})"
    assert z_var < Z_MAX, (
        f"{label}: variance {np.mean((x - mean) ** 2):.5g} vs exact {var:.5g} (z = {z_var:.1f})"
    )


class Case(NamedTuple):
    """A model, its data (keyword arguments) and the check of its draws against the exact answer.

    ``check(draws)`` takes ``{site: (chains, draws, *event)}`` with the model's own site names.
    """

    model: Callable[..., None]
    data: dict[str, Any]
    check: Callable[[dict[str, np.ndarray]], None]


# ------------------------------------------------------------- unnormalized Gaussian


def _gaussian_potential(z):
    """0.5 * sum(((x - 1) / 2)**2) on R^3, no normalizing constant: x_j ~ N(1, 2^2)."""
    return 0.5 * jnp.sum(((z["x"] - 1.0) / 2.0) ** 2)


@pytest.mark.parametrize(
    "budget",
    [
        pytest.param(SMALL, id="small", marks=pytest.mark.slow),
        pytest.param(LARGE, id="large", marks=pytest.mark.slow),
    ],
)
def test_unnormalized_gaussian_potential_fn(budget):
    """``potential_fn`` and ``init_params`` instead of a model: every coordinate N(1, 2^2)."""
    chains = budget["num_chains"]
    init = {"x": jax.random.uniform(jax.random.key(10), (chains, 3), minval=-2, maxval=2)}
    x = run_dilation(budget, 0, potential_fn=_gaussian_potential, init_params=init)["x"]
    for j in range(3):
        check_mean_and_variance(x[..., j], 1.0, 4.0, f"x[{j}]")


# ------------------------------------------------------------- logistic regression


def _logistic_data(n: int = 200, dim: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dim))
    true_coefs = np.arange(1.0, dim + 1.0) / 2
    y = (rng.uniform(size=n) < special.expit(x @ true_coefs)).astype(float)
    return x, y


def _logistic_log_posterior(theta: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """log p(theta | y) + const for theta of shape (..., dim); prior N(0, I)."""
    eta = theta @ x.T
    return np.sum(y * eta - np.logaddexp(0.0, eta), axis=-1) - 0.5 * np.sum(theta**2, axis=-1)


def logistic_exact_moments(x: np.ndarray, y: np.ndarray, points: int = 41, width: float = 7.0):
    """Posterior mean and covariance by quadrature.

    Grid ``theta = theta_map + L u``, ``u`` on ``[-width, width]^dim`` with
    ``points`` nodes per axis and ``L L^T`` the Laplace covariance; the
    integrand is smooth and decays like a Gaussian, so equal-weight (trapezoid)
    sums converge spectrally fast.
    """
    dim = x.shape[1]

    def neg(theta):
        return -_logistic_log_posterior(theta, x, y)

    map_ = optimize.minimize(neg, np.zeros(dim), method="BFGS").x
    p = special.expit(x @ map_)
    hessian = (x * (p * (1 - p))[:, None]).T @ x + np.eye(dim)
    chol = np.linalg.cholesky(np.linalg.inv(hessian))
    u = np.linspace(-width, width, points)
    grid = np.stack(np.meshgrid(*([u] * dim), indexing="ij"), axis=-1).reshape(-1, dim)
    theta = map_ + grid @ chol.T
    logw = _logistic_log_posterior(theta, x, y)
    w = np.exp(logw - logw.max())
    w /= w.sum()
    mean = w @ theta
    cov = (theta - mean).T @ ((theta - mean) * w[:, None])
    return mean, cov


def test_logistic_quadrature_is_converged():
    """The quadrature reference itself: a finer, wider grid changes nothing that matters."""
    x, y = _logistic_data()
    m1, c1 = logistic_exact_moments(x, y, points=31, width=6.0)
    m2, c2 = logistic_exact_moments(x, y, points=51, width=8.0)
    # Posterior sds are about 0.1: 1e-6 is far below any Monte Carlo error here.
    np.testing.assert_allclose(m1, m2, rtol=0, atol=1e-6)
    np.testing.assert_allclose(c1, c2, rtol=0, atol=1e-6)


def logistic_model(x, y):
    """coefs ~ N(0, I_3); y_n ~ Bernoulli(logits = x_n . coefs), n = 1..200."""
    coefs = numpyro.sample("coefs", dist.Normal(jnp.zeros(x.shape[1]), 1.0).to_event(1))
    with numpyro.plate("n", x.shape[0]):
        numpyro.sample("y", dist.Bernoulli(logits=x @ coefs), obs=y)


def logistic_case() -> Case:
    x, y = _logistic_data()
    mean, cov = logistic_exact_moments(x, y)

    def check(draws):
        for j in range(x.shape[1]):
            check_mean_and_variance(draws["coefs"][..., j], mean[j], cov[j, j], f"coefs[{j}]")

    return Case(logistic_model, {"x": jnp.asarray(x), "y": jnp.asarray(y)}, check)


# ------------------------------------------------------------- beta-Bernoulli

BB_A = BB_B = 1.1


def beta_bernoulli_model(data):
    """p ~ Beta(1.1, 1.1) for two independent coins (a batch of Betas); data (n, 2) flips."""
    p = numpyro.sample("p", dist.Beta(jnp.full(2, BB_A), jnp.full(2, BB_B)).to_event(1))
    with numpyro.plate("n", data.shape[0]):
        numpyro.sample("obs", dist.Bernoulli(p).to_event(1), obs=data)


def beta_bernoulli_case() -> Case:
    """1000 flips of each coin, true probabilities 0.9 and 0.1:
    p | y ~ Beta(a + heads, b + tails)."""
    flips = np.random.default_rng(1).uniform(size=(1000, 2)) < np.array([0.9, 0.1])
    heads = flips.sum(0)
    exact = stats.beta(BB_A + heads, BB_B + len(flips) - heads)

    def check(draws):
        p = draws["p"]
        assert np.all((p > 0) & (p < 1))
        for j in range(2):
            check_mean_and_variance(p[..., j], exact.mean()[j], exact.var()[j], f"p[{j}]")

    return Case(beta_bernoulli_model, {"data": jnp.asarray(flips, dtype=jnp.float32)}, check)


# ------------------------------------------------------------- Dirichlet-categorical


def dirichlet_categorical_model(data):
    """p ~ Dirichlet(1, 1, 1); data_n ~ Categorical(p)."""
    p = numpyro.sample("p", dist.Dirichlet(jnp.ones(3)))
    with numpyro.plate("n", data.shape[0]):
        numpyro.sample("obs", dist.Categorical(probs=p), obs=data)


def dirichlet_categorical_case() -> Case:
    """2000 draws of Categorical([0.1, 0.6, 0.3]): p | y ~ Dirichlet(1 + counts).
    Exercises the stick-breaking transform and its Jacobian."""
    data = np.random.default_rng(2).choice(3, size=2000, p=[0.1, 0.6, 0.3])
    exact = stats.dirichlet(1.0 + np.bincount(data, minlength=3))

    def check(draws):
        p = draws["p"]
        np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-5)
        for j in range(3):
            check_mean_and_variance(p[..., j], exact.mean()[j], exact.var()[j], f"p[{j}]")

    return Case(dirichlet_categorical_model, {"data": jnp.asarray(data)}, check)


# ------------------------------------------------------------- change point (enumerated)


CP_A, CP_B = 2.0, 1.0  # Gamma(shape, rate) prior of both rates


def change_point_exact(y: np.ndarray):
    """Exact posterior of the change-point model (Gamma-Poisson conjugacy).

    For change time ``tau`` (``y[t]`` has rate ``lambda1`` for ``t < tau``, else
    ``lambda2``), ``lambda_i | tau, y ~ Gamma(a + S_i, b + n_i)`` and
    ``p(tau | y)`` is proportional to the product of the two Gamma-Poisson
    marginals. Returns ``p(tau | y)`` and the per-``tau`` Gamma parameters.
    """
    num = len(y)
    taus = np.arange(num)
    s1 = np.array([y[:t].sum() for t in taus])
    n1 = taus.astype(float)
    s2, n2 = y.sum() - s1, num - n1

    def log_marginal(s, n):
        return special.gammaln(CP_A + s) - (CP_A + s) * np.log(CP_B + n)

    logp = log_marginal(s1, n1) + log_marginal(s2, n2)
    p_tau = np.exp(logp - special.logsumexp(logp))
    return p_tau, (CP_A + s1, CP_B + n1), (CP_A + s2, CP_B + n2)


def _mixture_moments(p_tau, shape, rate):
    mean = np.sum(p_tau * shape / rate)
    second = np.sum(p_tau * shape * (shape + 1) / rate**2)
    return mean, second - mean**2


def change_point_model(y):
    """lambda1, lambda2 ~ Gamma(2, 1); tau ~ Uniform{0..T-1};
    y[t] ~ Poisson(lambda1 if t < tau else lambda2). Enumerate tau with ``config_enumerate``."""
    num = y.shape[0]
    lambda1 = numpyro.sample("lambda1", dist.Gamma(CP_A, CP_B))
    lambda2 = numpyro.sample("lambda2", dist.Gamma(CP_A, CP_B))
    tau = numpyro.sample("tau", dist.Categorical(logits=jnp.zeros(num)))
    # Enumerated, tau has shape (num, 1) (left of the plate dim): rate is (num, num).
    rate = jnp.where(jnp.arange(num) < tau, lambda1, lambda2)
    with numpyro.plate("t", num):
        numpyro.sample("y", dist.Poisson(rate), obs=y)


def change_point_case() -> Case:
    """Rates against their exact mixture-of-Gammas posteriors, and the change
    time's posterior mean by Rao-Blackwellization: for each draw of the rates
    E[tau | lambda, y] is exact, and its average estimates E[tau | y]."""
    y = np.random.default_rng(3).poisson(np.where(np.arange(40) < 22, 3.0, 1.0))
    p_tau, (sh1, ra1), (sh2, ra2) = change_point_exact(y)
    assert p_tau.max() < 0.9, "the data should leave the change time uncertain"

    def check(draws):
        assert "tau" not in draws  # marginalized, not sampled
        for name, shape, rate in (("lambda1", sh1, ra1), ("lambda2", sh2, ra2)):
            mean, var = _mixture_moments(p_tau, shape, rate)
            check_mean_and_variance(draws[name], mean, var, name)
        # log p(tau | lambda, y) = sum_t log Poisson(y_t | rate_t(tau)) + const
        num = len(y)
        cum = np.concatenate([[0.0], np.cumsum(y)])  # cum[tau] = sum_{t < tau} y_t
        taus = np.arange(num)
        l1, l2 = draws["lambda1"][..., None], draws["lambda2"][..., None]
        logp = (cum[taus] * np.log(l1) - taus * l1) + (
            (cum[-1] - cum[taus]) * np.log(l2) - (num - taus) * l2
        )
        post = np.exp(logp - special.logsumexp(logp, axis=-1, keepdims=True))
        z = mcse_z(post @ taus, float(p_tau @ taus))
        assert z < Z_MAX, f"E[tau | y]: z = {z:.1f}"

    return Case(change_point_model, {"y": jnp.asarray(y, dtype=jnp.float32)}, check)


# ------------------------------------------------------------- improper priors


def improper_model(y):
    """mu ~ flat on R, sigma ~ flat on (0, inf) (``ImproperUniform``); y_n ~ N(mu, sigma)."""
    mu = numpyro.sample("mu", dist.ImproperUniform(constraints.real, (), ()))
    sigma = numpyro.sample("sigma", dist.ImproperUniform(constraints.positive, (), ()))
    with numpyro.plate("n", y.shape[0]):
        numpyro.sample("y", dist.Normal(mu, sigma), obs=y)


def improper_case() -> Case:
    """n = 20 observations, mean ybar, S = sum (y - ybar)^2. The posterior is
    p(mu, sigma | y) ∝ sigma^-n exp(-(S + n (mu - ybar)^2) / (2 sigma^2)):
    mu | y is Student-t with n - 2 degrees of freedom, location ybar and
    scale^2 = S / (n (n - 2)); sigma^2 | y ~ InvGamma((n - 2) / 2, S / 2).
    A missing log-Jacobian of sigma's exp transform shifts sigma by about 5 %."""
    y = np.random.default_rng(4).normal(1.5, 0.8, size=20)
    n, ybar = len(y), y.mean()
    s = np.sum((y - ybar) ** 2)
    mu_exact = stats.t(df=n - 2, loc=ybar, scale=np.sqrt(s / (n * (n - 2))))
    a, b = (n - 2) / 2, s / 2
    sigma_mean = np.sqrt(b) * np.exp(special.gammaln(a - 0.5) - special.gammaln(a))
    sigma_var = b / (a - 1) - sigma_mean**2

    def check(draws):
        check_mean_and_variance(draws["mu"], mu_exact.mean(), mu_exact.var(), "mu")
        check_mean_and_variance(draws["sigma"], sigma_mean, sigma_var, "sigma")

    return Case(improper_model, {"y": jnp.asarray(y)}, check)


# ------------------------------------------------------------- sample shape


SCHOOLS_Y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
SCHOOLS_SIGMA = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])
TAU = 3.0


def sample_shape_model(sigma, y):
    """mu ~ N(0, 5); theta ~ N(mu, 3) with ``sample_shape=(8,)``; y ~ N(theta, sigma)."""
    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    theta = numpyro.sample("theta", dist.Normal(mu, TAU), sample_shape=(sigma.shape[0],))
    numpyro.sample("y", dist.Normal(theta, sigma), obs=y)


def sample_shape_exact():
    """Exact Gaussian posterior of (mu, theta_1..8): eight schools with a known tau.

    Prior: mu ~ N(0, 5^2), theta = mu 1 + TAU eps; likelihood y ~ N(theta, diag sigma^2).
    Posterior precision = prior precision + diag(0, 1/sigma^2); mean solves
    precision @ m = (0, y / sigma^2).
    """
    j = len(SCHOOLS_Y)
    ones = np.ones((j, 1))
    prior_cov = np.block([[np.array([[25.0]]), 25.0 * ones.T],
                          [25.0 * ones, 25.0 * ones @ ones.T + TAU**2 * np.eye(j)]])
    lik_prec = np.diag(np.concatenate([[0.0], 1.0 / SCHOOLS_SIGMA**2]))
    cov = np.linalg.inv(np.linalg.inv(prior_cov) + lik_prec)
    mean = cov @ np.concatenate([[0.0], SCHOOLS_Y / SCHOOLS_SIGMA**2])
    return mean, cov


def sample_shape_case() -> Case:
    mean, cov = sample_shape_exact()

    def check(draws):
        assert draws["theta"].shape[2:] == (8,)
        check_mean_and_variance(draws["mu"], mean[0], cov[0, 0], "mu")
        for j in range(8):
            check_mean_and_variance(draws["theta"][..., j], mean[j + 1], cov[j + 1, j + 1],
                                    f"theta[{j}]")

    data = {"sigma": jnp.asarray(SCHOOLS_SIGMA), "y": jnp.asarray(SCHOOLS_Y)}
    return Case(sample_shape_model, data, check)


# ------------------------------------------------------------- the tests

CASES: dict[str, Callable[[], Case]] = {
    "logistic_regression": logistic_case,
    "beta_bernoulli": beta_bernoulli_case,
    "dirichlet_categorical": dirichlet_categorical_case,
    "change_point_enumerated": change_point_case,
    "improper_uniform": improper_case,
    "prior_with_sample_shape": sample_shape_case,
}

IN_DEFAULT_SUITE = {"improper_uniform"}
"""Models run at the small budget by default; the others run with the slow tests, to keep
`make test` short (the enumerated change-point model is covered in the default suite by
tests/test_numpyro_kernel.py::test_enumerated_discrete_site). Logistic
regression, beta-Bernoulli and the potential_fn Gaussian have default-suite counterparts in
tests/test_numpyro_kernel.py, so here they run only with the slow tests."""


def _params():
    for name in CASES:
        small = () if name in IN_DEFAULT_SUITE else (pytest.mark.slow,)
        yield pytest.param(name, SMALL, id=f"{name}-small", marks=small)
        yield pytest.param(name, LARGE, id=f"{name}-large", marks=pytest.mark.slow)


@pytest.mark.parametrize(("name", "budget"), list(_params()))
def test_model(name, budget):
    case = CASES[name]()
    model = case.model
    if name == "change_point_enumerated":
        pytest.importorskip("funsor")
        from numpyro.contrib.funsor import config_enumerate

        model = config_enumerate(model)  # the discrete latent tau: enumerate="parallel"
    case.check(run_dilation(budget, 1 + list(CASES).index(name), model=model, **case.data))
