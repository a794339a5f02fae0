"""Time to a usable result: wall time until min bulk ESS >= 400 with max R-hat <= 1.01.

    python -m benchmarks.time_to_result [--models eight_schools,eight_schools_noncentered,arK]
                                        [--nuts-draws 250,500,1000,2000]
                                        [--dl-draws 50,100,200,400] [--chains 64,256]
                                        [--no-global-moves] [--cached] [--progress-bar]
                                        [--momentum-persistence ALPHA]
                                        [--baseline-tree DIR]

Models: eight schools as in NumPyro's README (centered), the posteriordb posteriors
(``eight_schools_noncentered``, ``arK``, ``kidiq``, ``sblrc``, ``low_dim_gauss_mix``), or any
model of the real-model suite (``python -m benchmarks.models --list``). For each model and
sampler, runs of growing length (a *ladder* of draws per chain), each in a fresh process
(compilation included, no persistent cache), until one meets the goal: minimum bulk ESS >= 400
and maximum rank-normalized split R-hat <= 1.01 over every scalar of every latent site (ArviZ).
NUTS: 4 chains, sequential, 1000 warm-up iterations (NumPyro's README); DilationLangevin:
defaults, each number of vectorized chains in ``--chains`` (its own ladder), ``max(300,
draws)`` warm-up iterations. Reported per rung: wall time of ``mcmc.run``, the same without XLA
compilation (JAX's ``backend_compile_duration`` events subtracted), min bulk ESS, max R-hat,
the sampling phase's gradients, DilationLangevin's transitions per draw
(``steps_per_draw="auto"``) and the classes of the warnings raised; then, per model, the first
rung that meets the goal and the ratio of its wall time (with and without compilation) to
NUTS's. A sampler that meets no rung is reported as such. ``--no-global-moves``: ours with
``global_moves=None`` (no mode finding, global moves or U-turn explorer to compile or run),
as for a posterior known to have one mode. ``--momentum-persistence ALPHA``: ours with
``momentum_persistence=ALPHA`` (0: MALA's draws, the behaviour before 2026-12-06).
``--baseline-tree DIR``: DilationLangevin's ladders run again from the code in ``DIR`` (a
checkout of another commit, e.g. made by ``git worktree add``) right after this code's, so
that a change is compared with the code before it in the same hour; reported as their own
rows and ratio. ``--cached``: the README's way run a second time, as a user re-running a
script does: each rung runs twice, each time in a fresh process with NumPyro's progress bar
(its default) and JAX's persistent compilation cache in a fresh directory shared by the two
(every program stored); the second process's numbers are reported (its compilation is what
the cache did not hold), with the first's wall time beside them. ``--progress-bar``: every
run with NumPyro's progress bar (its default, the README's way): NumPyro then compiles NUTS's
sampling loop once for its four sequential chains, where without it (the default here, for
both samplers) it compiles the loop once per chain.

Why the number of chains matters: split R-hat over chains of ``n`` draws whose integrated
autocorrelation time is ``tau`` is about ``sqrt(1 + 2 (tau - 1) / n)`` whatever the number of
chains ``C`` (the chains' number only sets its noise), so ``R-hat <= 1.01`` needs
``tau <= 1 + n/100``: at least ``n / (1 + n/100)`` effective draws *per chain* (33 at
``n = 50``, 50 at 100, 67 at 200). The total ESS that passes R-hat grows with ``C`` (12,800
at 256 chains of 100 draws) while the goal's 400 does not, so for this goal the fewest chains
that the sampler runs well with are the fastest. The user guide's "How many chains" gives the
rule and these figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from benchmarks.posteriordb.loader import checkout_env

ESS_GOAL = 400
RHAT_GOAL = 1.01
MODELS = ("eight_schools", "eight_schools_noncentered", "arK")


def _child(sampler: str, name: str, draws: int, chains: int,
           global_moves: bool = True, progress_bar: bool = False,
           persistence: float | None = None) -> dict:
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
                    chain_method="sequential", progress_bar=progress_bar)
        field = "num_steps"
    else:
        options = {} if global_moves else {"global_moves": None}
        if persistence is not None:
            options["momentum_persistence"] = persistence
        mcmc = MCMC(DilationLangevin(model, **options), num_warmup=max(300, draws),
                    num_samples=draws,
                    num_chains=chains, chain_method="vectorized", progress_bar=progress_bar)
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
        # DilationLangevin: transitions per draw (steps_per_draw="auto", chosen in the run)
        "steps_per_draw": (None if sampler == "nuts" else
                           int(np.max(np.asarray(mcmc.last_state.adapt_state.steps_per_draw)))),
    }


def _run(sampler: str, name: str, draws: int, chains: int, global_moves: bool = True,
         cached: bool = False, persistence: float | None = None, tree: str | None = None,
         progress_bar: bool = False) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.time_to_result", "--child", sampler,
           "--models", name, "--draws", str(draws), "--chains", str(chains)]
    cmd += [] if global_moves else ["--no-global-moves"]
    cmd += [] if persistence is None else ["--momentum-persistence", str(persistence)]

    def child(env=None) -> dict:  # the child's last line is its JSON report
        if tree is not None:
            env = checkout_env(tree, env)
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env, cwd=tree)
        return json.loads(out.stdout.strip().splitlines()[-1])

    if progress_bar or cached:
        cmd += ["--progress-bar"]
    if not cached:
        return child()
    with tempfile.TemporaryDirectory() as cache:
        env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_XDIST_WORKER")}
        env.update(JAX_COMPILATION_CACHE_DIR=cache, JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                   JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
        first, second = child(env), child(env)
    return {**second, "first_process_wall_s": first["wall_s"]}


def _ladder(sampler: str, name: str, draws: list[int], chains: int,
            global_moves: bool = True, cached: bool = False,
            persistence: float | None = None, tree: str | None = None,
            progress_bar: bool = False) -> list[dict]:
    rungs = []
    for n in draws:
        rung = {"draws": n, **_run(sampler, name, n, chains, global_moves, cached, persistence,
                                   tree, progress_bar)}
        rung["meets_goal"] = rung["min_ess_bulk"] >= ESS_GOAL and rung["max_rhat"] <= RHAT_GOAL
        rungs.append(rung)
        print(f"  {sampler}{'' if tree is None else ' (baseline)'} {name} draws={n}: wall "
              f"{rung['wall_s']:.1f} s (compile {rung['compile_s']:.1f}), ESS "
              f"{rung['min_ess_bulk']:.0f}, R-hat {rung['max_rhat']:.3f}", file=sys.stderr,
              flush=True)
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
    parser.add_argument("--chains", default="64,256",
                        help="comma-separated numbers of DilationLangevin chains, a ladder each")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--draws", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help="write every number to this JSON file")
    parser.add_argument("--no-global-moves", action="store_true",
                        help="DilationLangevin(model, global_moves=None): for a posterior "
                             "known to have one mode (no mode finding, global moves, explorer)")
    parser.add_argument("--cached", action="store_true",
                        help="a second process with the persistent cache, progress bar on")
    parser.add_argument("--progress-bar", action="store_true",
                        help="every run with NumPyro's progress bar (the README's way)")
    parser.add_argument("--momentum-persistence", type=float, default=None,
                        help="DilationLangevin(model, momentum_persistence=ALPHA); "
                             "default: the library's")
    parser.add_argument("--baseline-tree", default=None,
                        help="a checkout of other code: DilationLangevin's ladders again from it")
    args = parser.parse_args(argv)
    names = args.models.split(",")
    if args.child is not None:
        print(json.dumps(_child(args.child, names[0], args.draws, int(args.chains),
                                not args.no_global_moves, args.progress_bar,
                                args.momentum_persistence)))
        return
    chain_counts = [int(x) for x in args.chains.split(",")]
    nuts_draws = [int(x) for x in args.nuts_draws.split(",")]
    dl_draws = [int(x) for x in args.dl_draws.split(",")]
    report = {}
    for name in names:
        report[name] = {"nuts": _ladder("nuts", name, nuts_draws, 4, cached=args.cached,
                                        progress_bar=args.progress_bar)}
        for c in chain_counts:
            report[name][f"dl{c}"] = _ladder("dl", name, dl_draws, c, not args.no_global_moves,
                                             args.cached, args.momentum_persistence,
                                             progress_bar=args.progress_bar)
            if args.baseline_tree is not None:
                report[name][f"base{c}"] = _ladder(
                    "dl", name, dl_draws, c, not args.no_global_moves, args.cached,
                    args.momentum_persistence, os.path.abspath(args.baseline_tree),
                    args.progress_bar)
    ours_keys = [f"{kind}{c}" for c in chain_counts
                 for kind in ("dl", "base")[: 1 + (args.baseline_tree is not None)]]
    alpha = args.momentum_persistence
    print(f"Goal: min bulk ESS >= {ESS_GOAL} and max R-hat <= {RHAT_GOAL}. NUTS: 4 chains x "
          f"(1000 + draws); DilationLangevin: C chains x (max(300, draws) + draws), C in "
          f"{chain_counts}"
          f"{', global_moves=None' if args.no_global_moves else ''}"
          f"{'' if alpha is None else f', momentum_persistence={alpha}'}"
          f"{'; second process with the persistent cache, progress bar' if args.cached else ''}"
          f"{'; NumPyro progress bar' if args.progress_bar and not args.cached else ''}"
          ".\n")
    first = " | first process wall s" if args.cached else ""
    print("| model | sampler | draws per chain | wall s | wall without compile s | min bulk ESS "
          "| max R-hat | gradients in sampling | transitions per draw | warnings "
          f"| meets goal{first} |")
    print("|---|---|---|---|---|---|---|---|---|---|---|" + "---|" * args.cached)
    for name, by_sampler in report.items():
        for sampler, rungs in by_sampler.items():
            for r in rungs:
                print(f"| {name} | {_label(sampler)} | "
                      f"{r['draws']} | {r['wall_s']:.1f} | {r['wall_s'] - r['compile_s']:.1f} | "
                      f"{r['min_ess_bulk']:.0f} | {r['max_rhat']:.3f} | {r['gradients']:,} | "
                      f"{r.get('steps_per_draw') or '-'} | {', '.join(r['warnings']) or '-'} | "
                      f"{'yes' if r['meets_goal'] else 'no'} |"
                      + (f" {r['first_process_wall_s']:.1f} |" if args.cached else ""))
    print("\n| model | NUTS time to goal s (without compile) | "
          + " | ".join(f"{_label(k)} (without compile) | ratio (without compile)"
                       for k in ours_keys) + " |")
    print("|---|---|" + "---|---|" * len(ours_keys))
    for name, by_sampler in report.items():
        nuts = _first(by_sampler["nuts"])
        cells = [name, "not reached" if nuts is None else _t(nuts)]
        for k in ours_keys:
            ours = _first(by_sampler[k])
            if nuts is None or ours is None:
                who = "NUTS" if nuts is None else "DilationLangevin"
                cells += ["not reached" if ours is None else _t(ours), f"{who} met no rung"]
                continue
            ratio = ours["wall_s"] / nuts["wall_s"]
            ratio_nc = (ours["wall_s"] - ours["compile_s"]) / (nuts["wall_s"] - nuts["compile_s"])
            cells += [_t(ours), f"{ratio:.2f} ({ratio_nc:.2f})"]
        print("| " + " | ".join(cells) + " |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1)


def _label(sampler: str) -> str:
    if sampler.startswith("base"):
        return f"DilationLangevin at the baseline tree, {sampler[4:]} chains"
    return "NUTS" if sampler == "nuts" else f"DilationLangevin, {sampler[2:]} chains"


def _t(rung: dict) -> str:
    return f"{rung['wall_s']:.1f} ({rung['wall_s'] - rung['compile_s']:.1f})"


if __name__ == "__main__":
    main()
