r"""Validation against posteriordb reference draws: DilationLangevin, with NUTS as the control.

For each of the five posteriors in :data:`benchmarks.posteriordb.POSTERIORS`,
one run of ``DilationLangevin(model)`` (default settings, many vectorized
chains) and one of ``NUTS(model)`` (default settings, a few chains) are
compared, parameter by parameter (every scalar entry of every reference
parameter), with the posteriordb reference draws (10 chains x 1000):

- **z-score of the mean**
  :math:`z = (\bar\theta - \bar\theta_{\rm ref})
  / \sqrt{\mathrm{MCSE}^2 + \mathrm{MCSE}_{\rm ref}^2}`,
  where :math:`\mathrm{MCSE} = \hat\sigma / \sqrt{\mathrm{ESS}_{\rm mean}}` with the
  ESS from ``arviz.ess(method="mean")``, computed on the sampler's draws and,
  in the same way, on the reference draws;
- **sd ratio** :math:`\hat\sigma / \hat\sigma_{\rm ref}` (pooled draws);
- **R-hat** (``arviz.rhat``, rank-normalized split R-hat) and **bulk ESS**
  (``arviz.ess(method="bulk")``) over the sampler's chains;
- **gradient evaluations** of the whole run, warm-up included
  (``num_grad_evals`` for DilationLangevin, ``num_steps`` for NUTS: one
  gradient per leapfrog step), and the **ESS per gradient relative to NUTS**
  :math:`(\mathrm{ESS}/G)_{\rm DL} / (\mathrm{ESS}/G)_{\rm NUTS}` (bulk ESS).

The goal (issue 4) for DilationLangevin: every :math:`|z| < 4`, every sd ratio
within 10 % of 1, every R-hat < 1.01, and ESS per gradient at least 0.25x NUTS.

**Label switching.** ``low_dim_gauss_mix_unordered`` (no ordering constraint on
``mu``) has two modes of equal weight by symmetry. Each draw is assigned to the
mode ``mu[0] < mu[1]`` or its mirror; the pooled weight of the first mode is
reported for DilationLangevin and for NUTS at the same gradient budget (NUTS's
number of draws is chosen from its warm-up cost), against 0.5.

Run ``python -m benchmarks.reference [--preset small|full] [--out PREFIX]``;
it writes ``PREFIX.json`` (every number) and ``PREFIX.md`` (the tables).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import arviz as az
import jax
import numpy as np
from numpyro.infer import MCMC, NUTS

from benchmarks.posteriordb import POSTERIORS, get_spec, load_reference_draws, model_kwargs
from numpyro_dilation import DilationLangevin, Pilot

UNORDERED = "low_dim_gauss_mix_unordered"

# Goal thresholds (issue 4).
Z_MAX = 4.0
SD_RATIO_TOL = 0.10
RHAT_MAX = 1.01
REL_ESS_PER_GRAD_MIN = 0.25
WEIGHT_TOL = 0.05


# ----------------------------------------------------------------- budgets


@dataclass(frozen=True)
class RunConfig:
    """Chains, warm-up and sampling iterations of one MCMC run."""

    num_chains: int
    num_warmup: int
    num_samples: int


@dataclass(frozen=True)
class Preset:
    """Budgets of a validation run.

    dilation: DilationLangevin on each posterior (vectorized chains).
    nuts: NUTS on each posterior (the control).
    mixture: DilationLangevin on the unordered mixture; NUTS there uses
        ``nuts.num_chains`` and ``nuts.num_warmup`` and as many draws as
        give the same total number of gradients.
    """

    dilation: RunConfig
    nuts: RunConfig
    mixture: RunConfig


PRESETS: dict[str, Preset] = {
    # A quick look (minutes): too short for the goal thresholds.
    "small": Preset(
        dilation=RunConfig(num_chains=64, num_warmup=400, num_samples=200),
        nuts=RunConfig(num_chains=2, num_warmup=300, num_samples=300),
        mixture=RunConfig(num_chains=256, num_warmup=400, num_samples=100),
    ),
    # The budgets of BENCHMARKS.md. 256 chains: 256 independent annealed starts,
    # so R-hat over chains detects chains that disagree; 2000 warm-up
    # iterations: 1000 annealing levels (the default annealing_fraction 0.5)
    # then 1000 MALA iterations at lambda = 1 to adapt the step size; 1000
    # draws per chain, so that each chain spans many autocorrelation times
    # once it mixes. 1024 chains for the mixture: the pooled weight's error is
    # about sqrt(0.25 / 1024) = 0.016 when chains do not switch modes.
    "full": Preset(
        dilation=RunConfig(num_chains=256, num_warmup=2000, num_samples=1000),
        nuts=RunConfig(num_chains=4, num_warmup=1000, num_samples=1000),
        mixture=RunConfig(num_chains=1024, num_warmup=2000, num_samples=200),
    ),
}


# ----------------------------------------------------------------- runs


@dataclass
class SamplerRun:
    """Draws and cost of one MCMC run.

    draws: ``{site: array of shape (chains, draws, *event)}``, constrained values.
    grads_warmup, grads_sampling: gradient evaluations, all chains together.
    """

    sampler: str
    draws: dict[str, np.ndarray]
    grads_warmup: int
    grads_sampling: int
    seconds: float
    divergences: int
    config: dict[str, int]

    @property
    def grads(self) -> int:
        return self.grads_warmup + self.grads_sampling


def _run(
    mcmc: MCMC, cost_field: str, rng_key: jax.Array, kwargs: dict, sites: tuple[str, ...]
) -> tuple[dict[str, np.ndarray], int, int, int]:
    """Warm-up (collecting the cost field), then sampling; draws grouped by chain."""
    mcmc.warmup(rng_key, **kwargs, collect_warmup=True, extra_fields=(cost_field,))
    grads_warmup = int(np.sum(mcmc.get_extra_fields()[cost_field], dtype=np.int64))
    mcmc.run(jax.random.fold_in(rng_key, 1), **kwargs, extra_fields=(cost_field, "diverging"))
    extra = mcmc.get_extra_fields()
    grads_sampling = int(np.sum(extra[cost_field], dtype=np.int64))
    divergences = int(np.sum(extra["diverging"]))
    samples = mcmc.get_samples(group_by_chain=True)
    draws = {s: np.asarray(samples[s], dtype=float) for s in sites}
    return draws, grads_warmup, grads_sampling, divergences


def vectorized_mcmc(kernel, config: RunConfig) -> MCMC:
    """``MCMC(kernel)`` with ``config``'s budget, vectorized chains, no progress bar."""
    return MCMC(
        kernel,
        num_warmup=config.num_warmup,
        num_samples=config.num_samples,
        num_chains=config.num_chains,
        chain_method="vectorized",
        progress_bar=False,
    )


def run_dilation(
    model,
    kwargs: dict,
    rng_key: jax.Array,
    config: RunConfig,
    sites: tuple[str, ...],
    **kernel_kwargs,
) -> SamplerRun:
    """``DilationLangevin(model, **kernel_kwargs)`` (default settings unless given)."""
    t0 = time.perf_counter()
    mcmc = vectorized_mcmc(DilationLangevin(model, **kernel_kwargs), config)
    draws, gw, gs, div = _run(mcmc, "num_grad_evals", rng_key, kwargs, sites)
    return SamplerRun(
        "DilationLangevin", draws, gw, gs, time.perf_counter() - t0, div, asdict(config)
    )


def run_nuts(
    model, kwargs: dict, rng_key: jax.Array, config: RunConfig, sites: tuple[str, ...]
) -> SamplerRun:
    """``NUTS(model)`` with default settings; one gradient per leapfrog step."""
    t0 = time.perf_counter()
    mcmc = vectorized_mcmc(NUTS(model), config)
    draws, gw, gs, div = _run(mcmc, "num_steps", rng_key, kwargs, sites)
    return SamplerRun("NUTS", draws, gw, gs, time.perf_counter() - t0, div, asdict(config))


# ----------------------------------------------------------------- statistics


def flatten_parameters(draws: dict[str, np.ndarray], base: int = 1) -> dict[str, np.ndarray]:
    """``{site: (chains, draws, *event)}`` -> ``{"beta[1]": (chains, draws), ...}``.

    Names follow posteriordb: 1-based indices (``base``), ``a[i,j]`` for two event axes.
    """
    out = {}
    for name, x in draws.items():
        event = x.shape[2:]
        if not event:
            out[name] = x
            continue
        for idx in np.ndindex(*event):
            label = ",".join(str(i + base) for i in idx)
            out[f"{name}[{label}]"] = x[(slice(None), slice(None), *idx)]
    return out


def mcse_mean(x: np.ndarray) -> float:
    """Monte Carlo standard error of the mean of ``x`` (chains, draws): sd / sqrt(ESS_mean)."""
    ess = float(az.ess(np.asarray(x, dtype=float), method="mean"))
    return float(np.std(x) / math.sqrt(max(ess, 1.0)))


def mcse_sd(x: np.ndarray) -> float:
    """Monte Carlo standard error of the sd of ``x`` (chains, draws): ``az.mcse(method="sd")``."""
    return float(az.mcse(np.asarray(x, dtype=float), method="sd"))


@dataclass
class ParamStats:
    """One scalar parameter of one run, against the reference.

    ``z`` is the z-score of the mean (see the module docstring); ``z_sd`` the
    same for the sd, with ArviZ's MCSE of the sd for both sides.
    ``ess_per_grad`` is ``nan`` when the gradient count is unknown.
    """

    parameter: str
    ref_mean: float
    ref_sd: float
    ref_mcse: float
    mean: float
    sd: float
    mcse: float
    z: float
    sd_ratio: float
    z_sd: float
    rhat: float
    ess_bulk: float
    ess_per_grad: float
    rel_ess_per_grad: float | None = None


def reference_errors(reference: dict[str, np.ndarray]) -> dict[str, tuple[float, float]]:
    """``{parameter: (MCSE of mean, MCSE of sd)}`` of the flattened reference draws."""
    return {k: (mcse_mean(v), mcse_sd(v)) for k, v in flatten_parameters(reference).items()}


def compare(
    draws: dict[str, np.ndarray],
    reference: dict[str, np.ndarray],
    grads: int | None = None,
    ref_errors: dict[str, tuple[float, float]] | None = None,
) -> list[ParamStats]:
    """Per-parameter statistics of ``draws`` against ``reference`` (both grouped by chain).

    ``draws`` must hold every site of ``reference``; ``grads`` is the run's
    total number of gradient evaluations; ``ref_errors`` caches
    :func:`reference_errors`.
    """
    ours = flatten_parameters(draws)
    ref = flatten_parameters(reference)
    ref_errors = reference_errors(reference) if ref_errors is None else ref_errors
    rows = []
    for name, r in ref.items():
        x = ours[name]
        r_mcse, r_mcse_sd = ref_errors[name]
        mcse = mcse_mean(x)
        ess = float(az.ess(x, method="bulk"))
        rows.append(
            ParamStats(
                parameter=name,
                ref_mean=float(r.mean()),
                ref_sd=float(r.std()),
                ref_mcse=r_mcse,
                mean=float(x.mean()),
                sd=float(x.std()),
                mcse=mcse,
                z=float((x.mean() - r.mean()) / math.hypot(mcse, r_mcse)),
                sd_ratio=float(x.std() / r.std()),
                z_sd=float((x.std() - r.std()) / math.hypot(mcse_sd(x), r_mcse_sd)),
                rhat=float(az.rhat(x)),
                ess_bulk=ess,
                ess_per_grad=ess / grads if grads else float("nan"),
            )
        )
    return rows


def add_relative_efficiency(rows: list[ParamStats], control: list[ParamStats]) -> None:
    """Set ``rel_ess_per_grad`` of ``rows`` to their ESS/gradient over the control's."""
    by_name = {c.parameter: c for c in control}
    for row in rows:
        base = by_name[row.parameter].ess_per_grad
        row.rel_ess_per_grad = row.ess_per_grad / base if base > 0 else float("nan")


@dataclass
class GoalCheck:
    """The issue's goal, per criterion, for one run (worst parameter of each)."""

    max_abs_z: float
    max_sd_dev: float
    max_rhat: float
    min_rel_ess_per_grad: float | None
    means_ok: bool
    sds_ok: bool
    rhat_ok: bool
    efficiency_ok: bool | None

    @property
    def accuracy_ok(self) -> bool:
        return self.means_ok and self.sds_ok and self.rhat_ok


def goal_check(rows: list[ParamStats]) -> GoalCheck:
    """Worst |z|, |sd ratio - 1|, R-hat and relative ESS/gradient, and whether each meets the goal.

    Non-finite statistics (a run that produced constant or non-finite draws)
    count as failures.
    """

    def worst(values: list[float], fn) -> float:
        return float(fn(values)) if np.all(np.isfinite(values)) else float("nan")

    max_z = worst([abs(r.z) for r in rows], max)
    max_sd = worst([abs(r.sd_ratio - 1.0) for r in rows], max)
    max_rhat = worst([r.rhat for r in rows], max)
    rel = [r.rel_ess_per_grad for r in rows]
    min_rel = None if any(v is None for v in rel) else worst(rel, min)
    return GoalCheck(
        max_abs_z=max_z,
        max_sd_dev=max_sd,
        max_rhat=max_rhat,
        min_rel_ess_per_grad=min_rel,
        means_ok=bool(max_z < Z_MAX),
        sds_ok=bool(max_sd < SD_RATIO_TOL),
        rhat_ok=bool(max_rhat < RHAT_MAX),
        efficiency_ok=None if min_rel is None else bool(min_rel >= REL_ESS_PER_GRAD_MIN),
    )


# ----------------------------------------------------------------- posteriors


@dataclass
class PosteriorResult:
    posterior: str
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    stats: dict[str, list[ParamStats]] = field(default_factory=dict)
    goal: dict[str, GoalCheck] = field(default_factory=dict)


def _summary(run: SamplerRun) -> dict[str, Any]:
    return {
        "config": run.config,
        "grads_warmup": run.grads_warmup,
        "grads_sampling": run.grads_sampling,
        "grads": run.grads,
        "divergences_sampling": run.divergences,
        "seconds": run.seconds,
    }


def validate_posterior(
    name: str, preset: Preset, seed: int = 0, **kernel_kwargs
) -> PosteriorResult:
    """DilationLangevin (``kernel_kwargs`` on top of the defaults) and NUTS on posterior
    ``name``, compared with its reference draws."""
    spec = get_spec(name)
    kwargs = model_kwargs(name)
    reference = load_reference_draws(spec.posteriordb_name)
    ref_errors = reference_errors(reference)
    key = jax.random.key(seed)
    dl = run_dilation(spec.model, kwargs, jax.random.fold_in(key, 0), preset.dilation,
                      spec.reference_names, **kernel_kwargs)
    nuts = run_nuts(spec.model, kwargs, jax.random.fold_in(key, 1), preset.nuts,
                    spec.reference_names)
    dl_rows = compare(dl.draws, reference, dl.grads, ref_errors)
    nuts_rows = compare(nuts.draws, reference, nuts.grads, ref_errors)
    add_relative_efficiency(dl_rows, nuts_rows)
    result = PosteriorResult(name)
    for run, rows in ((dl, dl_rows), (nuts, nuts_rows)):
        result.runs[run.sampler] = _summary(run)
        result.stats[run.sampler] = rows
        result.goal[run.sampler] = goal_check(rows)
    return result


# ----------------------------------------------------------------- label switching


def mode_indicator(draws: dict[str, np.ndarray]) -> np.ndarray:
    """1.0 where a draw of the unordered mixture is in the mode ``mu[0] < mu[1]``, else 0.0.

    Shape ``(chains, draws)``.
    """
    mu = draws["mu"]
    return (mu[..., 0] < mu[..., 1]).astype(float)


def relabel(draws: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Map every draw of the unordered mixture to the ordered labelling (the reference's).

    Where ``mu[0] > mu[1]``: swap ``mu`` and ``sigma`` and replace ``theta`` by ``1 - theta``.
    """
    swap = mode_indicator(draws) == 0.0
    out = {
        "mu": np.where(swap[..., None], draws["mu"][..., ::-1], draws["mu"]),
        "sigma": np.where(swap[..., None], draws["sigma"][..., ::-1], draws["sigma"]),
        "theta": np.where(swap, 1.0 - draws["theta"], draws["theta"]),
    }
    return out


def mode_weight(draws: dict[str, np.ndarray]) -> dict[str, float]:
    """Pooled weight of the mode ``mu[0] < mu[1]``, its Monte Carlo error and per-chain counts.

    The error is ``sqrt(w (1 - w) / ESS)`` with the mean-ESS of the indicator
    (chains that never switch make it about ``sqrt(w (1 - w) / chains)``).
    """
    ind = mode_indicator(draws)
    w = float(ind.mean())
    ess = float(az.ess(ind, method="mean")) if 0.0 < w < 1.0 else float(ind.shape[0])
    per_chain = ind.mean(axis=1)
    return {
        "weight": w,
        "mcse": math.sqrt(w * (1.0 - w) / max(ess, 1.0)) if 0.0 < w < 1.0 else float("nan"),
        "chains": int(ind.shape[0]),
        "chains_only_first": int(np.sum(per_chain == 1.0)),
        "chains_only_second": int(np.sum(per_chain == 0.0)),
        "chains_both": int(np.sum((per_chain > 0.0) & (per_chain < 1.0))),
    }


def _nuts_at_budget(
    model, kwargs: dict, rng_key: jax.Array, config: RunConfig, sites: tuple[str, ...],
    budget: int, max_rounds: int = 4,
) -> SamplerRun:
    """NUTS with ``config``'s chains and warm-up, drawing until ``budget`` gradients are spent.

    After the warm-up, draws come in rounds; each round's length is the
    remaining budget over the cost per iteration (all chains) measured so far
    (end of warm-up at first, then the draws), continuing from the last state.
    """
    t0 = time.perf_counter()
    mcmc = MCMC(NUTS(model), num_warmup=config.num_warmup, num_samples=1,
                num_chains=config.num_chains, chain_method="vectorized", progress_bar=False)
    mcmc.warmup(rng_key, **kwargs, collect_warmup=True, extra_fields=("num_steps",))
    steps = np.asarray(mcmc.get_extra_fields(group_by_chain=True)["num_steps"], dtype=float)
    grads_warmup = int(steps.sum())
    tail = max(1, config.num_warmup // 10)
    per_iter = float(steps[:, -tail:].sum(axis=0).mean())
    chunks: list[dict[str, np.ndarray]] = []
    grads_sampling = divergences = draws_total = 0
    for r in range(max_rounds):
        remaining = budget - grads_warmup - grads_sampling
        if remaining < per_iter:
            break
        mcmc.num_samples = max(10, int(remaining / per_iter))
        if r > 0:
            mcmc.post_warmup_state = mcmc.last_state
        mcmc.run(jax.random.fold_in(rng_key, r + 1), **kwargs,
                 extra_fields=("num_steps", "diverging"))
        extra = mcmc.get_extra_fields()
        grads_sampling += int(np.sum(extra["num_steps"], dtype=np.int64))
        divergences += int(np.sum(extra["diverging"]))
        draws_total += mcmc.num_samples
        per_iter = grads_sampling / draws_total
        samples = mcmc.get_samples(group_by_chain=True)
        chunks.append({s: np.asarray(samples[s], dtype=float) for s in sites})
    draws = {s: np.concatenate([c[s] for c in chunks], axis=1) for s in sites}
    return SamplerRun(
        "NUTS", draws, grads_warmup, grads_sampling, time.perf_counter() - t0, divergences,
        {"num_chains": config.num_chains, "num_warmup": config.num_warmup,
         "num_samples": draws_total},
    )


def label_switching(preset: Preset, seed: int = 0) -> dict[str, Any]:
    """Pooled mode weights on the unordered mixture: DilationLangevin vs NUTS at equal gradients."""
    spec = get_spec(UNORDERED)
    kwargs = model_kwargs(UNORDERED)
    reference = load_reference_draws(spec.posteriordb_name)
    key = jax.random.key(seed + 1000)
    sites = spec.reference_names
    dl = run_dilation(spec.model, kwargs, jax.random.fold_in(key, 0), preset.mixture, sites)

    nuts = _nuts_at_budget(spec.model, kwargs, jax.random.fold_in(key, 1), preset.nuts,
                           sites, dl.grads)
    ref_errors = reference_errors(reference)
    out: dict[str, Any] = {"posterior": UNORDERED, "runs": {}}
    for run in (dl, nuts):
        rows = compare(relabel(run.draws), reference, run.grads, ref_errors)
        out["runs"][run.sampler] = {
            **_summary(run),
            "mode_weight": mode_weight(run.draws),
            "relabelled_goal": asdict(goal_check(rows)),
            "relabelled_stats": [asdict(r) for r in rows],
        }
    return out


# ----------------------------------------------------------------- report


def _fmt(x: float | None, spec: str) -> str:
    if x is None:
        return "–"
    if not np.isfinite(x):
        return "nan"
    return format(x, spec)


def _yes(ok: bool | None) -> str:
    return "–" if ok is None else ("yes" if ok else "**no**")


def to_json(results: list[PosteriorResult], mixture: dict[str, Any] | None,
            meta: dict[str, Any]) -> dict[str, Any]:
    """The whole report as plain JSON types (the input of :func:`to_markdown`)."""
    return {
        **meta,
        "posteriors": [
            {
                "posterior": r.posterior,
                "runs": r.runs,
                "goal": {k: {**asdict(g), "accuracy_ok": g.accuracy_ok} for k, g in r.goal.items()},
                "stats": {k: [asdict(s) for s in v] for k, v in r.stats.items()},
            }
            for r in results
        ],
        "label_switching": mixture,
    }


def sampling_only_efficiency(posterior: dict[str, Any]) -> float:
    """min over parameters of (ESS / sampling gradients)_DL / (ESS / sampling gradients)_NUTS.

    The same ratio as ``rel_ess_per_grad`` with the warm-up's gradients left
    out of both sides (``posterior`` is one entry of the report's ``posteriors``).
    """
    runs, stats = posterior["runs"], posterior["stats"]
    g_dl, g_nuts = runs["DilationLangevin"]["grads_sampling"], runs["NUTS"]["grads_sampling"]
    ratios = [
        (d["ess_bulk"] / g_dl) / (n["ess_bulk"] / g_nuts)
        for d, n in zip(stats["DilationLangevin"], stats["NUTS"], strict=True)
    ]
    return float(min(ratios)) if np.all(np.isfinite(ratios)) else float("nan")


def to_markdown(report: dict[str, Any], with_command: bool = True) -> str:
    """The tables of BENCHMARKS.md's "Reference posteriors" section, from :func:`to_json`."""
    lines = [f"Command: `{report['command']}`", ""] if with_command else []
    lines += [
        "| posterior | sampler | chains x (warm-up + draws) | gradients | max abs z "
        "| max abs(sd ratio - 1) | max R-hat | min ESS/grad vs NUTS (all / sampling only) "
        "| divergences | seconds | goal: means / sds / R-hat / ESS |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for post in report["posteriors"]:
        for sampler, goal in post["goal"].items():
            run, c = post["runs"][sampler], post["runs"][sampler]["config"]
            eff = "–"
            if sampler == "DilationLangevin":
                eff = (f"{_fmt(goal['min_rel_ess_per_grad'], '.3f')} / "
                       f"{_fmt(sampling_only_efficiency(post), '.3f')}")
            lines.append(
                f"| {post['posterior']} | {sampler} "
                f"| {c['num_chains']} x ({c['num_warmup']} + {c['num_samples']}) "
                f"| {run['grads']:,} | {_fmt(goal['max_abs_z'], '.2f')} "
                f"| {_fmt(goal['max_sd_dev'], '.3f')} | {_fmt(goal['max_rhat'], '.3f')} "
                f"| {eff} | {run['divergences_sampling']} | {run['seconds']:.0f} "
                f"| {_yes(goal['means_ok'])} / {_yes(goal['sds_ok'])} / "
                f"{_yes(goal['rhat_ok'])} / {_yes(goal['efficiency_ok'])} |"
            )
    lines += ["", "Per parameter (DL = DilationLangevin; ESS = bulk ESS):", ""]
    lines += [
        "| posterior | parameter | ref mean | ref sd | DL z | DL sd ratio | DL R-hat | DL ESS "
        "| NUTS z | NUTS sd ratio | NUTS R-hat | NUTS ESS | ESS/grad DL / NUTS |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for post in report["posteriors"]:
        dl_rows, nuts_rows = post["stats"]["DilationLangevin"], post["stats"]["NUTS"]
        for d, n in zip(dl_rows, nuts_rows, strict=True):
            lines.append(
                f"| {post['posterior']} | {d['parameter']} | {d['ref_mean']:.4g} "
                f"| {d['ref_sd']:.3g} | {_fmt(d['z'], '.2f')} | {_fmt(d['sd_ratio'], '.3f')} "
                f"| {_fmt(d['rhat'], '.3f')} | {_fmt(d['ess_bulk'], '.0f')} "
                f"| {_fmt(n['z'], '.2f')} | {_fmt(n['sd_ratio'], '.3f')} "
                f"| {_fmt(n['rhat'], '.3f')} | {_fmt(n['ess_bulk'], '.0f')} "
                f"| {_fmt(d['rel_ess_per_grad'], '.3f')} |"
            )
    mixture = report.get("label_switching")
    if mixture is not None:
        lines += [
            "",
            f"Label switching ({mixture['posterior']}): pooled weight of the mode "
            "mu[1] < mu[2] (exact: 0.5 by symmetry); relabelled draws against the reference.",
            "",
            "| sampler | chains x (warm-up + draws) | gradients | weight | MCSE "
            "| abs(weight - 0.5) | chains in mode 1 only / mode 2 only / both "
            "| relabelled: max abs z | max abs(sd ratio - 1) | max R-hat |",
            "|---|---|---:|---:|---:|---:|---|---:|---:|---:|",
        ]
        for sampler, run in mixture["runs"].items():
            c, w, g = run["config"], run["mode_weight"], run["relabelled_goal"]
            lines.append(
                f"| {sampler} | {c['num_chains']} x ({c['num_warmup']} + {c['num_samples']}) "
                f"| {run['grads']:,} | {w['weight']:.3f} | {_fmt(w['mcse'], '.3f')} "
                f"| {abs(w['weight'] - 0.5):.3f} | {w['chains_only_first']} / "
                f"{w['chains_only_second']} / {w['chains_both']} "
                f"| {_fmt(g['max_abs_z'], '.2f')} | {_fmt(g['max_sd_dev'], '.3f')} "
                f"| {_fmt(g['max_rhat'], '.3f')} |"
            )
    return "\n".join(lines) + "\n"


def _git_revision() -> str | None:
    """``HEAD`` of the checkout, with ``+dirty`` when the package has uncommitted changes."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, check=True,
                              capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "numpyro_dilation"], cwd=root,
                               check=True, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+dirty" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.reference",
        description="DilationLangevin and NUTS against the posteriordb reference draws.",
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small")
    parser.add_argument("--out", default=None,
                        help="output prefix (default benchmarks/results/reference-<preset>); "
                             "writes PREFIX.json and PREFIX.md")
    parser.add_argument("--posteriors", nargs="*", default=list(POSTERIORS),
                        help="subset of posteriors (default: all five)")
    parser.add_argument("--no-label-switching", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--center", choices=("default", "none", "pilot"),
                        default="default",
                        help="DilationLangevin's start: its default (start='auto', the "
                             "pilot box from 256 chains), start=None or start=Pilot()")
    parser.add_argument("--resume", action="store_true",
                        help="keep the posteriors already in PREFIX.json and run the others")
    parser.add_argument("--render", metavar="JSON",
                        help="only re-render the markdown of a saved report (writes JSON's .md)")
    args = parser.parse_args(argv)
    if args.render:
        src = Path(args.render)
        md = src.with_suffix(".md")
        md.write_text(to_markdown(json.loads(src.read_text())))
        print(f"wrote {md}")
        return 0

    preset = PRESETS[args.preset]
    out = Path(args.out or f"benchmarks/results/reference-{args.preset}")
    out.parent.mkdir(parents=True, exist_ok=True)
    command = "python -m benchmarks.reference " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    command = command.strip()

    meta = {
        "command": command,
        "preset": args.preset,
        "budgets": asdict(preset),
        "seed": args.seed,
        "jax": jax.__version__,
        "x64": bool(jax.config.jax_enable_x64),
        "device": str(jax.devices()[0]),
        "git": _git_revision(),
    }
    json_path, md_path = Path(f"{out}.json"), Path(f"{out}.md")

    done: list[dict[str, Any]] = []
    if args.resume and json_path.is_file():
        previous = json.loads(json_path.read_text())
        if previous["budgets"] != meta["budgets"] or previous["seed"] != args.seed:
            raise SystemExit(f"{json_path} was made with other budgets or another seed")
        done = [p for p in previous["posteriors"] if p["posterior"] in args.posteriors]
        meta["resumed_from"] = {k: previous.get(k) for k in ("git", "command")}

    def write(results, mixture):
        report = to_json(results, mixture, meta)
        report["posteriors"] = done + report["posteriors"]
        json_path.write_text(json.dumps(report, indent=1))
        md_path.write_text(to_markdown(report))

    results: list[PosteriorResult] = []
    for name in args.posteriors:
        if any(p["posterior"] == name for p in done):
            continue
        t0 = time.perf_counter()
        extra = {
            "pilot": {"start": Pilot()},
            "none": {"start": None},
        }.get(args.center, {})
        res = validate_posterior(name, preset, args.seed, **extra)
        results.append(res)
        write(results, None)  # partial results survive an interrupted run
        g = res.goal["DilationLangevin"]
        print(f"{name}: DL max|z| {g.max_abs_z:.2f}, max|sd-1| {g.max_sd_dev:.3f}, "
              f"max R-hat {g.max_rhat:.3f}, min rel ESS/grad {g.min_rel_ess_per_grad:.3f} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    mixture = None if args.no_label_switching else label_switching(preset, args.seed)
    if mixture is not None:
        for sampler, run in mixture["runs"].items():
            w = run["mode_weight"]
            print(f"{UNORDERED}: {sampler} weight {w['weight']:.3f} +- {w['mcse']:.3f} "
                  f"({run['grads']:,} gradients)", flush=True)
    write(results, mixture)
    print(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
