"""The benchmark suite: presets, one comparison per target and budget, JSON results.

For each target and each DilationLangevin budget ``(C chains, W warm-up, S
samples)``, :func:`compare` runs DilationLangevin first, takes its gradient count
:math:`G` as the budget, sizes every baseline to :math:`G`
(:mod:`benchmarks.samplers`) and scores all of them, and an exact sample of the
same size (the Monte Carlo noise floor), with :mod:`benchmarks.metrics`.
:func:`run_suite` adds the throughput and scaling measurements
(:mod:`benchmarks.throughput`), writes ``results.json`` and the figures to
``<out>/<preset>/``.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import numpy as np

from benchmarks import metrics, plots, samplers, throughput
from benchmarks.targets import TARGETS, Target, get_target

__all__ = [
    "Budget", "Preset", "PRESETS", "evaluate", "run_baseline", "compare", "run_suite",
    "rerun_scaling",
]


_ALL_SAMPLERS = samplers.SAMPLERS


@dataclass(frozen=True)
class Budget:
    """DilationLangevin's run sizes; its gradient count is every sampler's budget."""

    num_chains: int
    num_warmup: int
    num_samples: int


@dataclass(frozen=True)
class Preset:
    """Sizes of one suite run.

    budget
        The main comparison budget (all targets).
    curve_budgets, curve_targets
        Extra budgets run on ``curve_targets`` for the quality-against-budget curves.
    nuts_chains, nuts_warmup
        NUTS chains and warm-up iterations (draws are sized to the budget).
    smc_particles, smc_integration_steps
        Tempered SMC particles :math:`N` and leapfrog steps :math:`L` per HMC move.
    num_eval, num_reference
        Draws per sampler scored by the energy distance, and exact reference draws.
    scaling_chains, scaling_dims, scaling_dim_chains, scaling_warmup, scaling_samples
        Throughput/scaling grid: chains on ring8, dimensions on ``two_mode_<d>``.
    scaling_posteriors
        Targets whose log-density is expensive (a likelihood over data), timed at their
        main budget's chain count: what a real posterior pays per gradient.
    repeats
        Timed calls per throughput point (best is kept).
    budget_overrides
        ``(target, Budget)`` pairs replacing ``budget`` for expensive targets.
    samplers
        Which samplers to run (DilationLangevin always runs: it sets the budget).
    """

    name: str
    targets: tuple[str, ...]
    budget: Budget
    curve_budgets: tuple[Budget, ...]
    curve_targets: tuple[str, ...]
    nuts_chains: int
    nuts_warmup: int
    smc_particles: int
    smc_integration_steps: int
    num_eval: int
    num_reference: int
    scaling_chains: tuple[int, ...]
    scaling_dims: tuple[int, ...]
    scaling_dim_chains: int
    scaling_warmup: int
    scaling_samples: int
    scaling_posteriors: tuple[str, ...] = ()
    repeats: int = 3
    seed: int = 0
    budget_overrides: tuple[tuple[str, Budget], ...] = ()
    samplers: tuple[str, ...] = _ALL_SAMPLERS

    def main_budget(self, target: str) -> Budget:
        """The main budget of ``target`` (``budget`` unless overridden)."""
        return dict(self.budget_overrides).get(target, self.budget)


ALL_TARGETS = tuple(TARGETS)

PRESETS: dict[str, Preset] = {
    "small": Preset(
        name="small",
        targets=ALL_TARGETS,
        budget=Budget(256, 400, 100),
        curve_budgets=(),
        curve_targets=(),
        nuts_chains=16,
        nuts_warmup=200,
        smc_particles=512,
        smc_integration_steps=5,
        num_eval=1000,
        num_reference=2000,
        scaling_chains=(64, 256, 1024),
        scaling_dims=(10, 50),
        scaling_dim_chains=256,
        scaling_warmup=400,
        scaling_samples=100,
        scaling_posteriors=("gauss_mix_unordered",),
        # N = 1000 data points per gradient: a quarter of the budget keeps minutes
        # mixture_k5: 120 labellings; 400 draws per chain put the exact sample's TV (the
        # Monte Carlo floor) at 0.014, under the 0.02 goal of issue 21
        budget_overrides=(("gauss_mix_unordered", Budget(128, 200, 50)),
                          ("mixture_k5", Budget(256, 400, 400))),
    ),
    "full": Preset(
        name="full",
        targets=ALL_TARGETS,
        budget=Budget(1024, 2000, 500),
        curve_budgets=(Budget(1024, 250, 60), Budget(1024, 500, 125), Budget(1024, 1000, 250)),
        curve_targets=("ring8", "gmm40", "two_mode_10"),
        nuts_chains=64,
        nuts_warmup=1000,
        smc_particles=4096,
        smc_integration_steps=5,
        num_eval=4000,
        num_reference=10000,
        scaling_chains=(64, 256, 1024, 4096, 16384),
        scaling_dims=(2, 10, 50, 100),
        scaling_dim_chains=256,
        scaling_warmup=1000,
        scaling_samples=250,
        scaling_posteriors=("gauss_mix_unordered",),
        repeats=2,
        budget_overrides=(("gauss_mix_unordered", Budget(256, 1000, 250)),),
    ),
    "tiny": Preset(
        name="tiny",
        targets=("ring8",),
        budget=Budget(64, 60, 20),
        curve_budgets=(),
        curve_targets=(),
        nuts_chains=4,
        nuts_warmup=50,
        smc_particles=128,
        smc_integration_steps=3,
        num_eval=300,
        num_reference=500,
        scaling_chains=(64,),
        scaling_dims=(),
        scaling_dim_chains=64,
        scaling_warmup=40,
        scaling_samples=10,
        repeats=1,
    ),
}
"""``small``: minutes on 2 CPU cores; ``full``: the reference run; ``tiny``: the smoke test."""


def _key(seed: int, *names: str | int) -> jax.Array:
    key = jax.random.key(seed)
    for name in names:
        key = jax.random.fold_in(key, zlib.crc32(str(name).encode()) & 0x7FFFFFFF)
    return key


def _rng(seed: int, *names: str | int) -> np.random.Generator:
    return np.random.default_rng([seed, *(zlib.crc32(str(n).encode()) for n in names)])


def evaluate(
    target: Target,
    draws_out: np.ndarray,
    reference: np.ndarray,
    rng: np.random.Generator,
    num_eval: int,
) -> dict[str, Any]:
    """Metrics of output-space draws ``(n, d_out)`` against the exact answers.

    Non-finite draws are dropped (and counted). The energy distance uses a
    random subset of ``num_eval`` draws (without replacement) against
    ``reference``; the other metrics use all draws.
    """
    draws_out = np.asarray(draws_out, dtype=float)
    finite = np.all(np.isfinite(draws_out), axis=1)
    x = draws_out[finite]
    rec: dict[str, Any] = {"num_draws": int(len(x)), "nonfinite_draws": int((~finite).sum())}
    if len(x) < 2:
        return rec
    if target.multimodal:
        w_hat = metrics.mode_weights(target.assign_fn(x), target.num_modes)
        rec["mode_tv"] = metrics.total_variation(w_hat, target.mode_weights)
        rec["modes_found"] = int(np.count_nonzero(w_hat))
        if target.num_modes <= 64:
            rec["mode_weights"] = [round(float(w), 5) for w in w_hat]
    sub = x[rng.choice(len(x), size=min(num_eval, len(x)), replace=False)]
    rec["energy_distance"] = metrics.energy_distance(sub, reference)
    rec["mean_error"] = metrics.mean_error(x, target.mean, target.cov)
    rec["cov_error"] = metrics.cov_error(x, target.cov)
    if target.extra_metrics is not None:
        rec.update(target.extra_metrics(x))
    return rec


def _scatter_subset(x: np.ndarray, rng: np.random.Generator, n: int = 2000) -> np.ndarray:
    x = x[np.all(np.isfinite(x), axis=1)]
    return x[rng.choice(len(x), size=min(n, len(x)), replace=False)]


def _comparison_inputs(
    target: Target, budget: Budget, preset: Preset
) -> tuple[tuple, jax.Array, np.ndarray]:
    """``(tag, x0, reference)`` of :func:`compare`: the run's key tag, the initial points
    ``(C, d)`` and the exact reference draws. Scripts that re-run one of the suite's runs
    (``benchmarks.energy_noise``, ``benchmarks.equal_time``) use them to get the same draws."""
    tag = (target.name, budget.num_chains, budget.num_warmup, budget.num_samples)
    x0 = target.init_positions(_key(preset.seed, *tag, "init"), budget.num_chains)
    reference = target.sample_fn(_rng(preset.seed, *tag, "reference"), preset.num_reference)
    return tag, x0, reference


def run_baseline(
    name: str, target: Target, budget: Budget, preset: Preset, tag: tuple, x0: jax.Array,
    grad_budget: int, num_particles: int | None = None,
) -> samplers.SamplerResult:
    """Baseline ``name`` (one of ``samplers.SAMPLERS`` but DilationLangevin) as
    :func:`compare` runs it: its own key from ``tag``, the preset's settings, ``grad_budget``
    gradients, the same initial points ``x0`` where it takes them; ``num_particles``
    replaces the preset's for tempered SMC and persistent sampling."""
    particles = preset.smc_particles if num_particles is None else num_particles
    if name == "annealed ULA":
        return samplers.run_annealed_ula(target, _key(preset.seed, *tag, "ula"), x0,
                                         grad_budget, budget.num_samples)
    if name == "MALA":
        return samplers.run_mala(target, _key(preset.seed, *tag, "mala"), x0, grad_budget,
                                 budget.num_samples)
    if name == "NUTS":
        return samplers.run_nuts(target, _key(preset.seed, *tag, "nuts"), x0, grad_budget,
                                 preset.nuts_chains, preset.nuts_warmup)
    if name == "tempered SMC":
        return samplers.run_smc(target, _key(preset.seed, *tag, "smc"), grad_budget,
                                particles, preset.smc_integration_steps)
    if name == "persistent sampling":  # not in SAMPLERS: run where named
        return samplers.run_persistent(
            target,
            _key(preset.seed, *tag, "ps"),
            grad_budget,
            particles,
            preset.smc_integration_steps,
        )
    known = samplers.SAMPLERS[1:] + ("persistent sampling",)
    raise ValueError(f"unknown baseline {name!r}; known: {known}")


def compare(
    target: Target, budget: Budget, preset: Preset, log=print
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Run every sampler on ``target`` at DilationLangevin's budget and score them.

    Returns the JSON record and, for 2-D targets, a subset of each sampler's
    draws for the scatter plot (else an empty dict).
    """
    tag, x0, reference = _comparison_inputs(target, budget, preset)
    results: dict[str, samplers.SamplerResult] = {}

    def done(res: samplers.SamplerResult) -> None:
        results[res.name] = res
        log(f"  {res.name:<17} {res.grad_evals:>11,d} grads {res.wall_s:8.1f} s")

    done(samplers.run_dilation(target, _key(preset.seed, *tag, "dl"), x0,
                               budget.num_warmup, budget.num_samples))
    grad_budget = results["DilationLangevin"].grad_evals
    for name in samplers.SAMPLERS[1:]:
        if name in preset.samplers:
            done(run_baseline(name, target, budget, preset, tag, x0, grad_budget))

    dl = results["DilationLangevin"]
    exact_n = budget.num_chains * budget.num_samples
    exact = target.sample_fn(_rng(preset.seed, *tag, "exact"), exact_n)
    record: dict[str, Any] = {
        "budget": dataclasses.asdict(budget),
        "grad_budget": grad_budget,
        "exact": evaluate(target, exact, reference, _rng(preset.seed, *tag, "eval-exact"),
                          preset.num_eval),
        "samplers": {},
    }
    scatter = {"exact": _scatter_subset(exact, _rng(preset.seed, *tag, "scatter"))}
    for name in (n for n in samplers.SAMPLERS if n in results):
        res = results[name]
        out = target.to_output(res.draws)
        rec = {
            "grad_evals": res.grad_evals,
            "grad_ratio": res.grad_evals / grad_budget,
            "wall_s": res.wall_s,
            "wall_ratio": res.wall_s / dl.wall_s,
            "log_z": res.log_z,
            "log_z_error": None
            if res.log_z is None or target.log_z is None
            else abs(res.log_z - target.log_z),
            "settings": res.settings,
        }
        rec.update(evaluate(target, out, reference, _rng(preset.seed, *tag, "eval", name),
                            preset.num_eval))
        if res.num_chains and target.multimodal and target.num_modes <= 64:
            labels = target.assign_fn(out).reshape(res.num_chains, -1)
            rec["rhat_mode"] = metrics.mode_indicator_rhat(labels, target.mode_weights)
        record["samplers"][name] = rec
        if target.dim == 2:
            scatter[name] = _scatter_subset(out, _rng(preset.seed, *tag, "scatter", name))
    return record, (scatter if target.dim == 2 else {})


def _target_info(target: Target) -> dict[str, Any]:
    return {
        "title": target.title,
        "description": target.description,
        "dim": target.dim,
        "num_modes": target.num_modes,
        "mode_weights": None
        if target.mode_weights is None or target.num_modes > 64
        else [float(w) for w in target.mode_weights],
        "log_z": target.log_z,
        "init_scale": target.init_scale,
        "ula_step_size": target.ula_step_size,
    }


def _scaling(preset: Preset, log=print) -> list[dict[str, Any]]:
    records = []
    grid = [("chains", "ring8", c) for c in preset.scaling_chains]
    grid += [("dims", f"two_mode_{d}", preset.scaling_dim_chains) for d in preset.scaling_dims]
    grid += [("posterior", name, preset.main_budget(name).num_chains)
             for name in preset.scaling_posteriors]
    for experiment, name, chains in grid:
        target = get_target(name)
        reference = target.sample_fn(_rng(preset.seed, "scaling", name), preset.num_reference)
        rec = throughput.measure(
            target,
            _key(preset.seed, "scaling", name, chains),
            chains,
            preset.scaling_warmup,
            preset.scaling_samples,
            reference,
            preset.num_eval,
            repeats=preset.repeats,
            blackjax_level=experiment == "chains",
        )
        rec["experiment"] = experiment
        records.append(rec)
        log(f"  {experiment:<6} {name:<12} C={chains:<6} ratio {rec['ratio']:.2f} "
            f"({rec['dl_ns_per_grad']:.0f} vs {rec['bare_ns_per_grad']:.0f} ns/grad)")
    return records


def _meta(preset: Preset, command: str) -> dict[str, Any]:
    def git(*args: str) -> str | None:
        try:
            return subprocess.run(
                ["git", *args], capture_output=True, text=True, check=True,
                cwd=Path(__file__).resolve().parents[1],
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return None

    commit = git("rev-parse", "--short", "HEAD")
    sampler_commit = git("log", "-1", "--format=%h", "--", "numpyro_dilation")
    dirty = git("status", "--porcelain", "--", "numpyro_dilation")
    import blackjax
    import numpyro

    import numpyro_dilation

    return {
        "preset": preset.name,
        "command": command,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "git_commit": commit,
        "sampler_commit": sampler_commit,  # last commit that changed numpyro_dilation/
        "uncommitted_sampler_changes": dirty.splitlines() if dirty else [],
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpu_count": __import__("os").cpu_count(),
        "jax_backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "versions": {
            "jax": jax.__version__,
            "numpyro": numpyro.__version__,
            "blackjax": blackjax.__version__,
            "numpyro_dilation": numpyro_dilation.__version__,
        },
        "preset_settings": dataclasses.asdict(preset),
    }


def run_suite(
    preset: Preset,
    out: str | Path = "benchmarks/results",
    targets: tuple[str, ...] | None = None,
    scaling: bool = True,
    command: str = "",
    log=print,
    resume: bool = False,
) -> Path:
    """Run the comparison on ``targets`` (default: the preset's) and the scaling grid.

    Writes ``<out>/<preset.name>/results.json`` and PNG figures; returns the JSON path.
    ``resume``: keep the targets already in that file when it was written by the same
    preset at the same commit with no uncommitted sampler changes (an interrupted run),
    and run only the others; its ``meta`` (first command, date) is kept.
    """
    t_start = time.perf_counter()
    out_dir = Path(out) / preset.name
    out_dir.mkdir(parents=True, exist_ok=True)
    targets = tuple(targets or preset.targets)
    result: dict[str, Any] = {"meta": _meta(preset, command), "targets": {}, "scaling": []}
    previous = out_dir / "results.json"
    if resume and previous.exists():
        old = json.loads(previous.read_text())
        new = result["meta"]
        old_sampler = old["meta"].get("sampler_commit") or old["meta"].get("git_commit")
        same = (old["meta"]["preset"] == new["preset"] and old_sampler == new["sampler_commit"]
                and not old["meta"]["uncommitted_sampler_changes"]
                and not new["uncommitted_sampler_changes"])
        if not same:
            raise ValueError(f"{previous} is from another preset or sampler code: cannot resume")
        old["meta"]["resumed_by"] = {k: new[k] for k in ("command", "date", "git_commit")}
        result = {**old, "scaling": old.get("scaling", [])}
    for name in targets:
        if name in result["targets"]:
            log(f"{name}: kept from the interrupted run")
            continue
        target = get_target(name)
        main = preset.main_budget(name)
        budgets = [main]
        if name in preset.curve_targets:
            budgets = sorted(
                {main, *preset.curve_budgets},
                key=lambda b: b.num_chains * (b.num_warmup + b.num_samples),
            )
        entry = {"info": _target_info(target), "runs": [], "main_run": None, "figures": {}}
        for budget in budgets:
            log(f"{name}: C={budget.num_chains} W={budget.num_warmup} S={budget.num_samples}")
            record, scatter = compare(target, budget, preset, log=log)
            entry["runs"].append(record)
            if budget == main:
                entry["main_run"] = len(entry["runs"]) - 1
                if scatter:
                    path = out_dir / f"scatter_{name}.png"
                    plots.scatter_figure(target, scatter, path)
                    entry["figures"]["scatter"] = path.name
        if len(entry["runs"]) > 1:
            path = out_dir / f"budget_{name}.png"
            plots.budget_figure(target.title, entry["runs"], path)
            entry["figures"]["budget"] = path.name
        result["targets"][name] = entry
        _write(result, out_dir)
    if scaling:
        _measure_scaling(result, preset, out_dir, log)
    result["meta"]["total_wall_s"] = (
        time.perf_counter() - t_start + result["meta"].get("total_wall_s", 0.0)
    )
    return _write(result, out_dir)


def rerun_scaling(
    preset: Preset, out: str | Path = "benchmarks/results", command: str = "", log=print
) -> Path:
    """Measure the throughput and scaling grid again into ``<out>/<preset>/results.json``.

    Timings are only comparable on an otherwise idle machine; this re-measures them
    without re-running the comparisons. The new records replace the old ones, and
    ``meta["scaling_rerun"]`` records the command, date and commit.
    """
    out_dir = Path(out) / preset.name
    path = out_dir / "results.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run the suite first")
    result = json.loads(path.read_text())
    if result["meta"]["preset"] != preset.name:
        raise ValueError(f"{path} holds preset {result['meta']['preset']!r}, not {preset.name!r}")
    meta = _meta(preset, command)
    result["meta"]["scaling_rerun"] = {
        k: meta[k] for k in ("command", "date", "git_commit", "uncommitted_sampler_changes")
    }
    _measure_scaling(result, preset, out_dir, log)
    return _write(result, out_dir)


def _measure_scaling(result: dict[str, Any], preset: Preset, out_dir: Path, log) -> None:
    """Throughput and scaling records into ``result``, and their figure."""
    log("throughput and scaling")
    result["scaling"] = _scaling(preset, log=log)
    if result["scaling"]:
        plots.scaling_figure(result["scaling"], out_dir / "scaling.png")
        result["scaling_figure"] = "scaling.png"


def _write(result: dict[str, Any], out_dir: Path) -> Path:
    path = out_dir / "results.json"
    path.write_text(json.dumps(result, indent=1, default=_json_default) + "\n")
    return path


def _json_default(x):
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"not JSON serializable: {type(x).__name__}")
