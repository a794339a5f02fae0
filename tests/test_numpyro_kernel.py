"""NumPyro front end: exact answers, chain methods, continuation, fields, ArviZ, errors."""

import warnings

import arviz as az
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from conftest import mcse_z
from jax import lax, random
from jax.scipy.special import logsumexp
from numpyro.infer import MCMC
from scipy import integrate, stats

from numpyro_dilation import DilationLangevin, Pilot
from numpyro_dilation.inference_data import chain_subset, from_numpyro, pool_chains
from numpyro_dilation.mcmc import AUTO_PILOT_MIN_CHAINS
from numpyro_dilation.schedules import linear_schedule

# -- exact answers ---------------------------------------------------------------------


def test_correlated_gaussian_potential_fn_means_and_variances():
    """d = 5 correlated Gaussian through potential_fn: every mean and variance
    within 4.5 Monte Carlo standard errors (ESS from ArviZ, pooled chains)."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 5))
    cov = a @ a.T / 5 + 0.2 * np.eye(5)
    mean = rng.normal(size=5) * 2
    prec = jnp.asarray(np.linalg.inv(cov))

    def potential(z):
        r = z["x"] - mean
        return 0.5 * r @ prec @ r

    mcmc = MCMC(
        DilationLangevin(potential_fn=potential),
        num_warmup=300,
        num_samples=300,
        num_chains=64,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(jax.random.key(1), init_params={"x": jnp.zeros((64, 5))})
    x = np.asarray(mcmc.get_samples(group_by_chain=True)["x"])
    for j in range(5):
        assert mcse_z(x[..., j], mean[j]) < 4.5
        sq = (x[..., j] - mean[j]) ** 2
        assert mcse_z(sq, cov[j, j]) < 4.5


def beta_bernoulli(y):
    p = numpyro.sample("p", dist.Beta(1.5, 2.0))
    numpyro.sample("y", dist.Bernoulli(p), obs=y)


def beta_bernoulli_mcmc(**kwargs):
    return MCMC(
        DilationLangevin(beta_bernoulli),
        num_warmup=200,
        num_samples=300,
        num_chains=32,
        chain_method="vectorized",
        progress_bar=False,
        **kwargs,
    )


def test_jit_model_args_one_compiled_sampler_two_datasets():
    """Beta-Bernoulli, exact posterior mean and variance, with ``jit_model_args=True``:
    the data (integers here) are traced, and the pooled preconditioner and the branches of
    the kernel must cope with values closed over from the trace; one compiled sampler,
    two exact answers."""
    mcmc = beta_bernoulli_mcmc(jit_model_args=True)
    for seed, ones in ((0, 12), (1, 3)):
        data = (jnp.arange(15) < ones).astype(jnp.int32)
        mcmc.run(jax.random.key(seed), data)
        p = np.asarray(mcmc.get_samples(group_by_chain=True)["p"])
        a, b = 1.5 + ones, 2.0 + 15 - ones
        mean, var = a / (a + b), a * b / ((a + b) ** 2 * (a + b + 1))
        assert np.all((p > 0) & (p < 1))
        assert mcse_z(p, mean) < 4.5
        assert mcse_z((p - mean) ** 2, var) < 4.5


@pytest.mark.slow  # default suite time; `make test-all` runs it
def test_halfcauchy_scale_matches_quadrature():
    """sigma ~ HalfCauchy(1), y_i ~ Normal(0, sigma): the posterior mean of sigma
    by quadrature; the sampler works on log(sigma) and must include the Jacobian."""
    y = np.array([0.8, -1.7, 2.4, 0.3, -0.9, 1.5])

    def model(y):
        sigma = numpyro.sample("sigma", dist.HalfCauchy(1.0))
        numpyro.sample("y", dist.Normal(0.0, sigma), obs=y)

    def post(s):
        return stats.halfcauchy.pdf(s) * np.prod(stats.norm.pdf(y, 0, s))

    z, _ = integrate.quad(post, 0, np.inf)
    m, _ = integrate.quad(lambda s: s * post(s), 0, np.inf)
    mcmc = MCMC(
        DilationLangevin(model),
        num_warmup=300,
        num_samples=300,
        num_chains=64,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(jax.random.key(2), jnp.asarray(y))
    sigma = np.asarray(mcmc.get_samples(group_by_chain=True)["sigma"])
    assert np.all(sigma > 0)
    assert mcse_z(sigma, m / z) < 4.5


def test_logistic_regression_recovers_true_coefficients():
    true_coefs = jnp.array([1.0, -2.0, 0.5])
    x = jax.random.normal(jax.random.key(0), (2000, 3))
    logits = x @ true_coefs - 0.5
    y = jax.random.bernoulli(jax.random.key(1), jax.nn.sigmoid(logits)).astype(jnp.float32)

    def model(x, y):
        coefs = numpyro.sample("coefs", dist.Normal(0, 5).expand([3]).to_event(1))
        intercept = numpyro.sample("intercept", dist.Normal(0, 5))
        with numpyro.plate("n", x.shape[0]):
            numpyro.sample("y", dist.Bernoulli(logits=x @ coefs + intercept), obs=y)

    mcmc = MCMC(
        DilationLangevin(model, steps_per_draw=1),  # the bounds below were set for 1 (test time)
        num_warmup=200,
        num_samples=200,
        num_chains=16,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(jax.random.key(3), x, y)
    s = mcmc.get_samples()
    post_sd = np.asarray(s["coefs"]).std(0)
    # The truth lies within 4 posterior sds (posterior sd ~ 0.05 here).
    assert np.all(np.abs(np.asarray(s["coefs"]).mean(0) - true_coefs) < 4 * post_sd)
    assert abs(float(s["intercept"].mean()) + 0.5) < 4 * float(s["intercept"].std())


@pytest.mark.slow  # default suite time; `make test-all` runs it
def test_mixture_weights_when_modes_communicate():
    """1-D mixture 0.3 N(-1, 0.6^2) + 0.7 N(1, 0.6^2) (modes close enough for
    MALA at lambda = 1 to cross): pooled weight of the right mode within 0.05
    over 500 chains. Well-separated modes are *not* weighted correctly by
    annealing alone (DESIGN.md section 3) and are not claimed here."""
    w, mu, sd = jnp.array([0.3, 0.7]), jnp.array([-1.0, 1.0]), 0.6

    def potential(x):
        return -logsumexp(jnp.log(w) - 0.5 * ((x - mu) / sd) ** 2)

    mcmc = MCMC(
        DilationLangevin(potential_fn=potential),
        num_warmup=200,
        num_samples=200,
        num_chains=500,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(
        jax.random.key(4),
        init_params=jax.random.uniform(jax.random.key(5), (500,), minval=-2, maxval=2),
    )
    x = np.asarray(mcmc.get_samples())
    # Exact weight of x > 0 (not exactly 0.7: the components overlap).
    exact = 0.3 * stats.norm.sf(0, -1, 0.6) + 0.7 * stats.norm.sf(0, 1, 0.6)
    assert abs(np.mean(x > 0) - exact) < 0.05


def test_deterministic_site_and_constrained_draws():
    def model():
        x = numpyro.sample("x", dist.LogNormal(0.0, 0.5).expand([2]).to_event(1))
        numpyro.deterministic("total", x.sum())

    mcmc = MCMC(
        DilationLangevin(model),
        num_warmup=100,
        num_samples=50,
        num_chains=8,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(jax.random.key(0))
    s = mcmc.get_samples()
    assert np.all(s["x"] > 0)
    np.testing.assert_allclose(s["total"], s["x"].sum(-1), rtol=1e-6)


def test_enumerated_discrete_site():
    """z ~ Categorical, marginalized by enumeration as NUTS does; posterior of mu
    is a two-component Gaussian mixture with a closed-form mean."""
    y_obs, offsets, pz = 1.2, jnp.array([-2.0, 2.0]), jnp.array([0.4, 0.6])

    def model(y):
        mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
        z = numpyro.sample("z", dist.Categorical(pz), infer={"enumerate": "parallel"})
        numpyro.sample("y", dist.Normal(mu + offsets[z], 1.0), obs=y)

    # p(mu | y) = sum_k r_k N(mu; (y - o_k)/2, 1/2), r_k ∝ p_k N(y; o_k, sqrt 2)
    r = np.asarray(pz) * stats.norm.pdf(y_obs, np.asarray(offsets), np.sqrt(2))
    r /= r.sum()
    exact_mean = float(np.sum(r * (y_obs - np.asarray(offsets)) / 2))
    mcmc = MCMC(
        DilationLangevin(model, steps_per_draw=1),  # the bounds below were set for 1 (test time)
        num_warmup=200,
        num_samples=200,
        num_chains=64,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(jax.random.key(0), y_obs)
    mu = np.asarray(mcmc.get_samples(group_by_chain=True)["mu"])
    # The two components of p(mu|y) overlap (sd 0.71, 2 apart): MALA mixes.
    assert mcse_z(mu, exact_mean) < 4.5


# -- chain methods, continuation, fields --------------------------------------------------


def simple_model(y=None):
    m = numpyro.sample("m", dist.Normal(0.0, 2.0))
    s = numpyro.sample("s", dist.HalfNormal(1.0))
    with numpyro.plate("n", 5):
        numpyro.sample("y", dist.Normal(m, s), obs=y)


Y = jnp.array([0.5, 1.2, -0.3, 0.9, 1.4])


def test_chain_methods_give_the_same_draws(x64):
    """Same keys, same draws, whichever way the chains are run (float64, so that
    rounding differences between batched and unbatched code stay invisible).
    Global moves and the pooled preconditioner off: they need all chains at once
    (vectorized only); a fixed draw length of 3 transitions, since ``"auto"`` pools the
    chains' autocorrelation in a vectorized run. With the step size adapted, a vectorized
    run also caps each chain's draws' step at the chains' median
    (``step_size.cap_at_median``): its steps are exactly the capped steps of the chains run
    one at a time, and with a fixed step its draws are theirs."""

    def run(method, **kwargs):
        kernel = DilationLangevin(
            simple_model, global_moves=None, adapt_mass_matrix=False, steps_per_draw=3,
            **kwargs,
        )  # fmt: skip
        mcmc = MCMC(
            kernel,
            num_warmup=40,
            num_samples=20,
            num_chains=4,
            chain_method=method,
            progress_bar=False,
        )
        mcmc.run(jax.random.key(7), Y)
        return mcmc

    def same_draws(got, ref, label):
        for k in ref:
            np.testing.assert_allclose(got[k], ref[k], rtol=1e-8, atol=1e-10, err_msg=label)

    draws = lambda mcmc: mcmc.get_samples(group_by_chain=True)  # noqa: E731
    steps = lambda mcmc: np.asarray(mcmc.last_state.adapt_state.step_size)  # noqa: E731
    ref = run("sequential")
    same_draws(draws(run("parallel")), draws(ref), "parallel")
    assert jax.local_device_count() >= 4  # "parallel" really ran on 4 devices
    vectorized = run("vectorized")
    assert len(np.unique(steps(ref))) == 4  # the chains' own steps differ ...
    np.testing.assert_allclose(steps(vectorized), np.minimum(steps(ref), np.median(steps(ref))),
                               rtol=1e-12)  # fmt: skip
    capped = steps(vectorized) < steps(ref) * (1 - 1e-9)
    assert np.sum(capped) == 2  # ... and the two above the median are capped
    fixed = {"step_size": 0.3, "adapt_step_size": False}
    same_draws(draws(run("vectorized", **fixed)), draws(run("sequential", **fixed)), "vectorized")


def test_single_chain_and_init_params_with_potential_fn():
    mcmc = MCMC(
        DilationLangevin(potential_fn=lambda z: 0.5 * jnp.sum((z - 2.0) ** 2)),
        num_warmup=100,
        num_samples=500,
        num_chains=1,
        progress_bar=False,
    )
    mcmc.run(jax.random.key(0), init_params=jnp.zeros(3))
    x = np.asarray(mcmc.get_samples(group_by_chain=True))
    assert x.shape == (1, 500, 3)
    assert mcse_z(x[..., 0], 2.0) < 4.5


@pytest.mark.slow  # ~2.5 min of compilation; the default suite checks warmup() + run() ==
# run() in a new process (tests/test_resume.py::test_resume_one_chain_in_a_new_process)
def test_warmup_then_run_and_continuation_reproduce_one_long_run():
    def make():
        return MCMC(
            DilationLangevin(simple_model),
            num_warmup=50,
            num_samples=30,
            num_chains=3,
            chain_method="vectorized",
            progress_bar=False,
        )

    # warmup() + run(key) == run() with warm-up and sampling in one pass, same keys
    one = make()
    one.run(jax.random.key(0), Y)
    two = make()
    two.warmup(jax.random.key(0), Y)
    two.run(two.post_warmup_state.rng_key, Y)
    np.testing.assert_allclose(two.get_samples()["m"], one.get_samples()["m"], rtol=1e-5)

    # last_state continuation: 30 + 30 draws == 60 draws in one run
    long = MCMC(
        DilationLangevin(simple_model),
        num_warmup=50,
        num_samples=60,
        num_chains=3,
        chain_method="vectorized",
        progress_bar=False,
    )
    long.run(jax.random.key(0), Y)
    one.post_warmup_state = one.last_state
    one.run(one.post_warmup_state.rng_key, Y)
    second = one.get_samples(group_by_chain=True)["m"]
    np.testing.assert_allclose(
        second, long.get_samples(group_by_chain=True)["m"][:, 30:], rtol=1e-4, atol=1e-5
    )
    assert np.all(np.asarray(one.last_state.i) == 50 + 60)


@pytest.mark.slow  # the default suite's time budget (num_grad_evals is checked below too)
def test_extra_fields_record_the_annealing():
    kernel = DilationLangevin(simple_model, lambda_min=0.01)
    mcmc = MCMC(
        kernel,
        num_warmup=60,
        num_samples=20,
        num_chains=2,
        chain_method="vectorized",
        progress_bar=False,
    )
    fields = (
        "lam",
        "accept_prob",
        "adapt_state.step_size",
        "potential_energy",
        "diverging",
        "num_grad_evals",
        "num_steps",  # NUTS's name for the cost of an iteration: the same count here
    )
    mcmc.warmup(jax.random.key(0), Y, collect_warmup=True, extra_fields=fields)
    ef = mcmc.get_extra_fields(group_by_chain=True)
    assert ef["lam"].shape == (2, 60)
    np.testing.assert_allclose(ef["lam"][0, :30], linear_schedule(30, 0.01), rtol=1e-6)
    assert np.all(ef["lam"][:, 30:] == 1.0)
    # before iteration 45: 45 steps + 29 level changes + a 2-d Hessian at each of the 5
    # preconditioner updates (iterations 0, 7, 15, 22, 30) + the initialization and the
    # step-size searches (at least one proposal each: exact counts are
    # test_num_grad_evals_counts_every_gradient's); at 45 (halfway through the MALA
    # warm-up) the last update, the mode finding and the U-turn explorer; from then on
    # one MALA gradient + one global move per iteration
    grads = ef["num_grad_evals"]
    assert grads[0, :45].sum() >= 45 + 29 + 5 * 2 + 1 + 1 + 5
    assert np.all(grads[:, 45] > 2 + 2 + 2 * 199)
    assert np.all(grads[:, 46:] == 2)
    mcmc.run(jax.random.key(1), Y, extra_fields=fields)
    ef = mcmc.get_extra_fields(group_by_chain=True)
    assert np.all(ef["lam"] == 1.0)
    # sampling: per transition one MALA gradient + one global move, with the draw length
    # measured at the warm-up's end (1 or more transitions per draw: from 2 chains the
    # measurement is noisy, 1 in the default suite and 32 when this test runs alone, where
    # the draws differ in the last digits; not diagnosed further)
    per_draw = np.asarray(mcmc.last_state.adapt_state.steps_per_draw)[:, None]
    assert np.all(ef["num_grad_evals"] == 2 * per_draw)
    np.testing.assert_array_equal(ef["num_steps"], ef["num_grad_evals"])
    assert np.all(ef["adapt_state.step_size"] == ef["adapt_state.step_size"][:, :1])  # frozen
    assert np.all((ef["accept_prob"] >= 0) & (ef["accept_prob"] <= 1))
    assert ef["diverging"].dtype == bool


@pytest.mark.parametrize(
    "chain_method, center",
    [
        # slow: the default suite's time budget; the vectorized cases stay in it
        pytest.param("sequential", None, marks=pytest.mark.slow),
        ("vectorized", None),
        ("vectorized", Pilot(num_chains=2)),
    ],
)
def test_num_grad_evals_counts_every_gradient(chain_method, center):
    """The summed ``num_grad_evals`` (warm-up and sampling) equals the number of times
    the log-density is differentiated, counted by a callback inside it: the
    initialization, the step-size searches (vmapped, every chain pays for the longest),
    the level changes and the MALA steps. The preconditioner's Hessians (pooled over
    the population, or one chain's own when it runs alone) are counted as d gradients
    each but call the log-density once. With a pilot pass, its own preconditioner
    updates count the same way, and the restart counts the chains' initialization plus
    one log-density evaluation per chain at its box draw."""
    d, num_chains = 3, 4
    calls = [0]

    def count(x):  # one call per chain: vmapped callbacks may arrive batched
        calls[0] += int(np.asarray(x).size // d)

    def potential(z):
        jax.debug.callback(count, z["x"])
        return 0.5 * jnp.sum(z["x"] ** 2 / jnp.array([1.0, 100.0, 0.01]))

    kernel = DilationLangevin(potential_fn=potential, global_moves=None, center=center)
    mcmc = MCMC(
        kernel,
        num_warmup=100,
        num_samples=30,
        num_chains=num_chains,
        chain_method=chain_method,
        progress_bar=False,
    )
    init = {"x": jnp.ones((num_chains, d))}
    fields = ("num_grad_evals",)
    mcmc.warmup(jax.random.key(0), init_params=init, collect_warmup=True, extra_fields=fields)
    counted = int(np.asarray(mcmc.get_extra_fields()["num_grad_evals"]).sum())
    mcmc.run(jax.random.key(1), extra_fields=("num_grad_evals",))
    counted += int(np.asarray(mcmc.get_extra_fields()["num_grad_evals"]).sum())
    jax.effects_barrier()
    schedule = kernel.settings.mass_schedule
    num_updates = len(schedule)
    if center is not None:  # the pilot pass (49 of the 100 iterations) updates too
        assert num_updates == 6 and kernel.settings.config.num_adaptation_steps == 51
        num_updates += sum(t < 49 for t in schedule)
    else:
        assert num_updates == 6
    assert calls[0] == counted - num_updates * num_chains * (d - 1)
    assert counted > num_chains * (100 + 49 + 30)  # the searches cost something


def test_progress_bar_and_print_summary(capsys):
    mcmc = MCMC(
        DilationLangevin(simple_model),
        num_warmup=20,
        num_samples=10,
        num_chains=1,
        progress_bar=True,
    )
    mcmc.run(jax.random.key(0), Y)
    mcmc.print_summary()
    out = capsys.readouterr()
    assert "r_hat" in out.out and "Number of divergences" in out.out


def test_arviz_groups_names_and_plots():
    """More chains (40) than draws (10), this sampler's regime: ``inference_data.from_numpyro``
    converts without ArviZ's warnings and keeps every chain; ``chain_subset`` and
    ``pool_chains`` give the per-chain plots a few lines, from the same draws."""
    mcmc = MCMC(
        DilationLangevin(simple_model, global_moves=None, uturn=None),
        num_warmup=40,
        num_samples=10,
        num_chains=40,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(jax.random.key(0), Y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        idata = from_numpyro(mcmc)
    assert [str(w.message) for w in caught] == []
    assert set(idata.posterior.data_vars) == {"m", "s"}
    assert {"lp", "acceptance_rate", "step_size", "diverging"} <= set(idata.sample_stats.data_vars)
    assert dict(idata.posterior.sizes)["chain"] == 40 and dict(idata.posterior.sizes)["draw"] == 10
    m = idata.posterior["m"].values
    pooled = pool_chains(idata, num_groups=4)
    assert dict(pooled.posterior.sizes) == {"chain": 4, "draw": 100}
    np.testing.assert_array_equal(pooled.posterior["m"].values[1], m[10:20].reshape(-1))
    np.testing.assert_array_equal(pooled.log_likelihood["y"].values.shape[:2], (4, 100))
    subset = chain_subset(idata, num_chains=3, seed=1)
    chosen = [
        int(np.flatnonzero((m == row).all(axis=1))[0]) for row in subset.posterior["m"].values
    ]
    assert len(set(chosen)) == 3
    np.testing.assert_array_equal(
        subset.sample_stats["lp"].values, idata.sample_stats["lp"].values[chosen]
    )
    az.plot_trace(subset)
    plt.close("all")
    with pytest.raises(ValueError, match="`num_groups` must be >= 1 and divide"):
        pool_chains(idata, num_groups=3)
    assert "y" in idata.log_likelihood
    np.testing.assert_allclose(
        idata.sample_stats.lp.values,
        -np.asarray(mcmc.get_extra_fields(group_by_chain=True)["potential_energy"]),
        rtol=1e-6,
    )
    summary = az.summary(idata)
    assert list(summary.index) == ["m", "s"]
    az.plot_trace(idata)
    plt.close("all")


# -- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(), "Exactly one of `model` or `potential_fn`"),
        (dict(model=simple_model, potential_fn=lambda z: 0.0), "Exactly one"),
        (dict(model=simple_model, lambda_min=0.0), "lambda_min"),
        (dict(model=simple_model, lambda_min=1.0), "lambda_min"),
        (dict(model=simple_model, schedule=[0.1, 0.05, 1.0]), "strictly increasing"),
        (dict(model=simple_model, schedule=[0.1, 0.5, 0.9]), "end at 1"),
        (dict(model=simple_model, schedule="quadratic"), "schedule"),
        (dict(model=simple_model, step_size=0.0), "step_size"),
        (dict(model=simple_model, step_size=-1.0), "step_size"),
        (dict(model=simple_model, target_accept_prob=1.0), "target_accept_prob"),
        (dict(model=simple_model, target_accept_prob=0.0), "target_accept_prob"),
        (dict(model=simple_model, annealing_fraction=0.0), "annealing_fraction"),
        (dict(model=simple_model, num_annealing_steps=3), "num_annealing_steps"),
    ],
)
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DilationLangevin(**kwargs)


@pytest.mark.parametrize(
    "center, match",
    [
        ({"m": 0.0}, r"missing \['s'\]"),
        ({"m": 0.0, "s": 1.0, "t": 2.0}, r"unknown \['t'\]"),
        ({"m": jnp.zeros(3), "s": 1.0}, "center\\['m'\\]"),
        (jnp.zeros(5), "flat unconstrained vector"),
    ],
)
def test_center_must_match_the_model(center, match):
    mcmc = MCMC(
        DilationLangevin(simple_model, center=center),
        num_warmup=20,
        num_samples=5,
        progress_bar=False,
    )
    with pytest.raises(ValueError, match=match):
        mcmc.run(jax.random.key(0), Y)


def test_pilot_start_adapts_to_a_far_posterior_and_samples_it_exactly():
    """``start=Pilot()``: a Gaussian 40-50 units from the uniform(-2, 2) initial points
    with scales 0.1, 1 and 10. The box chains' starts (the first half: the pilot's widened
    box) surround the posterior mean and their spread follows each coordinate's scale (a
    pilot that did not adapt would leave them in [-2, 2]^3); the other half start at
    their initial points; then every mean and variance is within
    4.5 Monte Carlo standard errors."""
    mean = np.array([40.0, -30.0, 25.0])
    sd = np.array([0.1, 1.0, 10.0])

    def potential(x):
        return 0.5 * jnp.sum(((x - mean) / sd) ** 2)

    num_chains = 64
    init = jax.random.uniform(jax.random.key(0), (num_chains, 3), minval=-2.0, maxval=2.0)
    mcmc = MCMC(
        # one mode: global moves and U-turns off (shorter compilation; they do not enter
        # the pilot's box, and the default suite runs the pilot with them elsewhere)
        DilationLangevin(
            potential_fn=potential, start=Pilot(num_chains=32), global_moves=None, uturn=None
        ),
        num_warmup=200,
        num_samples=200,
        num_chains=num_chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(jax.random.key(2), init_params=init)
    centers = np.asarray(mcmc.last_state.center)  # each chain's center: its starting point
    np.testing.assert_array_equal(centers[32:], np.asarray(init)[32:])  # Pilot.keep = 0.5
    starts = centers[:32]
    assert np.all(starts.min(0) < mean) and np.all(starts.max(0) > mean)
    spread = starts.std(0) / sd
    assert np.all((spread > 0.5) & (spread < 5.0)), spread
    x = np.asarray(mcmc.get_samples(group_by_chain=True))
    for j in range(3):
        assert mcse_z(x[..., j], mean[j]) < 4.5
        assert mcse_z((x[..., j] - mean[j]) ** 2, sd[j] ** 2) < 4.5


def test_auto_start_runs_the_pilot_from_256_vectorized_chains():
    """``start="auto"`` (the default) is ``Pilot()`` in a vectorized run with at least
    ``AUTO_PILOT_MIN_CHAINS`` chains (the same restarts as ``start=Pilot()`` under the
    same key, around a posterior 36 units from the initial points) and ``None`` below
    (each chain keeps its initial point as its center). Global moves and U-turns are off to
    keep the compilation short; they do not enter the choice."""
    assert AUTO_PILOT_MIN_CHAINS == 256
    mean = np.array([30.0, -20.0])

    def starts(start, num_chains):
        kernel = DilationLangevin(
            potential_fn=lambda x: 0.5 * jnp.sum((x - mean) ** 2),
            start=start,
            global_moves=None,
            uturn=None,
        )
        init = jax.random.uniform(jax.random.key(0), (num_chains, 2), minval=-2, maxval=2)
        mcmc = MCMC(kernel, num_warmup=80, num_samples=1, num_chains=num_chains,
                    chain_method="vectorized", progress_bar=False)  # fmt: skip
        mcmc.warmup(jax.random.key(1), init_params=init)
        return np.asarray(init), np.asarray(mcmc.post_warmup_state.center)

    init, auto = starts("auto", 256)
    np.testing.assert_array_equal(auto, starts(Pilot(), 256)[1])
    box = auto[:128]  # Pilot.keep = 0.5: the last 128 chains restart at their initial points
    assert np.all(np.abs(box.mean(0) - mean) < 2.0) and np.all(box.std(0) < 3.0)
    np.testing.assert_array_equal(auto[128:], init[128:])
    init, auto = starts("auto", 255)
    np.testing.assert_array_equal(auto, init)


def test_the_pilot_pass_runs_in_the_runs_own_program():
    """With a pilot the warm-up of 60 iterations is a pilot pass of 29 and a run pass of 31,
    both on the schedule of a 31-iteration warm-up (the kernel's settings), in one compiled
    step: at the pilot pass's end the chains restart (iteration 0 again, ``pilot_end`` -1),
    the first half in the box of the first 4 chains, the other half at their initial
    points, each its own center; then the run pass samples the posterior."""
    mean = np.array([10.0, -10.0])
    kernel = DilationLangevin(potential_fn=lambda x: 0.5 * jnp.sum((x - mean) ** 2),
                              start=Pilot(num_chains=4), uturn=None)  # fmt: skip
    init = jax.random.normal(jax.random.key(0), (8, 2))
    state = kernel.init(jax.random.split(jax.random.key(1), 8), 60, init)
    assert kernel.settings.config.num_adaptation_steps == 31
    np.testing.assert_array_equal(state.pilot_end, np.full(8, 29))
    step = jax.jit(lambda s: kernel.sample(s, (), {}))
    for _ in range(29):
        state = step(state)
    assert int(state.i[0]) == 29 and int(state.pilot_end[0]) == 29
    pilot_z = np.asarray(state.z[:4])  # the box's particles
    state = step(state)
    assert int(state.i[0]) == 1 and np.all(np.asarray(state.pilot_end) == -1)
    centers = np.asarray(state.center)
    np.testing.assert_array_equal(centers[4:], np.asarray(init)[4:])  # keep = 0.5
    width = pilot_z.max(0) - pilot_z.min(0)
    assert np.all(centers[:4] >= pilot_z.min(0) - 0.25 * width)
    assert np.all(centers[:4] <= pilot_z.max(0) + 0.25 * width)
    for _ in range(40):
        state = step(state)
    assert int(state.i[0]) == 41 and np.all(np.abs(np.asarray(state.z).mean(0) - mean) < 1.0)
    assert step._cache_size() == 1  # both passes and the restart: one program


def test_pilot_split_and_a_warm_up_too_short_for_it():
    """``pilot_split(W)`` = (ceil(W/2) - 1, floor(W/2) + 1); ``start=Pilot()`` on a warm-up
    whose first half cannot finish the annealing and the mode finding runs without it and
    says so; ``start="auto"`` drops it silently."""
    from numpyro_dilation.run_plan import KernelOptions, plan_start
    from numpyro_dilation.starts import pilot_split

    assert pilot_split(300) == (149, 151) and pilot_split(301) == (150, 151)
    assert plan_start(KernelOptions(), 300, True, True, 256) == (Pilot(), 151)
    with pytest.warns(UserWarning, match="too short for `start=Pilot"):
        assert plan_start(KernelOptions(start=Pilot()), 24, True, True, 8) == (None, 24)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert plan_start(KernelOptions(), 24, True, True, 256) == (None, 24)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"center": "middle"}, "`center` as a string must be None or a point"),
        ({"start": "middle"}, "`start` must be 'auto', 'pilot', a Pilot or None"),
        ({"start": 3}, "`start` must be 'auto', 'pilot', a Pilot or None"),
        ({"start": Pilot(num_chains=1)}, r"`Pilot.num_chains` must be an integer >= 2"),
        ({"start": Pilot(widen=-1.0)}, r"`Pilot.widen` must be >= 0"),
        ({"start": Pilot(keep=1.0)}, r"`Pilot.keep` must be in \[0, 1\)"),
        (
            {"start": "pilot", "center": {"m": 0.0, "s": 1.0}},
            "`start=Pilot\\(...\\)` gives each chain its own center",
        ),
        ({"center": Pilot(), "start": None}, "as `start=Pilot\\(...\\)` only"),
    ],
)
def test_bad_center_or_start_is_rejected_at_construction(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DilationLangevin(simple_model, **kwargs)


def test_pilot_start_needs_vectorized_chains():
    """A pilot needs all chains at once: one chain is rejected before any sampling."""
    mcmc = MCMC(
        DilationLangevin(simple_model, start=Pilot()),
        num_warmup=20,
        num_samples=5,
        progress_bar=False,
    )
    with pytest.raises(ValueError, match="`start=Pilot.*needs all chains at once"):
        mcmc.run(jax.random.key(0), Y)


def test_pilot_given_as_center_is_read_as_start_with_a_future_warning():
    """``center=Pilot()`` (the pilot start's former home) still works: it becomes
    ``start=Pilot()`` with per-chain centers, and says so once."""
    with pytest.warns(FutureWarning, match="is now `start=Pilot"):
        kernel = DilationLangevin(simple_model, center=Pilot(num_chains=8))
    assert kernel._options.start == Pilot(num_chains=8) and kernel._options.center is None
    with pytest.warns(FutureWarning):
        assert DilationLangevin(simple_model, center="pilot")._options.start == Pilot()
    assert DilationLangevin(simple_model, center="auto")._options.center is None


def test_center_for_potential_fn_must_match_init_params():
    kernel = DilationLangevin(
        potential_fn=lambda z: jnp.sum(z["a"] ** 2), center={"a": jnp.zeros(3)}
    )
    mcmc = MCMC(kernel, num_warmup=20, num_samples=5, progress_bar=False)
    with pytest.raises(ValueError, match="center"):
        mcmc.run(jax.random.key(0), init_params={"a": jnp.zeros(2)})


@pytest.mark.slow  # default suite time; `make test-all` runs it
def test_valid_centers_are_used():
    kernel = DilationLangevin(simple_model, center={"m": 1.0, "s": 2.0})
    mcmc = MCMC(
        kernel,
        num_warmup=20,
        num_samples=5,
        num_chains=2,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(jax.random.key(0), Y)
    c = mcmc.last_state.center
    np.testing.assert_allclose(c["m"], 1.0)
    np.testing.assert_allclose(c["s"], np.log(2.0), rtol=1e-6)  # unconstrained


def test_num_warmup_too_small_and_missing_init_params():
    """A warm-up too short to anneal runs at lambda = 1 with a warning (NumPyro's own tests
    use num_warmup=10, continuations num_warmup=0); explicit annealing lengths that do
    not fit stay an error."""
    with pytest.raises(ValueError, match="num_warmup"):
        MCMC(
            DilationLangevin(simple_model, schedule=np.linspace(0.1, 1, 50)),
            num_warmup=20,
            num_samples=5,
            progress_bar=False,
        ).run(jax.random.key(0), Y)
    with pytest.raises(ValueError, match="init_params"):
        MCMC(
            DilationLangevin(potential_fn=lambda z: jnp.sum(z**2)),
            num_warmup=20,
            num_samples=5,
            progress_bar=False,
        ).run(jax.random.key(0))


@pytest.mark.parametrize("num_warmup", [0, 10])
def test_a_warm_up_too_short_to_anneal_samples_at_lambda_one(num_warmup):
    """num_warmup below 19: one warning, no annealing, and the draws are exact:
    N(1, 2^2) from 32 chains x 400 draws, mean and sd within 4.5 MCSE."""

    def normal():
        numpyro.sample("x", dist.Normal(1.0, 2.0))

    mcmc = MCMC(
        DilationLangevin(normal),
        num_warmup=num_warmup,
        num_samples=400,
        num_chains=32,
        chain_method="vectorized",
        progress_bar=False,
    )
    with pytest.warns(UserWarning, match="too short to anneal"):
        mcmc.run(jax.random.key(0))
    assert np.all(np.asarray(mcmc.last_state.lam) == 1.0)
    assert mcmc.last_state.mixture is None  # no global moves without annealing
    x = np.asarray(mcmc.get_samples(group_by_chain=True)["x"])
    assert mcse_z(x, 1.0) < 4.5
    assert mcse_z((x - 1.0) ** 2, 4.0) < 4.5


def test_a_model_without_latent_sites_runs():
    """NumPyro's test_mcmc 'empty model': nothing to sample, no preconditioner to estimate."""

    def observed_only(data):
        numpyro.sample("obs", dist.Normal(0.0, 1.0), obs=data)

    mcmc = MCMC(
        DilationLangevin(observed_only),
        num_warmup=40,
        num_samples=10,
        num_chains=2,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(jax.random.key(0), 1.0)
    assert mcmc.get_samples() == {}


@pytest.mark.slow  # about a minute: compiling an enumerated model with global moves
def test_mode_summary_on_a_model_with_enumerated_sites():
    """Label switching in a two-component mixture with enumerated assignments: the two
    mirror modes are listed, visited about equally (exact share 1/2 by symmetry)."""
    from numpyro_dilation import mode_summary

    def gmm(y):
        w = numpyro.sample("w", dist.Dirichlet(jnp.ones(2)))
        locs = numpyro.sample("locs", dist.Normal(0.0, 5.0).expand([2]).to_event(1))
        with numpyro.plate("data", y.shape[0]):
            z = numpyro.sample("z", dist.Categorical(w), infer={"enumerate": "parallel"})
            numpyro.sample("obs", dist.Normal(locs[z], 1.0), obs=y)

    y = jnp.concatenate([jnp.full(20, -2.0), jnp.full(20, 2.0)])
    mcmc = MCMC(
        DilationLangevin(gmm),
        num_warmup=60,
        num_samples=40,
        num_chains=8,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(jax.random.key(0), y)
    table = mode_summary(mcmc)
    assert len(table) == 2
    np.testing.assert_allclose(table["draw_share"].sum(), 1.0)
    assert np.all(np.abs(table["draw_share"] - 0.5) < 0.25), table["draw_share"]


def test_hyperparameters_may_be_traced():
    """``step_size`` and ``target_accept_prob`` traced by an outer ``jit`` (as NumPyro's
    kernels allow): validation does not concretize them, and the draws equal the run with
    the same concrete values."""

    def normal():
        numpyro.sample("x", dist.Normal(0.0, 1.0))

    def draws(step_size, target):
        # no preconditioner: its curvature-based updates would amplify rounding differences
        kernel = DilationLangevin(
            normal, step_size=step_size, target_accept_prob=target, adapt_mass_matrix=False
        )
        mcmc = MCMC(kernel, num_warmup=40, num_samples=50, progress_bar=False)
        mcmc.run(jax.random.key(0))
        return mcmc.get_samples()["x"]

    traced = jax.jit(draws)(0.5, 0.6)
    # the same trajectory up to float rounding (the outer jit fuses differently)
    np.testing.assert_allclose(traced, draws(0.5, 0.6), atol=0.02)
    with pytest.raises(ValueError, match="float scalar"):
        jax.jit(draws)(jnp.ones(2), 0.6)


def test_forward_mode_differentiation_samples_a_while_loop_model():
    """NumPyro's ``test_forward_mode_differentiation`` kind of model: the mean of the
    observation is built in a ``lax.while_loop`` (3 x, added up one term at a time), which
    reverse mode cannot differentiate. Without the flag the kernel fails when it is set up;
    with it, the posterior N(0.45, 0.1) (prior N(0, 1), one observation 1.5 of N(3 x, 1))
    has its mean and variance within 4.5 MCSE."""

    def model():
        x = numpyro.sample("x", dist.Normal(0.0, 1.0))
        three_x, _ = lax.while_loop(lambda c: c[1] < 3, lambda c: (c[0] + x, c[1] + 1), (0.0, 0))
        numpyro.sample("obs", dist.Normal(three_x, 1.0), obs=1.5)

    def mcmc(kernel):
        return MCMC(kernel, num_warmup=100, num_samples=200, num_chains=32,
                    chain_method="vectorized", progress_bar=False)  # fmt: skip

    with pytest.raises(ValueError, match="while_loop"):
        mcmc(DilationLangevin(model)).run(random.key(0))
    # the curvature preconditioner's Hessians go through the custom JVP too; global moves off
    # to keep the compile short (their mode finding uses the same gradients and Hessians)
    kernel = DilationLangevin(
        model, forward_mode_differentiation=True, global_moves=None, uturn=None
    )
    run = mcmc(kernel)
    run.run(random.key(0))
    x = np.asarray(run.get_samples(group_by_chain=True)["x"])
    assert mcse_z(x, 0.45) < 4.5
    assert mcse_z((x - 0.45) ** 2, 0.1) < 4.5


def test_restart_replaces_box_draws_with_a_non_finite_gradient():
    """The pilot box's draws must be usable starts: finite log-density *and* gradient. Here
    the log-density is finite everywhere but its gradient is NaN where x0 < 0; the pilot's
    particles have x0 in [0.1, 1], so the box widened by 25% reaches x0 = -0.125 and about
    10% of its draws fall there. Those are replaced by particles: every restarted chain
    has a finite gradient (a chain started where it is NaN never moves: measured on the
    stochastic-volatility model, BENCHMARKS.md)."""
    from numpyro_dilation.population import init
    from numpyro_dilation.population_settings import make_settings
    from numpyro_dilation.starts import bounding_box, restart_in_box

    @jax.custom_jvp
    def kink(x0):
        return 0.0 * x0

    @kink.defjvp
    def _kink_jvp(primals, tangents):
        (x0,), (t,) = primals, tangents
        return kink(x0), jnp.where(x0 < 0, jnp.nan, 0.0) * t

    logdensity = lambda x: -0.5 * jnp.sum(x**2) + kink(x[0])  # noqa: E731
    settings = make_settings(40, 2)
    keys = jax.random.split(jax.random.key(0), 256)
    state = init(jnp.ones((256, 2)), logdensity, keys, settings)
    x0 = jnp.linspace(0.1, 1.0, 256)
    pilot_state = state._replace(z=jnp.stack([x0, jnp.zeros(256)], axis=1))
    pilot = Pilot(num_chains=256)
    lower, _ = bounding_box(pilot_state.z, pilot.widen)
    assert float(lower[0]) < -0.1  # the box reaches where the gradient is NaN
    new = restart_in_box(pilot_state, logdensity, settings, pilot)
    boxed = np.asarray(new.z[:128])
    assert np.all(boxed[:, 0] > 0)
    grads = jax.vmap(jax.grad(logdensity))(new.z)
    assert np.all(np.isfinite(np.asarray(grads)))
