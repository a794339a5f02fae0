"""Checks of the posteriordb ports (benchmarks/posteriordb): log densities and loader.

The log densities are compared with a hand-written scipy computation of each
posterior exactly as shared/posteriordb/README.md states it; a wrong prior, a
missing term or a wrong ordering constraint changes the value or the support.
Tests that need the shared files skip when they are absent.
"""

from __future__ import annotations

import json
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import pytest
from numpyro.distributions import biject_to, constraints
from numpyro.infer.initialization import init_to_uniform
from numpyro.infer.util import log_density
from scipy import stats
from scipy.special import logsumexp

from benchmarks.posteriordb import loader
from benchmarks.posteriordb.models import POSTERIORS, VARIANTS, OrderedNormal, get_spec

ORDERED = "low_dim_gauss_mix-low_dim_gauss_mix"
UNORDERED = "low_dim_gauss_mix_unordered"


@pytest.fixture(scope="module")
def pdb():
    if not loader.available():
        pytest.skip(
            "posteriordb reference files not found (expected <repo>/../shared/posteriordb "
            f"or ${loader.ENV_VAR})"
        )
    return loader.posteriordb_path()


# ------------------------------------------------- hand-written log posteriors


def _lp_eight_schools(d, p):
    y, sig = np.asarray(d["y"], float), np.asarray(d["sigma"], float)
    tt, mu, tau = p["theta_trans"], p["mu"], p["tau"]
    theta = mu + tau * tt
    return (
        stats.norm(0, 1).logpdf(tt).sum()
        + stats.norm(0, 5).logpdf(mu)
        + stats.halfcauchy(scale=5).logpdf(tau)
        + stats.norm(theta, sig).logpdf(y).sum()
    )


def _lp_kidiq(d, p):
    beta, sigma = p["beta"], p["sigma"]
    mean = beta[0] + beta[1] * np.asarray(d["mom_hs"], float)
    # beta: flat prior, contributes nothing
    return (
        stats.halfcauchy(scale=2.5).logpdf(sigma)
        + stats.norm(mean, sigma).logpdf(np.asarray(d["kid_score"], float)).sum()
    )


def _lp_ark(d, p):
    y, K, T = np.asarray(d["y"], float), int(d["K"]), int(d["T"])
    alpha, beta, sigma = p["alpha"], p["beta"], p["sigma"]
    lp = (
        stats.norm(0, 10).logpdf(alpha)
        + stats.norm(0, 10).logpdf(beta).sum()
        + stats.halfcauchy(scale=2.5).logpdf(sigma)
    )
    for t in range(K + 1, T + 1):  # Stan's 1-based loop, y[t] is y[t - 1] here
        mu = alpha + sum(beta[k - 1] * y[t - k - 1] for k in range(1, K + 1))
        lp += stats.norm(mu, sigma).logpdf(y[t - 1])
    return lp


def _lp_sblrc(d, p):
    X, y = np.asarray(d["X"], float), np.asarray(d["y"], float)
    beta, sigma = p["beta"], p["sigma"]
    return (
        stats.norm(0, 10).logpdf(beta).sum()
        + stats.halfnorm(scale=10).logpdf(sigma)
        + stats.norm(X @ beta, sigma).logpdf(y).sum()
    )


def _lp_gauss_mix(d, p, ordered=True):
    y = np.asarray(d["y"], float)
    mu, sigma, theta = p["mu"], p["sigma"], p["theta"]
    if ordered and not mu[0] < mu[1]:
        return -np.inf
    lp = (
        stats.norm(0, 2).logpdf(mu).sum()
        + stats.halfnorm(scale=2).logpdf(sigma).sum()
        + stats.beta(5, 5).logpdf(theta)
    )
    if ordered:
        lp += np.log(2.0)  # Normal(0, 2)^2 restricted to mu[0] < mu[1], normalized
    comp = np.stack(
        [
            np.log(theta) + stats.norm(mu[0], sigma[0]).logpdf(y),
            np.log1p(-theta) + stats.norm(mu[1], sigma[1]).logpdf(y),
        ]
    )
    return lp + logsumexp(comp, axis=0).sum()


HAND = {
    "eight_schools-eight_schools_noncentered": _lp_eight_schools,
    "kidiq-kidscore_momhs": _lp_kidiq,
    "arK-arK": _lp_ark,
    "sblrc-blr": _lp_sblrc,
    ORDERED: _lp_gauss_mix,
    UNORDERED: lambda d, p: _lp_gauss_mix(d, p, ordered=False),
}

# one hand-picked point per posterior, away from the reference bulk
OFF_POINTS = {
    "eight_schools-eight_schools_noncentered": {
        "theta_trans": np.linspace(-1.0, 1.0, 8),
        "mu": 1.5,
        "tau": 2.0,
    },
    "kidiq-kidscore_momhs": {"beta": np.array([70.0, 10.0]), "sigma": 25.0},
    "arK-arK": {"alpha": 0.1, "beta": np.array([0.5, 0.3, 0.1, 0.0, -0.2]), "sigma": 0.3},
    "sblrc-blr": {"beta": np.array([1.01, 0.99, 1.0, 1.0, 0.98]), "sigma": 2.0},
    ORDERED: {"mu": np.array([-2.0, 3.0]), "sigma": np.array([0.8, 1.3]), "theta": 0.4},
}
OFF_POINTS[UNORDERED] = {
    "mu": np.array([3.0, -2.0]),  # not ordered: allowed without the constraint
    "sigma": np.array([1.3, 0.8]),
    "theta": 0.3,
}


def _reference_points(name, draws):
    """Three reference draws as sample-site dicts (eight_schools: theta -> theta_trans)."""
    points = []
    for c, i in [(0, 0), (3, 500), (9, 999)]:
        p = {k: v[c, i] for k, v in draws.items()}
        if name.startswith("eight_schools"):
            p["theta_trans"] = (p.pop("theta") - p["mu"]) / p["tau"]
        points.append(p)
    return points


def _numpyro_lp(spec, kwargs, point):
    params = {k: jnp.asarray(v, dtype=float) for k, v in point.items()}
    lp, trace = log_density(spec.model, (), kwargs, params)
    return float(lp), trace


@pytest.mark.parametrize("name", [*POSTERIORS, *VARIANTS])
def test_log_density_matches_hand_written(pdb, name):
    spec = get_spec(name)
    raw = loader.load_data(spec.posteriordb_name)
    kwargs = spec.data_fn(raw)
    points = [OFF_POINTS[name]]
    points += _reference_points(name, loader.load_reference_draws(spec.posteriordb_name))
    for point in points:
        expected = HAND[name](raw, {k: np.asarray(v, float) for k, v in point.items()})
        got, trace = _numpyro_lp(spec, kwargs, point)
        # numpyro runs in float32: allow its rounding, far below any single prior term
        assert got == pytest.approx(expected, rel=2e-6, abs=5e-3), (name, point)
        if "theta_trans" in point:
            theta = point["mu"] + point["tau"] * np.asarray(point["theta_trans"])
            np.testing.assert_allclose(trace["theta"]["value"], theta, rtol=1e-5, atol=1e-5)


def test_gauss_mix_ordering(pdb):
    """Ordered model: support is ordered_vector; unordered: R^2, label-switching symmetric."""
    kwargs = get_spec(ORDERED).data_fn(loader.load_data(ORDERED))

    def site(name, key):
        model = numpyro.handlers.substitute(
            numpyro.handlers.seed(get_spec(name).model, key), substitute_fn=init_to_uniform
        )
        return numpyro.handlers.trace(model).get_trace(**kwargs)["mu"]

    mu_site = site(ORDERED, 0)
    assert mu_site["fn"].support is constraints.ordered_vector
    # every unconstrained point maps to an ordered mu; without the ordering, not so
    z = jax.random.normal(jax.random.PRNGKey(1), (200, 2)) * 5.0
    mu = biject_to(mu_site["fn"].support)(z)
    assert bool(jnp.all(mu[:, 0] < mu[:, 1]))
    mu_u = biject_to(site(UNORDERED, 0)["fn"].support)(z)
    assert bool(jnp.any(mu_u[:, 0] > mu_u[:, 1]))

    point = OFF_POINTS[ORDERED]
    lp_o, _ = _numpyro_lp(get_spec(ORDERED), kwargs, point)
    lp_u, _ = _numpyro_lp(get_spec(UNORDERED), kwargs, point)
    assert lp_o - lp_u == pytest.approx(np.log(2.0), abs=1e-2)
    swapped = {"mu": point["mu"][::-1], "sigma": point["sigma"][::-1], "theta": 1 - point["theta"]}
    lp_s, _ = _numpyro_lp(get_spec(UNORDERED), kwargs, swapped)
    assert lp_s == pytest.approx(lp_u, rel=2e-6, abs=5e-3)


def test_ordered_normal_distribution():
    d = OrderedNormal(0.0, 2.0, size=2)
    x = d.sample(jax.random.PRNGKey(0), (500,))
    assert x.shape == (500, 2) and bool(jnp.all(x[:, 0] <= x[:, 1]))
    pts = np.array([[-1.0, 0.5], [0.2, 3.0]])
    expected = stats.norm(0, 2).logpdf(pts).sum(-1) + np.log(2.0)
    np.testing.assert_allclose(d.log_prob(jnp.asarray(pts)), expected, rtol=1e-5)


# ------------------------------------------------------------------ loader


def loader_kwargs(name):
    spec = get_spec(name)
    return spec.data_fn(loader.load_data(spec.posteriordb_name))


@pytest.mark.parametrize("name", list(POSTERIORS))
def test_reference_draws_match_metadata_and_model(pdb, name):
    dims = loader.load_info(name)["dimensions"]
    draws = loader.load_reference_draws(name)
    spec = POSTERIORS[name]
    assert spec.name == name
    assert list(draws) == list(dims) and spec.reference_names == tuple(dims)
    for k, n in dims.items():
        expected = (10, 1000) if n == 1 else (10, 1000, n)
        assert draws[k].shape == expected, k
        assert np.all(np.isfinite(draws[k]))
    # the model has a site with each reference name and the same event shape
    model = numpyro.handlers.substitute(
        numpyro.handlers.seed(spec.model, 0), substitute_fn=init_to_uniform
    )
    trace = numpyro.handlers.trace(model).get_trace(**loader_kwargs(name))
    for k in spec.reference_names:
        assert trace[k]["type"] in ("sample", "deterministic")
        assert tuple(trace[k]["value"].shape) == draws[k].shape[2:], k


def test_reference_draws_respect_constraints(pdb):
    mix = loader.load_reference_draws(ORDERED)
    assert np.all(mix["mu"][..., 0] < mix["mu"][..., 1])
    assert np.all((mix["theta"] > 0) & (mix["theta"] < 1)) and np.all(mix["sigma"] > 0)
    assert np.all(loader.load_reference_draws("eight_schools-eight_schools_noncentered")["tau"] > 0)


def test_load_data_keys(pdb):
    d = loader.load_data("eight_schools-eight_schools_noncentered")
    assert d["J"] == 8 and d["y"].shape == (8,) and d["sigma"].shape == (8,)
    d = loader.load_data("sblrc-blr")
    assert d["X"].shape == (d["N"], d["D"]) and d["y"].shape == (d["N"],)


def test_missing_files_raise(monkeypatch, tmp_path):
    monkeypatch.setenv(loader.ENV_VAR, str(tmp_path / "nowhere"))
    assert loader.posteriordb_path() is None and not loader.available()
    with pytest.raises(FileNotFoundError, match=loader.ENV_VAR):
        loader.load_data("eight_schools-eight_schools_noncentered")
    with pytest.raises(FileNotFoundError, match="not found"):
        loader.load_reference_draws("eight_schools-eight_schools_noncentered")


def _zip_json(path, member, obj):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(member, json.dumps(obj))


def test_loader_on_synthetic_db(monkeypatch, tmp_path):
    """Grouping of indexed names (1-based, 2-D), data conversion, env override, errors."""
    for sub in ("posteriors", "data", "draws"):
        (tmp_path / sub).mkdir()
    info = {"name": "toy-toy", "data_name": "toy", "dimensions": {"a": 6, "s": 1}}
    (tmp_path / "posteriors" / "toy-toy.json").write_text(json.dumps(info))
    _zip_json(tmp_path / "data" / "toy.json.zip", "toy.json", {"n": 3, "x": [1, 2, 3]})
    chains = []
    for c in range(2):
        chain = {"s": [c + 0.5] * 4}
        for i in (1, 2):
            for j in (1, 2, 3):
                chain[f"a[{i},{j}]"] = [100 * c + 10 * i + j] * 4
        chains.append(chain)
    _zip_json(tmp_path / "draws" / "toy-toy.json.zip", "toy-toy.json", chains)

    monkeypatch.setenv(loader.ENV_VAR, str(tmp_path))
    assert loader.posteriordb_path() == tmp_path.resolve() and loader.available()
    assert loader.posterior_names() == ["toy-toy"]
    data = loader.load_data("toy-toy")
    assert data["n"] == 3 and data["x"].tolist() == [1, 2, 3]
    draws = loader.load_reference_draws("toy-toy")
    assert list(draws) == ["s", "a"]
    assert draws["s"].shape == (2, 4) and draws["a"].shape == (2, 4, 2, 3)
    assert draws["a"][1, 0, 1, 2] == 100 + 20 + 3  # a[2,3] of chain 1
    assert draws["a"][0, 3, 0, 0] == 11
    with pytest.raises(FileNotFoundError, match="toy-toy"):
        loader.load_data("other")
