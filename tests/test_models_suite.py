"""The real-model benchmark suite (benchmarks/models.py): its references and its scoring.

Default suite (fast): the quadrature code against closed forms and scipy, the
quadrature log-densities against the NumPyro models' own log-densities, the exact
references against independent derivations, one short DilationLangevin run on a
conjugate model scored against its exact answer, with a negative control (the same
draws shifted by 3 sd must fail), the goal logic and the markdown, and the
``--isolate`` timeout. ``slow``: every registry entry's latent dimension.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import pytest
from numpyro.infer.util import log_density
from scipy import integrate, stats

from benchmarks import models as bm
from benchmarks.reference import RunConfig

REQUIRED = {
    "eight_schools_centered", "eight_schools_noncentered", "radon_varying_intercept",
    "gp_hyperparameters", "stochastic_volatility", "horseshoe_regression",
    "logistic_regression", "hierarchical_1000", "gmm_enumerated", "regression_deterministic",
    "mixture_label_switching", "bimodal_theta_squared", "beta_bernoulli",
}


def test_registry():
    assert len(bm.MODELS) >= 12
    assert REQUIRED <= set(bm.MODELS)
    for name, e in bm.MODELS.items():
        assert e.name == name and e.dim >= 1
        assert e.reference.kind in ("exact", "quadrature", "nuts")
        assert (e.reference.compute is None) == (e.reference.kind == "nuts")
        assert e.reference.kind != "quadrature" or e.dim <= 3
    assert bm.MODELS["horseshoe_regression"].dim >= 400
    assert bm.MODELS["hierarchical_1000"].dim >= 1000
    assert bm.MODELS["stochastic_volatility"].dim >= 100
    # The centered model's reference is the non-centered model's run.
    assert bm.MODELS["eight_schools_centered"].reference.model is bm.eight_schools_noncentered
    assert all(bm.MODELS[n].mode_indicator is not None
               for n in ("mixture_label_switching", "bimodal_theta_squared"))


def test_noncentered_stochastic_volatility_is_the_same_posterior(x64):
    """The reference model of the stochastic-volatility entry: its log-density at
    (sigma, s_raw, nu) is the centered model's at (sigma, s = cumsum(sigma * s_raw), nu)
    plus log|ds/ds_raw| = T log sigma (a triangular Jacobian), at random points."""
    data = bm.stochastic_volatility_data()
    num_steps = data["returns"].shape[0]
    rng = np.random.default_rng(0)
    for _ in range(3):
        sigma, nu = rng.uniform(0.01, 0.2), rng.uniform(1.0, 20.0)
        s_raw = rng.normal(size=num_steps)
        s = np.cumsum(sigma * s_raw)
        centered = log_density(bm.stochastic_volatility, (), data,
                               {"sigma": sigma, "s": s, "nu": nu})[0]
        noncentered = log_density(bm.stochastic_volatility_noncentered, (), data,
                                  {"sigma": sigma, "s_raw": s_raw, "nu": nu})[0]
        assert float(noncentered) == pytest.approx(
            float(centered) + num_steps * math.log(sigma), rel=1e-9, abs=1e-7
        )


def test_latent_dim_of_a_cheap_model():
    e = bm.MODELS["eight_schools_noncentered"]
    assert bm.latent_dim(e.model, e.data()) == e.dim


@pytest.mark.slow
@pytest.mark.parametrize("name", list(bm.MODELS))
def test_latent_dim(name):
    e = bm.MODELS[name]
    assert bm.latent_dim(e.model, e.data()) == e.dim


# ----------------------------------------------------------------- quadrature


def test_grid_moments_lognormal_closed_form():
    """3-D Gaussian in log space (correlated), adaptive box: moments of exp(u_i) are
    log-normal's, the box holds the mass, and the evidence is the normalizing constant."""
    m = np.array([0.5, -2.0, 1.0])
    cov = np.array([[0.8, 0.3, 0.0], [0.3, 0.5, -0.1], [0.0, -0.1, 0.3]])
    gauss = stats.multivariate_normal(m, cov)
    q = {f"v{i}": (lambda p, i=i: np.exp(p[:, i])) for i in range(3)}
    res = bm.adaptive_grid_moments(lambda u: gauss.logpdf(u) + 1.7, np.full(3, -15.0),
                                   np.full(3, 15.0), q, coarse=31, fine=61)
    v = np.diag(cov)
    mean = np.exp(m + v / 2)
    sd = np.sqrt((np.exp(v) - 1) * np.exp(2 * m + v))
    for i in range(3):
        assert res["mean"][f"v{i}"] == pytest.approx(mean[i], rel=1e-6)
        assert res["sd"][f"v{i}"] == pytest.approx(sd[i], rel=1e-5)
    assert res["log_mass"] == pytest.approx(1.7, abs=1e-6)
    assert res["edge_mass"] < 1e-10


def test_bimodal_quadrature_against_scipy_quad():
    ref = bm.bimodal_reference(bm.bimodal_data())
    dens = lambda t: math.exp(bm.bimodal_log_density(np.array(t)))  # noqa: E731
    mass = integrate.quad(dens, -10, 10, points=[-2, 0, 2], limit=200)[0]
    m1 = integrate.quad(lambda t: t * dens(t), -10, 10, points=[-2, 0, 2], limit=200)[0] / mass
    m2 = integrate.quad(lambda t: t * t * dens(t), -10, 10, points=[-2, 0, 2], limit=200)[0]
    pos = integrate.quad(dens, 0, 10, points=[2], limit=200)[0] / mass
    assert ref.mean["theta"] == pytest.approx(m1, rel=1e-7)
    assert ref.sd["theta"] == pytest.approx(math.sqrt(m2 / mass - m1**2), rel=1e-7)
    assert ref.mode_weight == pytest.approx(pos, abs=1e-6)
    assert 0.6 < ref.mode_weight < 0.8  # the prior's mean 0.25 favours theta > 0


def test_quadrature_log_densities_are_the_models(x64):
    """The float64 log-densities that the quadratures integrate are the NumPyro models'
    (plus the log-Jacobian of the log transform for the GP)."""
    rng = np.random.default_rng(0)
    gp = bm.gp_data()
    u = rng.normal(0.0, 1.5, size=(3, 3))
    ours = bm.gp_log_posterior(u, gp["X"], gp["Y"])
    for row, val in zip(u, ours):
        params = dict(zip(bm.GP_SITES, np.exp(row)))
        lp = float(log_density(bm.gp_hyperparameters, (), gp, params)[0])
        assert lp + row.sum() == pytest.approx(val, rel=1e-9, abs=1e-9)
    theta = rng.normal(0.0, 2.0, size=3)
    for t, val in zip(theta, bm.bimodal_log_density(theta)):
        lp = float(log_density(bm.bimodal_theta_squared, (), bm.bimodal_data(), {"theta": t})[0])
        assert lp == pytest.approx(val, rel=1e-9)
    mix = bm.mixture_data()
    mu = rng.normal(0.0, 2.0, size=(3, 2))
    for row, val in zip(mu, bm.mixture_log_density(mu, mix["y"])):
        lp = float(log_density(bm.mixture_label_switching, (), mix, {"mu": row})[0])
        assert lp == pytest.approx(val, rel=1e-9)


def test_mixture_reference_is_symmetric():
    ref = bm.mixture_reference(bm.mixture_data(), points=201)
    assert ref.mean["mu[1]"] == pytest.approx(ref.mean["mu[2]"], abs=1e-9)
    assert ref.meta["quadrature_mode_weight"] == pytest.approx(0.5, abs=1e-6)
    assert ref.sd["mu[1]"] > 1.0  # both mirror modes (near -1.5 and +1.5) are in the moments


# ----------------------------------------------------------------- exact references


def test_hierarchical_exact_against_marginalization():
    """Dense Gaussian posterior of (mu, eta) against integrating the thetas out first."""
    data = bm.hierarchical_data(num_groups=7, per_group=3)
    ref = bm.hierarchical_exact(data)
    s2, t2 = bm.HIER_SIGMA**2, bm.HIER_TAU**2
    y = data["y"]
    n, ybar = y.shape[1], y.mean(axis=1)
    prec_mu = 1 / bm.HIER_MU_SD**2 + len(ybar) / (t2 + s2 / n)
    m, v = (ybar / (t2 + s2 / n)).sum() / prec_mu, 1 / prec_mu
    prec_t = 1 / t2 + n / s2
    b, a, s = (1 / t2) / prec_t, (n * ybar / s2) / prec_t, 1 / prec_t
    assert ref.mean["mu"] == pytest.approx(m, rel=1e-10)
    assert ref.sd["mu"] == pytest.approx(math.sqrt(v), rel=1e-10)
    for j in range(len(ybar)):
        assert ref.mean[f"eta[{j + 1}]"] == pytest.approx((a[j] + (b - 1) * m) / bm.HIER_TAU)
        assert ref.sd[f"eta[{j + 1}]"] == pytest.approx(
            math.sqrt((b - 1) ** 2 * v + s) / bm.HIER_TAU)


def test_normal_exact_against_quadrature():
    """Normal-inverse-gamma closed forms against a 2-D grid over (mu, log sigma2)."""
    data = bm.normal_data()
    ref = bm.normal_exact(data)
    p = bm.NIG_PRIOR
    y = data["y"]

    def logp(pts):
        mu, u = pts[:, 0], pts[:, 1]
        s2 = np.exp(u)
        return (stats.invgamma.logpdf(s2, p["a0"], scale=p["b0"]) + u
                + stats.norm.logpdf(mu, p["m0"], np.sqrt(s2 / p["k0"]))
                + stats.norm.logpdf(y[None, :], mu[:, None], np.sqrt(s2)[:, None]).sum(1))

    q = {"mu": lambda x: x[:, 0], "sigma2": lambda x: np.exp(x[:, 1]),
         "sigma": lambda x: np.exp(x[:, 1] / 2)}
    res = bm.adaptive_grid_moments(logp, np.array([-10.0, -6.0]), np.array([10.0, 6.0]), q,
                                   coarse=61, fine=401)
    for k in q:
        assert ref.mean[k] == pytest.approx(float(res["mean"][k]), rel=1e-5, abs=1e-6)
        assert ref.sd[k] == pytest.approx(float(res["sd"][k]), rel=1e-5)


def test_regression_exact_against_exact_draws():
    data = bm.regression_data()
    ref = bm.regression_exact(data)
    x = data["x"]
    cov = np.linalg.inv(np.eye(3) / bm.REG_PRIOR_SD**2 + x.T @ x / bm.REG_NOISE**2)
    mean = cov @ x.T @ data["y"] / bm.REG_NOISE**2
    beta = np.random.default_rng(1).multivariate_normal(mean, cov, size=400_000)
    draws = {"beta": beta, "odds": np.exp(beta), "y_new": beta @ data["x_new"].T}
    flat = bm.flatten_parameters({k: v[None] for k, v in draws.items()})
    for k, v in flat.items():
        assert abs(v.mean() - ref.mean[k]) < 5 * v.std() / math.sqrt(v.size), k
        assert v.std() == pytest.approx(ref.sd[k], rel=0.01), k


# ----------------------------------------------------------------- scoring


def _ref(mean: float, sd: float, mcse: float = 0.0, weight: float | None = None
         ) -> bm.RefSummary:
    return bm.RefSummary("exact", {"x": mean}, {"x": sd}, {"x": mcse}, mode_weight=weight)


def test_score_and_goal_logic():
    rng = np.random.default_rng(0)
    good = {"x": rng.normal(1.0, 2.0, size=(8, 500))}
    rec = {"stats": bm.score(good, _ref(1.0, 2.0)), "warnings": [], "divergences": 0}
    assert abs(rec["stats"]["summary"]["max_abs_z"]) < 4
    assert bm.goal_check(rec)["matches"]
    # Wrong and silent: fails the goal; the same with a warning meets it as "warned".
    rec["stats"] = bm.score({"x": good["x"] + 0.5}, _ref(1.0, 2.0))
    goal = bm.goal_check(rec)
    assert not goal["means_ok"] and not goal["ok"] and "silent" in bm._goal_text(goal)
    rec["warnings"] = [{"text": "UserWarning: trouble", "count": 1}]
    goal = bm.goal_check(rec)
    assert goal["ok"] and goal["warned"] == ["warning"]
    # Chains that disagree: R-hat fails and counts as a warning to the user.
    stuck = {"x": good["x"] + np.arange(8)[:, None]}
    rec = {"stats": bm.score(stuck, _ref(4.5, 2.0)), "warnings": [], "divergences": 0}
    goal = bm.goal_check(rec)
    assert not goal["rhat_ok"] and goal["warned"] == ["R-hat"]


def test_mode_weight_is_scored():
    ind = np.zeros((4, 100))
    ind[:2] = 1.0
    x = {"x": np.random.default_rng(0).normal(size=(4, 100))}
    stats_ = bm.score(x, _ref(0.0, 1.0, weight=0.7), indicator=ind)
    w = stats_["summary"]["mode_weight"]
    assert w["weight"] == 0.5 and w["chains_only_first"] == 2 and w["chains_only_second"] == 2
    assert w["abs_error"] == pytest.approx(0.2)


def test_markdown_renders_finished_and_failed_runs():
    rng = np.random.default_rng(0)
    rec = {"sampler": "DilationLangevin", "config": {"num_chains": 8, "num_warmup": 10,
                                                    "num_samples": 500},
           "finished": True, "seconds": 3.0, "seconds_rerun": None, "grads": 1000,
           "divergences": 0, "warnings": [{"text": "UserWarning: w", "count": 2}],
           "peak_rss_mib": 100.0, "isolated": True,
           "stats": bm.score({"x": rng.normal(size=(8, 500))}, _ref(0.0, 1.0), 1000, 3.0)}
    rec["goal"] = bm.goal_check(rec)
    nuts = bm.failed_record("nuts", RunConfig(4, 10, 10), "did not finish in 5 s")
    report = {"command": "c", "preset": "tiny", "git": "abc", "device": "cpu",
              "models": [{"name": "m", "dim": 1, "reference": {"kind": "exact", "note": "n"},
                          "runs": {"NUTS": nuts, "DilationLangevin": rec}}]}
    md = bm.to_markdown(report)
    rows = [line for line in md.splitlines() if line.startswith("| m |")]
    assert len(rows) == 2
    header = md.splitlines()[2]
    assert all(r.count("|") == header.count("|") for r in rows)
    assert "did not finish in 5 s" in md and "UserWarning: w" in md


def test_isolated_run_times_out(tmp_path):
    args = argparse.Namespace(preset="tiny", seed=0, rerun="never", ref_cache=tmp_path)
    rec = bm.benchmark_isolated("beta_bernoulli", "dl", args, timeout=1.0)
    assert not rec["finished"] and rec["error"] == "did not finish in 1 s"


def test_dilation_langevin_on_exact_model_and_shift_control():
    """A short DilationLangevin run (64 chains, one compiled loop) on the conjugate normal
    model: every mean within 5 MCSE of the exact one; the same draws shifted by 3 sd are
    caught."""
    entry = bm.MODELS["normal_unknown_variance"]
    data = entry.data()
    ref = bm.get_reference(entry, data, bm.PRESETS["tiny"], cache=None)
    record, draws = bm.run_sampler(entry, data, "dl", RunConfig(64, 100, 50), seed=0,
                                   split_warmup=False)
    assert record["finished"] and record["grads_sampling"] >= 64 * 50
    assert record["seconds_rerun"] is None and record["grads"] is None
    q = entry.quantities(draws)
    rows = bm.score(q, ref, None, record["seconds"])["parameters"]
    assert {r["parameter"] for r in rows} == {"mu", "sigma2", "sigma"}
    for r in rows:
        assert abs(r["z"]) < 5, r
        assert 0.8 < r["sd_ratio"] < 1.2, r
    shifted = {k: v + 3.0 * v.std() for k, v in q.items()}
    for r in bm.score(shifted, ref)["parameters"]:
        assert abs(r["z"]) > 5, r
