"""How much of a suite energy distance is Monte Carlo noise: one target, many subsets.

    python -m benchmarks.energy_noise --preset full --target gmm40 [--repeats 20]

The suite scores each sampler by one energy distance, between a random subset of
``num_eval`` of its draws and ``num_reference`` exact draws (a V-statistic, so it is
positive even for exact draws: its bias is about
:math:`\\mathbb E\\|X - X'\\|\\,(1/n + 1/m)`). This script re-runs DilationLangevin's
main run of ``--target`` exactly as :func:`benchmarks.suite.compare` does (same keys,
so the same draws), draws an exact sample of the same size, and prints the energy
distance of ``--repeats`` random subsets of each against the same reference draws.
Where DilationLangevin's spread overlaps the exact sample's, the suite's single
number cannot tell the two apart.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from benchmarks import metrics, samplers, suite
from benchmarks.targets import get_target


def subset_distances(
    x: np.ndarray, reference: np.ndarray, n: int, repeats: int, rng: np.random.Generator
) -> np.ndarray:
    """Energy distances of ``repeats`` random ``n``-subsets of ``x`` (without replacement)."""
    return np.array([
        metrics.energy_distance(x[rng.choice(len(x), size=min(n, len(x)), replace=False)],
                                reference)
        for _ in range(repeats)
    ])


def measure(preset: suite.Preset, target_name: str, repeats: int) -> dict[str, Any]:
    """DilationLangevin's main run of ``target_name`` in ``preset`` (the suite's keys),
    its suite energy distance, and ``repeats`` subset energy distances of its draws and of
    an exact sample of the same size: ``{"num_draws", "suite_value", "dilation", "exact"}``.
    """
    target = get_target(target_name)
    budget = preset.main_budget(target_name)
    tag, x0, reference = suite._comparison_inputs(target, budget, preset)
    run = samplers.run_dilation(target, suite._key(preset.seed, *tag, "dl"), x0,
                                budget.num_warmup, budget.num_samples)
    draws = np.asarray(target.to_output(run.draws), dtype=float)  # as the suite scores them
    suite_value = suite.evaluate(
        target, draws, reference, suite._rng(preset.seed, *tag, "eval", "DilationLangevin"),
        preset.num_eval,
    )["energy_distance"]
    exact = target.sample_fn(np.random.default_rng(1), len(draws))
    return {
        "num_draws": len(draws),
        "suite_value": suite_value,
        "dilation": subset_distances(draws, reference, preset.num_eval, repeats,
                                     np.random.default_rng(2)),
        "exact": subset_distances(exact, reference, preset.num_eval, repeats,
                                  np.random.default_rng(3)),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="full", choices=sorted(suite.PRESETS))
    parser.add_argument("--target", default="gmm40")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    preset = suite.PRESETS[args.preset]
    out = measure(preset, args.target, args.repeats)
    print(f"{args.target}, preset {preset.name}: {out['num_draws']:,} draws, subsets of "
          f"{preset.num_eval} against {preset.num_reference} exact reference draws, "
          f"{args.repeats} subsets each")
    print(f"suite's value for DilationLangevin: {out['suite_value']:.4f}")
    print("| draws | mean | sd | min | max |")
    print("|---|---|---|---|---|")
    for name, e in (("DilationLangevin", out["dilation"]), ("exact, same size", out["exact"])):
        print(f"| {name} | {e.mean():.4f} | {e.std(ddof=1):.4f} | {e.min():.4f} | "
              f"{e.max():.4f} |", flush=True)


if __name__ == "__main__":
    main()
