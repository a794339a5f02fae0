"""DilationLangevin against the posteriordb reference draws (benchmarks/reference.py).

Default suite (fast): eight schools at a small budget, written centered as in
NumPyro's README (``reparam="auto"`` samples it non-centered). Every
parameter's mean and sd must agree with the posteriordb reference within ``Z_MAX``
Monte Carlo standard errors (ArviZ ESS of our draws and of the reference's),
and a negative control shows that the same check fails on a sampler fed a
wrong posterior: a missing log-Jacobian of tau's exp transform (``slow``: the
posteriordb form itself, and a sign error in the likelihood). eight_schools is the
cheap posterior on which a Jacobian matters most (tau has much mass near 0).

``slow``: all five posteriors at the ``full`` preset of benchmarks/reference.py
against the goal of issue 4 (|z| < 4, sd within 10 %, R-hat < 1.01, ESS per
gradient >= 0.25x NUTS), NUTS against the same accuracy goal (a positive
control of the harness), and the pooled mode weights of the unordered mixture
within 0.05 of 0.5.

Tests skip when the shared posteriordb files are absent.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest

from benchmarks import reference as ref
from benchmarks.posteriordb import (
    POSTERIORS,
    eight_schools_noncentered,
    get_spec,
    load_reference_draws,
    loader,
    model_kwargs,
)

EIGHT_SCHOOLS = "eight_schools-eight_schools_noncentered"
Z_MAX = 4.0
MIN_ESS = 100.0
FAST = ref.RunConfig(num_chains=64, num_warmup=400, num_samples=100)  # draws of k steps


@pytest.fixture(scope="module", autouse=True)
def _need_posteriordb():
    if not loader.available():
        pytest.skip(
            "posteriordb reference files not found (expected <repo>/../shared/posteriordb "
            f"or ${loader.ENV_VAR})"
        )


def dilation_draws(model, kwargs: dict, config: ref.RunConfig, sites, seed: int = 0):
    """``DilationLangevin(model)`` (defaults), vectorized; ``{site: (chains, draws, ...)}``."""
    return ref.run_dilation(model, kwargs, jax.random.key(seed), config, tuple(sites)).draws


def mismatches(rows: list[ref.ParamStats]) -> list[str]:
    """Parameters whose mean or sd is off by more than ``Z_MAX`` MCSEs, or whose
    ESS is too small for the comparison to have power (non-finite counts as off)."""
    bad = []
    for r in rows:
        if not (abs(r.z) < Z_MAX and abs(r.z_sd) < Z_MAX and r.ess_bulk > MIN_ESS):
            bad.append(
                f"{r.parameter}: mean {r.mean:.4g} vs {r.ref_mean:.4g} (z {r.z:.1f}), "
                f"sd {r.sd:.4g} vs {r.ref_sd:.4g} (z {r.z_sd:.1f}), ESS {r.ess_bulk:.0f}"
            )
    return bad


def _eight_schools_rows(model) -> list[ref.ParamStats]:
    spec = get_spec(EIGHT_SCHOOLS)
    draws = dilation_draws(model, model_kwargs(EIGHT_SCHOOLS), FAST, spec.reference_names)
    return ref.compare(draws, load_reference_draws(EIGHT_SCHOOLS))


@pytest.mark.slow  # the centered test below samples the same posterior in the default suite
def test_eight_schools_matches_reference():
    """Small budget, still a real test: means and sds within 4 MCSEs of the reference."""
    bad = mismatches(_eight_schools_rows(get_spec(EIGHT_SCHOOLS).model))
    assert not bad, "DilationLangevin disagrees with the reference:\n" + "\n".join(bad)


def eight_schools_centered(sigma, y=None):
    """NumPyro's README form (theta ~ N(mu, tau): a funnel), with ``theta_trans`` exposed
    as a deterministic site so that every reference parameter is compared."""
    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
    with numpyro.plate("J", sigma.shape[0]):
        theta = numpyro.sample("theta", dist.Normal(mu, tau))
        numpyro.deterministic("theta_trans", (theta - mu) / tau)
        numpyro.sample("y", dist.Normal(theta, sigma), obs=y)


def test_centered_eight_schools_matches_reference():
    """The centered model with default settings: ``reparam="auto"`` samples theta
    non-centered (same posterior), and every parameter matches the non-centered reference
    within 4 MCSEs. As written (``reparam=None``) the chains stick in the funnel
    (test_centered_eight_schools_as_written_fails_the_check).

    The same run is a usable result by the usual bar at the user guide's 64 chains ("How
    many chains"): max split R-hat <= 1.01 and min bulk ESS >= 400 over every parameter
    (NUTS 4 x (1000 + 2000) does not reach it on this model:
    ``python -m benchmarks.time_to_result``)."""
    spec = get_spec(EIGHT_SCHOOLS)
    draws = dilation_draws(
        eight_schools_centered, model_kwargs(EIGHT_SCHOOLS), FAST, spec.reference_names
    )
    rows = ref.compare(draws, load_reference_draws(EIGHT_SCHOOLS))
    bad = mismatches(rows)
    assert not bad, "DilationLangevin disagrees with the reference:\n" + "\n".join(bad)
    worst = max(rows, key=lambda r: r.rhat)
    least = min(rows, key=lambda r: r.ess_bulk)
    assert worst.rhat <= 1.01, f"{worst.parameter}: R-hat {worst.rhat:.4f}"
    assert least.ess_bulk >= 400, f"{least.parameter}: bulk ESS {least.ess_bulk:.0f}"


@pytest.mark.slow
def test_centered_eight_schools_as_written_fails_the_check():
    """Negative control of the test above: without the reparameterization the same check
    fails (measured: mu 0.5 sd off, R-hat 3.5 on tau at 256 x (300 + 100)). Since the
    draws' steps are capped at the chains' median (``step_size.cap_at_median``) the means
    and sds at 64 x (400 + 100) land within 4 MCSEs, and the check's R-hat fails it instead
    (1.066 on theta[1]: the chains have not mixed in the funnel)."""
    spec = get_spec(EIGHT_SCHOOLS)
    run = ref.run_dilation(
        eight_schools_centered,
        model_kwargs(EIGHT_SCHOOLS),
        jax.random.key(0),
        FAST,
        tuple(spec.reference_names),
        reparam=None,
    )
    rows = ref.compare(run.draws, load_reference_draws(EIGHT_SCHOOLS))
    assert mismatches(rows) or max(r.rhat for r in rows) > 1.01


def eight_schools_wrong_sign(sigma, y=None):
    """Negative control: y ~ N(-theta, sigma), a sign error in the likelihood's mean."""
    eight_schools_noncentered(sigma, None if y is None else -y)


def eight_schools_without_jacobian(sigma, y=None):
    """Negative control: the posterior without the log-Jacobian of tau = exp(u).

    NumPyro adds log|d tau / d u| = log tau to the unconstrained log-density;
    the factor cancels it, so u = log tau gets the density p(exp(u) | y),
    which does not decay as u -> -inf (tau piles up at 0).
    """
    trace = numpyro.handlers.trace(eight_schools_noncentered).get_trace(sigma, y)
    tau = trace["tau"]["value"]
    numpyro.factor("minus_log_jacobian", -jnp.log(tau))


@pytest.mark.parametrize(
    "mutant",
    [
        # The sign error moves every mean by several sds: obviously detected, so it
        # runs with the slow tests; the subtler missing Jacobian runs by default.
        pytest.param(eight_schools_wrong_sign, marks=pytest.mark.slow),
        eight_schools_without_jacobian,
    ],
)
def test_check_fails_on_a_wrong_posterior(mutant):
    """The check of test_eight_schools_matches_reference rejects a wrong posterior."""
    rows = _eight_schools_rows(mutant)
    assert mismatches(rows), f"{mutant.__name__} was not detected:\n" + _describe(rows)


def test_mutant_without_jacobian_differs_only_by_the_jacobian():
    """The negative control is what it says: its unconstrained log-density is the
    true one minus log tau (at a few random points)."""
    from numpyro.infer.util import initialize_model

    kwargs = model_kwargs(EIGHT_SCHOOLS)
    key = jax.random.key(0)
    true_pe = jax.jit(initialize_model(key, eight_schools_noncentered, model_kwargs=kwargs)[1])
    mutant_pe = jax.jit(
        initialize_model(key, eight_schools_without_jacobian, model_kwargs=kwargs)[1]
    )
    for k in jax.random.split(key, 3):
        z = {
            "theta_trans": jax.random.normal(k, (8,)),
            "mu": jax.random.normal(jax.random.fold_in(k, 1), ()) * 5,
            "tau": jax.random.normal(jax.random.fold_in(k, 2), ()),
        }
        np.testing.assert_allclose(mutant_pe(z) - true_pe(z), z["tau"], rtol=1e-5, atol=1e-4)


# ------------------------------------------------------------------ slow: the goal


@functools.cache
def _validated(name: str) -> ref.PosteriorResult:
    return ref.validate_posterior(name, ref.PRESETS["full"], seed=0)


@functools.cache
def _label_switching() -> dict:
    return ref.label_switching(ref.PRESETS["full"], seed=0)


def _describe(rows: list[ref.ParamStats]) -> str:
    return "\n".join(
        f"{r.parameter}: z {r.z:.2f}, sd ratio {r.sd_ratio:.3f}, R-hat {r.rhat:.3f}, "
        f"ESS {r.ess_bulk:.0f}, ESS/grad vs NUTS {r.rel_ess_per_grad}"
        for r in rows
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", list(POSTERIORS))
def test_dilation_meets_the_accuracy_goal(name):
    """Every mean within 4 MCSEs, every sd within 10 %, every R-hat < 1.01."""
    res = _validated(name)
    goal = res.goal["DilationLangevin"]
    assert goal.accuracy_ok, _describe(res.stats["DilationLangevin"])


@pytest.mark.slow
@pytest.mark.parametrize("name", list(POSTERIORS))
def test_dilation_efficiency_vs_nuts(name):
    """Bulk ESS per gradient evaluation (warm-up included) at least 0.25x NUTS's."""
    res = _validated(name)
    goal = res.goal["DilationLangevin"]
    assert goal.efficiency_ok, _describe(res.stats["DilationLangevin"])


@pytest.mark.slow
@pytest.mark.parametrize("name", list(POSTERIORS))
def test_nuts_control_meets_the_accuracy_goal(name):
    """Positive control of the harness: NUTS (4 chains x 1000) meets the same goal."""
    res = _validated(name)
    assert res.goal["NUTS"].accuracy_ok, _describe(res.stats["NUTS"])


@pytest.mark.slow
def test_unordered_mixture_weights():
    """Pooled weight of the mode mu[1] < mu[2] within 0.05 of 0.5, and the
    relabelled draws match the reference."""
    out = _label_switching()["runs"]["DilationLangevin"]
    w = out["mode_weight"]
    assert abs(w["weight"] - 0.5) < ref.WEIGHT_TOL, w
    goal = out["relabelled_goal"]
    assert goal["means_ok"] and goal["sds_ok"], goal


def test_relabel_maps_the_mirror_mode_onto_the_ordered_one():
    """Unit check of the label-switching bookkeeping (no sampling)."""
    draws = {
        "mu": np.array([[[-2.7, 2.9], [2.9, -2.7]]]),
        "sigma": np.array([[[1.0, 1.1], [1.1, 1.0]]]),
        "theta": np.array([[0.62, 0.38]]),
    }
    np.testing.assert_array_equal(ref.mode_indicator(draws), [[1.0, 0.0]])
    out = ref.relabel(draws)
    np.testing.assert_allclose(out["mu"][0, 1], [-2.7, 2.9])
    np.testing.assert_allclose(out["sigma"][0, 1], [1.0, 1.1])
    np.testing.assert_allclose(out["theta"][0, 1], 0.62)
    assert ref.mode_weight(draws)["weight"] == 0.5


def test_flatten_parameters_uses_posteriordb_names():
    draws = {"beta": np.zeros((2, 3, 2)), "sigma": np.zeros((2, 3)), "a": np.zeros((2, 3, 2, 2))}
    names = list(ref.flatten_parameters(draws))
    assert names == ["beta[1]", "beta[2]", "sigma", "a[1,1]", "a[1,2]", "a[2,1]", "a[2,2]"]
    zero = ref.flatten_parameters(draws, base=0)  # the NumPyro examples' 0-based names
    assert list(zero) == ["beta[0]", "beta[1]", "sigma", "a[0,0]", "a[0,1]", "a[1,0]", "a[1,1]"]


def test_z_score_uses_both_monte_carlo_errors():
    """compare() on synthetic draws: z = (mean - ref mean) / sqrt(MCSE^2 + MCSE_ref^2)."""
    rng = np.random.default_rng(0)
    reference = {"x": rng.normal(size=(10, 1000))}
    draws = {"x": rng.normal(0.1, 1.0, size=(4, 2500))}
    (row,) = ref.compare(draws, reference, grads=1000)
    expected = (draws["x"].mean() - reference["x"].mean()) / np.hypot(
        ref.mcse_mean(draws["x"]), ref.mcse_mean(reference["x"])
    )
    assert row.z == pytest.approx(expected)
    assert row.z > 3  # a 0.1 shift is ~5 MCSEs with 10000 draws on each side
    assert row.ess_per_grad == pytest.approx(row.ess_bulk / 1000)
    assert row.sd_ratio == pytest.approx(draws["x"].std() / reference["x"].std())

