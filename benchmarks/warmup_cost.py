"""Where a DilationLangevin run's gradients go, its peak memory and what it warns, on the
real-model suite's models (:mod:`benchmarks.models`).

For each model, one run of ``MCMC(DilationLangevin(model), num_warmup=W, num_samples=S,
num_chains=C, chain_method="vectorized")`` in a fresh process (so ``ru_maxrss`` is the
run's own peak), with ``num_grad_evals`` collected at every iteration, warm-up included.
The gradients per chain are split by what spent them: the first iteration (initialization;
with the pilot-box start also the run pass's first, the restart), the preconditioner
updates, the mode-finding iterations (mode finding, the U-turn explorer, and the
preconditioner update made at the same iteration; one per pass), and the rest (local steps
and global moves). Also: wall time of
``run`` (compilation included), the number of modes found, and the first line of every
warning raised.

Run ``python -m benchmarks.warmup_cost [--only NAME,...] [--chains C] [--warmup W]
[--samples S] [--out PREFIX]``; it writes ``PREFIX.json`` and ``PREFIX.md``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

DEFAULT_MODELS = (
    "eight_schools_centered",
    "stochastic_volatility",
    "horseshoe_regression",
    "logistic_regression",
    "hierarchical_1000",
)


def measure(name: str, chains: int, num_warmup: int, num_samples: int) -> dict:
    """One run of model ``name`` in this process; returns the record."""
    import jax
    import numpy as np
    from numpyro.infer import MCMC

    from benchmarks.models import MODELS
    from numpyro_dilation import DilationLangevin

    entry = MODELS[name]
    data = entry.data()
    kernel = DilationLangevin(entry.model)
    mcmc = MCMC(
        kernel,
        num_warmup=num_warmup,
        num_samples=num_samples,
        num_chains=chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mcmc.warmup(
            jax.random.key(0), collect_warmup=True, extra_fields=("num_grad_evals",), **data
        )
        warm = np.asarray(mcmc.get_extra_fields(group_by_chain=True)["num_grad_evals"])
        mcmc.run(jax.random.key(1), extra_fields=("num_grad_evals",), **data)
        sampling = np.asarray(mcmc.get_extra_fields(group_by_chain=True)["num_grad_evals"])
        jax.block_until_ready(mcmc.last_state)
    seconds = time.perf_counter() - start
    per_iteration = warm.mean(axis=0)  # (W,) gradients per chain at each warm-up iteration
    # with the pilot-box start the warm-up is a pilot pass of `offset` iterations and a run
    # pass, both on the settings' schedule; the run pass's first iteration holds the restart
    offset = num_warmup - kernel.settings.config.num_adaptation_steps
    passes = [(0, offset), (offset, num_warmup)] if offset else [(0, num_warmup)]
    mode_its = [a + kernel.settings.mode_iteration for a, b in passes]
    mode_its = [i for i, (a, b) in zip(mode_its, passes) if i < b]
    # the mode-finding iteration also holds the last preconditioner update: counted there
    mass = [a + i for a, b in passes for i in kernel.settings.mass_schedule if 0 < i < b - a]
    mass = [i for i in mass if i not in mode_its]
    first = float(sum(per_iteration[a] for a, _ in passes))  # initialization (and restart)
    preconditioner = float(sum(per_iteration[i] for i in mass))
    mode_finding = float(sum(per_iteration[i] for i in mode_its))
    total = float(per_iteration.sum() + sampling.mean(axis=0).sum())
    state = mcmc.last_state
    messages = [str(w.message).splitlines() for w in caught]
    return {
        "model": name,
        "dim": entry.dim,
        "chains": chains,
        "num_warmup": num_warmup,
        "num_samples": num_samples,
        "seconds": seconds,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "grads_per_chain": total,
        "first_iteration": first,
        "preconditioner": preconditioner,
        "mode_finding": mode_finding,
        "rest": total - first - preconditioner - mode_finding,
        "num_modes": None if state.mixture is None else int(state.mixture.num_modes),
        "warnings": [" ".join(m[:3])[:400] for m in messages],
    }


def _isolated(name: str, args) -> dict:
    cmd = [
        sys.executable, "-m", "benchmarks.warmup_cost", "--only", name, "--chains",
        str(args.chains), "--warmup", str(args.warmup), "--samples", str(args.samples),
        "--in-process",
    ]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"model": name, "error": f"did not finish in {args.timeout} s"}
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode or not lines:
        return {"model": name, "error": out.stderr.strip().splitlines()[-1:]}
    return json.loads(lines[-1])


def to_markdown(rows: list[dict]) -> str:
    head = (
        "| model | d | time s | peak MiB | grads/chain | init | preconditioner | mode finding "
        "| local + global | modes | warned |\n|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    body = []
    for r in rows:
        if "error" in r:
            body.append(f"| {r['model']} | | {r['error']} | | | | | | | | |")
            continue
        g = r["grads_per_chain"]

        def pct(x, g=g):
            return f"{x:.0f} ({100 * x / g:.0f}%)"

        warned = "; ".join(w.split(":", 1)[-1].strip()[:90] for w in r["warnings"]) or "no"
        body.append(
            f"| {r['model']} | {r['dim']} | {r['seconds']:.0f} | {r['peak_rss_mib']:.0f} "
            f"| {g:.0f} | {pct(r['first_iteration'])} | {pct(r['preconditioner'])} "
            f"| {pct(r['mode_finding'])} | {pct(r['rest'])} | {r['num_modes']} | {warned} |"
        )
    return head + "\n".join(body) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(DEFAULT_MODELS))
    parser.add_argument("--chains", type=int, default=256)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--timeout", type=int, default=1200)
    parser.add_argument("--out", default="benchmarks/results/warmup_cost")
    parser.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n]
    if args.in_process:
        for name in names:
            print(json.dumps(measure(name, args.chains, args.warmup, args.samples)))
        return 0
    rows = []
    for name in names:
        rows.append(_isolated(name, args))
        print(json.dumps(rows[-1]), flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(rows, indent=1))
    out.with_suffix(".md").write_text(to_markdown(rows))
    print(to_markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
