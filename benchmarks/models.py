r"""Real-model benchmark suite: NUTS and DilationLangevin on the NumPyro models users run.

A registry (:data:`MODELS`) of NumPyro models of the usual kinds (hierarchical
models centered and not, a varying-intercept model with 85 groups, Gaussian-process
hyperparameters, a latent time series, horseshoe and logistic regression, a
1001-dimensional hierarchical model, enumerated discrete sites, deterministic
sites, two multimodal posteriors, conjugate models). Each entry carries its data
(simulated with a fixed numpy seed where a NumPyro example would download data,
with the shapes of that example), its latent (unconstrained) dimension and a
*reference*:

- ``exact``: closed form (conjugate models, Gaussian posteriors); no Monte Carlo error;
- ``quadrature``: a tensor grid over at most 3 parameters (in log space for positive
  ones), adaptive box (:func:`adaptive_grid_moments`); no Monte Carlo error;
- ``nuts``: a long NUTS run (``target_accept_prob`` raised where the geometry needs
  it), of a *reparameterized* model where that is the sound choice (a centered
  hierarchical model's reference is the non-centered model mapped back to the
  centered parameters), with MCSE from ArviZ's mean-ESS
  (:func:`benchmarks.reference.mcse_mean`). Cached on disk (``--ref-cache``).

For each model and sampler one run (NUTS: 4 chains, ``chain_method="sequential"``;
DilationLangevin: C vectorized chains, default settings) records: the wall time of
``mcmc.warmup(collect_warmup=True)`` + ``mcmc.run`` including compilation, the time of
a second identical warm-up + run in the same process (XLA executables then come from
a per-process persistent compilation cache, so the rerun pays tracing but not XLA
compilation where the program can be cached; when the first run took less than the
preset's ``rerun_max_s``), all gradients (NUTS: ``num_steps``; DilationLangevin:
``num_grad_evals``; warm-up included), and, for every compared scalar:

.. math::  z = (\bar\theta - \theta_{\rm ref}) / \sqrt{\mathrm{MCSE}^2 + \mathrm{MCSE}_{\rm ref}^2},
   \qquad \hat\sigma / \sigma_{\rm ref}, \qquad \hat R, \qquad \mathrm{ESS}_{\rm bulk},
   \ \mathrm{ESS}_{\rm tail},

with divergences and the text of every warning raised during the run. On the two
multimodal posteriors the pooled weight of one mode is scored against the exact
weight (0.5 by symmetry, or quadrature).

Goals per run (the markdown table's last columns): *finished*; *time ratio*
DL/NUTS <= 3 (first runs, compilation included); *matches reference*: every |z| < 4,
every sd ratio within 10 % of 1, every R-hat <= 1.01 (and the mode weight within 0.05
where scored), or else *warned*: the run told its user (a warning was raised,
divergences, or R-hat > 1.01), which counts as meeting the goal; a silent mismatch
does not.

Usage::

    python -m benchmarks.models [--preset tiny|small|full] [--only NAME,...]
                                [--samplers nuts,dl] [--out PREFIX]
                                [--isolate [--timeout SECONDS]] [--list]

writes ``PREFIX.json`` (every number) and ``PREFIX.md`` (one table). ``--isolate``
runs each (model, sampler) in a fresh process (``--json-out FILE``), so that its
peak resident memory (``ru_maxrss``) is its own, and with ``--timeout`` a run that
does not finish is recorded as such.
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints
from numpyro.infer import MCMC, NUTS
from numpyro.infer.reparam import TransformReparam
from scipy import special, stats

from benchmarks.reference import (
    RHAT_MAX,
    SD_RATIO_TOL,
    WEIGHT_TOL,
    Z_MAX,
    RunConfig,
    _fmt,
    _git_revision,
    _yes,
    flatten_parameters,
    mcse_mean,
    mode_weight,
)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REF_CACHE = ROOT / "benchmarks" / "results" / "models-reference"
TIME_RATIO_MAX = 3.0
SAMPLERS = {"nuts": "NUTS", "dl": "DilationLangevin"}
# Warnings that say nothing about the run (library deprecations).
IGNORED_WARNINGS = (FutureWarning, DeprecationWarning, PendingDeprecationWarning)

Draws = dict[str, np.ndarray]  # {site: (chains, draws, *event)}


# ===================================================================== references


@dataclass
class RefSummary:
    """Reference moments of every compared scalar (flattened names, as
    :func:`benchmarks.reference.flatten_parameters` writes them).

    ``mcse`` is 0 for exact and quadrature references. ``mode_weight`` is the
    exact weight of the mode indicator (multimodal models only).
    """

    kind: str
    mean: dict[str, float]
    sd: dict[str, float]
    mcse: dict[str, float]
    mode_weight: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reference:
    """How to get a model's reference.

    kind: ``"exact"``, ``"quadrature"`` or ``"nuts"``.
    compute: ``data -> RefSummary`` (exact and quadrature).
    model: the model a ``nuts`` reference runs (default: the entry's own model).
    quantities: ``draws -> compared quantities`` of that model (default: the entry's).
    key: cache name; entries that share a reference share it.
    nuts_kwargs: ``NUTS(model, **nuts_kwargs)``.
    note: how the reference is made, for the report.
    """

    kind: str
    compute: Callable[[dict[str, Any]], RefSummary] | None = None
    model: Callable | None = None
    quantities: Callable[[Draws], Draws] | None = None
    key: str | None = None
    nuts_kwargs: dict[str, Any] = field(default_factory=dict)
    note: str = ""


@dataclass(frozen=True)
class ModelEntry:
    """One model of the registry.

    data: ``() -> model kwargs`` (numpy arrays and ints; deterministic).
    dim: latent dimension (unconstrained, enumerated discrete sites excluded).
    quantities: ``draws -> {name: (chains, draws, *event)}``, the compared quantities
        (constrained sites, deterministic sites, or transforms such as log-scales).
    mode_indicator: ``draws -> (chains, draws)`` 0/1 array, for multimodal posteriors.
    """

    name: str
    kind: str
    model: Callable
    data: Callable[[], dict[str, Any]]
    dim: int
    reference: Reference
    quantities: Callable[[Draws], Draws]
    mode_indicator: Callable[[Draws], np.ndarray] | None = None
    description: str = ""


def sites(*names: str) -> Callable[[Draws], Draws]:
    """Quantities: the named sites as they are."""
    return lambda d: {n: d[n] for n in names}


def summary_from_moments(kind: str, moments: dict[str, tuple[np.ndarray, np.ndarray]],
                         **kwargs) -> RefSummary:
    """A zero-error :class:`RefSummary` from ``{site: (mean, sd)}`` arrays of the site's shape."""
    mean, sd = {}, {}
    for name, (m, s) in moments.items():
        m, s = np.asarray(m, dtype=float), np.asarray(s, dtype=float)
        fm = flatten_parameters({name: m[None, None]})
        fs = flatten_parameters({name: s[None, None]})
        for k in fm:
            mean[k], sd[k] = float(fm[k][0, 0]), float(fs[k][0, 0])
    return RefSummary(kind, mean, sd, {k: 0.0 for k in mean}, **kwargs)


# ------------------------------------------------------------------ quadrature


def grid_moments(
    log_density: Callable[[np.ndarray], np.ndarray],
    axes: list[np.ndarray],
    quantities: dict[str, Callable[[np.ndarray], np.ndarray]],
    chunk: int = 4096,
) -> dict[str, Any]:
    """Means and sds of ``quantities`` under the density ``exp(log_density)`` on a tensor grid.

    ``axes``: one uniformly spaced 1-D array per variable; ``log_density(points)`` takes
    points of shape ``(n, len(axes))`` (include the Jacobian of any change of variables)
    and returns ``(n,)``; each quantity maps points to ``(n,)`` or ``(n, k)``. On a uniform
    grid the equal-weight (trapezoid) rule is spectrally accurate for smooth densities
    that vanish at the box's edges; ``edge_mass`` (the largest share of mass on one face
    of the box) says whether they do.
    """
    mesh = np.meshgrid(*axes, indexing="ij")
    points = np.stack([m.ravel() for m in mesh], axis=-1)
    logp = np.concatenate([np.asarray(log_density(points[i:i + chunk]), dtype=float)
                           for i in range(0, len(points), chunk)])
    logp = np.where(np.isfinite(logp), logp, -np.inf)
    top = float(np.max(logp))
    w = np.exp(logp - top)
    cell = float(np.prod([a[1] - a[0] for a in axes]))
    log_mass = top + math.log(w.sum() * cell)
    w /= w.sum()
    wg = w.reshape(mesh[0].shape)
    edge = 0.0
    for ax in range(len(axes)):
        edge = max(edge, float(np.take(wg, 0, axis=ax).sum()),
                   float(np.take(wg, -1, axis=ax).sum()))
    out: dict[str, Any] = {"mean": {}, "sd": {}, "log_mass": log_mass, "edge_mass": edge,
                           "points": len(points), "logp": logp.reshape(mesh[0].shape)}
    for name, fn in quantities.items():
        v = np.asarray(fn(points), dtype=float)
        m = np.tensordot(w, v, axes=(0, 0))
        var = np.tensordot(w, (v - m) ** 2, axes=(0, 0))
        out["mean"][name], out["sd"][name] = m, np.sqrt(np.maximum(var, 0.0))
    return out


def adaptive_grid_moments(
    log_density: Callable[[np.ndarray], np.ndarray],
    lower: np.ndarray,
    upper: np.ndarray,
    quantities: dict[str, Callable[[np.ndarray], np.ndarray]],
    coarse: int = 41,
    fine: int = 81,
    drop: float = 30.0,
) -> dict[str, Any]:
    """:func:`grid_moments` on a box found by a coarse pass.

    The coarse grid (``coarse`` points per axis on ``[lower, upper]``) finds where the
    log-density is within ``drop`` of its maximum; the fine grid (``fine`` points per
    axis) covers that region widened by one coarse cell per side (clipped to the box).
    """
    lower, upper = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    axes = [np.linspace(lo, hi, coarse) for lo, hi in zip(lower, upper)]
    first = grid_moments(log_density, axes, {})
    keep = first["logp"] > np.max(first["logp"]) - drop
    lo, hi = [], []
    for ax, a in enumerate(axes):
        other = tuple(i for i in range(len(axes)) if i != ax)
        idx = np.flatnonzero(keep.any(axis=other))
        lo.append(a[max(idx[0] - 1, 0)])
        hi.append(a[min(idx[-1] + 1, len(a) - 1)])
    out = grid_moments(log_density, [np.linspace(a, b, fine) for a, b in zip(lo, hi)],
                       quantities)
    out["box"] = [[float(a), float(b)] for a, b in zip(lo, hi)]
    return out


# ===================================================================== models
#
# Each model takes its data as keyword arguments (ints for shapes, arrays for data).

EIGHT_Y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
EIGHT_SIGMA = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])


def eight_schools_data() -> dict[str, Any]:
    return {"J": 8, "sigma": EIGHT_SIGMA, "y": EIGHT_Y}


def eight_schools_centered(J, sigma, y=None):
    """NumPyro's README: theta ~ N(mu, tau), centered."""
    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
    with numpyro.plate("J", J):
        theta = numpyro.sample("theta", dist.Normal(mu, tau))
        numpyro.sample("obs", dist.Normal(theta, sigma), obs=y)


def eight_schools_noncentered(J, sigma, y=None):
    """NumPyro's README: theta = mu + tau * theta_base by ``TransformReparam``
    (``theta`` becomes a deterministic site)."""
    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
    with numpyro.plate("J", J):
        with numpyro.handlers.reparam(config={"theta": TransformReparam()}):
            theta = numpyro.sample(
                "theta",
                dist.TransformedDistribution(
                    dist.Normal(0.0, 1.0), dist.transforms.AffineTransform(mu, tau)
                ),
            )
        numpyro.sample("obs", dist.Normal(theta, sigma), obs=y)


EIGHT_SCHOOLS_REF = Reference(
    "nuts", model=eight_schools_noncentered, key="eight_schools_noncentered",
    nuts_kwargs={"target_accept_prob": 0.95},
    note="long NUTS of the non-centered model (target_accept 0.95); mu, tau, theta",
)


def radon_data(num_counties: int = 85, num_obs: int = 919, seed: int = 1) -> dict[str, Any]:
    """Radon-like: 919 houses in 85 counties of very unequal sizes (1 to ~100 houses),
    a floor indicator (17 % first floor), log-radon with county intercepts."""
    rng = np.random.default_rng(seed)
    weights = rng.lognormal(0.0, 1.2, num_counties)
    counts = 1 + rng.multinomial(num_obs - num_counties, weights / weights.sum())
    county = np.repeat(np.arange(num_counties), counts)
    floor = (rng.random(num_obs) < 0.17).astype(float)
    a = 1.5 + 0.3 * rng.normal(size=num_counties)
    log_radon = a[county] - 0.7 * floor + 0.75 * rng.normal(size=num_obs)
    return {"county": county, "floor": floor, "num_counties": num_counties,
            "log_radon": log_radon}


def radon_varying_intercept(county, floor, num_counties, log_radon=None):
    """Varying intercepts a_j ~ N(mu_a, sigma_a), centered (Gelman & Hill's radon model)."""
    mu_a = numpyro.sample("mu_a", dist.Normal(0.0, 10.0))
    sigma_a = numpyro.sample("sigma_a", dist.HalfNormal(5.0))
    b = numpyro.sample("b", dist.Normal(0.0, 10.0))
    sigma_y = numpyro.sample("sigma_y", dist.HalfNormal(5.0))
    with numpyro.plate("counties", num_counties):
        a = numpyro.sample("a", dist.Normal(mu_a, sigma_a))
    with numpyro.plate("houses", county.shape[0]):
        numpyro.sample("y", dist.Normal(a[county] + b * floor, sigma_y), obs=log_radon)


def radon_noncentered(county, floor, num_counties, log_radon=None):
    """The same posterior, a_j = mu_a + sigma_a * a_raw_j (deterministic ``a``)."""
    mu_a = numpyro.sample("mu_a", dist.Normal(0.0, 10.0))
    sigma_a = numpyro.sample("sigma_a", dist.HalfNormal(5.0))
    b = numpyro.sample("b", dist.Normal(0.0, 10.0))
    sigma_y = numpyro.sample("sigma_y", dist.HalfNormal(5.0))
    with numpyro.plate("counties", num_counties):
        a_raw = numpyro.sample("a_raw", dist.Normal(0.0, 1.0))
    a = numpyro.deterministic("a", mu_a + sigma_a * a_raw)
    with numpyro.plate("houses", county.shape[0]):
        numpyro.sample("y", dist.Normal(a[county] + b * floor, sigma_y), obs=log_radon)


def gp_data(num_points: int = 25, sigma_obs: float = 0.15, seed: int = 0) -> dict[str, Any]:
    """numpyro's examples/gp.py ``get_data`` (N = 25), with numpy's legacy seed 0."""
    rng = np.random.RandomState(seed)
    x = np.linspace(-1.0, 1.0, num_points)
    y = x + 0.2 * x**3 + 0.5 * (0.5 + x) ** 2 * np.sin(4.0 * x)
    y = y + sigma_obs * rng.randn(num_points)
    y = (y - y.mean()) / y.std()
    return {"X": x, "Y": y}


GP_JITTER = 1.0e-6


def _rbf(x, var, length, noise, jitter=GP_JITTER):
    k = var * jnp.exp(-0.5 * ((x[:, None] - x[None, :]) / length) ** 2)
    return k + (noise + jitter) * jnp.eye(x.shape[0])


def gp_hyperparameters(X, Y):
    """numpyro's examples/gp.py: RBF kernel, LogNormal(0, 10) priors, marginal likelihood."""
    var = numpyro.sample("kernel_var", dist.LogNormal(0.0, 10.0))
    noise = numpyro.sample("kernel_noise", dist.LogNormal(0.0, 10.0))
    length = numpyro.sample("kernel_length", dist.LogNormal(0.0, 10.0))
    k = _rbf(X, var, length, noise)
    numpyro.sample("Y", dist.MultivariateNormal(jnp.zeros(X.shape[0]), covariance_matrix=k),
                   obs=Y)


GP_SITES = ("kernel_var", "kernel_noise", "kernel_length")


def gp_log_posterior(u: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Log posterior (up to a constant) of u = log(var, noise, length), shape (n, 3),
    Jacobian included: each LogNormal(0, 10) prior becomes N(0, 10) on u. Float64."""
    var, noise, length = np.exp(u[:, 0]), np.exp(u[:, 1]), np.exp(u[:, 2])
    d2 = (x[:, None] - x[None, :]) ** 2
    k = var[:, None, None] * np.exp(-0.5 * d2[None] / length[:, None, None] ** 2)
    k = k + (noise + GP_JITTER)[:, None, None] * np.eye(len(x))[None]
    chol = np.linalg.cholesky(k)
    alpha = np.linalg.solve(chol, np.broadcast_to(y, (len(u), len(y)))[..., None])[..., 0]
    logdet = 2.0 * np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2)), axis=1)
    loglik = -0.5 * np.sum(alpha**2, axis=1) - 0.5 * logdet - 0.5 * len(y) * math.log(2 * math.pi)
    return loglik + np.sum(stats.norm.logpdf(u, 0.0, 10.0), axis=1)


def gp_quantities(d: Draws) -> Draws:
    """The hyperparameters on the log scale: kernel_var's posterior has a power-law right
    tail here (its quadrature mean is finite but its sd is not: no MCSE for a mean)."""
    return {f"log_{n}": np.log(d[n]) for n in GP_SITES}


def gp_reference(data: dict[str, Any], coarse: int = 41, fine: int = 101) -> RefSummary:
    """3-D quadrature in log space (adaptive box within [-15, 15]^3): moments of log(var),
    log(noise), log(length)."""
    x, y = np.asarray(data["X"], dtype=float), np.asarray(data["Y"], dtype=float)
    q = {f"log_{name}": (lambda p, i=i: p[:, i]) for i, name in enumerate(GP_SITES)}
    res = adaptive_grid_moments(lambda u: gp_log_posterior(u, x, y), np.full(3, -15.0),
                                np.full(3, 15.0), q, coarse=coarse, fine=fine, drop=25.0)
    return summary_from_moments(
        "quadrature", {n: (res["mean"][n], res["sd"][n]) for n in q},
        meta={"grid": f"{fine}^3 on log-space box {res['box']}", "edge_mass": res["edge_mass"]},
    )


def stochastic_volatility_data(num_steps: int = 100, seed: int = 2) -> dict[str, Any]:
    """Returns simulated from the model (step 0.05, nu = 6), T = 100 (the example uses the
    S&P 500 series)."""
    rng = np.random.default_rng(seed)
    s = np.cumsum(0.05 * rng.normal(size=num_steps))
    return {"returns": np.exp(s) * rng.standard_t(6.0, size=num_steps)}


def stochastic_volatility(returns):
    """numpyro's examples/stochastic_volatility.py: log-volatility random walk,
    Student-t returns."""
    step_size = numpyro.sample("sigma", dist.Exponential(50.0))
    s = numpyro.sample("s", dist.GaussianRandomWalk(scale=step_size,
                                                    num_steps=jnp.shape(returns)[0]))
    nu = numpyro.sample("nu", dist.Exponential(0.1))
    numpyro.sample("r", dist.StudentT(df=nu, loc=0.0, scale=jnp.exp(s)), obs=returns)


def stochastic_volatility_noncentered(returns):
    """The same posterior, the random walk non-centered: s = cumsum(sigma * s_raw) with
    s_raw ~ N(0, 1) (``GaussianRandomWalk(sigma)``'s first value is N(0, sigma^2) and each
    step N(0, sigma^2)), ``s`` deterministic. The centered model's funnel between ``sigma``
    and the steps left a long NUTS run of it at R-hat 1.135 and bulk ESS 24."""
    step_size = numpyro.sample("sigma", dist.Exponential(50.0))
    with numpyro.plate("time", jnp.shape(returns)[0]):
        s_raw = numpyro.sample("s_raw", dist.Normal(0.0, 1.0))
    s = numpyro.deterministic("s", jnp.cumsum(step_size * s_raw))
    nu = numpyro.sample("nu", dist.Exponential(0.1))
    numpyro.sample("r", dist.StudentT(df=nu, loc=0.0, scale=jnp.exp(s)), obs=returns)


def horseshoe_data(num_data: int = 100, num_covariates: int = 200, seed: int = 3
                   ) -> dict[str, Any]:
    """numpyro's examples/horseshoe_regression.py ``get_data`` shape: 3 active covariates
    out of p = 200, N = 100, noise sd 0.5."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(num_data, num_covariates))
    w = np.zeros(num_covariates)
    w[:3] = [2.0, -1.5, 1.0]
    return {"X": x, "Y": x @ w + 0.5 * rng.normal(size=num_data)}


def horseshoe_regression(X, Y):
    """numpyro's examples/horseshoe_regression.py (normal likelihood)."""
    d = X.shape[1]
    lambdas = numpyro.sample("lambdas", dist.HalfCauchy(jnp.ones(d)))
    tau = numpyro.sample("tau", dist.HalfCauchy(jnp.ones(1)))
    unscaled = numpyro.sample("unscaled_betas", dist.Normal(0.0, jnp.ones(d)))
    betas = numpyro.deterministic("betas", tau * lambdas * unscaled)
    prec_obs = numpyro.sample("prec_obs", dist.Gamma(3.0, 1.0))
    numpyro.sample("Y", dist.Normal(X @ betas, 1.0 / jnp.sqrt(prec_obs)), obs=Y)


def horseshoe_quantities(d: Draws) -> Draws:
    """Half-Cauchy local and global scales have posterior tails too heavy for a mean:
    compare them on the log scale."""
    return {"log_lambdas": np.log(d["lambdas"]), "log_tau": np.log(d["tau"]),
            "unscaled_betas": d["unscaled_betas"], "betas": d["betas"],
            "prec_obs": d["prec_obs"]}


def logistic_data(num_data: int = 1000, num_covariates: int = 100, seed: int = 4
                  ) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(num_data, num_covariates))
    beta = 0.15 * rng.normal(size=num_covariates)
    logits = -0.5 + x @ beta
    return {"X": x, "y": (rng.random(num_data) < special.expit(logits)).astype(float)}


def logistic_regression(X, y=None):
    alpha = numpyro.sample("alpha", dist.Normal(0.0, 5.0))
    beta = numpyro.sample("beta", dist.Normal(0.0, 1.0).expand([X.shape[1]]).to_event(1))
    with numpyro.plate("data", X.shape[0]):
        numpyro.sample("y", dist.Bernoulli(logits=alpha + X @ beta), obs=y)


HIER_SIGMA, HIER_TAU, HIER_MU_SD = 1.0, 0.7, 5.0


def hierarchical_data(num_groups: int = 1000, per_group: int = 4, seed: int = 5
                      ) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    theta = 0.8 + HIER_TAU * rng.normal(size=num_groups)
    y = theta[:, None] + HIER_SIGMA * rng.normal(size=(num_groups, per_group))
    return {"num_groups": num_groups, "y": y}


def hierarchical_1000(num_groups, y=None):
    """1000 group effects, non-centered, known scales: theta_j = mu + tau eta_j,
    y_jk ~ N(theta_j, sigma)."""
    mu = numpyro.sample("mu", dist.Normal(0.0, HIER_MU_SD))
    with numpyro.plate("groups", num_groups):
        eta = numpyro.sample("eta", dist.Normal(0.0, 1.0))
        loc = jnp.broadcast_to((mu + HIER_TAU * eta)[:, None], jnp.shape(y))
        numpyro.sample("y", dist.Normal(loc, HIER_SIGMA).to_event(1), obs=y)


def hierarchical_exact(data: dict[str, Any]) -> RefSummary:
    """Gaussian posterior of (mu, eta): precision = prior precision + A^T A / sigma^2."""
    y = np.asarray(data["y"], dtype=float)
    j, n = y.shape
    prec = np.zeros((j + 1, j + 1))
    prec[0, 0] = 1.0 / HIER_MU_SD**2 + j * n / HIER_SIGMA**2
    prec[0, 1:] = prec[1:, 0] = HIER_TAU * n / HIER_SIGMA**2
    prec[1:, 1:] = np.diag(np.full(j, 1.0 + HIER_TAU**2 * n / HIER_SIGMA**2))
    rhs = np.concatenate([[y.sum()], HIER_TAU * y.sum(axis=1)]) / HIER_SIGMA**2
    cov = np.linalg.inv(prec)
    mean = cov @ rhs
    sd = np.sqrt(np.diag(cov))
    return summary_from_moments("exact", {"mu": (mean[0], sd[0]), "eta": (mean[1:], sd[1:])})


def gmm_data(num_data: int = 200, seed: int = 6) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    z = rng.choice(3, size=num_data, p=[0.3, 0.5, 0.2])
    return {"y": np.array([-4.0, 0.0, 3.5])[z] + 0.8 * rng.normal(size=num_data)}


def gmm_enumerated(y, K: int = 3):
    """1-D Gaussian mixture, assignments enumerated (``infer={"enumerate": "parallel"}``);
    ordered locations (iid N(0, 10) restricted to loc_1 < loc_2 < loc_3) so that the
    posterior has one labelling."""
    weights = numpyro.sample("weights", dist.Dirichlet(jnp.ones(K)))
    locs = numpyro.sample("locs", dist.ImproperUniform(constraints.ordered_vector, (), (K,)))
    numpyro.factor("locs_prior", dist.Normal(0.0, 10.0).log_prob(locs).sum())
    scale = numpyro.sample("scale", dist.LogNormal(0.0, 2.0))
    with numpyro.plate("data", y.shape[0]):
        z = numpyro.sample("z", dist.Categorical(weights), infer={"enumerate": "parallel"})
        numpyro.sample("obs", dist.Normal(locs[z], scale), obs=y)


REG_NOISE, REG_PRIOR_SD = 0.5, 2.0


def regression_data(num_data: int = 30, seed: int = 7) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    x = np.column_stack([np.ones(num_data), rng.normal(size=(num_data, 2))])
    x_new = np.column_stack([np.ones(5), np.linspace(-2, 2, 5), np.linspace(1, -1, 5)])
    return {"x": x, "x_new": x_new,
            "y": x @ np.array([0.5, 1.0, -0.3]) + REG_NOISE * rng.normal(size=num_data)}


def regression_deterministic(x, x_new, y=None):
    """Linear regression, known noise, with deterministic sites ``odds = exp(beta)`` and
    ``y_new = x_new @ beta`` (predictions)."""
    beta = numpyro.sample("beta", dist.Normal(0.0, REG_PRIOR_SD).expand([x.shape[1]]).to_event(1))
    numpyro.deterministic("odds", jnp.exp(beta))
    numpyro.deterministic("y_new", x_new @ beta)
    numpyro.sample("y", dist.Normal(x @ beta, REG_NOISE).to_event(1), obs=y)


def regression_exact(data: dict[str, Any]) -> RefSummary:
    """Gaussian posterior of beta; odds are log-normal; y_new Gaussian."""
    x, x_new, y = (np.asarray(data[k], dtype=float) for k in ("x", "x_new", "y"))
    cov = np.linalg.inv(np.eye(x.shape[1]) / REG_PRIOR_SD**2 + x.T @ x / REG_NOISE**2)
    m = cov @ x.T @ y / REG_NOISE**2
    v = np.diag(cov)
    odds_mean = np.exp(m + v / 2)
    odds_sd = np.sqrt((np.exp(v) - 1.0) * np.exp(2 * m + v))
    return summary_from_moments("exact", {
        "beta": (m, np.sqrt(v)), "odds": (odds_mean, odds_sd),
        "y_new": (x_new @ m, np.sqrt(np.einsum("ij,jk,ik->i", x_new, cov, x_new))),
    })


MIX_PRIOR_SD = 3.0


def mixture_data(num_data: int = 60, seed: int = 8) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    z = rng.random(num_data) < 0.5
    return {"y": np.where(z, -1.5, 1.5) + rng.normal(size=num_data)}


def mixture_label_switching(y):
    """y_i ~ 0.5 N(mu_1, 1) + 0.5 N(mu_2, 1), mu_k ~ N(0, 3) iid, unordered: two mirror
    modes of equal weight."""
    mu = numpyro.sample("mu", dist.Normal(0.0, MIX_PRIOR_SD).expand([2]).to_event(1))
    mix = dist.MixtureSameFamily(dist.Categorical(probs=jnp.array([0.5, 0.5])),
                                 dist.Normal(mu, 1.0))
    with numpyro.plate("data", y.shape[0]):
        numpyro.sample("obs", mix, obs=y)


def mixture_log_density(mu: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Log joint density of ``mu`` (n, 2) and ``y`` (float64)."""
    lik = np.logaddexp(stats.norm.logpdf(y[None, :], mu[:, :1], 1.0),
                       stats.norm.logpdf(y[None, :], mu[:, 1:], 1.0)) + math.log(0.5)
    return lik.sum(axis=1) + stats.norm.logpdf(mu, 0.0, MIX_PRIOR_SD).sum(axis=1)


def mixture_reference(data: dict[str, Any], points: int = 561) -> RefSummary:
    """2-D quadrature on [-7, 7]^2; the weight of mu_1 < mu_2 is 0.5 by symmetry."""
    y = np.asarray(data["y"], dtype=float)
    axis = np.linspace(-7.0, 7.0, points)
    res = grid_moments(lambda p: mixture_log_density(p, y), [axis, axis], {"mu": lambda p: p,
                                            "mode": lambda p: (p[:, 0] < p[:, 1]) * 1.0})
    return summary_from_moments(
        "quadrature", {"mu": (res["mean"]["mu"], res["sd"]["mu"])},
        mode_weight=0.5,
        meta={"grid": f"{points}^2 on [-7, 7]^2", "edge_mass": res["edge_mass"],
              "quadrature_mode_weight": float(res["mean"]["mode"])},
    )


BIMODAL_Y, BIMODAL_NOISE, BIMODAL_PRIOR = 4.0, 0.5, (0.25, 1.0)


def bimodal_data() -> dict[str, Any]:
    return {"y": BIMODAL_Y}


def bimodal_theta_squared(y=None):
    """The README's model: theta ~ N(0.25, 1), y ~ N(theta^2, 0.5), y = 4: modes near +-2."""
    theta = numpyro.sample("theta", dist.Normal(*BIMODAL_PRIOR))
    numpyro.sample("y", dist.Normal(theta**2, BIMODAL_NOISE), obs=y)


def bimodal_log_density(theta: np.ndarray, y: float = BIMODAL_Y) -> np.ndarray:
    return (stats.norm.logpdf(theta, *BIMODAL_PRIOR)
            + stats.norm.logpdf(y, theta**2, BIMODAL_NOISE))


def bimodal_reference(data: dict[str, Any], points: int = 24001) -> RefSummary:
    """1-D quadrature on [-6, 6]; mode weight P(theta > 0)."""
    res = grid_moments(lambda p: bimodal_log_density(p[:, 0], float(data["y"])),
                       [np.linspace(-6.0, 6.0, points)],
                       {"theta": lambda p: p[:, 0], "mode": lambda p: (p[:, 0] > 0) * 1.0})
    return summary_from_moments(
        "quadrature", {"theta": (res["mean"]["theta"], res["sd"]["theta"])},
        mode_weight=float(res["mean"]["mode"]),
        meta={"grid": f"{points} points on [-6, 6]", "edge_mass": res["edge_mass"]},
    )


BB_PRIOR = (2.0, 2.0)


def beta_bernoulli_data(num_data: int = 60, seed: int = 9) -> dict[str, Any]:
    return {"flips": (np.random.default_rng(seed).random(num_data) < 0.3).astype(float)}


def beta_bernoulli(flips):
    p = numpyro.sample("p", dist.Beta(*BB_PRIOR))
    with numpyro.plate("flips", flips.shape[0]):
        numpyro.sample("obs", dist.Bernoulli(p), obs=flips)


def beta_bernoulli_exact(data: dict[str, Any]) -> RefSummary:
    k, n = float(np.sum(data["flips"])), len(data["flips"])
    post = stats.beta(BB_PRIOR[0] + k, BB_PRIOR[1] + n - k)
    return summary_from_moments("exact", {"p": (post.mean(), post.std())})


NIG_PRIOR = {"m0": 0.0, "k0": 0.5, "a0": 3.0, "b0": 4.0}


def normal_data(num_data: int = 20, seed: int = 10) -> dict[str, Any]:
    return {"y": 1.0 + 2.0 * np.random.default_rng(seed).normal(size=num_data)}


def normal_unknown_variance(y):
    """Conjugate normal-inverse-gamma: sigma2 ~ IG(3, 4), mu | sigma2 ~ N(0, sigma2 / 0.5);
    deterministic ``sigma``."""
    sigma2 = numpyro.sample("sigma2", dist.InverseGamma(NIG_PRIOR["a0"], NIG_PRIOR["b0"]))
    mu = numpyro.sample("mu", dist.Normal(NIG_PRIOR["m0"], jnp.sqrt(sigma2 / NIG_PRIOR["k0"])))
    sigma = numpyro.deterministic("sigma", jnp.sqrt(sigma2))
    with numpyro.plate("data", y.shape[0]):
        numpyro.sample("obs", dist.Normal(mu, sigma), obs=y)


def normal_exact(data: dict[str, Any]) -> RefSummary:
    """sigma2 | y ~ IG(a_n, b_n); mu | y ~ Student-t(2 a_n, m_n, b_n / (a_n k_n));
    E sigma = sqrt(b_n) Gamma(a_n - 1/2) / Gamma(a_n)."""
    y = np.asarray(data["y"], dtype=float)
    n, ybar = len(y), float(y.mean())
    m0, k0, a0, b0 = (NIG_PRIOR[k] for k in ("m0", "k0", "a0", "b0"))
    kn, an = k0 + n, a0 + n / 2
    mn = (k0 * m0 + n * ybar) / kn
    bn = b0 + 0.5 * np.sum((y - ybar) ** 2) + k0 * n * (ybar - m0) ** 2 / (2 * kn)
    s2_mean, s2_sd = bn / (an - 1), bn / ((an - 1) * math.sqrt(an - 2))
    s_mean = math.sqrt(bn) * math.exp(special.gammaln(an - 0.5) - special.gammaln(an))
    s_sd = math.sqrt(s2_mean - s_mean**2)
    mu_sd = math.sqrt(bn / (kn * (an - 1)))
    return summary_from_moments("exact", {"mu": (mn, mu_sd), "sigma2": (s2_mean, s2_sd),
                                          "sigma": (s_mean, s_sd)})


def _first_below_second(d: Draws) -> np.ndarray:
    return (d["mu"][..., 0] < d["mu"][..., 1]).astype(float)


def _theta_positive(d: Draws) -> np.ndarray:
    return (d["theta"] > 0.0).astype(float)


MODELS: dict[str, ModelEntry] = {e.name: e for e in [
    ModelEntry(
        "eight_schools_centered", "hierarchical (centered, funnel)", eight_schools_centered,
        eight_schools_data, 10, EIGHT_SCHOOLS_REF, sites("mu", "tau", "theta"),
        description="NumPyro README's eight schools, centered",
    ),
    ModelEntry(
        "eight_schools_noncentered", "hierarchical (non-centered, reparam)",
        eight_schools_noncentered, eight_schools_data, 10, EIGHT_SCHOOLS_REF,
        sites("mu", "tau", "theta"),
        description="NumPyro README's eight schools, TransformReparam",
    ),
    ModelEntry(
        "radon_varying_intercept", "varying intercepts, 85 groups (centered)",
        radon_varying_intercept, radon_data, 89,
        Reference("nuts", model=radon_noncentered, key="radon_noncentered",
                  nuts_kwargs={"target_accept_prob": 0.9},
                  note="long NUTS of the non-centered model, a mapped back"),
        sites("mu_a", "sigma_a", "b", "sigma_y", "a"),
        description="radon-like, simulated: 919 houses, 85 counties of 1-100 houses",
    ),
    ModelEntry(
        "gp_hyperparameters", "Gaussian process hyperparameters", gp_hyperparameters,
        gp_data, 3, Reference("quadrature", gp_reference, note="3-D grid in log space"),
        gp_quantities, description="numpyro examples/gp.py, N = 25",
    ),
    ModelEntry(
        "stochastic_volatility", "latent time series (T = 100)", stochastic_volatility,
        stochastic_volatility_data, 102,
        Reference("nuts", model=stochastic_volatility_noncentered,
                  key="stochastic_volatility_noncentered", nuts_kwargs={"target_accept_prob": 0.9},
                  note="long NUTS of the non-centered model, s mapped back"),
        sites("sigma", "s", "nu"),
        description="numpyro examples/stochastic_volatility.py, simulated returns",
    ),
    ModelEntry(
        "horseshoe_regression", "sparse regression (horseshoe, p = 200)",
        horseshoe_regression, horseshoe_data, 402,
        Reference("nuts", nuts_kwargs={"target_accept_prob": 0.95},
                  note="long NUTS (target_accept 0.95); log-scales"),
        horseshoe_quantities, description="numpyro examples/horseshoe_regression.py, N = 100",
    ),
    ModelEntry(
        "logistic_regression", "GLM (N = 1000, p = 100)", logistic_regression, logistic_data,
        101, Reference("nuts", note="long NUTS"), sites("alpha", "beta"),
    ),
    ModelEntry(
        "hierarchical_1000", "hierarchical, 1000 groups (non-centered, known scales)",
        hierarchical_1000, hierarchical_data, 1001,
        Reference("exact", hierarchical_exact, note="conjugate Gaussian"), sites("mu", "eta"),
    ),
    ModelEntry(
        "gmm_enumerated", "mixture with enumerated discrete assignments", gmm_enumerated,
        gmm_data, 6, Reference("nuts", note="long NUTS (enumerated too)"),
        sites("weights", "locs", "scale"),
        description="3-component 1-D GMM, N = 200, ordered locations",
    ),
    ModelEntry(
        "regression_deterministic", "deterministic sites (linear regression)",
        regression_deterministic, regression_data, 3,
        Reference("exact", regression_exact, note="conjugate Gaussian, log-normal odds"),
        sites("beta", "odds", "y_new"),
    ),
    ModelEntry(
        "mixture_label_switching", "multimodal: label switching (2 mirror modes)",
        mixture_label_switching, mixture_data, 2,
        Reference("quadrature", mixture_reference, note="2-D grid; mode weight 0.5"),
        sites("mu"), mode_indicator=_first_below_second,
    ),
    ModelEntry(
        "bimodal_theta_squared", "multimodal likelihood y ~ N(theta^2, 0.5)",
        bimodal_theta_squared, bimodal_data, 1,
        Reference("quadrature", bimodal_reference, note="1-D grid; mode weight P(theta > 0)"),
        sites("theta"), mode_indicator=_theta_positive,
    ),
    ModelEntry(
        "beta_bernoulli", "conjugate (beta-Bernoulli)", beta_bernoulli, beta_bernoulli_data, 1,
        Reference("exact", beta_bernoulli_exact, note="Beta posterior"), sites("p"),
    ),
    ModelEntry(
        "normal_unknown_variance", "conjugate (normal-inverse-gamma) + deterministic",
        normal_unknown_variance, normal_data, 2,
        Reference("exact", normal_exact, note="Student-t / inverse-gamma"),
        sites("mu", "sigma2", "sigma"),
    ),
]}


def latent_dim(model: Callable, data: dict[str, Any]) -> int:
    """Unconstrained dimension of ``model``'s continuous latent sites (as NUTS sees it)."""
    from numpyro.infer.util import initialize_model

    info = initialize_model(jax.random.key(0), model, model_kwargs=data)[0]
    return int(sum(np.size(v) for v in jax.tree.leaves(info.z)))


# ===================================================================== presets


@dataclass(frozen=True)
class Preset:
    """Budgets. ``reference``: the long NUTS run of ``nuts`` references;
    ``rerun_max_s``: a second identical run is timed when the first took at most this."""

    nuts: RunConfig
    dl: RunConfig
    reference: RunConfig
    rerun_max_s: float


PRESETS: dict[str, Preset] = {
    # Plumbing only: too short for the goals (the NUTS references too).
    "tiny": Preset(nuts=RunConfig(4, 100, 100), dl=RunConfig(64, 100, 50),
                   reference=RunConfig(4, 300, 700), rerun_max_s=60.0),
    "small": Preset(nuts=RunConfig(4, 500, 500), dl=RunConfig(256, 300, 100),
                    reference=RunConfig(4, 1000, 5000), rerun_max_s=300.0),
    "full": Preset(nuts=RunConfig(4, 1000, 1000), dl=RunConfig(400, 400, 200),
                   reference=RunConfig(4, 2000, 10000), rerun_max_s=600.0),
}


# ===================================================================== reference cache


def data_hash(data: dict[str, Any]) -> str:
    """Short hash of a model's data (cache key: simulated data changes invalidate it)."""
    h = hashlib.sha1()
    for k in sorted(data):
        h.update(k.encode())
        h.update(np.ascontiguousarray(np.asarray(data[k], dtype=float)).tobytes())
    return h.hexdigest()[:10]


def _config_tag(c: RunConfig) -> str:
    return f"{c.num_chains}x{c.num_warmup}+{c.num_samples}"


def _ref_path(entry: ModelEntry, data: dict, preset: Preset, seed: int, cache: Path) -> Path:
    ref = entry.reference
    key = ref.key or entry.name
    tag = f"{_config_tag(preset.reference)}-seed{seed}-" if ref.kind == "nuts" else ""
    return cache / f"{key}-{ref.kind}-{tag}{data_hash(data)}.json"


def nuts_reference(entry: ModelEntry, data: dict[str, Any], config: RunConfig, seed: int
                   ) -> RefSummary:
    """Long NUTS run of the reference model (sequential chains); MCSE from mean-ESS."""
    ref = entry.reference
    model = ref.model or entry.model
    quantities = ref.quantities or entry.quantities
    t0 = time.perf_counter()
    mcmc = MCMC(NUTS(model, **ref.nuts_kwargs), num_warmup=config.num_warmup,
                num_samples=config.num_samples, num_chains=config.num_chains,
                chain_method="sequential", progress_bar=False)
    mcmc.run(jax.random.key(10_000 + seed), **data, extra_fields=("num_steps", "diverging"))
    extra = mcmc.get_extra_fields()
    draws = {k: np.asarray(v, dtype=float)
             for k, v in mcmc.get_samples(group_by_chain=True).items()}
    flat = flatten_parameters(quantities(draws))
    diag = _diagnostics(flat)
    return RefSummary(
        "nuts",
        {k: float(v.mean()) for k, v in flat.items()},
        {k: float(v.std()) for k, v in flat.items()},
        {k: mcse_mean(v) for k, v in flat.items()},
        meta={"config": asdict(config), "nuts_kwargs": ref.nuts_kwargs,
              "model": model.__name__, "seconds": time.perf_counter() - t0,
              "divergences": int(np.sum(extra["diverging"])),
              "grads": int(np.asarray(extra["num_steps"]).sum(dtype=np.int64)),
              "max_rhat": float(np.max(diag["rhat"])),
              "min_ess_bulk": float(np.min(diag["ess_bulk"]))},
    )


def get_reference(entry: ModelEntry, data: dict[str, Any], preset: Preset, seed: int = 0,
                  cache: Path | None = DEFAULT_REF_CACHE, log=print) -> RefSummary:
    """The entry's reference: exact closed forms computed on the spot; quadrature and
    NUTS references read from ``cache`` when there, else computed and written."""
    ref = entry.reference
    if ref.kind == "exact":
        return ref.compute(data)
    path = None if cache is None else _ref_path(entry, data, preset, seed, Path(cache))
    if path is not None and path.is_file():
        return RefSummary(**json.loads(path.read_text()))
    t0 = time.perf_counter()
    if ref.kind == "quadrature":
        out = ref.compute(data)
    elif ref.kind == "nuts":
        log(f"  reference: NUTS {_config_tag(preset.reference)} of "
            f"{(ref.model or entry.model).__name__} ...")
        out = nuts_reference(entry, data, preset.reference, seed)
    else:
        raise ValueError(f"unknown reference kind {ref.kind!r}")
    out.meta["seconds"] = time.perf_counter() - t0
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(out), indent=1))
    return out


# ===================================================================== statistics


def _diagnostics(flat: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """R-hat, bulk and tail ESS of every flattened parameter (one ArviZ call each)."""
    x = np.stack([np.asarray(v, dtype=float) for v in flat.values()], axis=-1)
    ds = az.convert_to_dataset({"x": x})
    return {
        "rhat": np.atleast_1d(az.rhat(ds)["x"].values),
        "ess_bulk": np.atleast_1d(az.ess(ds, method="bulk")["x"].values),
        "ess_tail": np.atleast_1d(az.ess(ds, method="tail")["x"].values),
    }


def indicator_weight(indicator: np.ndarray) -> dict[str, float]:
    """Pooled weight of a 0/1 mode indicator (chains, draws), its MCSE and per-chain counts:
    :func:`benchmarks.reference.mode_weight` (written for ``mu[0] < mu[1]``), fed with
    ``mu = (0, indicator)``."""
    ind = np.asarray(indicator, dtype=float)
    return mode_weight({"mu": np.stack([np.zeros_like(ind), ind], axis=-1)})


def score(quantities: Draws, ref: RefSummary, grads: int | None = None,
          seconds: float | None = None, indicator: np.ndarray | None = None
          ) -> dict[str, Any]:
    """Every compared scalar of ``quantities`` against ``ref``, and the worst of each.

    z uses :func:`benchmarks.reference.mcse_mean` for the run and the reference's MCSE.
    Returns ``{"summary": {...}, "parameters": [{...}, ...]}``; non-finite statistics
    make the summary's worst values ``nan``.
    """
    flat = flatten_parameters(quantities)
    missing = [k for k in ref.mean if k not in flat]
    if missing:
        raise KeyError(f"draws lack reference parameters {missing[:5]}")
    flat = {k: flat[k] for k in ref.mean}
    with warnings.catch_warnings():  # short runs: "More chains than draws"
        warnings.filterwarnings("ignore", message="More chains")
        diag = _diagnostics(flat)
        mcses = [mcse_mean(x) for x in flat.values()]
    rows = []
    for i, (name, x) in enumerate(flat.items()):
        mcse = mcses[i]
        mean, sd = float(x.mean()), float(x.std())
        denom = math.hypot(mcse, ref.mcse[name])
        z = (mean - ref.mean[name]) / denom if denom > 0 else (
            0.0 if mean == ref.mean[name] else math.copysign(math.inf, mean - ref.mean[name]))
        rows.append({
            "parameter": name, "ref_mean": ref.mean[name], "ref_sd": ref.sd[name],
            "ref_mcse": ref.mcse[name], "mean": mean, "sd": sd, "mcse": mcse, "z": z,
            "sd_ratio": sd / ref.sd[name] if ref.sd[name] > 0 else float("nan"),
            "rhat": float(diag["rhat"][i]), "ess_bulk": float(diag["ess_bulk"][i]),
            "ess_tail": float(diag["ess_tail"][i]),
        })

    def worst(key, fn):
        v = np.array([r[key] for r in rows], dtype=float)
        return float(fn(v)) if np.all(np.isfinite(v)) else float("nan")

    zs = np.array([abs(r["z"]) for r in rows])
    summary = {
        "num_parameters": len(rows),
        "max_abs_z": worst("z", lambda v: np.max(np.abs(v))),
        "worst_z_parameter": rows[int(np.nanargmax(np.where(np.isfinite(zs), zs, np.inf)))][
            "parameter"],
        "sd_ratio_min": worst("sd_ratio", np.min),
        "sd_ratio_max": worst("sd_ratio", np.max),
        "max_rhat": worst("rhat", np.max),
        "min_ess_bulk": worst("ess_bulk", np.min),
        "min_ess_tail": worst("ess_tail", np.min),
    }
    ess = summary["min_ess_bulk"]
    summary["ess_per_grad"] = ess / grads if grads else float("nan")
    summary["ess_per_s"] = ess / seconds if seconds else float("nan")
    if indicator is not None:
        w = indicator_weight(indicator)
        w["ref_weight"] = ref.mode_weight
        w["abs_error"] = (float("nan") if ref.mode_weight is None
                          else abs(w["weight"] - ref.mode_weight))
        summary["mode_weight"] = w
    return {"summary": summary, "parameters": rows}


def goal_check(record: dict[str, Any]) -> dict[str, Any]:
    """Whether a scored run matches the reference, and if not, whether it warned its user."""
    s = record["stats"]["summary"]
    means_ok = bool(s["max_abs_z"] < Z_MAX)
    sds_ok = bool(max(abs(s["sd_ratio_min"] - 1), abs(s["sd_ratio_max"] - 1)) <= SD_RATIO_TOL)
    rhat_ok = bool(s["max_rhat"] <= RHAT_MAX)
    weight_ok = None
    if "mode_weight" in s:
        weight_ok = bool(s["mode_weight"]["abs_error"] <= WEIGHT_TOL)
    matches = means_ok and sds_ok and rhat_ok and weight_ok is not False
    reasons = []
    if record["warnings"]:
        reasons.append("warning")
    if record["divergences"] > 0:
        reasons.append("divergences")
    if not rhat_ok:
        reasons.append("R-hat")
    return {"means_ok": means_ok, "sds_ok": sds_ok, "rhat_ok": rhat_ok,
            "weight_ok": weight_ok, "matches": matches, "warned": reasons,
            "ok": matches or bool(reasons)}


# ===================================================================== runs


def _compilation_cache() -> None:
    """A persistent XLA compilation cache private to this process (removed at exit), so
    that a second identical run reuses the first run's executables where XLA can."""
    path = tempfile.mkdtemp(prefix="jax-cache-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def _kernel(sampler: str, model: Callable):
    if sampler == "nuts":
        return NUTS(model), "num_steps", "sequential"
    if sampler == "dl":
        from numpyro_dilation import DilationLangevin

        return DilationLangevin(model), "num_grad_evals", "vectorized"
    raise ValueError(f"unknown sampler {sampler!r} (one of {sorted(SAMPLERS)})")


def _warmup_and_run(mcmc: MCMC, key: jax.Array, data: dict, cost: str):
    t0 = time.perf_counter()
    mcmc.warmup(key, **data, collect_warmup=True, extra_fields=(cost, "diverging"))
    warm = mcmc.get_extra_fields()
    t1 = time.perf_counter()
    mcmc.run(jax.random.fold_in(key, 1), **data, extra_fields=(cost, "diverging"))
    samples = jax.block_until_ready(mcmc.get_samples(group_by_chain=True))
    t2 = time.perf_counter()
    return warm, mcmc.get_extra_fields(), samples, (t1 - t0, t2 - t1)


def _single_run(mcmc: MCMC, key: jax.Array, data: dict, cost: str):
    t0 = time.perf_counter()
    mcmc.run(key, **data, extra_fields=(cost, "diverging"))
    samples = jax.block_until_ready(mcmc.get_samples(group_by_chain=True))
    return None, mcmc.get_extra_fields(), samples, (0.0, time.perf_counter() - t0)


def run_sampler(entry: ModelEntry, data: dict[str, Any], sampler: str, config: RunConfig,
                seed: int = 0, rerun_max_s: float = 0.0, split_warmup: bool = True
                ) -> tuple[dict[str, Any], Draws]:
    """One run of ``sampler`` ("nuts" or "dl") on ``entry``: warm-up (collected) then
    sampling; every warning raised is recorded. Returns (record, draws).

    When the run took at most ``rerun_max_s`` seconds, the same warm-up + run is
    repeated on the same ``MCMC`` object and timed (``seconds_rerun``).
    ``split_warmup=False``: one ``mcmc.run`` (warm-up and sampling in one compiled
    loop, faster to compile); the warm-up's gradients are then unknown (``None``).
    """
    kernel, cost, chain_method = _kernel(sampler, entry.model)
    mcmc = MCMC(kernel, num_warmup=config.num_warmup, num_samples=config.num_samples,
                num_chains=config.num_chains, chain_method=chain_method, progress_bar=False)
    key = jax.random.fold_in(jax.random.key(seed), list(MODELS).index(entry.name)
                             if entry.name in MODELS else 0)
    key = jax.random.fold_in(key, list(SAMPLERS).index(sampler))
    run = _warmup_and_run if split_warmup else _single_run
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warm, extra, samples, (t_warm, t_run) = run(mcmc, key, data, cost)
        seconds_rerun, rerun_identical = None, None
        if t_warm + t_run <= rerun_max_s:
            _, _, again, (a, b) = run(mcmc, key, data, cost)
            seconds_rerun = a + b
            rerun_identical = all(np.array_equal(np.asarray(samples[k]), np.asarray(again[k]))
                                  for k in samples)
    texts: dict[str, int] = {}
    for w in caught:
        if issubclass(w.category, IGNORED_WARNINGS):
            continue
        text = f"{w.category.__name__}: {str(w.message).strip()}"
        texts[text] = texts.get(text, 0) + 1
    draws = {k: np.asarray(v, dtype=float) for k, v in samples.items()}
    grads_warmup = None if warm is None else int(np.asarray(warm[cost]).sum(dtype=np.int64))
    grads_sampling = int(np.asarray(extra[cost]).sum(dtype=np.int64))
    record = {
        "sampler": SAMPLERS[sampler], "config": asdict(config), "chain_method": chain_method,
        "finished": True, "error": None,
        "seconds": t_warm + t_run, "seconds_warmup": t_warm, "seconds_sampling": t_run,
        "seconds_rerun": seconds_rerun, "rerun_identical": rerun_identical,
        "grads_warmup": grads_warmup, "grads_sampling": grads_sampling,
        "grads": None if warm is None else grads_warmup + grads_sampling,
        "divergences": int(np.sum(extra["diverging"])),
        "divergences_warmup": None if warm is None else int(np.sum(warm["diverging"])),
        "warnings": [{"text": t, "count": c} for t, c in texts.items()],
        "peak_rss_mib": peak_rss_mib(), "isolated": False,
    }
    return record, draws


def peak_rss_mib() -> float:
    """This process's peak resident set size so far (``ru_maxrss``, KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def benchmark_one(entry: ModelEntry, sampler: str, preset: Preset, ref: RefSummary,
                  seed: int = 0, rerun: str = "auto") -> dict[str, Any]:
    """:func:`run_sampler` then :func:`score`; an exception becomes a record with ``error``."""
    config = preset.nuts if sampler == "nuts" else preset.dl
    rerun_max = {"auto": preset.rerun_max_s, "always": math.inf, "never": -1.0}[rerun]
    data = entry.data()
    try:
        record, draws = run_sampler(entry, data, sampler, config, seed, rerun_max)
    except Exception as exc:  # noqa: BLE001 - recorded, the suite goes on
        return failed_record(sampler, config, f"{type(exc).__name__}: {exc}")
    indicator = entry.mode_indicator(draws) if entry.mode_indicator else None
    record["stats"] = score(entry.quantities(draws), ref, record["grads"], record["seconds"],
                            indicator)
    record["goal"] = goal_check(record)
    return record


def failed_record(sampler: str, config: RunConfig, error: str) -> dict[str, Any]:
    return {"sampler": SAMPLERS[sampler], "config": asdict(config), "finished": False,
            "error": error, "warnings": [], "stats": None, "goal": None}


def benchmark_isolated(name: str, sampler: str, args: argparse.Namespace,
                       timeout: float | None) -> dict[str, Any]:
    """:func:`benchmark_one` in a fresh process (``--json-out``); its own peak memory."""
    preset = PRESETS[args.preset]
    config = preset.nuts if sampler == "nuts" else preset.dl
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run.json"
        cmd = [sys.executable, "-m", "benchmarks.models", "--preset", args.preset,
               "--only", name, "--samplers", sampler, "--seed", str(args.seed),
               "--rerun", args.rerun, "--ref-cache", str(args.ref_cache),
               "--json-out", str(out)]
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            return failed_record(sampler, config, f"did not finish in {timeout:g} s")
        if proc.returncode != 0 or not out.is_file():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
            return failed_record(sampler, config,
                                 f"exit {proc.returncode}: " + " | ".join(tail))
        record = json.loads(out.read_text())
        record["process_seconds"] = time.perf_counter() - t0
        return record


# ===================================================================== report


def _count(n: int | None) -> str:
    return "–" if n is None else f"{n:,}"


def _goal_text(goal: dict[str, Any] | None) -> str:
    if goal is None:
        return "–"
    if goal["matches"]:
        return "yes"
    failed = [k for k, v in (("means", goal["means_ok"]), ("sds", goal["sds_ok"]),
                             ("R-hat", goal["rhat_ok"]), ("weight", goal["weight_ok"]))
              if v is False]
    miss = "no (" + ", ".join(failed) + ")"
    return f"{miss}, warned ({', '.join(goal['warned'])})" if goal["warned"] else (
        f"**{miss}, silent**")


def time_ratio(model: dict[str, Any]) -> float | None:
    """DilationLangevin's wall time over NUTS's (first runs, compilation included)."""
    runs = model["runs"]
    dl, nuts = runs.get("DilationLangevin"), runs.get("NUTS")
    if not (dl and nuts and dl["finished"] and nuts["finished"]):
        return None
    return dl["seconds"] / nuts["seconds"]


def to_markdown(report: dict[str, Any]) -> str:
    """One table (rows: model x sampler), then the warnings and errors."""
    lines = [f"Command: `{report['command']}` (preset **{report['preset']}**, commit "
             f"`{report['git']}`, {report['device']})", ""]
    lines += [
        "| model | d | reference | sampler | chains x (warm-up + draws) | seconds (first / "
        "rerun) | gradients | max abs z | sd ratio min–max | max R-hat | min ESS bulk / tail "
        "| ESS/s | div. | mode weight (exact) | peak RSS MiB | warnings | finished "
        "| time DL/NUTS <= 3 | matches reference or warned |",
        "|---|---:|---|---|---|---:|---:|---:|---|---:|---|---:|---:|---|---:|---:|---|---|---|",
    ]
    notes = []
    for m in report["models"]:
        ratio = time_ratio(m)
        for sampler, r in m["runs"].items():
            c = r["config"]
            head = (f"| {m['name']} | {m['dim']} | {m['reference']['kind']} | {sampler} "
                    f"| {c['num_chains']} x ({c['num_warmup']} + {c['num_samples']}) ")
            if not r["finished"]:
                lines.append(head + "| – " * 11 + f"| **no**: {r['error']} | – | – |")
                continue
            s = r["stats"]["summary"]
            rerun = _fmt(r["seconds_rerun"], ".1f") if r["seconds_rerun"] is not None else "–"
            w = s.get("mode_weight")
            weight = (f"{w['weight']:.3f} ± {_fmt(w['mcse'], '.3f')} ({w['ref_weight']:.3f})"
                      if w else "–")
            rss = f"{r['peak_rss_mib']:.0f}" + ("" if r["isolated"] else "*")
            tr = "–"
            if sampler == "DilationLangevin" and ratio is not None:
                tr = f"{ratio:.2f}: {_yes(ratio <= TIME_RATIO_MAX)}"
            lines.append(
                head + f"| {r['seconds']:.1f} / {rerun} | {_count(r['grads'])} "
                f"| {_fmt(s['max_abs_z'], '.2f')} | {_fmt(s['sd_ratio_min'], '.2f')}–"
                f"{_fmt(s['sd_ratio_max'], '.2f')} | {_fmt(s['max_rhat'], '.3f')} "
                f"| {_fmt(s['min_ess_bulk'], '.0f')} / {_fmt(s['min_ess_tail'], '.0f')} "
                f"| {_fmt(s['ess_per_s'], '.1f')} | {r['divergences']} | {weight} | {rss} "
                f"| {sum(w['count'] for w in r['warnings'])} | yes | {tr} "
                f"| {_goal_text(r['goal'])} |"
            )
            for wt in r["warnings"]:
                notes.append(f"- {m['name']} / {sampler} ({wt['count']}x): {wt['text']}")
    lines += ["", "d: latent (unconstrained) dimension. Seconds: warm-up + sampling, first run "
              "with compilation / identical rerun in the same process (XLA executables from a "
              "per-process cache; a loop with host callbacks, such as DilationLangevin's, is "
              "not cached and compiles again). ESS/s: min bulk ESS per "
              "second of the first run. Peak RSS: * = whole-process peak so far (run with "
              "--isolate for each run's own). Matches: every abs z < 4, sd ratios within "
              "10 %, R-hat <= 1.01, mode weight within 0.05 of the exact one; warned: a "
              "warning, divergences or R-hat > 1.01 told the user."]
    refs = [f"- {m['name']}: {m['reference']['kind']} — {m['reference']['note']}"
            + _ref_health(m["reference"]) for m in report["models"]]
    lines += ["", "References:", "", *refs]
    if notes:
        lines += ["", "Warnings raised during the runs:", "", *notes]
    return "\n".join(lines) + "\n"


def _ref_health(ref: dict[str, Any]) -> str:
    meta = ref.get("meta", {})
    if ref["kind"] == "nuts":
        c = meta.get("config", {})
        return (f" ({c.get('num_chains')} x ({c.get('num_warmup')} + {c.get('num_samples')}), "
                f"max R-hat {meta.get('max_rhat', float('nan')):.3f}, min ESS "
                f"{meta.get('min_ess_bulk', float('nan')):.0f}, "
                f"{meta.get('divergences')} divergences)")
    if "edge_mass" in meta:
        return f" ({meta.get('grid')}, mass on the box's edge {meta['edge_mass']:.1e})"
    return ""


# ===================================================================== command line


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.models",
        description="NUTS and DilationLangevin on real NumPyro models, against references.",
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small")
    parser.add_argument("--only", type=_split, default=None, help="comma-separated model names")
    parser.add_argument("--samplers", type=_split, default=["nuts", "dl"],
                        help="comma-separated: nuts, dl")
    parser.add_argument("--out", default=None,
                        help="output prefix (default benchmarks/results/models-<preset>)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--isolate", action="store_true",
                        help="each (model, sampler) in a fresh process: its own peak memory")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds per isolated run (needs --isolate)")
    parser.add_argument("--rerun", choices=("auto", "always", "never"), default="auto",
                        help="time a second identical run (auto: when the first took at most "
                             "the preset's rerun_max_s)")
    parser.add_argument("--ref-cache", type=Path, default=DEFAULT_REF_CACHE,
                        help="directory of cached quadrature and NUTS references")
    parser.add_argument("--reference-only", action="store_true",
                        help="compute (and cache) the references, run no sampler")
    parser.add_argument("--list", action="store_true", help="print the registry and exit")
    parser.add_argument("--json-out", type=Path, default=None,
                        help="(internal) run one model and one sampler, write its record")
    args = parser.parse_args(argv)

    names = args.only or list(MODELS)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        parser.error(f"unknown models {unknown}; known: {', '.join(MODELS)}")
    bad = [s for s in args.samplers if s not in SAMPLERS]
    if bad:
        parser.error(f"unknown samplers {bad}; known: {', '.join(SAMPLERS)}")
    if args.timeout is not None and not args.isolate:
        parser.error("--timeout needs --isolate")
    if args.list:
        for e in MODELS.values():
            print(f"{e.name:28s} d={e.dim:<5d} {e.reference.kind:10s} {e.kind}")
        return 0
    preset = PRESETS[args.preset]

    if args.json_out is not None:  # child of --isolate
        if len(names) != 1 or len(args.samplers) != 1:
            parser.error("--json-out runs exactly one model and one sampler")
        if args.rerun != "never":
            _compilation_cache()
        entry = MODELS[names[0]]
        ref = get_reference(entry, entry.data(), preset, args.seed, args.ref_cache)
        record = benchmark_one(entry, args.samplers[0], preset, ref, args.seed, args.rerun)
        if record["finished"]:
            record["peak_rss_mib"], record["isolated"] = peak_rss_mib(), True
        args.json_out.write_text(json.dumps(record, indent=1))
        return 0

    if args.rerun != "never" and not args.isolate:
        _compilation_cache()
    out = Path(args.out or ROOT / "benchmarks" / "results" / f"models-{args.preset}")
    out.parent.mkdir(parents=True, exist_ok=True)
    argv_text = sys.argv[1:] if argv is None else argv
    report: dict[str, Any] = {
        "command": ("python -m benchmarks.models " + " ".join(argv_text)).strip(),
        "preset": args.preset, "budgets": asdict(preset), "seed": args.seed,
        "isolate": args.isolate, "timeout": args.timeout, "git": _git_revision(),
        "jax": jax.__version__, "numpyro": numpyro.__version__,
        "device": str(jax.devices()[0]), "cpus": os.cpu_count(), "models": [],
    }
    json_path, md_path = Path(f"{out}.json"), Path(f"{out}.md")
    for name in names:
        entry = MODELS[name]
        data = entry.data()
        print(f"{name} (d = {entry.dim}, {entry.reference.kind} reference)", flush=True)
        ref = get_reference(entry, data, preset, args.seed, args.ref_cache)
        model_out = {"name": name, "kind": entry.kind, "dim": entry.dim,
                     "description": entry.description,
                     "reference": {"kind": ref.kind, "note": entry.reference.note,
                                   "key": entry.reference.key or name, "meta": ref.meta,
                                   "mode_weight": ref.mode_weight},
                     "runs": {}}
        report["models"].append(model_out)
        if args.reference_only:
            continue
        for sampler in args.samplers:
            if args.isolate:
                record = benchmark_isolated(name, sampler, args, args.timeout)
            else:
                record = benchmark_one(entry, sampler, preset, ref, args.seed, args.rerun)
            model_out["runs"][SAMPLERS[sampler]] = record
            json_path.write_text(json.dumps(report, indent=1))  # partial results survive
            print("  " + _one_line(record), flush=True)
    json_path.write_text(json.dumps(report, indent=1))
    md_path.write_text(to_markdown(report))
    print(f"wrote {json_path} and {md_path}")
    return 0


def _one_line(r: dict[str, Any]) -> str:
    if not r["finished"]:
        return f"{r['sampler']}: did not finish ({r['error']})"
    s = r["stats"]["summary"]
    w = s.get("mode_weight")
    weight = f", weight {w['weight']:.3f} (exact {w['ref_weight']:.3f})" if w else ""
    rerun = "" if r["seconds_rerun"] is None else f" (rerun {r['seconds_rerun']:.1f} s)"
    return (f"{r['sampler']}: {r['seconds']:.1f} s{rerun}, {_count(r['grads'])} grads, max|z| "
            f"{s['max_abs_z']:.2f}, sd ratio {s['sd_ratio_min']:.2f}-{s['sd_ratio_max']:.2f}, "
            f"R-hat {s['max_rhat']:.3f}, ESS {s['min_ess_bulk']:.0f}/{s['min_ess_tail']:.0f}, "
            f"{r['divergences']} div, {len(r['warnings'])} warning texts{weight}"
            f" -> {_goal_text(r['goal'])}")


if __name__ == "__main__":
    raise SystemExit(main())
