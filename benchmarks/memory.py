r"""Peak memory of ``DilationLangevin`` with many chains: what collection costs.

Target: a 50-dimensional Gaussian model, ``theta ~ N(mu, diag(sd^2))`` with scales
from 0.1 to 10, sampled with the default kernel (global moves and preconditioner
on) by ``MCMC(..., chain_method="vectorized")``. Each configuration runs in a fresh
Python process, so its peak resident set size (``ru_maxrss``) is its own:

- ``all``: the default collection (``z`` and the default fields, every draw);
- ``thin10``: ``MCMC(..., thinning=10)``;
- ``exclude``: ``extra_fields=("~z.theta",)`` (no draws kept, only the scalar fields;
  the final positions stay available in ``mcmc.last_state``).

``--global-moves none`` runs every configuration with ``global_moves=None``, to
separate the sampler's own working memory from that of the global moves.

For each: the peak RSS, the RSS before the run (imports, model set-up), the bytes of
the collected arrays, and the run's wall time. The draws alone take
``C * S/thinning * d * 4`` bytes in float32; NumPyro's vectorized collection also
holds a transposed copy while it reorders chains and draws, so the peak is higher.

Usage::

    python -m benchmarks.memory --chains 10000 --dim 50 --warmup 100 --samples 100

prints a Markdown table (and ``--json PATH`` writes the numbers). ``--table FILE.json``
prints the table of measurements saved earlier (one JSON object per line or a list).
"""

import argparse
import json
import resource
import subprocess
import sys
import time

CONFIGS = ("all", "thin10", "exclude")


def _rss_bytes() -> int:
    """Current resident set size of this process (Linux ``/proc``)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return -1


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def run_one(
    config: str, chains: int, dim: int, warmup: int, samples: int, seed: int, global_moves: str
) -> dict:
    """One configuration, in this process; returns the measurements."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer import MCMC

    from numpyro_dilation import DilationLangevin

    mu = jnp.linspace(-3.0, 3.0, dim)
    sd = jnp.logspace(-1.0, 1.0, dim)

    def model():
        numpyro.sample("theta", dist.Normal(mu, sd).to_event(1))

    thinning = 10 if config == "thin10" else 1
    extra_fields = ("~z.theta",) if config == "exclude" else ()
    kernel_kw = {"global_moves": None} if global_moves == "none" else {}
    mcmc = MCMC(
        DilationLangevin(model, **kernel_kw),
        num_warmup=warmup,
        num_samples=samples,
        num_chains=chains,
        chain_method="vectorized",
        thinning=thinning,
        progress_bar=False,
    )
    rss_before = _rss_bytes()
    start = time.perf_counter()
    mcmc.run(jax.random.key(seed), extra_fields=extra_fields)
    collected = jax.block_until_ready(
        (mcmc.get_samples(group_by_chain=True), mcmc.get_extra_fields(group_by_chain=True))
    )
    seconds = time.perf_counter() - start
    nbytes = sum(int(np.asarray(x).nbytes) for x in jax.tree.leaves(collected))
    theta = collected[0].get("theta")
    finite = bool(jnp.all(jnp.isfinite(mcmc.last_state.z["theta"])))
    return {
        "config": config,
        "chains": chains,
        "dim": dim,
        "warmup": warmup,
        "samples": samples,
        "thinning": thinning,
        "extra_fields": list(extra_fields),
        "kernel_kwargs": {k: repr(v) for k, v in kernel_kw.items()},
        "draws_shape": None if theta is None else list(theta.shape),
        "collected_bytes": nbytes,
        "rss_before_run_bytes": rss_before,
        "peak_rss_bytes": _peak_rss_bytes(),
        "run_seconds": seconds,
        "final_state_finite": finite,
        "device": str(jax.devices()[0]),
    }


def _mib(x: int) -> str:
    return f"{x / 2**20:,.0f}"


def table(rows: list[dict]) -> str:
    lines = [
        "| collection | warm-up + draws | draws kept (chains × draws × d) | collected (MiB) "
        "| RSS before run (MiB) | peak RSS (MiB) | run (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        what = {
            "all": "everything (default)",
            "thin10": "`thinning=10`",
            "exclude": '`extra_fields=("~z.theta",)`',
        }[r["config"]]
        if r["kernel_kwargs"]:
            what += ", `global_moves=None`"
        shape = " × ".join(map(str, r["draws_shape"])) if r["draws_shape"] else "none"
        lines.append(
            f"| {what} | {r['warmup']} + {r['samples']} | {shape} | {_mib(r['collected_bytes'])} | "
            f"{_mib(r['rss_before_run_bytes'])} | {_mib(r['peak_rss_bytes'])} | "
            f"{r['run_seconds']:.0f} |"
        )
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chains", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--global-moves", choices=("auto", "none"), default="auto")
    parser.add_argument("--json", default=None, help="write the measurements here")
    parser.add_argument("--table", default=None, help="print the table of saved measurements")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # child process
    args = parser.parse_args(argv)
    if args.table:
        with open(args.table) as f:
            text = f.read().strip()
        rows = (
            json.loads(text) if text.startswith("[") else [json.loads(x) for x in text.splitlines()]
        )
        print(table(rows))
        return
    sizes = (args.chains, args.dim, args.warmup, args.samples, args.seed, args.global_moves)
    if args.one:
        print(json.dumps(run_one(args.one, *sizes)))
        return
    rows = []
    for config in args.configs.split(","):
        child = [sys.executable, "-m", "benchmarks.memory", "--one", config]
        child += ["--chains", str(args.chains), "--dim", str(args.dim)]
        child += ["--warmup", str(args.warmup), "--samples", str(args.samples)]
        child += ["--seed", str(args.seed), "--global-moves", args.global_moves]
        out = subprocess.run(child, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            sys.exit(f"{config} failed:\n{out.stderr[-3000:]}")
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
