"""The command line (:func:`main`): run the chosen sections of a preset, merging rows into
``<out>/robustness_<preset>.json`` (an interrupted section's rows are reused), or print
the Markdown tables of that file (``--report``).
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jax

import numpyro_dilation as nd
from benchmarks.robustness.presets import PRESETS
from benchmarks.robustness.sections import SECTION_FNS, SECTIONS
from benchmarks.robustness.tables import report
from benchmarks.suite import _json_default

__all__ = ["main"]


def _environment() -> dict[str, Any]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    params = inspect.signature(nd.DilationLangevin.__init__).parameters
    defaults = {
        k: repr(p.default)
        for k, p in params.items()
        if p.default is not inspect.Parameter.empty and k not in ("model", "potential_fn")
    }
    return {
        "git_commit": commit,
        "jax": jax.__version__,
        "device": str(jax.devices()[0]),
        "python": sys.version.split()[0],
        "kernel_defaults": defaults,
    }


def _clean(x):
    """NaN -> None (strict JSON), recursively."""
    if isinstance(x, float) and x != x:
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


def main(argv: list[str] | None = None) -> Path:
    from benchmarks import robustness

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.robustness",
        description=robustness.__doc__.split("\nThe package:")[0],  # not the module list
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small")
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated subset of {','.join(SECTIONS)}",
    )
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument(
        "--fresh", action="store_true", help="ignore the rows an interrupted run left behind"
    )
    parser.add_argument(
        "--report", action="store_true", help="print Markdown tables of the results file and exit"
    )
    args = parser.parse_args(argv)
    if args.report:
        path = Path(args.out) / f"robustness_{args.preset}.json"
        print(report(json.loads(path.read_text())))
        return path
    sections = [s for s in args.sections.split(",") if s]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {SECTIONS}")
    preset = PRESETS[args.preset]
    path = Path(args.out) / f"robustness_{args.preset}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    results = json.loads(path.read_text()) if path.exists() and not args.fresh else {}
    results["preset"] = args.preset
    results["preset_config"] = dataclasses.asdict(preset)
    results.setdefault("sections", {})
    environment = _environment()  # the package as imported now is what gets measured
    for section in sections:
        t0 = time.perf_counter()
        rows: list[dict] = []
        previous = results["sections"].get(section, {})
        # rows of an interrupted run of this section are reused (same preset, same code)
        earlier = [] if previous.get("complete", True) else previous.get("rows", [])

        def record(ident, compute, rows=rows, section=section, earlier=earlier):
            ident = _clean(ident)
            match = [r for r in earlier if all(r.get(k) == v for k, v in ident.items())]
            row = match[0] if match else _clean({**compute(), **ident})
            rows.append(row)
            print(json.dumps({"section": section, **row}, default=_json_default), flush=True)
            results["sections"][section] = {"rows": rows, "complete": False}
            path.write_text(json.dumps(results, indent=1, default=_json_default))
            return row

        SECTION_FNS[section](preset, record)
        results["sections"][section] = {
            "rows": rows,
            "complete": True,
            "seconds": round(time.perf_counter() - t0, 1),
            "environment": environment,
            "command": f"python -m benchmarks.robustness --preset {args.preset} "
            f"--sections {section}",
        }
        path.write_text(json.dumps(results, indent=1, default=_json_default))
    return path
