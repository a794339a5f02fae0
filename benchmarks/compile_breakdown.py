"""Where a first run's time goes: NUTS and DilationLangevin, compilation stage by stage.

    python -m benchmarks.compile_breakdown [--models eight_schools,arK] [--chains 256]
                                           [--warmup 300] [--samples 100] [--repeat 1]
                                           [--skip-stages] [--baseline-tree DIR]

For each model, in one process per configuration (so that nothing is cached in memory;
no persistent cache):

- **NUTS** (4 chains, sequential, 1000 + 1000, as NumPyro's README) and
  **DilationLangevin** (defaults, ``C`` vectorized chains, ``W + S``): wall time of the
  first ``mcmc.run`` and the XLA compile time inside it (JAX's
  ``backend_compile_duration`` events);
- **DilationLangevin without the pilot pass** (``start=None``): its first ``mcmc.run``,
  the difference being the pilot-box start's cost (its pilot pass and restart run in the
  run's own loop);
- **DilationLangevin's ``init``** (defaults): wall and compile time;
- **one iteration's program** (:func:`numpyro_dilation.population.population_step`,
  jitted alone on the initialized state) with the warm-up's stages switched off one
  after the other: the compile time each stage adds to the loop's program, and two
  counts that do not vary from process to process: the places where the model's
  log-density (with its gradient) is traced, and the fused kernels XLA compiles (each
  compiled by LLVM on its own: compile time grows with their number).

With ``--baseline-tree DIR`` (a checkout of another commit, e.g. made by ``git worktree
add``) DilationLangevin's first run is also made from ``DIR``'s code, interleaved with the
others, so that a change is compared with the code before it in the same hour.

Reported as seconds on this machine and as ratios to NUTS's first run. With ``--repeat
N`` the three first runs (NUTS, defaults, ``start=None``) are each made ``N`` times,
interleaved, each in a fresh process, and the table gives the median (min-max): compile
times on a shared 2-core machine vary by 10-20% from process to process.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time

from benchmarks.posteriordb.loader import checkout_env

MODELS = ("eight_schools", "arK")
POSTERIORDB = {
    "arK": "arK-arK",
    "eight_schools_noncentered": "eight_schools-eight_schools_noncentered",
    "kidiq": "kidiq-kidscore_momhs",
    "sblrc": "sblrc-blr",
    "low_dim_gauss_mix": "low_dim_gauss_mix-low_dim_gauss_mix",
}


def _compile_listener() -> list[float]:
    from jax import monitoring

    total = [0.0]

    def on_duration(event: str, duration: float, **kwargs) -> None:
        if event == "/jax/core/compile/backend_compile_duration":
            total[0] += duration

    monitoring.register_event_duration_secs_listener(on_duration)
    return total


def _model(name: str):
    """``(model, args, kwargs)``: eight schools (centered, NumPyro's README), a posteriordb
    posterior of :data:`POSTERIORDB`, or a model of the real-model suite
    (:data:`benchmarks.models.MODELS`)."""
    import jax.numpy as jnp

    if name == "eight_schools":
        from benchmarks.models import EIGHT_SIGMA, EIGHT_Y, eight_schools_centered

        return eight_schools_centered, (8, jnp.asarray(EIGHT_SIGMA)), {"y": jnp.asarray(EIGHT_Y)}
    if name in POSTERIORDB:
        from benchmarks.posteriordb.models import get_spec, model_kwargs

        return get_spec(POSTERIORDB[name]).model, (), model_kwargs(POSTERIORDB[name])
    from benchmarks.models import MODELS as SUITE

    if name in SUITE:  # the real-model suite's registry (its data as keyword arguments)
        return SUITE[name].model, (), SUITE[name].data()
    known = ", ".join(["eight_schools", *POSTERIORDB, *SUITE])
    raise ValueError(f"unknown model {name!r}; known: {known}")


def _child(config: str, name: str, chains: int, warmup: int, samples: int) -> dict:
    compile_s = _compile_listener()
    import warnings

    import jax
    from numpyro.infer import MCMC, NUTS

    from numpyro_dilation import DilationLangevin
    from numpyro_dilation.population import population_step

    warnings.simplefilter("ignore")
    model, args, kwargs = _model(name)
    key = jax.random.key(0)
    if config in ("nuts", "dl", "dl_no_pilot"):
        if config == "nuts":
            mcmc = MCMC(
                NUTS(model),
                num_warmup=1000,
                num_samples=1000,
                num_chains=4,
                chain_method="sequential",
                progress_bar=False,
            )
        else:
            mcmc = MCMC(
                DilationLangevin(model, start=None if config == "dl_no_pilot" else "auto"),
                num_warmup=warmup,
                num_samples=samples,
                num_chains=chains,
                chain_method="vectorized",
                progress_bar=False,
            )
        t = time.perf_counter()
        mcmc.run(key, *args, **kwargs)
        jax.block_until_ready(mcmc.last_state)
        return {"wall_s": time.perf_counter() - t, "compile_s": compile_s[0]}
    kernel = DilationLangevin(model, host_callbacks=False)
    t = time.perf_counter()
    state = kernel.init(jax.random.split(key, chains), warmup, None, args, kwargs)
    jax.block_until_ready(state)
    out = {"wall_s": time.perf_counter() - t, "compile_s": compile_s[0]}
    if config == "stages":
        logdensity_fn = kernel._logdensity_fn(args, kwargs)
        full = kernel.settings
        variants = {
            "full step": full,
            "without the U-turn explorer": full._replace(uturn=None),
            "without mode finding and global moves": full._replace(uturn=None, global_moves=None),
            "without preconditioner updates (bare chain step)": full._replace(
                uturn=None, global_moves=None, mass_schedule=()
            ),
        }
        for label, settings in variants.items():
            traces = [0]

            def counted(z, traces=traces):
                traces[0] += 1
                return logdensity_fn(z)

            fn = jax.jit(lambda s, settings=settings: population_step(s, counted, settings))
            t = time.perf_counter()
            lowered = fn.lower(state)
            t_lower = time.perf_counter() - t
            t = time.perf_counter()
            compiled = lowered.compile()
            out[label] = {
                "lower_s": t_lower,
                "compile_s": time.perf_counter() - t,
                "logdensity_sites": traces[0],
                "fused_kernels": len(re.findall(r" = \S+ fusion\(", compiled.as_text())),
            }
    return out


def _run_child(config: str, name: str, args: argparse.Namespace, tree: str | None = None) -> dict:
    """One configuration in a fresh process; with ``tree``, that checkout's code."""
    env = None if tree is None else checkout_env(tree)
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.compile_breakdown",
        "--child",
        config,
        "--models",
        name,
        "--chains",
        str(args.chains),
        "--warmup",
        str(args.warmup),
        "--samples",
        str(args.samples),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=tree, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _median(results: list[dict]) -> dict:
    """Median wall and compile time of repeated first runs, with their ranges."""
    out = {}
    for field in ("wall_s", "compile_s"):
        values = sorted(r[field] for r in results)
        out[field] = statistics.median(values)
        out[field + "_range"] = (values[0], values[-1])
    return out


def _spread(r: dict, field: str) -> str:
    low, high = r.get(field + "_range", (r[field], r[field]))
    return f"{r[field]:.1f}" if low == high else f"{r[field]:.1f} ({low:.1f}-{high:.1f})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--chains", type=int, default=256)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=1, help="first runs per configuration")
    parser.add_argument("--skip-stages", action="store_true", help="no init and stage table")
    parser.add_argument(
        "--baseline-tree", default=None, help="a checkout of other code, run interleaved"
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    names = args.models.split(",")
    if args.child is not None:
        print(json.dumps(_child(args.child, names[0], args.chains, args.warmup, args.samples)))
        return
    for name in names:
        runs = {c: [] for c in ("nuts", "dl", "dl_no_pilot")}
        if args.baseline_tree:
            runs["baseline"] = []
        for _ in range(args.repeat):  # interleaved, so that a slow spell hits every one
            for c, results in runs.items():
                if c == "baseline":
                    results.append(_run_child("dl", name, args, args.baseline_tree))
                else:
                    results.append(_run_child(c, name, args))
        res = {c: _median(r) for c, r in runs.items()}
        if not args.skip_stages:
            res["stages"] = _run_child("stages", name, args)
        nuts = res["nuts"]
        print(
            f"\n### {name}: first run, {args.chains} chains x ({args.warmup} + "
            f"{args.samples}); NUTS 4 x (1000 + 1000); median of {args.repeat}\n"
        )
        print("| what | wall s | XLA compile s | wall / NUTS's | compile / NUTS's |")
        print("|---|---|---|---|---|")
        rows = [
            ("NUTS `mcmc.run`", res["nuts"]),
            ("DilationLangevin `mcmc.run` (defaults)", res["dl"]),
            ("DilationLangevin `mcmc.run`, `start=None` (no pilot pass)", res["dl_no_pilot"]),
        ]
        if "baseline" in res:
            label = f"DilationLangevin `mcmc.run` (defaults), code at `{args.baseline_tree}`"
            rows.append((label, res["baseline"]))
        rows += [("its `init` (defaults)", res["stages"])] if "stages" in res else []
        for label, r in rows:
            print(
                f"| {label} | {_spread(r, 'wall_s')} | {_spread(r, 'compile_s')} | "
                f"{r['wall_s'] / nuts['wall_s']:.2f} | {r['compile_s'] / nuts['compile_s']:.2f} |"
            )
        if "stages" not in res:
            sys.stdout.flush()
            continue
        print(
            "\n| one iteration's program (population_step, jitted alone) | trace + lower s "
            "| XLA compile s | log-density call sites | fused kernels |"
        )
        print("|---|---|---|---|---|")
        for label, r in res["stages"].items():
            if isinstance(r, dict):
                print(
                    f"| {label} | {r['lower_s']:.1f} | {r['compile_s']:.1f} | "
                    f"{r['logdensity_sites']} | {r['fused_kernels']} |"
                )
        sys.stdout.flush()


if __name__ == "__main__":
    main()
