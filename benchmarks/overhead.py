"""Where DilationLangevin's time per gradient goes, one feature at a time.

    python -m benchmarks.overhead [--target gauss_mix_unordered] [--chains 128]
                                  [--warmup 400] [--samples 100]

Times the NumPyro kernel's ``sample`` in a jitted ``lax.scan`` (as
:func:`benchmarks.throughput.measure` does) with features switched off one after the
other, next to the bare ``vmap(grad)`` scan doing the same number of counted
gradients per chain. A ratio that grows when a feature is on, beyond the gradients
it counts, is work that ``num_grad_evals`` does not show.
"""

from __future__ import annotations

import argparse

import jax

import numpyro_dilation as nd
from benchmarks import throughput
from benchmarks.targets import get_target

CONFIGS = {
    "defaults": {},
    "uturn=None": {"uturn": None},
    "global_moves=None": {"global_moves": None, "uturn": None},
    "global_moves=None, adapt_mass_matrix=False": {
        "global_moves": None,
        "uturn": None,
        "adapt_mass_matrix": False,
    },
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="gauss_mix_unordered")
    parser.add_argument("--chains", type=int, default=128)
    parser.add_argument("--warmup", type=int, default=400)
    parser.add_argument("--samples", type=int, default=100)
    args = parser.parse_args(argv)
    target = get_target(args.target)
    x0 = target.init_positions(jax.random.key(0), args.chains)
    print("| configuration | counted gradients per chain | DL s | bare s | ratio |")
    print("|---|---|---|---|---|")
    for name, kwargs in CONFIGS.items():
        kernel = nd.DilationLangevin(potential_fn=lambda x: -target.logdensity_fn(x), **kwargs)
        keys = jax.random.split(jax.random.key(1), args.chains)
        state = jax.block_until_ready(kernel.init(keys, args.warmup, x0, (), {}))
        loop = throughput.dilation_kernel_loop(kernel, args.warmup, args.samples)
        (_, grads), _, dl_s = throughput.time_compiled(loop, state, repeats=2)
        per_chain = int(round(int(grads) / args.chains))
        bare = throughput.bare_gradient_loop(target.logdensity_fn, per_chain)
        _, _, bare_s = throughput.time_compiled(bare, x0, repeats=2)
        print(f"| {name} | {per_chain:,} | {dl_s:.2f} | {bare_s:.2f} | {dl_s / bare_s:.2f} |",
              flush=True)


if __name__ == "__main__":
    main()
