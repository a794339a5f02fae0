"""The U-turn explorer on and off, by number of chains, on the multimodal suite.

    python -m benchmarks.explorer_chains [--targets ring8,gmm40,...] [--chains 64,128]
                                         [--seeds 0,1] [--out FILE.jsonl]

For each target, number of chains ``C``, seed and setting, one first run in a fresh process
(compilation included): ``MCMC(DilationLangevin(potential_fn=...), W, S, C,
chain_method="vectorized")`` from ``C`` draws of the target's initial law, with
``uturn=UTurn(kind="explore")`` (the explorer) and with ``uturn=None`` (none), everything
else the defaults (``W + S`` = 400 + 100; gauss_mix_unordered 200 + 50, its suite budget).
Prints, per run, the wall time, the modes the mixture holds at the end, the pooled mode TV
against the exact weights and the modes the draws visit, then a table per ``C``. The draws'
random numbers do not depend on the explorer, so where it finds the same modes the two
settings give the same draws. This is the measurement behind
``numpyro_dilation.run_plan.AUTO_EXPLORER_MIN_CHAINS`` (BENCHMARKS.md, "The U-turn explorer
from 128 chains").
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

TARGETS = ("ring8", "gmm40", "two_mode_10", "two_mode_50", "gauss_mix_unordered",
           "mixture_k5", "many_well_32")  # fmt: skip
SETTINGS = ("explorer", "none")


def _child(name: str, num_chains: int, seed: int, setting: str) -> dict:
    import warnings

    import jax
    import numpy as np

    import numpyro_dilation as nd
    from benchmarks.metrics import mode_weight_tv
    from benchmarks.samplers import run_dilation
    from benchmarks.targets import get_target

    warnings.simplefilter("ignore")
    num_warmup, num_samples = (200, 50) if name == "gauss_mix_unordered" else (400, 100)
    target = get_target(name)
    uturn = nd.UTurn(kind="explore") if setting == "explorer" else None
    x0 = target.init_positions(jax.random.key(1000 + seed), num_chains)
    run = run_dilation(target, jax.random.key(seed), x0, num_warmup, num_samples,
                       single_run=True, count_warmup_gradients=False, uturn=uturn)
    labels = target.assign_fn(target.to_output(run.draws))
    return {
        "target": name, "chains": num_chains, "seed": seed, "setting": setting,
        "wall_s": round(run.wall_s, 1), "modes": run.settings["num_modes"],
        "mode_tv": round(float(mode_weight_tv(labels, target.mode_weights)), 4),
        "modes_visited": int(len(np.unique(labels))),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--chains", default="64,128")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--out", default=None, help="append each run's JSON line to this file")
    parser.add_argument("--child", nargs=4, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        name, chains, seed, setting = args.child
        print(json.dumps(_child(name, int(chains), int(seed), setting)))
        return
    rows = []
    for chains in [int(c) for c in args.chains.split(",")]:
        for name in args.targets.split(","):
            for seed in [int(s) for s in args.seeds.split(",")]:
                for setting in SETTINGS:
                    cmd = [sys.executable, "-m", "benchmarks.explorer_chains", "--child",
                           name, str(chains), str(seed), setting]  # fmt: skip
                    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
                    row = json.loads(out.stdout.strip().splitlines()[-1])
                    rows.append(row)
                    print(json.dumps(row), flush=True)
                    if args.out:
                        with open(args.out, "a") as f:
                            f.write(json.dumps(row) + "\n")
    for chains in sorted({r["chains"] for r in rows}):
        print(f"\n{chains} chains: modes / mode TV / wall s, explorer | none")
        print("| target | seed | explorer | none |\n|---|---|---|---|")
        for r in rows:
            if r["chains"] != chains or r["setting"] != "explorer":
                continue
            o = next(x for x in rows if x["chains"] == chains and x["target"] == r["target"]
                     and x["seed"] == r["seed"] and x["setting"] == "none")
            print(f"| {r['target']} | {r['seed']} | {r['modes']} / {r['mode_tv']} / "
                  f"{r['wall_s']} | {o['modes']} / {o['mode_tv']} / {o['wall_s']} |")


if __name__ == "__main__":
    main()
