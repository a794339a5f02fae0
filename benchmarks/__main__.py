"""Command line of the multimodal benchmark suite.

    python -m benchmarks run --preset small|full [--targets ring8 gmm40 ...] [--out DIR]
                             [--no-scaling | --only-scaling] [--resume]
                             [--samplers MALA NUTS ...]
    python -m benchmarks report [--results DIR/PRESET/results.json] [--md BENCHMARKS.md]
    python -m benchmarks list

``run`` writes ``<out>/<preset>/results.json`` and PNG figures (``--only-scaling``
re-measures the throughput and scaling of an existing results file, e.g. on an idle
machine, and records that command and its date apart); ``report``
rewrites a "Multimodal benchmark suite" section of ``BENCHMARKS.md`` (one per preset)
from a results file (default: every preset's results file that exists).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the suite")
    run.add_argument("--preset", default="small", choices=["small", "full", "tiny"])
    run.add_argument("--targets", nargs="+", default=None, help="subset of targets")
    run.add_argument("--out", default="benchmarks/results")
    scaling = run.add_mutually_exclusive_group()
    scaling.add_argument("--no-scaling", action="store_true", help="skip throughput and scaling")
    scaling.add_argument("--only-scaling", action="store_true",
                         help="only throughput and scaling, into the existing results.json")
    run.add_argument("--resume", action="store_true",
                     help="keep the targets of an interrupted run (same preset and commit)")
    run.add_argument("--samplers", nargs="+", default=None,
                     help="subset of samplers (DilationLangevin always runs), e.g. MALA NUTS")
    rep = sub.add_parser("report", help="write the BENCHMARKS.md section from results.json")
    rep.add_argument("--results", default=None)
    rep.add_argument("--md", default="BENCHMARKS.md")
    sub.add_parser("list", help="list targets and presets")
    args = parser.parse_args(argv)

    if args.command == "list":
        from benchmarks.suite import PRESETS
        from benchmarks.targets import TARGETS

        print("targets:", " ".join(TARGETS))
        print("presets:", " ".join(PRESETS))
        return 0
    if args.command == "report":
        from benchmarks.report import default_results, write_section

        for results in [args.results] if args.results else default_results():
            print(f"wrote {write_section(results, args.md)} from {results}")
        return 0

    import dataclasses

    from benchmarks.samplers import SAMPLERS
    from benchmarks.suite import PRESETS, run_suite
    from benchmarks.targets import TARGETS

    unknown = [t for t in args.targets or () if t not in TARGETS]
    if unknown:
        parser.error(f"unknown targets {unknown}; known: {' '.join(TARGETS)}")
    bad = [s for s in args.samplers or () if s not in SAMPLERS]
    if bad:
        parser.error(f"unknown samplers {bad}; known: {', '.join(map(repr, SAMPLERS))}")
    preset = PRESETS[args.preset]
    if args.samplers:
        preset = dataclasses.replace(preset, samplers=tuple(args.samplers))
    command = "python -m benchmarks " + " ".join(shlex.quote(a) for a in argv)
    t0 = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:7.1f} s] {msg}", flush=True)

    if args.only_scaling:
        from benchmarks.suite import rerun_scaling

        path = rerun_scaling(preset, out=args.out, command=command, log=log)
        log(f"wrote {path}")
        return 0
    path = run_suite(
        preset,
        out=args.out,
        targets=tuple(args.targets) if args.targets else None,
        scaling=not args.no_scaling,
        command=command,
        log=log,
        resume=args.resume,
    )
    log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
