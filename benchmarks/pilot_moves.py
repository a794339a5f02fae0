"""The pilot-box start against per-chain centers, on the target where the box matters most.

    python -m benchmarks.pilot_moves [--seeds 10] [--target two_mode_10@50x1]

``Pilot()`` (the default from 256 chains: a pilot pass of the run's own algorithm over the
first half of the warm-up, then the restart in the box) against ``start=None`` (each chain
anneals from its initial point) on a target of the robustness grid (default: the 10-d
two-mode mixture moved 50 units), from the ``pilot`` section's initial points (uniform in
[-2, 2]^d, 500 chains x (400 + 200), the ``full`` preset) with the run keys of its
``seeds`` section, so that seeds 0-4 repeat that section's ``default`` (per-chain
centers) and ``kernel_pilot`` rows. One JSON line per
run: TV of the mode weights, modes found, gradients (pilot included). Prints a Markdown
summary at the end.
"""

from __future__ import annotations

import argparse
import json

import numpyro_dilation as nd
from benchmarks.robustness.mixtures import strategy_targets
from benchmarks.robustness.presets import PRESETS
from benchmarks.robustness.running import _key, uniform_init
from benchmarks.robustness.starts import Start, _run_mixture

PILOTS = {
    "`start=None` (per-chain centers)": None,
    "`Pilot()` (default)": nd.Pilot(),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--target", default="two_mode_10@50x1")
    args = parser.parse_args(argv)
    preset = PRESETS["full"]
    target = strategy_targets()[args.target]()
    init = uniform_init(_key("init", args.target), preset.num_chains, target.dim, 2.0)
    rows = []
    for seed in range(args.seeds):
        for name, pilot in PILOTS.items():
            res = _run_mixture(target, preset, Start(init, pilot, 0), (target.name, "seed", seed))
            row = {"seed": seed, "pilot": name, "tv": res["tv"], "modes": res["num_modes"],
                   "grads": res["grads_total"]}  # fmt: skip
            rows.append(row)
            print(json.dumps(row), flush=True)
    print("\n| pilot | runs with every mode found (TV < 0.05) | median gradients |\n|---|---|---|")
    for name in PILOTS:
        mine = [r for r in rows if r["pilot"] == name]
        found = sum(r["tv"] < 0.05 for r in mine)
        grads = sorted(r["grads"] for r in mine)[len(mine) // 2]
        print(f"| {name} | {found} of {len(mine)} | {grads:,} |")


if __name__ == "__main__":
    main()
