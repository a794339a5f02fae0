"""Persistent momentum in the draws (numpyro_dilation.persistence): the kernel's step read as
a leapfrog step, exactness of the persistent draws, their draw length, input checks."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer import MCMC

from numpyro_dilation import DilationLangevin, kernel
from numpyro_dilation.low_rank import DiagonalPlusLowRank
from numpyro_dilation.persistence import DRAW_LENGTH_DIVISOR, persistent_draw_length
from numpyro_dilation.population import population_sampler


def _metrics(d, rng):
    q = np.linalg.qr(rng.normal(size=(d, 2)))[0]
    low_rank = DiagonalPlusLowRank(
        jnp.asarray(rng.uniform(0.5, 2.0, d)), jnp.asarray(q), jnp.asarray([0.5, -0.3])
    )
    dense = low_rank.to_dense()
    return {"diagonal": jnp.diag(dense), "dense": dense, "low rank": low_rank}


@pytest.mark.parametrize("which", ["diagonal", "dense", "low rank"])
def test_the_step_with_given_noise_is_a_leapfrog_step_with_the_hmc_ratio(which, x64):
    """With noise r, the proposal is y + eps L (r + eps/2 L^T g), the returned momentum
    r + eps/2 L^T (g + g') when accepted and -r when not, and the acceptance probability
    exp(-dH) with H = -log gamma + |r|^2 / 2: generalized HMC's step, computed by hand."""
    del x64
    rng = np.random.default_rng(0)
    d = 5
    m = rng.normal(size=(d, d))
    precision = jnp.asarray(m @ m.T + d * np.eye(d))
    logdensity = lambda y: -0.5 * y @ precision @ y  # noqa: E731
    metrics = _metrics(d, rng)
    metric = metrics[which]
    if which == "diagonal":
        a = np.diag(np.asarray(metric))
        chol = np.diag(np.sqrt(np.asarray(metric)))
    else:
        a = np.asarray(metrics["dense"])
        chol = np.linalg.cholesky(a)
        if which == "low rank":  # L = D^1/2 (I + Q diag(sqrt(1+s) - 1) Q^T), not triangular
            chol = np.stack([np.asarray(metric.sqrt_matvec(jnp.asarray(e))) for e in np.eye(d)], 1)
    np.testing.assert_allclose(chol @ chol.T, a, atol=1e-12)
    state = kernel.init(jnp.asarray(rng.normal(size=d)), logdensity)
    step = kernel.build_kernel()
    h = 0.1
    eps = np.sqrt(2 * h)
    seen = set()
    for seed in range(40):
        r = jnp.asarray(rng.normal(size=d))
        new, info = step(jax.random.key(seed), state, logdensity, 1.0, h,
                         inverse_mass_matrix=metric, noise=r)  # fmt: skip
        g0 = np.asarray(state.logdensity_grad)
        y1 = np.asarray(state.position) + eps * chol @ (r + eps / 2 * chol.T @ g0)
        g1 = np.asarray(jax.grad(logdensity)(jnp.asarray(y1)))
        r1 = r + eps / 2 * chol.T @ (g0 + g1)
        dh = (-logdensity(y1) + r1 @ r1 / 2) - (-state.logdensity + r @ r / 2)
        np.testing.assert_allclose(info.acceptance_rate, min(1.0, np.exp(-dh)), rtol=1e-9)
        accepted = bool(info.is_accepted)
        seen.add(accepted)
        expected = r1 if accepted else -np.asarray(r)
        np.testing.assert_allclose(info.momentum, expected, atol=1e-10)
        np.testing.assert_allclose(new.position, y1 if accepted else state.position, atol=1e-10)
    assert seen == {True, False}  # both branches checked


def test_noise_drawn_from_the_kernels_own_key_gives_the_kernels_step():
    """The kernel's docstring contract that the persistent draws rely on: noise=None draws
    xi with split(rng_key)[0], so passing that noise gives the same step bit for bit."""
    logdensity = lambda y: -0.5 * jnp.sum(y**2 * jnp.arange(1.0, 4.0))  # noqa: E731
    state = kernel.init(jnp.array([0.3, -1.0, 2.0]), logdensity)
    step = kernel.build_kernel()
    for seed in range(5):
        key = jax.random.key(seed)
        xi = jax.random.normal(jax.random.split(key)[0], (3,))
        a, info_a = step(key, state, logdensity, 1.0, 0.3)
        b, info_b = step(key, state, logdensity, 1.0, 0.3, noise=xi)
        np.testing.assert_array_equal(a.position, b.position)
        np.testing.assert_array_equal(info_a.momentum, info_b.momentum)


def _skewed_logdensity(x):
    """Independent coordinates: x0 log-Gamma(3) (skewed), x1 ~ N(1, 0.5^2) correlated
    with nothing, x2 = x1 + N(0, 0.1^2) (a narrow ridge): exact means and variances."""
    lg = 3.0 * x[0] - jnp.exp(x[0])
    return lg - 0.5 * ((x[1] - 1.0) / 0.5) ** 2 - 0.5 * ((x[2] - x[1]) / 0.1) ** 2


def _run_population(persistence, num_warmup=200, num_draws=400, num_chains=64, seed=0):
    algo = population_sampler(
        _skewed_logdensity, num_warmup, global_moves=None, uturn=None,
        momentum_persistence=persistence,
    )  # fmt: skip
    init_key, run_key = jax.random.split(jax.random.key(seed))
    state = algo.init(jax.random.normal(init_key, (num_chains, 3)), init_key)
    step = jax.jit(algo.step)
    draws = []
    for i, key in enumerate(jax.random.split(run_key, num_warmup + num_draws)):
        state, _ = step(key, state)
        if i >= num_warmup:
            draws.append(np.asarray(state.z))
    return np.stack(draws, axis=1), state  # (chains, draws, 3)


def test_persistent_draws_match_the_exact_moments():
    """Means and variances of a skewed, ridged target from persistent draws, against the
    exact values with tolerances from the draws' own effective sample size (ArviZ):
    |z| < 4.5 for each of 6 moments. A refresh that does not keep N(0, I) (alpha r + xi)
    fails it (checked); the flip on rejection is checked step by step above."""
    import arviz as az
    from scipy import special

    draws, state = _run_population(0.8)
    k = int(np.asarray(state.adapt_state.steps_per_draw)[0])
    assert k >= 1
    assert float(np.mean(state.mean_accept_prob)) > 0.75  # the shorter step of the draws
    exact_mean = [special.digamma(3.0), 1.0, 1.0]
    exact_var = [special.polygamma(1, 3.0), 0.25, 0.25 + 0.01]
    for j in range(3):
        x = draws[..., j]
        for stat, exact in ((x, exact_mean[j]), ((x - exact_mean[j]) ** 2, exact_var[j])):
            ess = float(az.ess(stat, method="bulk"))
            se = np.std(stat) / np.sqrt(ess)
            z = (np.mean(stat) - exact) / se
            assert abs(z) < 4.5, (j, np.mean(stat), exact, ess)


def test_persistent_draws_need_fewer_transitions_than_mala_for_the_same_mixing():
    """The same target with persistence 0 and 0.8: the persistent draws are shorter (the
    measured draw length divided by DRAW_LENGTH_DIVISOR) and their effective sample size
    per gradient is at least twice MALA's (ArviZ, the ridge's coordinate)."""
    import arviz as az

    results = {}
    for persistence in (0.0, 0.8):
        draws, state = _run_population(persistence, seed=1)
        k = int(np.asarray(state.adapt_state.steps_per_draw)[0])
        ess = min(float(az.ess(draws[..., j], method="bulk")) for j in range(3))
        results[persistence] = (k, ess / k)
    (k_mala, per_step_mala), (k_persistent, per_step) = results[0.0], results[0.8]
    assert k_persistent < k_mala
    assert k_persistent <= -(-k_mala // DRAW_LENGTH_DIVISOR) + 2  # measured on other chains
    assert per_step > 2 * per_step_mala, results


def test_persistent_draw_length():
    """A third, rounded up, never below 2 transitions where MALA's length is 2 or more
    (one transition keeps no momentum); traced lengths as Python ones."""
    expected = {1: 1, 2: 2, 3: 2, 4: 2, 6: 2, 7: 3, 9: 3, 31: 11}
    for steps, n in expected.items():
        assert persistent_draw_length(steps, 0.8) == n
        assert int(persistent_draw_length(jnp.asarray(steps, jnp.int32), 0.5)) == n
    assert persistent_draw_length(31, 0.0) == 31


@pytest.mark.parametrize("bad", [1.0, -0.1, float("nan"), "0.8", True, None])
def test_bad_persistence_is_refused_at_construction(bad):
    def model():
        numpyro.sample("x", dist.Normal(0.0, 1.0))

    with pytest.raises(ValueError, match="momentum_persistence"):
        DilationLangevin(model, momentum_persistence=bad)
    with pytest.raises(ValueError, match="momentum_persistence"):
        population_sampler(lambda x: -0.5 * jnp.sum(x**2), 10, momentum_persistence=bad)


def test_numpyro_run_with_persistence_matches_the_exact_posterior():
    """A conjugate linear regression (exact Gaussian posterior, 3 coefficients with
    correlated posteriors) through MCMC with the defaults (persistence 0.8): posterior means
    and sds against the exact ones, tolerances from ArviZ's MCSE (|z| < 4.5), sds within 6%."""
    import arviz as az

    rng = np.random.default_rng(5)
    n, p, noise = 50, 3, 0.5
    x = rng.normal(size=(n, p)) @ np.array([[1, 0.8, 0], [0, 0.6, 0.5], [0, 0, 1.0]])
    y = x @ np.array([1.0, -2.0, 0.5]) + noise * rng.normal(size=n)

    def model(x, y):
        beta = numpyro.sample("beta", dist.Normal(0.0, 2.0).expand([p]).to_event(1))
        numpyro.sample("y", dist.Normal(x @ beta, noise), obs=y)

    precision = x.T @ x / noise**2 + np.eye(p) / 4.0
    cov = np.linalg.inv(precision)
    mean = cov @ (x.T @ y / noise**2)
    mcmc = MCMC(DilationLangevin(model), num_warmup=300, num_samples=100, num_chains=64,
                chain_method="vectorized", progress_bar=False)  # fmt: skip
    mcmc.run(jax.random.PRNGKey(0), x, y)
    draws = np.asarray(mcmc.get_samples(group_by_chain=True)["beta"])
    assert int(np.asarray(mcmc.last_state.adapt_state.steps_per_draw)[0]) >= 1
    for j in range(p):
        mcse = float(az.mcse(draws[..., j], method="mean"))
        assert abs(draws[..., j].mean() - mean[j]) / mcse < 4.5
        assert abs(draws[..., j].std() / np.sqrt(cov[j, j]) - 1.0) < 0.06


def test_the_draw_length_is_cut_only_where_the_transitions_make_no_other_move():
    """At the first draw, from one warm-up's final state: persistence divides MALA's measured
    length by DRAW_LENGTH_DIVISOR (rounded up), and keeps it where interweaving moves run
    (a non-centered site) or where the draws make global moves (two modes, not stopped)."""
    from numpyro_dilation.draws import draw_transitions
    from numpyro_dilation.interweaving import Interweaving
    from numpyro_dilation.population_settings import make_settings

    num_warmup = 200
    algo = population_sampler(lambda x: -0.5 * jnp.sum(x**2 / jnp.arange(1.0, 11.0)),
                              num_warmup, global_moves=None, uturn=None)  # fmt: skip
    state = algo.init(jnp.zeros((64, 10)), jax.random.key(0))
    step = jax.jit(algo.step)
    for key in jax.random.split(jax.random.key(1), num_warmup):
        state, _ = step(key, state)
    assert int(state.i[0]) == num_warmup  # the next step is the first draw

    def length(persistence, **changes):
        settings = make_settings(num_warmup, 10, global_moves=None, persistence=persistence)
        settings = settings._replace(**changes)
        return int(np.asarray(draw_transitions(state, settings)[1]))

    k = length(0.0)
    assert k >= 4  # a length that a third changes
    assert length(0.8) == -(-k // DRAW_LENGTH_DIVISOR)
    weave = Interweaving(lambda z: {}, lambda z, a: ({}, 0.0))
    assert length(0.8, interweaving=weave) == k
    with_moves = population_sampler(lambda x: -0.5 * jnp.sum(x**2), num_warmup)
    mixture = with_moves.init(jnp.zeros((64, 10)), jax.random.key(0)).mixture  # empty slots
    two_modes = mixture._replace(num_modes=jnp.asarray(2), stopped=jnp.asarray(False))
    moving = make_settings(num_warmup, 10, persistence=0.8)
    assert int(np.asarray(draw_transitions(state._replace(mixture=two_modes), moving)[1])) == k
    stopped = state._replace(mixture=two_modes._replace(stopped=jnp.asarray(True)))
    assert int(np.asarray(draw_transitions(stopped, moving)[1])) == length(0.8)
