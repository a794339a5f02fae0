"""Time to a usable result: wall time until min bulk ESS >= 400 with max R-hat <= 1.01.

    python -m benchmarks.time_to_result [--models eight_schools,eight_schools_noncentered,arK]
                                        [--nuts-draws 250,500,1000,2000]
                                        [--dl-draws 50,100,200,400] [--chains 256]

Models: eight schools as in NumPyro's README (centered), the posteriordb posteriors
``eight_schools_noncentered`` and ``arK``, or any model of the real-model suite
(``python -m benchmarks.models --list``). For each model and sampler, runs of growing length
(a *ladder* of draws per chain), each in a fresh process (compilation included, no
persistent cache), until one meets the goal:
minimum bulk ESS >= 400 and maximum rank-normalized split R-hat <= 1.01 over every scalar of
every latent site (ArviZ). NUTS: 4 chains, sequential, 1000 warm-up iterations (NumPyro's
README); DilationLangevin: defaults, ``--chains`` vectorized chains, ``max(300, draws)``
warm-up iterations. Reported per rung: wall time of ``mcmc.run``, the same without XLA
compilation (JAX's ``backend_compile_duration`` events subtracted), min bulk ESS, max R-hat,
the sampling phase's gradients; then, per model, the first rung that meets the goal and the
ratio of its wall time (with and without compilation) to NUTS's. A sampler that meets no rung
is reported as such.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

ESS_GOAL = 400
RHAT_GOAL = 1.01
MODELS = ("eight_schools", "eight_schools_noncentered", "arK")


def _child(sampler: str, name: str, draws: int, chains: int) -> dict:
    from benchmarks.compile_breakdown import _compile_listener, _model

    compile_s = _compile_listener()
    import warnings

    import arviz as az
    import jax
    import numpy as np
    from numpyro.infer import MCMC, NUTS

    from numpyro_dilation import DilationLangevin

    model, args, kwargs = _model(name)
    if sampler == "nuts":
        mcmc = MCMC(NUTS(model), num_warmup=1000, num_samples=draws, num_chains=4,
                    chain_method="sequential", progress_bar=False)
        field = "num_steps"
    else:
        mcmc = MCMC(DilationLangevin(model), num_warmup=max(300, draws), num_samples=draws,
                    num_chains=chains, chain_method="vectorized", progress_bar=False)
        field = "num_grad_evals"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = time.perf_counter()
        mcmc.run(jax.random.key(0), *args, extra_fields=(field,), **kwargs)
        jax.block_until_ready(mcmc.last_state)
        wall = time.perf_counter() - t
        jax.effects_barrier()
    # the model's sites as written (a non-centered site's NAME is deterministic, same values)
    sites = {k: np.asarray(v, dtype=float)
             for k, v in mcmc.get_samples(group_by_chain=True).items()
             if not k.endswith("_decentered")}
    dataset = az.convert_to_dataset(sites)
    ess_ds, rhat_ds = az.ess(dataset, method="bulk"), az.rhat(dataset)
    ess = min(float(ess_ds[k].min()) for k in ess_ds.data_vars)
    rhat = max(float(rhat_ds[k].max()) for k in rhat_ds.data_vars)
    return {
        "wall_s": wall,
        "compile_s": compile_s[0],
        "min_ess_bulk": ess,
        "max_rhat": rhat,
        "gradients": int(np.sum(np.asarray(mcmc.get_extra_fields()[field]))),
        "warnings": sorted({type(w.message).__name__ for w in caught}),
    }


def _run(sampler: str, name: str, draws: int, chains: int) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.time_to_result", "--child", sampler,
           "--models", name, "--draws", str(draws), "--chains", str(chains)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _ladder(sampler: str, name: str, draws: list[int], chains: int) -> list[dict]:
    rungs = []
    for n in draws:
        rung = {"draws": n, **_run(sampler, name, n, chains)}
        rung["meets_goal"] = rung["min_ess_bulk"] >= ESS_GOAL and rung["max_rhat"] <= RHAT_GOAL
        rungs.append(rung)
        print(f"  {sampler} {name} draws={n}: wall {rung['wall_s']:.1f} s (compile "
              f"{rung['compile_s']:.1f}), ESS {rung['min_ess_bulk']:.0f}, R-hat "
              f"{rung['max_rhat']:.3f}", file=sys.stderr, flush=True)
        if rung["meets_goal"]:
            break
    return rungs


def _first(rungs: list[dict]) -> dict | None:
    return next((r for r in rungs if r["meets_goal"]), None)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--nuts-draws", default="250,500,1000,2000")
    parser.add_argument("--dl-draws", default="50,100,200,400")
    parser.add_argument("--chains", type=int, default=256)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--draws", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help="write every number to this JSON file")
    args = parser.parse_args(argv)
    names = args.models.split(",")
    if args.child is not None:
        print(json.dumps(_child(args.child, names[0], args.draws, args.chains)))
        return
    report = {}
    for name in names:
        report[name] = {
            "nuts": _ladder("nuts", name, [int(x) for x in args.nuts_draws.split(",")], 4),
            "dl": _ladder("dl", name, [int(x) for x in args.dl_draws.split(",")], args.chains),
        }
    print(f"Goal: min bulk ESS >= {ESS_GOAL} and max R-hat <= {RHAT_GOAL}. NUTS: 4 chains x "
          f"(1000 + draws); DilationLangevin: {args.chains} chains x (max(300, draws) + draws)."
          "\n")
    print("| model | sampler | draws per chain | wall s | wall without compile s | min bulk ESS "
          "| max R-hat | gradients in sampling | meets goal |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, by_sampler in report.items():
        for sampler, rungs in by_sampler.items():
            for r in rungs:
                print(f"| {name} | {'NUTS' if sampler == 'nuts' else 'DilationLangevin'} | "
                      f"{r['draws']} | {r['wall_s']:.1f} | {r['wall_s'] - r['compile_s']:.1f} | "
                      f"{r['min_ess_bulk']:.0f} | {r['max_rhat']:.3f} | {r['gradients']:,} | "
                      f"{'yes' if r['meets_goal'] else 'no'} |")
    print("\n| model | NUTS time to goal s (without compile) | ours (without compile) | ratio "
          "(without compile) |")
    print("|---|---|---|---|")
    for name, by_sampler in report.items():
        nuts, ours = _first(by_sampler["nuts"]), _first(by_sampler["dl"])
        if nuts is None or ours is None:
            who = "NUTS" if nuts is None else "DilationLangevin"
            print(f"| {name} | {'not reached' if nuts is None else _t(nuts)} | "
                  f"{'not reached' if ours is None else _t(ours)} | {who} met no rung |")
            continue
        ratio = ours["wall_s"] / nuts["wall_s"]
        ratio_nc = (ours["wall_s"] - ours["compile_s"]) / (nuts["wall_s"] - nuts["compile_s"])
        print(f"| {name} | {_t(nuts)} | {_t(ours)} | {ratio:.2f} ({ratio_nc:.2f}) |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1)


def _t(rung: dict) -> str:
    return f"{rung['wall_s']:.1f} ({rung['wall_s'] - rung['compile_s']:.1f})"


if __name__ == "__main__":
    main()
