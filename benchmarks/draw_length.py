"""Draws of one transition against ``steps_per_draw="auto"``, on models from the suite.

    python -m benchmarks.draw_length [--models eight_schools_noncentered,...]
                                     [--chains 256] [--warmup 300] [--samples 100]

Each row runs ``DilationLangevin(model, **settings)`` through NumPyro's ``MCMC``
(``chain_method="vectorized"``; ``warmup`` then ``run``, so that the sampling phase's
gradients are counted apart) for the settings ``steps_per_draw=1`` (every transition a
draw, the behaviour before the draw length), ``"auto"``, and ``"auto"`` with
``target_accept_prob=0.8``, and prints: the measured draw length :math:`k`, sampling
gradients per chain, seconds of warm-up and of sampling (compilation included in each),
ArviZ's max rank-normalized split R-hat and min bulk ESS over all sites, the divergent
draws, and the first words of each ``ReliabilityWarning``. Models come from
``benchmarks/models.py`` (their data and default sizes).
"""

from __future__ import annotations

import argparse
import time
import warnings

import arviz as az
import jax
import numpy as np

from benchmarks.models import MODELS
from benchmarks.reference import RunConfig, vectorized_mcmc
from numpyro_dilation import DilationLangevin, ReliabilityWarning

SETTINGS = {
    "steps_per_draw=1": {"steps_per_draw": 1},
    "auto": {},
    "auto, target_accept_prob=0.8": {"target_accept_prob": 0.8},
}


def run_row(name: str, settings: dict, num_chains: int, num_warmup: int, num_samples: int):
    entry = MODELS[name]
    data = entry.data()
    mcmc = vectorized_mcmc(
        DilationLangevin(entry.model, **settings), RunConfig(num_chains, num_warmup, num_samples)
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        mcmc.warmup(jax.random.key(0), **data)
        jax.block_until_ready(mcmc.post_warmup_state)
        warm = time.perf_counter() - start
        start = time.perf_counter()
        mcmc.run(jax.random.key(1), **data, extra_fields=("num_steps", "diverging"))
        jax.block_until_ready(mcmc.last_state)
        sample = time.perf_counter() - start
    extra = mcmc.get_extra_fields(group_by_chain=True)
    draws = mcmc.get_samples(group_by_chain=True)
    ds = az.convert_to_dataset({k: np.asarray(v) for k, v in draws.items()})
    rhat, ess = az.rhat(ds), az.ess(ds)
    messages = [  # the first words of each problem the run's warnings list
        line.strip()[2:62]
        for w in caught
        if issubclass(w.category, ReliabilityWarning)
        for line in str(w.message).splitlines()
        if line.strip().startswith("- ")
    ]
    return {
        "k": int(np.asarray(mcmc.last_state.adapt_state.steps_per_draw)[0]),
        "grads": float(np.asarray(extra["num_steps"]).sum(axis=1).mean()),
        "warmup_s": warm,
        "sampling_s": sample,
        "rhat": max(float(rhat[v].max()) for v in ds.data_vars),
        "ess": min(float(ess[v].min()) for v in ds.data_vars),
        "divergent": int(np.asarray(extra["diverging"]).sum()),
        "warnings": messages,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--models", default="eight_schools_noncentered,hierarchical_1000")
    parser.add_argument("--chains", type=int, default=256)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--samples", type=int, default=100)
    args = parser.parse_args(argv)
    header = (
        "| model | settings | k | sampling gradients per chain | warm-up s | sampling s | "
        "max R-hat | min bulk ESS | divergent draws | warnings |"
    )
    print(f"{args.chains} vectorized chains x ({args.warmup} + {args.samples})")
    print(header)
    print("|" + "---|" * 10)
    for name in args.models.split(","):
        for label, settings in SETTINGS.items():
            r = run_row(name, settings, args.chains, args.warmup, args.samples)
            warned = "; ".join(r["warnings"]) or "none"
            print(
                f"| {name} | {label} | {r['k']} | {r['grads']:.0f} | {r['warmup_s']:.1f} | "
                f"{r['sampling_s']:.1f} | {r['rhat']:.3f} | {r['ess']:.0f} | "
                f"{r['divergent']} | {warned} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
