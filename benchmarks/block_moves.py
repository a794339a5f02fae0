r"""Block-wise global moves and label swaps (issue 21) against the whole-vector moves,
tempered SMC and persistent sampling.

    python -m benchmarks.block_moves [--preset small|full] [--targets many_well_32 ...]
                                     [--baselines "tempered SMC" "persistent sampling"]
                                     [--grad-budget G]
                                     [--out benchmarks/results/block_moves]

For each target, with the suite's initial points, reference draws and seeds
(:func:`benchmarks.suite._comparison_inputs`): DilationLangevin with its defaults
(whole-vector global moves only), then DilationLangevin with ``GlobalMoves(blocks="auto")``
(:mod:`numpyro_dilation.block_moves`) or, on ``mixture_k5`` (120 relabellings), with
``GlobalMoves(exchangeable=...)`` naming its 5 components (:mod:`numpyro_dilation.label_swaps`);
and the baselines (BlackJAX adaptive tempered SMC, BlackJAX adaptive persistent sampling)
at the gradient budget of the last DilationLangevin run, with the suite's settings
(:func:`benchmarks.suite.run_baseline`). Scored as the suite scores
(:func:`benchmarks.suite.evaluate`): mode-weight TV, energy distance, the target's extra
metric (Many-Well: the per-well TV of :math:`P(a_j > 0)`; ``mixture_k5``: the largest
per-component TV of the ranks), and the log-evidence error. Also reported: the blocks
found (active / all), the modes in the mixture, gradients and wall time (compilation
included). Writes ``OUT.json`` and ``OUT.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from benchmarks import samplers
from benchmarks.reference import _fmt
from benchmarks.suite import PRESETS, _comparison_inputs, _key, _rng, evaluate, run_baseline
from benchmarks.targets import get_target
from numpyro_dilation import GlobalMoves

DEFAULT_TARGETS = ("many_well_32", "mixture_k5", "two_mode_10", "ring8", "gmm40")
BASELINES = ("tempered SMC", "persistent sampling")


def variants(name: str) -> tuple[tuple[str, dict], ...]:
    """The DilationLangevin runs on target ``name``: label and kernel arguments."""
    if name == "mixture_k5":
        swaps = GlobalMoves(exchangeable=tuple((k,) for k in range(5)))
        second = ("DL exchangeable", {"global_moves": swaps})
    else:
        second = ("DL blocks='auto'", {"global_moves": GlobalMoves(blocks="auto")})
    return (("DL whole-vector moves", {}), second)


def run_target(name: str, preset_name: str, log=print, baselines=BASELINES,
               grad_budget: int | None = None) -> dict:  # fmt: skip
    """The runs on one target, scored; with ``grad_budget``, only the baselines, at that
    many gradients (a DilationLangevin run's count from an earlier run)."""
    preset = PRESETS[preset_name]
    target = get_target(name)
    budget = preset.main_budget(name)
    tag, x0, reference = _comparison_inputs(target, budget, preset)
    runs = []
    for label, kwargs in variants(name) if grad_budget is None else ():
        res = samplers.run_dilation(target, _key(preset.seed, *tag, "dl"), x0,
                                    budget.num_warmup, budget.num_samples, name=label,
                                    **kwargs)  # fmt: skip
        log(f"  {label:<24} {res.grad_evals:>12,d} grads {res.wall_s:7.1f} s")
        runs.append(res)
    grad_budget = runs[-1].grad_evals if grad_budget is None else grad_budget
    for baseline in baselines:
        res = run_baseline(baseline, target, budget, preset, tag, x0, grad_budget)
        log(f"  {baseline:<24} {res.grad_evals:>12,d} grads {res.wall_s:7.1f} s")
        runs.append(res)
    record = {"target": name, "preset": preset_name, "budget": vars(budget), "runs": {}}
    add_exact(record)
    for res in runs:
        rec = evaluate(target, target.to_output(res.draws), reference,
                       _rng(preset.seed, *tag, "eval", res.name), preset.num_eval)  # fmt: skip
        rec.update(
            grad_evals=res.grad_evals,
            wall_s=res.wall_s,
            log_z=res.log_z,
            log_z_error=None
            if res.log_z is None or target.log_z is None
            else abs(res.log_z - target.log_z),
            settings=res.settings,
        )
        record["runs"][res.name] = rec
    return record


def add_exact(record: dict) -> dict:
    """Add the ``exact`` row: an exact sample of the DilationLangevin draw count, scored the
    same way (the Monte Carlo noise floor of each metric), as the suite does."""
    preset = PRESETS[record["preset"]]
    target = get_target(record["target"])
    budget = preset.main_budget(record["target"])
    tag, _, reference = _comparison_inputs(target, budget, preset)
    exact = target.sample_fn(
        _rng(preset.seed, *tag, "exact"), budget.num_chains * budget.num_samples
    )
    rec = evaluate(target, exact, reference, _rng(preset.seed, *tag, "eval-exact"), preset.num_eval)
    rec.update(grad_evals=None, wall_s=None, log_z=None, log_z_error=None, settings={})
    record["exact"] = rec
    return record


def table(records: list[dict]) -> str:
    """Markdown table of the records."""
    lines = [
        "| target | sampler | gradients | seconds | modes / active blocks / blocks | mode TV "
        "| per-well / per-component TV | energy distance | log Z error (se) |",
        "|---|---|---:|---:|---|---:|---:|---:|---|",
    ]
    for record in records:
        rows = dict(
            record["runs"], **({"exact sample": record["exact"]} if "exact" in record else {})
        )
        for name, r in rows.items():
            s = r["settings"]
            blocks = (
                f"{s.get('num_modes')} / {s.get('active_blocks')} / {s.get('num_blocks')}"
                if "num_modes" in s
                else "–"
            )
            se = s.get("log_z_se")
            err = _fmt(r["log_z_error"], ".3f") + ("" if se is None else f" ({se:.3f})")
            grads = "–" if r["grad_evals"] is None else f"{r['grad_evals']:,}"
            parts = r.get("well_tv", r.get("component_tv"))
            lines.append(
                f"| {record['target']} | {name} | {grads} | {_fmt(r['wall_s'], '.0f')} "
                f"| {blocks} | {_fmt(r.get('mode_tv'), '.3f')} | {_fmt(parts, '.3f')} "
                f"| {_fmt(r.get('energy_distance'), '.3f')} | {err} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small", choices=sorted(PRESETS))
    parser.add_argument("--targets", nargs="+", default=list(DEFAULT_TARGETS))
    parser.add_argument("--baselines", nargs="*", default=list(BASELINES))
    parser.add_argument(
        "--grad-budget",
        type=int,
        default=None,
        help="run only the baselines, at this many gradients (an earlier DL run's count)",
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/block_moves"))
    parser.add_argument(
        "--table",
        type=Path,
        default=None,
        help="print the table of a saved JSON (adding exact rows it lacks)",
    )
    args = parser.parse_args(argv)
    if args.table is not None:
        records = [r if "exact" in r else add_exact(r)
                   for r in json.loads(args.table.read_text())]  # fmt: skip
        args.table.write_text(json.dumps(records, indent=1, default=str))
        print(table(records))
        return 0
    records = []
    t0 = time.perf_counter()
    for name in args.targets:
        print(f"{name} ({args.preset})", flush=True)
        records.append(run_target(name, args.preset, baselines=tuple(args.baselines),
                                  grad_budget=args.grad_budget))  # fmt: skip
        args.out.with_suffix(".json").write_text(json.dumps(records, indent=1, default=str))
    command = "python -m benchmarks.block_moves " + " ".join(sys.argv[1:] if argv is None else argv)
    md = f"Command: `{command.strip()}` ({time.perf_counter() - t0:.0f} s)\n\n{table(records)}\n"
    args.out.with_suffix(".md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
