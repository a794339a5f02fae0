"""The suite's comparison at equal wall-clock time instead of equal gradients.

    python -m benchmarks.equal_time --preset small [--targets ring8 gmm40 two_mode_10]
                                    [--samplers "tempered SMC" MALA "persistent sampling"]
                                    [--corrections N] [--scale-particles] [--single-run]
                                    [--seed S] [--dl-samples N] [--recommended-moves]
                                    [--out DIR]

The suite gives every sampler DilationLangevin's gradient count :math:`G`. On cheap
densities DilationLangevin's time per gradient is many times a baseline's, so at equal
*time* a baseline can spend more gradients. For each target this runs
DilationLangevin's main run exactly as :func:`benchmarks.suite.compare` does (same keys,
same draws; wall time :math:`t_\\text{DL}`, compilation included), then each baseline at
:math:`G`, then again at :math:`G\\,t_\\text{DL}/t` (with :math:`t` its last wall time,
compilation included), up to ``--corrections`` times, and scores every run with
:func:`benchmarks.suite.evaluate`. Prints a markdown table per target and writes
``<out>/equal_time_<preset>.json``.

``--single-run``: DilationLangevin's time is that of one ``mcmc.run`` (warm-up and draws
in one compiled loop, as the README runs it) instead of the suite's ``mcmc.warmup`` +
``mcmc.run``, which compiles the loop twice (their collections differ in size); its
warm-up gradients are counted by an identical, untimed warm-up
(:func:`benchmarks.samplers.run_dilation`, ``single_run``); the warm-up is the suite's,
the draws are not (the suite's sampling phase runs from a second key). The baselines are timed as
before (one call each, compilation included). ``--seed S``: the preset's seed replaced
(initial points, keys and exact reference draws all derive from it), for repeats.
``--dl-samples N``: DilationLangevin draws ``N`` per chain instead of its budget's (the
baselines are then sized to that run's gradients and time). ``--recommended-moves``: on
``many_well_32`` and ``mixture_k5`` DilationLangevin runs with the global moves the user guide
recommends there (``GlobalMoves(blocks="auto")``, label swaps of the five components:
:func:`benchmarks.block_moves.variants`) instead of the defaults.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import samplers, suite
from benchmarks.targets import get_target

BASELINES = ("tempered SMC", "MALA")
CHOICES = BASELINES + ("persistent sampling",)
TEMPERING = ("tempered SMC", "persistent sampling")
RECOMMENDED_MOVES = ("many_well_32", "mixture_k5")
"""Targets on which the user guide recommends global moves other than the defaults."""
MAX_PARTICLES = 16384
"""Most particles a tempering baseline gets at equal time with ``--scale-particles``
(persistent sampling's weights take memory and time quadratic in its tempering steps and
linear in its particles); the rest of its budget goes to more MCMC moves per step."""


def compare_at_equal_time(
    preset: suite.Preset, target_name: str, baselines: tuple[str, ...], corrections: int = 2,
    log=print, scale_particles: bool = False, single_run: bool = False,
    dl_samples: int | None = None, recommended_moves: bool = False,
) -> list[dict[str, Any]]:
    """Rows ``{sampler, grad_evals, wall_s, metrics...}``: DilationLangevin's main run, then
    each baseline at its gradient count and at the counts sized to its wall time (with
    ``scale_particles``, tempering baselines spend the extra gradients on more particles,
    hence more draws, up to :data:`MAX_PARTICLES`, instead of more MCMC moves only;
    ``single_run``: DilationLangevin timed as one ``mcmc.run``; ``dl_samples``: its draws
    per chain, if not its budget's; ``recommended_moves``: the block or label-swap moves
    where :mod:`benchmarks.block_moves` runs them)."""
    target = get_target(target_name)
    budget = preset.main_budget(target_name)
    if dl_samples is not None:
        budget = dataclasses.replace(budget, num_samples=dl_samples)
    tag, x0, reference = suite._comparison_inputs(target, budget, preset)

    def row(res: samplers.SamplerResult, label: str) -> dict[str, Any]:
        rec = suite.evaluate(target, target.to_output(res.draws), reference,
                             suite._rng(preset.seed, *tag, "eval", res.name), preset.num_eval)
        out = {"sampler": res.name, "sizing": label, "grad_evals": int(res.grad_evals),
               "wall_s": float(res.wall_s), **rec}
        log(f"  {res.name:<17} {label:<22} {res.grad_evals:>12,d} grads {res.wall_s:7.1f} s "
            f"TV {rec.get('mode_tv', float('nan')):.4f} ED {rec['energy_distance']:.4f}")
        return out

    options = {}
    if recommended_moves and target_name in RECOMMENDED_MOVES:
        from benchmarks.block_moves import variants

        options = variants(target_name)[-1][1]
    dl = samplers.run_dilation(target, suite._key(preset.seed, *tag, "dl"), x0,
                               budget.num_warmup, budget.num_samples, single_run=single_run,
                               **options)
    label = "its own budget" + (", one run" if single_run else "")
    rows = [row(dl, label + (", recommended moves" if options else ""))]
    for name in baselines:
        grads = dl.grad_evals
        res = suite.run_baseline(name, target, budget, preset, tag, x0, grads)
        rows.append(row(res, "equal gradients"))
        for k in range(corrections):
            grads = int(round(res.grad_evals * dl.wall_s / res.wall_s))
            particles = None
            if scale_particles and name in TEMPERING:
                particles = _particles(preset.smc_particles, grads / dl.grad_evals)
            res = suite.run_baseline(name, target, budget, preset, tag, x0, grads, particles)
            label = f"equal time, try {k + 1}"
            rows.append(row(res, label + (f", {particles} particles" if particles else "")))
    return rows


def _particles(base: int, ratio: float) -> int:
    """Particles for ``ratio`` times the gradients: ``base * ratio`` (a multiple of 8),
    between ``base`` and :data:`MAX_PARTICLES`."""
    return int(min(MAX_PARTICLES, max(base, base * ratio)) // 8 * 8)


def _table(rows: list[dict[str, Any]]) -> list[str]:
    dl = rows[0]
    lines = ["| sampler | sizing | gradients (× DL) | wall s (× DL) | mode TV | energy dist. |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        tv = r.get("mode_tv")
        lines.append(
            f"| {r['sampler']} | {r['sizing']} | {r['grad_evals']:,} "
            f"({r['grad_evals'] / dl['grad_evals']:.2f}) | {r['wall_s']:.1f} "
            f"({r['wall_s'] / dl['wall_s']:.2f}) | {'–' if tv is None else f'{tv:.4f}'} | "
            f"{r['energy_distance']:.4f} |"
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small", choices=sorted(suite.PRESETS))
    parser.add_argument("--targets", nargs="+", default=["ring8", "gmm40", "two_mode_10"])
    parser.add_argument("--samplers", nargs="+", default=list(BASELINES), choices=CHOICES)
    parser.add_argument("--corrections", type=int, default=2)
    parser.add_argument("--scale-particles", action="store_true",
                        help="at equal time, give tempering baselines more particles")
    parser.add_argument("--single-run", action="store_true",
                        help="time DilationLangevin as one mcmc.run (the README's way)")
    parser.add_argument("--seed", type=int, default=None, help="replace the preset's seed")
    parser.add_argument("--dl-samples", type=int, default=None,
                        help="DilationLangevin's draws per chain (default: its budget's)")
    parser.add_argument("--recommended-moves", action="store_true",
                        help="block moves on many_well_32, label swaps on mixture_k5")
    parser.add_argument("--out", default="benchmarks/results")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    preset = suite.PRESETS[args.preset]
    if args.seed is not None:
        preset = dataclasses.replace(preset, seed=args.seed)
    t0 = time.perf_counter()
    result: dict[str, Any] = {
        "meta": {k: v for k, v in suite._meta(preset, "python -m benchmarks.equal_time "
                                              + shlex.join(argv)).items()
                 if k != "preset_settings"},
        "targets": {},
    }
    for name in args.targets:
        print(f"{name}:", flush=True)
        rows = compare_at_equal_time(preset, name, tuple(args.samplers), args.corrections,
                                     scale_particles=args.scale_particles,
                                     single_run=args.single_run, dl_samples=args.dl_samples,
                                     recommended_moves=args.recommended_moves)
        result["targets"][name] = rows
        print("\n".join(_table(rows)), flush=True)
    result["meta"]["total_wall_s"] = time.perf_counter() - t0
    path = Path(args.out) / f"equal_time_{preset.name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1, default=suite._json_default) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
