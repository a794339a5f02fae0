"""Peak memory of a plain ``mcmc.run`` on a real-model suite model, as a user runs it.

    python -m benchmarks.run_memory [--model hierarchical_1000] [--chains 256]
                                    [--warmup 300] [--samples 100] [--sampler dl|nuts]

One ``MCMC(DilationLangevin(model), ..., chain_method="vectorized").run(key, **data)`` (or
NUTS with 4 chains) in this fresh process, nothing else collected: the peak resident set
size (``ru_maxrss``) after the model's set-up and after the run, and the resident size
after the run. ``python -m benchmarks.models`` reports a whole process's peak instead, which
also holds the warm-up draws it collects to count gradients (``collect_warmup=True``:
``C x W x d x 4`` bytes, 307 MB for hierarchical_1000) and its diagnostics.
"""

from __future__ import annotations

import argparse
import resource
import time

import jax
from numpyro.infer import MCMC, NUTS

import numpyro_dilation as nd
from benchmarks.models import MODELS


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _current_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="hierarchical_1000", choices=sorted(MODELS))
    parser.add_argument("--chains", type=int, default=256)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--sampler", default="dl", choices=("dl", "nuts"))
    args = parser.parse_args(argv)
    entry = MODELS[args.model]
    data = entry.data()
    before = _peak_mib()
    if args.sampler == "dl":
        kernel, chains, method = nd.DilationLangevin(entry.model), args.chains, "vectorized"
    else:
        kernel, chains, method = NUTS(entry.model), 4, "sequential"
    mcmc = MCMC(kernel, num_warmup=args.warmup, num_samples=args.samples, num_chains=chains,
                chain_method=method, progress_bar=False)  # fmt: skip
    t0 = time.perf_counter()
    mcmc.run(jax.random.key(0), **data)
    seconds = time.perf_counter() - t0
    print(f"| {args.model} | {entry.dim} | {args.sampler} | {chains} x ({args.warmup} + "
          f"{args.samples}) | {before:.0f} | {_peak_mib():.0f} | {_current_mib():.0f} "
          f"| {seconds:.1f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
