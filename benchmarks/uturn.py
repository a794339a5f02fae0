r"""U-turn benchmark (issue 7): per-chain mixing with and without U-turns, and the
mode-switch curves with their memorization / speciation levels.

Part 1, per-chain mixing. On the two-mode targets (d = 10 and d = 50) and ring8,
``DilationLangevin`` (vectorized, chains started uniform in :math:`[-2, 2]^d`) in
four configurations at the same warm-up and number of draws:

- ``annealing only``: ``global_moves=None, uturn=None`` (each chain stays in its mode);
- ``exact U-turn``: ``global_moves=None, uturn=UTurn(kind="exact", ...)``, one exact
  palindromic U-turn per sampling iteration;
- ``global moves``: ``uturn=None`` (the modes the annealed chains reached);
- ``default``: global moves whose mode set the U-turn explorer completes.

Reported per row: pooled mode-weight TV, the per-chain R-hat (rank-normalized, ArviZ)
of the mode indicator and the largest over coordinates, the median over chains of the
per-chain mode-frequency error, the exact move's acceptance, gradients per chain.

Part 2, mode-switch curves: :func:`numpyro_dilation.uturn_diagnostic` on the
``default`` run of each target (1000 pooled draws, the run's step size and
preconditioner): switch rate against :math:`\lambda_u`, :math:`\lambda_m`, :math:`\lambda_s`.

Command (results in ``benchmarks/results/uturn.json``, ``uturn.md`` and ``uturn.png``)::

    python -m benchmarks.uturn [--chains 200] [--warmup 400] [--samples 400]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import arviz as az
import jax
import numpy as np
from numpyro.infer import MCMC

import numpyro_dilation as nd
from benchmarks.metrics import total_variation
from benchmarks.targets import get_target

RESULTS = Path(__file__).parent / "results"
TARGETS = ("two_mode_10", "two_mode_50", "ring8")
EXACT = nd.UTurn(kind="exact", lambda_u=(0.1, 0.01, 0.001), num_steps=10, every=1)
CONFIGS = {
    "annealing only": dict(global_moves=None, uturn=None),
    "exact U-turn": dict(global_moves=None, uturn=EXACT),
    "global moves": dict(uturn=None),
    "default": dict(),
}


def run_config(target, kwargs, num_chains, num_warmup, num_samples, seed=0):
    kernel = nd.DilationLangevin(potential_fn=lambda x: -target.logdensity_fn(x), **kwargs)
    mcmc = MCMC(
        kernel,
        num_warmup=num_warmup,
        num_samples=num_samples,
        num_chains=num_chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    init = jax.random.uniform(
        jax.random.key(seed + 1), (num_chains, target.dim), minval=-2.0, maxval=2.0
    )
    t0 = time.perf_counter()
    mcmc.warmup(
        jax.random.key(seed),
        init_params=init,
        extra_fields=("num_grad_evals",),
        collect_warmup=True,
    )
    warm_grads = np.asarray(mcmc.get_extra_fields()["num_grad_evals"]).sum() / num_chains
    mcmc.run(
        mcmc.post_warmup_state.rng_key,
        init_params=init,
        extra_fields=("num_grad_evals", "uturn_accept_prob"),
    )
    seconds = time.perf_counter() - t0
    extra = mcmc.get_extra_fields(group_by_chain=True)
    grads = warm_grads + np.asarray(extra["num_grad_evals"]).sum() / num_chains
    return mcmc, float(grads), seconds, float(np.mean(extra["uturn_accept_prob"]))


def score(target, mcmc) -> dict:
    x = np.asarray(mcmc.get_samples(group_by_chain=True))  # (C, S, d)
    num_chains, num_samples, dim = x.shape
    labels = target.assign_fn(x.reshape(-1, dim)).reshape(num_chains, num_samples)
    k = len(target.mode_weights)
    pooled = np.bincount(labels.ravel(), minlength=k) / labels.size
    per_chain = np.stack([np.bincount(lab, minlength=k) / num_samples for lab in labels])
    per_chain_err = 0.5 * np.abs(per_chain - target.mode_weights).sum(1)
    heaviest = int(np.argmax(target.mode_weights))
    indicator = (labels == heaviest).astype(float)
    # R-hat of the mode indicator: infinite when it varies between chains but not within
    # any (every chain stuck in its mode), undefined when it never varies
    rhat_mode = float(az.rhat(indicator)) if indicator.std() > 0 else float("nan")
    if not np.isfinite(rhat_mode) and indicator.std() > 0:
        rhat_mode = float("inf")
    rhat_x = float(np.nanmax(az.rhat(az.convert_to_dataset(x)).x.values))
    return {
        "tv": float(total_variation(pooled, target.mode_weights)),
        "rhat_mode": rhat_mode,
        "rhat_max": rhat_x,
        "per_chain_tv_median": float(np.median(per_chain_err)),
        "modes_visited_per_chain": float(np.mean([len(np.unique(lab)) for lab in labels])),
    }


def switch_curve(mcmc) -> dict:
    table = nd.uturn_diagnostic(mcmc, jax.random.key(7), num_draws=1000)
    cols = ["lambda_u", "switch_rate", "switch_fraction", "correlation", "return_tv"]
    return {
        "table": table[cols].to_dict(orient="list"),
        "lambda_m": float(table.attrs["lambda_m"]),
        "lambda_s": float(table.attrs["lambda_s"]),
        "num_modes": int(table.attrs["num_modes"]),
        "frame": table,
    }


def _fmt(v, spec=".3f"):
    if v is None or np.isnan(v):
        return "n/a"
    return "> 1000" if v > 1000 else format(v, spec)


def markdown(results: dict, args) -> str:
    lines = [
        f"{args.chains} vectorized chains (initial points uniform in [-2, 2]^d, each its own "
        f"center), {args.warmup} warm-up iterations, {args.samples} draws per chain; "
        "R-hat is ArviZ's rank-normalized R-hat over the chains.",
        "",
        "| target | configuration | pooled TV | R-hat (mode indicator) | max R-hat (coords) "
        "| per-chain TV (median) | modes visited per chain | exact-move acceptance "
        "| gradients per chain | time (s) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, res in results.items():
        for config, row in res["configs"].items():
            lines.append(
                f"| {name} | {config} | {_fmt(row['tv'])} | {_fmt(row['rhat_mode'])} | "
                f"{_fmt(row['rhat_max'])} | {_fmt(row['per_chain_tv_median'])} | "
                f"{row['modes_visited_per_chain']:.2f} | {_fmt(row['uturn_accept'])} | "
                f"{row['grads']:.0f} | {row['seconds']:.0f} |"
            )
    lines += [
        "",
        "Mode-switch curves of the `default` runs (`uturn_diagnostic`, 1000 pooled draws, "
        "200 re-annealing steps, center = mean of the draws): switch rate (share of "
        "returns in another mode than their start) per U-turn level, and the levels "
        "λ_m (normalized switch rate reaches 0.05) and λ_s (reaches 0.5).",
        "",
    ]
    for name, res in results.items():
        curve = res["switch_curve"]
        lam, rate = curve["table"]["lambda_u"], curve["table"]["switch_rate"]
        lines.append(
            f"- **{name}** ({curve['num_modes']} modes): λ_m = {_fmt(curve['lambda_m'], '.2g')}, "
            f"λ_s = {_fmt(curve['lambda_s'], '.2g')}; switch rate "
            + ", ".join(f"{v:.0e}: {r:.2f}" for v, r in zip(lam, rate))
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chains", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=400)
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--targets", nargs="*", default=list(TARGETS))
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite uturn.md from uturn.json"
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        results = json.loads((args.out / "uturn.json").read_text())
        (args.out / "uturn.md").write_text(markdown(results, args))
        return results

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results, frames = {}, {}
    for name in args.targets:
        target = get_target(name)
        res = {"configs": {}}
        for config, kwargs in CONFIGS.items():
            mcmc, grads, seconds, acc = run_config(
                target, kwargs, args.chains, args.warmup, args.samples
            )
            row = score(target, mcmc)
            exact = "exact" in config
            row.update(grads=grads, seconds=seconds, uturn_accept=acc if exact else None)
            res["configs"][config] = row
            print(name, config, {k: round(v, 4) for k, v in row.items() if v is not None},
                  flush=True)
            if config == "default":
                curve = switch_curve(mcmc)
                frames[name] = curve.pop("frame")
                res["switch_curve"] = curve
                print(name, "lambda_m", curve["lambda_m"], "lambda_s", curve["lambda_s"],
                      flush=True)
        results[name] = res

    (args.out / "uturn.json").write_text(json.dumps(results, indent=1))
    (args.out / "uturn.md").write_text(markdown(results, args))
    fig, axes = plt.subplots(1, len(frames), figsize=(5 * len(frames), 4), squeeze=False)
    for ax, (name, frame) in zip(axes[0], frames.items()):
        nd.plot_uturn(frame, ax=ax, label=name)
        ax.set_title(name)
    fig.tight_layout()
    fig.savefig(args.out / "uturn.png", dpi=100)
    return results


if __name__ == "__main__":
    main()
