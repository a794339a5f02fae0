"""Tests of the multimodal benchmark suite (``benchmarks/``).

- metrics against exact values (TV of known vectors, energy distance of identical
  samples and of shifted Gaussians against the closed form, mean/cov errors);
- the targets' exact samplers against their exact moments and mode weights, and
  their log-densities against independent formulas and quadrature;
- a smoke test: the ``tiny`` preset end to end on ring8 (JSON, figures, report);
  it checks structure and the equal-budget bookkeeping, not sampler quality
  (the throughput/scaling part has its own smoke test, marked slow).

Statistical checks use fixed seeds and z-scores from the Monte Carlo standard
error (|z| < 4.5 per coordinate).
"""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, special, stats

from benchmarks import metrics
from benchmarks.targets import get_target

Z = 4.5


# --------------------------------------------------------------------------- metrics


def test_total_variation_of_known_vectors():
    assert metrics.total_variation([0.5, 0.5], [1.0, 0.0]) == pytest.approx(0.5)
    assert metrics.total_variation([0.2, 0.3, 0.5], [0.5, 0.3, 0.2]) == pytest.approx(0.3)
    assert metrics.total_variation([1.0, 0.0], [0.0, 1.0]) == pytest.approx(1.0)
    assert metrics.total_variation([0.25] * 4, [0.25] * 4) == 0.0
    with pytest.raises(ValueError):
        metrics.total_variation([0.5, 0.5], [1.0])


def test_mode_weights_and_tv_from_labels():
    labels = np.array([0, 0, 1, 2, 2, 2])
    np.testing.assert_allclose(metrics.mode_weights(labels, 4), [2 / 6, 1 / 6, 3 / 6, 0.0])
    # |1/3-1/4| + |1/6-1/4| + |1/2-1/4| + |0-1/4| = 1/12 + 1/12 + 1/4 + 1/4 = 2/3
    assert metrics.mode_weight_tv(labels, np.full(4, 0.25)) == pytest.approx(1 / 3)


def test_mode_indicator_rhat_of_mixed_and_stuck_chains():
    """Independent labels: R-hat within 0.01 of 1 (64 chains x 500 draws; measured over 30
    seeds its sd is 0.0003). Every chain stuck in one mode: infinite. Half
    the chains with a mode share 0.9, half 0.5: far above 1.01."""
    rng = np.random.default_rng(0)
    weights = np.array([0.3, 0.7])
    mixed = rng.choice(2, size=(64, 500), p=weights)
    assert abs(metrics.mode_indicator_rhat(mixed, weights) - 1.0) < 0.01
    stuck = np.repeat(rng.choice(2, size=(64, 1), p=weights), 500, axis=1)
    assert metrics.mode_indicator_rhat(stuck, weights) == math.inf
    biased = np.concatenate([rng.random((32, 500)) < 0.9, rng.random((32, 500)) < 0.5])
    assert metrics.mode_indicator_rhat(biased.astype(int), weights) > 1.05
    with pytest.raises(ValueError, match="chains"):
        metrics.mode_indicator_rhat(mixed[:1], weights)


def test_energy_distance_of_identical_samples_is_zero():
    x = np.random.default_rng(0).normal(size=(700, 3))
    assert metrics.energy_distance(x, x) == pytest.approx(0.0, abs=1e-9)
    y = x + 0.5
    assert metrics.energy_distance(x, y) == pytest.approx(metrics.energy_distance(y, x))
    assert metrics.energy_distance(x, y) > 0.05


def _mean_norm_1d(mu, s):
    """E|Z| for Z ~ N(mu, s^2) (folded normal)."""
    return s * math.sqrt(2 / math.pi) * math.exp(-(mu**2) / (2 * s**2)) + mu * (
        1 - 2 * stats.norm.cdf(-mu / s)
    )


def _mean_norm_3d(mu, s):
    """E||Z|| for Z ~ N(mu, s^2 I_3), |mu| = mu > 0 (noncentral chi, 3 degrees of freedom)."""
    a = mu / s
    return s * (
        math.sqrt(2 / math.pi) * math.exp(-(a**2) / 2) + (a + 1 / a) * special.erf(a / 2**0.5)
    )


@pytest.mark.parametrize("dim, shift", [(1, 1.0), (1, 3.0), (3, 1.5)])
def test_energy_distance_of_shifted_gaussians_matches_closed_form(dim, shift):
    # X ~ N(0, I), Y ~ N(shift e_1, I): E = 2 E||N(shift e1, 2I)|| - 2 E||N(0, 2I)||.
    mean_norm = _mean_norm_1d if dim == 1 else _mean_norm_3d
    exact = 2 * mean_norm(shift, 2**0.5) - 2 * (
        2 / math.sqrt(math.pi) if dim == 1 else 2 * math.sqrt(2) * math.sqrt(2 / math.pi)
    )
    rng = np.random.default_rng(1)
    n = 2000
    values = []
    for _ in range(6):
        x = rng.normal(size=(n, dim))
        y = rng.normal(size=(n, dim))
        y[:, 0] += shift
        values.append(metrics.energy_distance(x, y))
    values = np.array(values)
    # Monte Carlo error from the spread of the 6 replicates (plus the O(1/n) V-statistic bias).
    se = values.std(ddof=1) / np.sqrt(len(values))
    bias = 4.0 * math.sqrt(dim) / n
    assert abs(values.mean() - exact) < Z * se + bias, (values.mean(), exact, se)


def test_mean_and_cov_error_of_known_sample():
    x = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    # sample covariance (ddof 1) = diag(2/3, 2/3); against I: ||diag(-1/3,-1/3)||_F / sqrt(2) = 1/3
    assert metrics.cov_error(x, np.eye(2)) == pytest.approx(1 / 3)
    assert metrics.mean_error(x, np.zeros(2), np.eye(2)) == pytest.approx(0.0)
    assert metrics.mean_error(x, np.array([1.0, 0.0]), np.eye(2)) == pytest.approx(2**-0.5)


# --------------------------------------------------------------------------- targets

SYNTHETIC = ["ring8", "gmm40", "two_mode_10", "two_mode_50", "funnel_10", "many_well_32",
             "mixture_k5"]


def _z_mean(x, mean):
    return np.abs(x.mean(0) - mean) / (x.std(0, ddof=1) / np.sqrt(len(x)))


@pytest.mark.parametrize("name", SYNTHETIC)
def test_exact_sampler_matches_exact_moments(name):
    target = get_target(name)
    x = target.sample_fn(np.random.default_rng(2), 40_000)
    assert x.shape == (40_000, target.dim)
    assert np.max(_z_mean(x, target.mean)) < Z
    if name.startswith("funnel"):
        # heavy-tailed x_i: check v ~ N(0, 9) and x_i exp(-v/2) ~ N(0, 1) instead
        v, u = x[:, 0], x[:, 1:] * np.exp(-0.5 * x[:, :1])
        sq = np.concatenate([(v**2 / 9.0)[:, None], u**2], axis=1)
        target_var = np.ones(target.dim)
    else:
        sq = (x - target.mean) ** 2
        target_var = np.diag(target.cov)
    z_var = np.abs(sq.mean(0) - target_var) / (sq.std(0, ddof=1) / np.sqrt(len(x)))
    assert np.max(z_var) < Z


@pytest.mark.parametrize("name", ["ring8", "two_mode_10", "two_mode_50", "gmm40"])
def test_exact_sampler_mode_weights(name):
    target = get_target(name)
    n = 40_000
    w_hat = metrics.mode_weights(target.assign_fn(target.sample_fn(np.random.default_rng(3), n)),
                                 target.num_modes)
    w = target.mode_weights
    if name == "gmm40":
        # two of the 40 means (seed 0) are 1.22 apart: nearest-mode assignment splits that
        # pair's mass by location; compare the pair's total and all other modes
        means = target.mode_locations
        d = np.linalg.norm(means[:, None] - means[None], axis=-1) + np.eye(len(means)) * 1e9
        i, j = np.unravel_index(np.argmin(d), d.shape)
        keep = np.setdiff1d(np.arange(len(w)), [i, j])
        w_hat = np.append(w_hat[keep], w_hat[i] + w_hat[j])
        w = np.append(w[keep], w[i] + w[j])
    se = np.sqrt(w * (1 - w) / n)
    assert np.max(np.abs(w_hat - w) / se) < Z


def test_mixture_k5_labellings_and_log_z_by_importance_sampling():
    """The 120 relabellings get distinct labels and the exact draws share them equally
    (within Z se); the stated log Z matches an importance-sampling estimate with the
    symmetrized Gaussian approximation as proposal (its density over all 120 relabellings),
    within 5 se + 0.01, which checks the log-density, the modes and log Z together."""
    import itertools

    from scipy.special import logsumexp as np_logsumexp

    from benchmarks.targets import _lehmer_index

    target = get_target("mixture_k5")
    perms = np.array(list(itertools.permutations(range(5))))
    assert sorted(_lehmer_index(perms)) == list(range(120))
    n = 40_000
    x = target.sample_fn(np.random.default_rng(5), n)
    w_hat = metrics.mode_weights(target.assign_fn(x), 120)
    assert np.max(np.abs(w_hat - 1 / 120)) < Z * math.sqrt((1 / 120) * (119 / 120) / n)
    # proposal: the sampler's own law, (1/120) sum over relabellings of prod N(mean, sd)
    ordered = np.sort(x, axis=1)
    mean, sd = ordered.mean(axis=0), ordered.std(axis=0)
    comp = -0.5 * ((x[:, None, :] - mean[perms][None]) / sd[perms][None]) ** 2
    comp = comp - np.log(sd[perms])[None] - 0.5 * math.log(2 * math.pi)
    log_q = np_logsumexp(comp.sum(axis=2), axis=1) - math.log(120)
    log_w = np.asarray(jax.vmap(target.logdensity_fn)(jnp.asarray(x))) - log_q
    log_z = np_logsumexp(log_w) - math.log(n)
    se = np.std(np.exp(log_w - log_w.max())) / np.mean(np.exp(log_w - log_w.max())) / math.sqrt(n)
    assert abs(log_z - target.log_z) < 5 * se + 0.01, (log_z, target.log_z, se)


def test_many_well_weights_and_log_z_by_quadrature():
    target = get_target("many_well_32")
    z1, _ = integrate.quad(lambda a: math.exp(-(a**4) + 6 * a**2 + 0.5 * a), -np.inf, np.inf)
    right, _ = integrate.quad(lambda a: math.exp(-(a**4) + 6 * a**2 + 0.5 * a), 0, np.inf)
    assert target.log_z == pytest.approx(16 * (math.log(z1) + 0.5 * math.log(2 * math.pi)),
                                         rel=1e-6)
    p = right / z1
    # weight of the all-right mode is p^16, of the all-left mode (1-p)^16
    assert target.mode_weights[2**16 - 1] == pytest.approx(p**16, rel=1e-6)
    assert target.mode_weights[0] == pytest.approx((1 - p) ** 16, rel=1e-6)
    x = target.sample_fn(np.random.default_rng(4), 20_000)
    frac = (x[:, 0::2] > 0).mean()
    assert abs(frac - p) < Z * math.sqrt(p * (1 - p) / x[:, 0::2].size)


@pytest.mark.parametrize("name, box, step", [("ring8", (-6.0, 10.0, -7.0, 9.0), 0.02),
                                              ("gmm40", (-46.0, 46.0, -46.0, 46.0), 0.1)])
def test_two_dimensional_density_integrates_to_exp_log_z(name, box, step):
    target = get_target(name)
    xs = np.arange(box[0], box[1], step)
    ys = np.arange(box[2], box[3], step)
    grid = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)
    with jax.enable_x64(True):
        logp = jax.jit(jax.vmap(target.logdensity_fn))(jnp.asarray(grid, dtype=jnp.float64))
        total = float(jnp.exp(logp).sum()) * step**2
    assert total == pytest.approx(math.exp(target.log_z), rel=1e-4)


def test_log_densities_match_scipy():
    rng = np.random.default_rng(5)
    target = get_target("two_mode_10")
    u = np.ones(10) / np.sqrt(10)
    x = rng.normal(size=(5, 10)) * 2
    expected = np.logaddexp(
        np.log(1 / 3) + stats.multivariate_normal(-4 * u, np.eye(10)).logpdf(x),
        np.log(2 / 3) + stats.multivariate_normal(4 * u, 0.49 * np.eye(10)).logpdf(x),
    )
    got = np.array([target.logdensity_fn(jnp.asarray(xi)) for xi in x])
    np.testing.assert_allclose(got, expected, rtol=1e-4)

    target = get_target("funnel_10")
    x = rng.normal(size=(5, 10))
    expected = stats.norm(0, 3).logpdf(x[:, 0]) + stats.norm(0, np.exp(x[:, :1] / 2)).logpdf(
        x[:, 1:]
    ).sum(1)
    got = np.array([target.logdensity_fn(jnp.asarray(xi)) for xi in x])
    np.testing.assert_allclose(got, expected, rtol=1e-4)


def test_label_switching_target_is_symmetric():
    from benchmarks.posteriordb import available

    if not available():
        pytest.skip("shared posteriordb files not found")
    target = get_target("gauss_mix_unordered")
    np.testing.assert_allclose(target.mode_weights, [0.5, 0.5])
    # exact mean symmetric under relabelling: mu_1 = mu_2, sigma_1 = sigma_2, theta = 1/2
    assert target.mean[0] == pytest.approx(target.mean[1])
    assert target.mean[2] == pytest.approx(target.mean[3])
    assert target.mean[4] == pytest.approx(0.5)
    # the unconstrained relabelling (mu, log sigma swapped, logit theta negated) keeps log γ
    z = np.array([-2.7, 2.9, 0.02, 0.03, 0.5])
    z_swapped = np.array([2.9, -2.7, 0.03, 0.02, -0.5])
    out = target.to_output(np.stack([z, z_swapped]))
    relabelled = out[0][[1, 0, 3, 2, 4]]
    relabelled[4] = 1.0 - out[0][4]
    np.testing.assert_allclose(out[1], relabelled, rtol=1e-5)
    assert float(target.logdensity_fn(jnp.asarray(z))) == pytest.approx(
        float(target.logdensity_fn(jnp.asarray(z_swapped))), rel=1e-5
    )
    np.testing.assert_array_equal(target.assign_fn(out), [0, 1])


# --------------------------------------------------------------------------- smoke


# NumPyro's NUTS compiles twice per run (warm-up, sampling): the default smoke test
# leaves it out; the slow one runs every sampler and the throughput part.
FAST_SAMPLERS = ("DilationLangevin", "annealed ULA", "MALA", "tempered SMC")


def _tiny_run(out, samplers, scaling):
    import dataclasses

    from benchmarks.suite import PRESETS, run_suite

    preset = dataclasses.replace(PRESETS["tiny"], samplers=samplers)
    return run_suite(preset, out=out, targets=("ring8",), scaling=scaling, command="pytest",
                     log=lambda msg: None)


@pytest.fixture(scope="module")
def tiny_results(tmp_path_factory):
    return _tiny_run(tmp_path_factory.mktemp("bench"), FAST_SAMPLERS, scaling=False)


def _check_tiny(path, samplers):
    results = json.loads(path.read_text())
    entry = results["targets"]["ring8"]
    run = entry["runs"][entry["main_run"]]
    assert list(run["samplers"]) == list(samplers)
    for name, rec in run["samplers"].items():
        assert rec["grad_evals"] > 0
        assert abs(rec["grad_ratio"] - 1.0) <= 0.1, (name, rec["grad_ratio"])
        for key in ("mode_tv", "energy_distance", "mean_error", "cov_error", "wall_s"):
            assert np.isfinite(rec[key]), (name, key)
    assert run["samplers"]["tempered SMC"]["log_z_error"] is not None
    assert run["exact"]["mode_tv"] < 0.1
    assert (path.parent / entry["figures"]["scatter"]).is_file()
    return results


@pytest.mark.slow  # runs the suite's tiny preset: default-suite time
def test_tiny_preset_end_to_end(tiny_results):
    """Smoke test: structure, finiteness and equal budgets; no quality or timing assertions."""
    _check_tiny(tiny_results, FAST_SAMPLERS)


@pytest.mark.slow  # re-runs the sampler: default-suite time
def test_energy_noise_reruns_the_suite_draws(tiny_results):
    """benchmarks.energy_noise re-runs DilationLangevin with the suite's keys: it must
    reproduce the suite's energy distance exactly, and its subset distances of an exact
    sample must be small (the metric's noise floor), those of shifted draws large."""
    from benchmarks.energy_noise import measure, subset_distances
    from benchmarks.suite import PRESETS

    results = json.loads(tiny_results.read_text())
    entry = results["targets"]["ring8"]
    suite_value = entry["runs"][entry["main_run"]]["samplers"]["DilationLangevin"]
    out = measure(PRESETS["tiny"], "ring8", repeats=3)
    assert out["suite_value"] == pytest.approx(suite_value["energy_distance"], rel=1e-9)
    assert out["dilation"].shape == out["exact"].shape == (3,)
    target = get_target("ring8")
    rng = np.random.default_rng(0)
    reference = target.sample_fn(rng, 1000)
    exact = subset_distances(target.sample_fn(rng, 2000), reference, 300, 4, rng)
    shifted = subset_distances(target.sample_fn(rng, 2000) + 1.0, reference, 300, 4, rng)
    # Exact subsets: the V-statistic's bias E||X - X'|| (1/300 + 1/1000) is about 0.03 on
    # ring8 (E||X - X'|| ~ 6), plus noise of the same order; a (1, 1) shift adds far more.
    assert exact.max() < 0.1 < shifted.min(), (exact, shifted)


@pytest.mark.slow  # re-runs the sampler: default-suite time
def test_equal_time_reruns_the_suite_and_resizes_by_wall_time(tiny_results):
    """benchmarks.equal_time: DilationLangevin's row is the suite's run (same TV and energy
    distance), and each correction sizes the baseline to G * t_DL / t of its previous run."""
    from benchmarks.equal_time import compare_at_equal_time
    from benchmarks.suite import PRESETS

    results = json.loads(tiny_results.read_text())
    entry = results["targets"]["ring8"]
    suite_dl = entry["runs"][entry["main_run"]]["samplers"]["DilationLangevin"]
    rows = compare_at_equal_time(PRESETS["tiny"], "ring8", ("MALA",), corrections=1,
                                 log=lambda msg: None)
    dl, equal_grads, equal_time = rows
    assert dl["energy_distance"] == pytest.approx(suite_dl["energy_distance"], rel=1e-9)
    assert dl["mode_tv"] == pytest.approx(suite_dl["mode_tv"], abs=1e-12)
    assert abs(equal_grads["grad_evals"] / dl["grad_evals"] - 1.0) <= 0.1
    wanted = equal_grads["grad_evals"] * dl["wall_s"] / equal_grads["wall_s"]
    chains = PRESETS["tiny"].budget.num_chains  # MALA rounds up to whole iterations per chain
    assert abs(equal_time["grad_evals"] - wanted) <= chains, (equal_time, wanted)


@pytest.mark.slow
def test_tiny_preset_all_samplers_and_scaling(tmp_path):
    """Smoke test of the whole tiny preset: every sampler, throughput and scaling figure."""
    from benchmarks.samplers import SAMPLERS

    path = _tiny_run(tmp_path, SAMPLERS, scaling=True)
    results = _check_tiny(path, SAMPLERS)
    assert results["scaling"] and results["scaling"][0]["ratio"] > 0
    assert (path.parent / results["scaling_figure"]).is_file()

    from benchmarks.suite import PRESETS, rerun_scaling

    rerun_scaling(PRESETS["tiny"], out=tmp_path, command="pytest rerun", log=lambda msg: None)
    again = json.loads(path.read_text())
    assert again["meta"]["scaling_rerun"]["command"] == "pytest rerun"
    assert again["targets"] == results["targets"]  # the comparisons are kept as they were
    assert len(again["scaling"]) == len(results["scaling"])


@pytest.mark.slow  # runs the suite's tiny preset: default-suite time
def test_report_replaces_only_its_section(tiny_results, tmp_path):
    from benchmarks.report import BEGIN, END, markers, write_section

    md = tmp_path / "BENCHMARKS.md"
    small = f"{BEGIN}\n## Multimodal benchmark suite\n\nsmall kept\n{END}"
    md.write_text(f"# Benchmarks\n\nintro kept\n\n{small}\n\n## Other section\n\nkept too\n")
    write_section(tiny_results, md)
    first = md.read_text()
    begin, end = markers("tiny")
    assert first.count(begin) == 1 and first.count(end) == 1
    assert first.index(END) < first.index(begin) < first.index("## Other section")
    assert "small kept" in first  # another preset's section is not touched
    assert "intro kept" in first and "kept too" in first
    assert "### ring8 (2-D, 8 modes)" in first and "| **DilationLangevin** |" in first
    assert "| mode R-hat |" in first  # per-chain R-hat of the chain-based samplers
    assert "| 10 | DilationLangevin mode TV ≤ 0.02 on ring8 |" in first  # issue 10's goals
    write_section(tiny_results, md)
    assert md.read_text() == first


def test_split_rhat_of_many_chains_follows_the_formula_whatever_their_number():
    """``benchmarks.rhat_chains``: split R-hat of C stationary AR(1) chains of n draws with
    integrated autocorrelation time tau is about sqrt(1 + 2 (tau - 1) / n) whatever C (the
    user guide's "How many chains" rests on it). At n = 100: tau = 1 gives about 1, tau = 3
    about 1.0198, for 64 chains as for 256 (median of 5 replicates within 0.004, about 3
    times the spread measured over 20; a formula in n/2 or without the factor 2 is off by
    0.01 or more at tau = 3)."""
    import warnings

    import arviz as az

    from benchmarks.rhat_chains import ar1_chains, predicted_rhat

    rng = np.random.default_rng(0)
    for chains in (64, 256):
        for tau in (1.0, 3.0):
            rho = (tau - 1.0) / (tau + 1.0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "More chains than draws"
                r = [float(az.rhat(ar1_chains(rng, chains, 100, rho))) for _ in range(5)]
            assert abs(np.median(r) - predicted_rhat(tau, 100)) < 0.004, (chains, tau, r)


@pytest.mark.slow  # two runs of the sampler
def test_single_run_counts_the_warmup_of_the_timed_run():
    """``run_dilation(single_run=True)`` times one ``mcmc.run`` and counts its warm-up's
    gradients with an untimed ``mcmc.warmup`` from the same key: that warm-up is the timed
    run's own (the same count as the warm-up of the two-call protocol, which starts from the
    same key), and the draws are the timed run's."""
    from benchmarks import samplers
    from benchmarks.suite import PRESETS, _comparison_inputs, _key

    preset, target = PRESETS["tiny"], get_target("ring8")
    budget = preset.main_budget("ring8")
    tag, x0, _ = _comparison_inputs(target, budget, preset)
    key = _key(preset.seed, *tag, "dl")
    split = samplers.run_dilation(target, key, x0, budget.num_warmup, budget.num_samples)
    single = samplers.run_dilation(target, key, x0, budget.num_warmup, budget.num_samples,
                                   single_run=True)
    assert single.settings["single_run"] and not split.settings["single_run"]
    assert single.settings["warmup_grad_evals"] == split.settings["warmup_grad_evals"]
    assert single.grad_evals == (single.settings["warmup_grad_evals"]
                                 + single.settings["sampling_grad_evals"])
    assert single.draws.shape == split.draws.shape == (budget.num_chains * budget.num_samples,
                                                       target.dim)
    assert not np.array_equal(single.draws, split.draws)  # the sampling keys differ
    assert np.isfinite(single.draws).all()
    # without the counting warm-up (benchmarks.explorer_chains): the same timed run
    uncounted = samplers.run_dilation(target, key, x0, budget.num_warmup, budget.num_samples,
                                      single_run=True, count_warmup_gradients=False)
    np.testing.assert_array_equal(uncounted.draws, single.draws)
    assert uncounted.settings["warmup_grad_evals"] is None
    assert uncounted.grad_evals == single.settings["sampling_grad_evals"]


@pytest.mark.slow  # a suite run and its re-run
def test_equal_time_scores_draws_in_the_output_space_as_the_suite_does(tmp_path):
    """On a target whose sampling space is not its output space (gauss_mix_unordered:
    log-scales and a logit weight), benchmarks.equal_time's DilationLangevin row must score
    the same draws as the suite (``target.to_output`` first): it scored the unconstrained
    draws before, an energy distance near 1.6 for every sampler."""
    import dataclasses

    from benchmarks.equal_time import compare_at_equal_time
    from benchmarks.suite import PRESETS, run_suite

    preset = dataclasses.replace(PRESETS["tiny"], samplers=("DilationLangevin",))
    path = run_suite(preset, out=tmp_path, targets=("gauss_mix_unordered",), scaling=False,
                     command="pytest", log=lambda msg: None)
    entry = json.loads(path.read_text())["targets"]["gauss_mix_unordered"]
    suite_dl = entry["runs"][entry["main_run"]]["samplers"]["DilationLangevin"]
    (dl,) = compare_at_equal_time(preset, "gauss_mix_unordered", (), log=lambda msg: None)
    assert dl["energy_distance"] == pytest.approx(suite_dl["energy_distance"], rel=1e-9)
    assert dl["mode_tv"] == pytest.approx(suite_dl["mode_tv"], abs=1e-12)
    assert dl["energy_distance"] < 0.5
