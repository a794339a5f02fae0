"""Compilation across runs and processes: JAX's persistent compilation cache, NUTS and ours.

    python -m benchmarks.compile_cache [--chains 256] [--warmup 300] [--samples 100]
                                       [--progress-bar]

Model: eight schools, centered, with the data of NumPyro's README. Each configuration gets a
fresh, empty cache directory (``JAX_COMPILATION_CACHE_DIR``; every program cached whatever
its compile time or size) and runs ``mcmc.run`` twice on the same ``MCMC`` object in a
first process, then twice again in a second, new process, with the same argument objects
(``progress_bar=False``, or NumPyro's default ``progress_bar=True`` with ``--progress-bar``;
NumPyro then drives its loop from Python one iteration at a time). Per run
it reports the wall time of ``mcmc.run`` (compilation included), the XLA compile time inside
it (JAX's ``backend_compile_duration`` events) and the persistent-cache hits and requests.
Without a progress bar NumPyro's ``MCMC.run`` traces its loop again on every call (a new
jitted closure each time), so a second run in the same process compiles again unless the
persistent cache holds the program (JAX does not store programs that contain host
callbacks); with it, NumPyro keeps the jitted iteration for the same argument objects, in
memory. Configurations: NUTS
(4 chains, sequential, as NumPyro's README), ``DilationLangevin`` with its defaults (the
run checks itself: with the progress bar from between iterations, without it from host
callbacks in the loop: :mod:`numpyro_dilation.iteration_checks`) and with
``host_callbacks=False`` (no check during the run, no callback; the run is checked
afterwards with :func:`numpyro_dilation.mcmc.check_run`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

CONFIGS = ("NUTS", "DilationLangevin", "DilationLangevin(host_callbacks=False)")


def _child(config: str, chains: int, warmup: int, samples: int, progress_bar: bool) -> list[dict]:
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax import monitoring

    compile_s, events = [0.0], {"hits": 0, "requests": 0}

    def on_duration(event: str, duration: float, **kwargs) -> None:
        if event == "/jax/core/compile/backend_compile_duration":
            compile_s[0] += duration

    def on_event(event: str, **kwargs) -> None:
        if event == "/jax/compilation_cache/cache_hits":
            events["hits"] += 1
        elif event == "/jax/compilation_cache/compile_requests_use_cache":
            events["requests"] += 1

    monitoring.register_event_duration_secs_listener(on_duration)
    monitoring.register_event_listener(on_event)

    from numpyro.infer import MCMC, NUTS

    from benchmarks.models import EIGHT_SIGMA, EIGHT_Y, eight_schools_centered
    from numpyro_dilation import DilationLangevin
    from numpyro_dilation.mcmc import check_run

    if config == "NUTS":
        mcmc = MCMC(
            NUTS(eight_schools_centered),
            num_warmup=1000,
            num_samples=1000,
            num_chains=4,
            chain_method="sequential",
            progress_bar=progress_bar,
        )
    else:
        kernel = DilationLangevin(
            eight_schools_centered, host_callbacks="host_callbacks" not in config
        )
        mcmc = MCMC(
            kernel,
            num_warmup=warmup,
            num_samples=samples,
            num_chains=chains,
            chain_method="vectorized",
            progress_bar=progress_bar,
        )
    sigma, y = jnp.asarray(EIGHT_SIGMA), jnp.asarray(EIGHT_Y)  # the same objects each run
    runs = []
    for run in range(2):
        compile_s[0], events["hits"], events["requests"] = 0.0, 0, 0
        start = time.perf_counter()
        mcmc.run(jax.random.key(run), 8, sigma, y=y)
        jax.block_until_ready(mcmc.get_samples())
        wall = time.perf_counter() - start
        problems = check_run(mcmc) if "host_callbacks" in config else []
        runs.append(
            {
                "wall_s": wall,
                "compile_s": compile_s[0],
                "cache_hits": events["hits"],
                "cache_requests": events["requests"],
                "mu_mean": float(np.mean(mcmc.get_samples()["mu"])),
                "problems": len(problems),
            }
        )
    return runs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chains", type=int, default=256)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--progress-bar", action="store_true", help="NumPyro's default")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        out = _child(args.child, args.chains, args.warmup, args.samples, args.progress_bar)
        print("RESULT " + json.dumps(out), flush=True)
        return
    print("| configuration | process | run | run wall s | XLA compile s | cache hits / requests |")
    print("|---|---|---|---|---|---|")
    for config in CONFIGS:
        with tempfile.TemporaryDirectory(prefix="jax_cache_") as cache:
            env = dict(
                os.environ,
                JAX_COMPILATION_CACHE_DIR=cache,
                JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
            )
            for process in ("first", "second"):
                cmd = [sys.executable, "-m", "benchmarks.compile_cache", "--child", config]
                cmd += ["--chains", str(args.chains), "--warmup", str(args.warmup)]
                cmd += ["--samples", str(args.samples)] + ["--progress-bar"] * args.progress_bar
                proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
                lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
                if proc.returncode != 0 or not lines:
                    raise RuntimeError(f"{config} failed:\n{proc.stderr[-3000:]}")
                for run, r in enumerate(json.loads(lines[-1][len("RESULT ") :]), 1):
                    print(
                        f"| {config} | {process} | {run} | {r['wall_s']:.1f} | "
                        f"{r['compile_s']:.1f} | {r['cache_hits']} / {r['cache_requests']} |",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
