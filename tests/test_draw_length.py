"""Draws made of several transitions (``steps_per_draw``; numpyro_dilation.draw_length)."""

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer import MCMC

import numpyro_dilation as nd
from numpyro_dilation import DilationLangevin
from numpyro_dilation.draw_length import (
    CROSS_SECTION_MIN_CHAINS,
    MAX_DRAW_AUTOCORRELATION_TIME,
    MAX_STEPS_PER_DRAW,
    VARIOGRAM_LAG,
    expected_maximum,
    step_autocorrelation,
    steps_per_draw,
    target_autocorrelation_time,
)
from numpyro_dilation.health import init_monitor, update_monitor

DIM = 100
SCALES = np.linspace(0.5, 2.0, DIM)


def _ar1_monitors(rho, num_chains=8, num=3000, seed=0):
    """Monitors of stationary AR(1) chains with per-coordinate lag-one correlation ``rho``
    (unit variance), every iteration's jump and lag points counted, as the kernel does."""
    rho = jnp.asarray(rho)
    dim = rho.shape[0]

    def chain(key):
        k0, k1 = jax.random.split(key)
        noise = jax.random.normal(k1, (num, dim)) * jnp.sqrt(1 - rho**2)
        step = lambda y, e: (rho * y + e, rho * y + e)  # noqa: E731
        draws = jax.lax.scan(step, jax.random.normal(k0, (dim,)), noise)[1]

        def update(m, t):
            return update_monitor(
                m,
                draws[t],
                True,
                False,
                previous=draws[t - 1],
                lag_point=t % VARIOGRAM_LAG == 0,
            ), None

        return jax.lax.scan(update, init_monitor(dim), jnp.arange(1, num))[0]

    keys = jax.random.split(jax.random.key(seed), num_chains)
    return jax.jit(jax.vmap(chain))(keys)


def test_autocorrelation_and_draw_length_of_ar1_chains():
    """On AR(1) chains the estimate recovers rho (Monte Carlo error of 8 x 3000 draws,
    under 0.01 here), and the draw length is the smallest k with
    (1 + rho^k) / (1 - rho^k) <= 1.5, so the rule can be checked exactly."""
    rho = np.array([0.0, 0.5, 0.8, 0.95])
    monitors = _ar1_monitors(rho)
    est = np.asarray(step_autocorrelation(monitors))
    np.testing.assert_allclose(est, rho, atol=0.02)
    fast = _ar1_monitors(rho[2:3])  # 0.8: k = 8 (0.8^7 = 0.21 > 0.2 >= 0.8^8); one
    rho_max = float(np.max(np.asarray(step_autocorrelation(fast))))  # coordinate: no
    k = int(steps_per_draw(fast))  # correction for the largest of several estimates
    tau = lambda j: (1 + rho_max**j) / (1 - rho_max**j)  # noqa: E731
    assert tau(k) <= MAX_DRAW_AUTOCORRELATION_TIME < tau(k - 1)
    assert 7 <= k <= 9 and 7 <= int(steps_per_draw(_ar1_monitors(rho[:3]))) <= 9
    assert 28 <= int(steps_per_draw(monitors)) <= MAX_STEPS_PER_DRAW  # log 0.2 / log 0.95 = 31.4
    assert int(steps_per_draw(_ar1_monitors([0.3]))) == 2  # 0.3^2 = 0.09 <= 0.2 < 0.3
    assert int(steps_per_draw(monitors, max_steps=5)) == 5  # capped


def test_long_runs_aim_at_a_longer_autocorrelation_time():
    """With n draws per chain the target is max(1.5, 1 + n/200): R-hat - 1 ~ (tau - 1)/n
    stays about 0.005, and 1000 draws of an AR(1) chain with rho = 0.8 need 2 steps per
    draw (tau(2) = 4.6 <= 6 < tau(1) = 9) instead of 8."""
    assert target_autocorrelation_time(None) == target_autocorrelation_time(100) == 1.5
    assert target_autocorrelation_time(1000) == 6.0
    fast = _ar1_monitors([0.0, 0.5, 0.8])
    rho_max = float(np.max(np.asarray(step_autocorrelation(fast))))
    tau = lambda j: (1 + rho_max**j) / (1 - rho_max**j)  # noqa: E731
    k = int(steps_per_draw(fast, num_draws=1000))
    assert tau(k) <= 6.0 < tau(k - 1)
    assert k == 2 and int(steps_per_draw(fast, num_draws=100)) == int(steps_per_draw(fast))


def test_chains_leaving_a_minor_mode_do_not_inflate_the_draw_length():
    """256 AR(1) chains (rho = 0.5, unit variance) of which 64 spent the first half of the
    measured stretch 10 units away (a minor mode they left): the pooled variance of the
    stretch is about 19 instead of 1, so rho-hat = 1 - J / (2 sigma^2) is near 1 and the
    draw length far above the right one (measured before the fix on posteriordb's
    low_dim_gauss_mix: 32, the cap, where 1 sufficed). With the chains' positions at the end
    of the warm-up, whose variance across chains is the stationary one, rho-hat is 0.5
    within 0.06 and k = 3; with fewer than CROSS_SECTION_MIN_CHAINS chains the positions
    are not used."""
    rho, num, chains = 0.5, 2000, 256
    noise = jax.random.normal(jax.random.key(1), (chains, num)) * np.sqrt(1 - rho**2)
    step = lambda y, e: (rho * y + e, rho * y + e)  # noqa: E731
    draws = jax.vmap(lambda e: jax.lax.scan(step, 0.0, e)[1])(noise)
    away = (jnp.arange(chains) < chains // 4)[:, None] & (jnp.arange(num) < num // 2)
    draws = (draws + jnp.where(away, 10.0, 0.0))[:, :, None]  # (chains, num, 1)

    def monitor(path):
        def update(m, t):
            m = update_monitor(m, path[t], True, False, previous=path[t - 1],
                               lag_point=t % VARIOGRAM_LAG == 0)  # fmt: skip
            return m, None

        return jax.lax.scan(update, init_monitor(1), jnp.arange(1, num))[0]

    monitors = jax.jit(jax.vmap(monitor))(draws)
    end = draws[:, -1]
    assert float(np.asarray(step_autocorrelation(monitors))[0]) > 0.9
    assert int(steps_per_draw(monitors)) >= 16
    assert abs(float(np.asarray(step_autocorrelation(monitors, end))[0]) - rho) < 0.06
    assert int(steps_per_draw(monitors, positions=end)) == 3  # 0.5^3 <= 0.2 < 0.5^2
    few = jax.tree.map(lambda x: x[: CROSS_SECTION_MIN_CHAINS - 1], monitors)
    assert (
        float(np.asarray(step_autocorrelation(few, end[: CROSS_SECTION_MIN_CHAINS - 1]))[0]) > 0.9
    )


def test_under_dispersed_positions_do_not_shorten_the_draws():
    """Positions that the annealing left under-dispersed understate sigma^2 and with it
    rho-hat = 1 - J / (2 sigma^2). A reversible chain's autocorrelation at the even lag 8 is
    >= 0, so J^(8) / 2 <= sigma^2 bounds it from below: AR(1) chains with rho = 0.3 whose
    recorded variance is 0.7 of the true one still give rho-hat 0.3 (0.0 without the bound),
    and 2 transitions per draw (1 without)."""
    monitors = _ar1_monitors([0.3])
    shrunk = monitors._replace(m2=0.7 * monitors.m2, mean=jnp.sqrt(0.7) * monitors.mean)
    np.testing.assert_allclose(np.asarray(step_autocorrelation(shrunk)), [0.3], atol=0.03)
    assert int(steps_per_draw(shrunk)) == 2


def test_a_coordinate_that_never_jumps_gets_the_cap():
    monitors = _ar1_monitors([0.5, 0.5])
    frozen = monitors._replace(
        jump_sq=monitors.jump_sq.at[:, 1].set(0.0),
        lag_jump_sq=monitors.lag_jump_sq.at[:, 1].set(0.0),
    )
    assert int(steps_per_draw(frozen)) == MAX_STEPS_PER_DRAW
    constant = frozen._replace(
        m2=monitors.m2.at[:, 1].set(0.0), mean=monitors.mean.at[:, 1].set(0.0)
    )
    assert np.isnan(np.asarray(step_autocorrelation(constant))[1])  # ignored: does not vary


def gaussian_model():
    numpyro.sample("x", dist.Normal(0.0, jnp.asarray(SCALES)))


def _run(steps, seed=0):
    mcmc = MCMC(
        DilationLangevin(gaussian_model, global_moves=None, steps_per_draw=steps),
        num_warmup=200,
        num_samples=100,
        num_chains=64,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(jax.random.key(seed), extra_fields=("num_steps",))
    return mcmc


def test_auto_draw_length_makes_short_chains_pass_rhat():
    """MALA alone on a 100-d Gaussian: one transition per draw leaves the 64 chains of 100
    draws with R-hat above 1.01 (autocorrelation time of several steps); ``"auto"`` measures
    it and its draws pass R-hat <= 1.01, with means and variances matching the exact ones
    (z-scores with ArviZ's MCSE, of the draws and of their squares: the draws aim at an
    autocorrelation time of 1.5, not at independence)."""
    one = _run(1)
    x1 = np.asarray(one.get_samples(group_by_chain=True)["x"])
    assert float(np.max(az.rhat(az.convert_to_dataset(x1)).x)) > 1.01
    auto = _run("auto")
    k = int(np.asarray(auto.last_state.adapt_state.steps_per_draw)[0])
    assert 2 <= k < MAX_STEPS_PER_DRAW
    draws = np.asarray(auto.get_samples(group_by_chain=True)["x"])
    ds = az.convert_to_dataset(draws)
    assert float(np.max(az.rhat(ds).x)) <= 1.01
    mcse = np.asarray(az.mcse(ds).x)
    z = draws.mean(axis=(0, 1)) / mcse
    assert np.max(np.abs(z)) < 4.5  # 100 coordinates
    # the variance: the mean of (x - 0)^2 / scale^2, with its own effective sample size
    sq = az.convert_to_dataset(draws**2 / SCALES**2)
    z_var = (np.asarray(sq.x.mean(dim=("chain", "draw"))) - 1) / np.asarray(az.mcse(sq).x)
    assert np.max(np.abs(z_var)) < 4.5
    # every transition of a draw is a gradient (no global moves here)
    grads = np.asarray(auto.get_extra_fields(group_by_chain=True)["num_steps"])
    assert np.all(grads[:, -50:] == k)


def test_the_draw_length_is_measured_at_the_draws_step_size():
    """With ``"auto"`` the warm-up's last stretch runs at the draws' fixed step size, so the
    per-step autocorrelation measured there predicts the draws': the median over the 100
    coordinates of rho-hat^k against the draws' own lag-one autocorrelation (128 chains x
    100 draws; Monte Carlo error of either median under 0.01). Measured while the step still
    adapted (the code before), the prediction was 0.119 and 0.129 against 0.030 and 0.042
    (seeds 0, 1; k 16 and 15 where 13 and 12 suffice); now 0.065 and 0.080 against 0.065
    and 0.084."""
    from jax.flatten_util import ravel_pytree

    from numpyro_dilation.population_settings import fixed_step_iteration

    mcmc = MCMC(  # MALA's draws: the rule measures MALA's transitions
        DilationLangevin(gaussian_model, global_moves=None, momentum_persistence=0.0),
        num_warmup=200,
        num_samples=100,
        num_chains=128,  # the measurements above
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.warmup(jax.random.key(0), extra_fields=("adapt_state.step_size",), collect_warmup=True)
    steps = np.asarray(mcmc.get_extra_fields(group_by_chain=True)["adapt_state.step_size"])
    settings = mcmc.sampler.settings
    fixed = settings.config.step_size_fixed_from
    assert fixed == fixed_step_iteration(settings.mass_schedule, settings.mode_iteration, 200)
    assert fixed < 200
    np.testing.assert_array_equal(steps[:, fixed:], np.repeat(steps[:, -1:], 200 - fixed, 1))
    assert np.any(steps[:, fixed - 10 : fixed] != steps[:, -1:])  # adapted before
    state = mcmc.last_state
    positions = jax.vmap(lambda one: ravel_pytree(one)[0])(state.z)
    rho = np.median(np.asarray(step_autocorrelation(state.monitor, positions)))
    mcmc.run(jax.random.key(10))
    k = int(np.asarray(mcmc.last_state.adapt_state.steps_per_draw)[0])
    x = np.asarray(mcmc.get_samples(group_by_chain=True)["x"])
    xc = x - x.mean(axis=1, keepdims=True)
    acf = (xc[:, 1:] * xc[:, :-1]).mean(axis=(0, 1)) / (xc**2).mean(axis=(0, 1))
    assert 2 <= k < MAX_STEPS_PER_DRAW
    assert abs(rho**k - np.median(acf)) < 0.03


def test_steps_per_draw_is_checked():
    for bad in (0, -1, 2.5, "x", True):
        with pytest.raises(ValueError, match="steps_per_draw"):
            DilationLangevin(gaussian_model, steps_per_draw=bad)
    with pytest.raises(ValueError, match="steps_per_draw"):
        nd.population_sampler(lambda x: -0.5 * jnp.sum(x**2), 100, steps_per_draw=0)


def test_population_sampler_takes_fixed_draws():
    """Through BlackJAX's API: after the warm-up every step is ``steps_per_draw``
    transitions, each a gradient (global moves off)."""
    logdensity = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
    algo = nd.population_sampler(logdensity, 60, global_moves=None, uturn=None, steps_per_draw=4)
    state = algo.init(jnp.zeros((8, 3)), jax.random.key(0))
    step = jax.jit(algo.step)
    for i, key in enumerate(jax.random.split(jax.random.key(1), 70)):
        state, info = step(key, state)
        if i == 58:
            assert np.all(np.asarray(info.num_grad_evals) == 1)  # warm-up: one transition
    assert np.all(np.asarray(info.num_grad_evals) == 4)
    assert np.all(np.asarray(state.i) == 70)  # a draw is one iteration


def test_one_transition_per_draw_compiles_no_loop_and_changes_nothing():
    """``steps_per_draw=1`` gives ``chain_step`` a Python 1 (no loop of transitions, which
    made XLA compile the log-density slower; BENCHMARKS.md "Time per gradient, layer by
    layer"), and one transition without the loop is the loop's single turn: the same chain
    state, leaf for leaf, with the global moves on (after mode finding) and in the warm-up
    and sampling phases."""
    from numpyro_dilation.draws import draw_transitions
    from numpyro_dilation.population import init, population_step
    from numpyro_dilation.population_chain import chain_step
    from numpyro_dilation.population_settings import make_settings
    from numpyro_dilation.population_state import with_inverse_mass_matrix

    def logdensity(x):  # two modes, so the global moves run
        return jnp.logaddexp(-0.5 * jnp.sum((x - 2.0) ** 2), -0.5 * jnp.sum((x + 2.0) ** 2))

    settings = make_settings(40, 3, steps_per_draw=1)
    state = init(jnp.zeros((8, 3)), logdensity, jax.random.split(jax.random.key(0), 8), settings)
    count = draw_transitions(state, settings)[1]
    assert type(count) is int and count == 1
    step = jax.jit(lambda s: population_step(s, logdensity, settings))

    def one_chain(s):  # chain 0 with the shared preconditioner and mixture, as population_step
        unshared = with_inverse_mass_matrix(s._replace(mixture=None), None)
        one = jax.tree.map(lambda x: x[0], unshared)._replace(mixture=s.mixture)
        return with_inverse_mass_matrix(one, s.inverse_mass_matrix, s.adapt_state.mass_low_rank)

    for num_steps in (35, 10):  # after mode finding (iteration 35), then in the sampling phase
        for _ in range(num_steps):
            state = step(state)
        one = one_chain(state)
        alone = jax.jit(lambda s: chain_step(s, logdensity, settings, 1))(one)
        looped = jax.jit(lambda s: chain_step(s, logdensity, settings, jnp.int32(1)))(one)
        assert int(state.mixture.num_modes) == 2
        for a, b in zip(jax.tree.leaves(alone), jax.tree.leaves(looped)):
            if jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key):
                a, b = jax.random.key_data(a), jax.random.key_data(b)
            np.testing.assert_array_equal(a, b)


def test_the_largest_of_many_noisy_estimates_does_not_lengthen_the_draws():
    """k is set by the slowest of d coordinates, and the largest of d noisy estimates
    exceeds the truth by about E_d standard errors (3.2 at d = 1000). 256 AR(1) chains of 25
    positions, as short as the warm-up's measured stretch: with rho = 0.9 on all 1000
    coordinates (k = 16 suffices: 0.9^16 = 0.185) the uncorrected rule gives k = 22
    (0.9^22 = 0.098), the corrected one 19 (0.135; the floor from the largest R-hat of 1000
    coordinates keeps it above 16); with one coordinate at 0.95 among 999 at 0.8 the slow
    one is still covered within the floor (0.95^k = 0.25 here, tau = 1.67; 0.28 would be
    tau = 1.78)."""
    assert np.allclose(expected_maximum(jnp.array([1.0, 2.0, 10.0, 1000.0])),
                       [0.0, 0.564, 1.539, 3.241], atol=0.03)  # fmt: skip
    equal = _ar1_monitors(np.full(1000, 0.9), num_chains=256, num=25)
    assert float(np.max(np.asarray(step_autocorrelation(equal)))) > 0.925  # the noise
    k = int(steps_per_draw(equal))
    assert 0.115 < 0.9**k <= 0.2, k  # k in 16..20
    rho = np.full(1000, 0.8)
    rho[0] = 0.95
    k = int(steps_per_draw(_ar1_monitors(rho, num_chains=256, num=25)))
    assert 0.95**k <= 0.28, k
    single = _ar1_monitors([0.9], num_chains=256, num=25)  # d = 1: E_1 = 0, no correction
    rho_1 = float(np.asarray(step_autocorrelation(single))[0])
    assert int(steps_per_draw(single)) == int(np.ceil(np.log(0.2) / np.log(rho_1)))
