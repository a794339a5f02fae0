"""DilationLangevin against NUTS on the models of NumPyro's own ``examples/`` directory.

    python -m benchmarks.numpyro_examples [--models a,b] [--out DIR] [--summary-only]

Models (``benchmarks.numpyro_example_models.EXAMPLES``, default all): baseball (four),
ucbadmit, proportion_test, funnel (centered and non-centered), ar2, holt_winters,
zero_inflated_poisson, var2, gp, sparse_regression (N=40, P=10), horseshoe (normal and
Bernoulli, N=100, D=20) and bnn (5 hidden units), with simulated data where the example
downloads its own. Each model runs in a fresh process (compilation included in the wall
times), which runs on the same data, both from ``jax.random.key(0)``:

* NUTS: ``MCMC(NUTS(model), num_warmup=1000, num_samples=1000, num_chains=4,
  chain_method="sequential")``, NumPyro's defaults otherwise;
* ours: ``MCMC(DilationLangevin(model), num_warmup=300, num_samples=200, num_chains=64,
  chain_method="vectorized")``, the defaults otherwise.

Measured per latent scalar (every scalar of every latent sample site, or the example's derived
quantities: the BNN's network outputs, its weights being identified only up to symmetries;
scalars constant in both runs, such as an LKJ Cholesky factor's fixed entries, are left out):
mean, sd, 5/50/95% quantiles, and ArviZ's MCSE of the mean, rank-normalized split R-hat and
bulk ESS; per run: wall time of ``mcmc.run``, divergences (``extra_fields["diverging"]``) and
every warning raised, in full. Compared: ``z = (mean_ours - mean_NUTS) / sqrt(mcse_NUTS^2 +
mcse_ours^2)``, the sd ratio ours / NUTS and the ratio of the 5-95% interval widths; and where
the model has an exact answer (baseball's conjugate pooled and unpooled models, the funnel's
``y`` and non-centered ``x_decentered``), ``z = (mean - exact) / mcse`` and sd / exact sd for
each sampler.

Judged (ours only; the reference's own numbers are reported beside): a scalar with an exact
answer against it (|z| <= 4, sd ratio in [0.8, 1.25]); any other against NUTS (|z| <= 4, 5-95%
width ratio in [0.8, 1.25]: the sd is no measure of spread for the heavy-tailed posteriors
here, e.g. gp's LogNormal(0, 10) priors). NUTS is *unreliable* where it diverged or its R-hat
exceeds 1.01: then only the scalars with an exact answer are judged if there are any (the
centered funnel's ``y``), else the comparison with NUTS is kept but marked. Verdict:
``agrees`` or ``differs``, ``(exact)`` where exact answers were judged, ``(NUTS unreliable)``
where such a NUTS was the reference; ``R-hat x`` where ours agrees but its largest R-hat
exceeds 1.01; ``ours warned`` where DilationLangevin raised a warning, ``SILENT`` where it
did not but differs from a trusted reference or has R-hat above 1.01. The verdicts are
recomputed from the JSONs whenever ``summary.md`` is written (``--summary-only``: only that).

Writes ``DIR/<model>.json`` per model and ``DIR/summary.md`` (a table over every model with a
JSON in ``DIR``); default ``DIR`` ``benchmarks/results/numpyro_examples``. About 15-20 minutes
for all models on two CPU cores (sparse_regression and bnn take about 4 and 2.5 minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = "benchmarks/results/numpyro_examples"
NUTS_RUN = {"num_warmup": 1000, "num_samples": 1000, "num_chains": 4,
            "chain_method": "sequential"}  # fmt: skip
OURS_RUN = {"num_warmup": 300, "num_samples": 200, "num_chains": 64,
            "chain_method": "vectorized"}  # fmt: skip
Z_MAX = 4.0
RATIO_RANGE = (0.8, 1.25)
RHAT_MAX = 1.01
QUANTILES = (0.05, 0.5, 0.95)


def _flatten(draws: dict, sites: list[str]) -> dict:
    """``{"site[i,j]": array (chain, draw)}`` for every scalar of ``sites`` (0-based)."""
    import numpy as np

    from benchmarks.reference import flatten_parameters

    return flatten_parameters({s: np.asarray(draws[s], dtype=float) for s in sites}, base=0)


def _scalar_stats(flat: dict) -> dict:
    """Per scalar: mean, sd, quantiles and ArviZ's MCSE, R-hat and bulk ESS."""
    import warnings

    import arviz as az
    import numpy as np

    idata = az.from_dict(posterior=flat)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mcse = az.mcse(idata, method="mean")
        rhat = az.rhat(idata)
        ess = az.ess(idata, method="bulk")
    out = {}
    for k, v in flat.items():
        q = np.quantile(v, QUANTILES)
        out[k] = {"mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1)),
                  "q05": float(q[0]), "q50": float(q[1]), "q95": float(q[2]),
                  "mcse": float(mcse[k]), "rhat": float(rhat[k]), "ess_bulk": float(ess[k])}
    return out  # fmt: skip


def _run(label: str, kernel, run: dict, example, args: tuple, kwargs: dict) -> tuple[dict, dict]:
    """One sampler's run: its record (wall time, divergences, warnings) and flat draws."""
    import traceback
    import warnings

    import jax
    import numpy as np
    from numpyro.infer import MCMC

    rec: dict = {"sampler": label, "settings": run, "error": None}
    flat: dict = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            mcmc = MCMC(kernel, progress_bar=False, **run)
            t0 = time.perf_counter()
            mcmc.run(jax.random.key(0), *args, **kwargs)
            draws = jax.block_until_ready(mcmc.get_samples(group_by_chain=True))
            rec["wall_s"] = round(time.perf_counter() - t0, 2)
        except Exception as e:  # a failed run is a result too
            rec["error"] = "".join(traceback.format_exception(e))[-3000:]
    rec["warnings"] = [{"category": w.category.__name__, "module": w.category.__module__,
                        "where": f"{os.path.basename(w.filename)}:{w.lineno}",
                        "message": str(w.message)} for w in caught]  # fmt: skip
    if rec["error"]:
        return rec, flat
    draws = {k: np.asarray(v) for k, v in draws.items()}
    sites = example.sites if example.sites is not None else _latent_sites(example, args, kwargs)
    flat = _flatten(draws, sites)
    if example.derived is not None:
        flat |= example.derived(draws)
    diverging = mcmc.get_extra_fields().get("diverging")
    rec["divergences"] = None if diverging is None else int(np.sum(diverging))
    return rec, flat


def _latent_sites(example, args: tuple, kwargs: dict) -> list[str]:
    from numpyro import handlers

    trace = handlers.trace(handlers.seed(example.model, 0)).get_trace(*args, **kwargs)
    return [k for k, s in trace.items() if s["type"] == "sample" and not s["is_observed"]]


def _git_commit() -> str:
    out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return out.stdout.strip()


def run_model(name: str) -> dict:
    """Run NUTS and ours on one example (in this process) and return the full record."""
    import arviz as az
    import jax
    import numpyro
    from numpyro.infer import NUTS

    from benchmarks.numpyro_example_models import EXAMPLES
    from numpyro_dilation import DilationLangevin

    example = EXAMPLES[name]
    args, kwargs = example.data()
    nuts, nuts_flat = _run("NUTS", NUTS(example.model), NUTS_RUN, example, args, kwargs)
    print(f"{name}: NUTS {nuts.get('wall_s')} s", file=sys.stderr, flush=True)
    ours, ours_flat = _run("ours", DilationLangevin(example.model), OURS_RUN, example, args,
                           kwargs)  # fmt: skip
    print(f"{name}: ours {ours.get('wall_s')} s", file=sys.stderr, flush=True)
    record = {"model": name, "description": example.description,
              "versions": {"jax": jax.__version__, "numpyro": numpyro.__version__,
                           "arviz": az.__version__, "commit": _git_commit()},
              "NUTS": nuts, "ours": ours}  # fmt: skip
    if nuts["error"] or ours["error"]:
        record["verdict"] = "error"
        return record
    exact = example.exact() if example.exact is not None else {}
    record |= compare(_scalar_stats(nuts_flat), _scalar_stats(ours_flat), exact)
    for rec, key in ((nuts, "NUTS"), (ours, "ours")):
        st = [s[key] for s in record["scalars"].values()]
        rec["rhat_max"] = max(s["rhat"] for s in st)
        rec["ess_bulk_min"] = min(s["ess_bulk"] for s in st)
    record["verdict"] = verdict(record)
    return record


def compare(nuts: dict, ours: dict, exact: dict) -> dict:
    """Per scalar: both samplers' statistics, z, sd ratio and 5-95% width ratio, and against
    ``exact`` (name -> (mean, sd)) where given. Scalars constant in both runs are listed apart."""
    import math

    scalars, constant = {}, []
    for k in ours:
        a, b = nuts[k], ours[k]
        if a["sd"] == 0 and b["sd"] == 0:
            constant.append(k)
            continue
        width_a = a["q95"] - a["q05"]
        row = {"NUTS": a, "ours": b,
               "z": (b["mean"] - a["mean"]) / math.hypot(a["mcse"], b["mcse"]),
               "sd_ratio": b["sd"] / a["sd"] if a["sd"] > 0 else math.inf,
               "width_ratio": (b["q95"] - b["q05"]) / width_a if width_a > 0 else math.inf}
        if k in exact:
            m, sd = exact[k]
            row["exact"] = {"mean": m, "sd": sd} | {
                f"{lab}_{stat}": v for lab, s in (("NUTS", a), ("ours", b))
                for stat, v in (("z", (s["mean"] - m) / s["mcse"]), ("sd_ratio", s["sd"] / sd))}
        scalars[k] = row  # fmt: skip
    return {"d": len(scalars), "constant_scalars": constant, "scalars": scalars}


def _outside(x: float) -> bool:
    return not RATIO_RANGE[0] <= x <= RATIO_RANGE[1]


def nuts_unreliable(record: dict) -> bool:
    """NUTS diverged, or its R-hat exceeds 1.01 on a compared scalar."""
    nuts = record["NUTS"]
    return bool(nuts.get("divergences")) or nuts["rhat_max"] > RHAT_MAX


def our_warnings(record: dict) -> list[dict]:
    """The warnings DilationLangevin raised (classes defined in, or raised from, the package)."""
    return [w for w in record["ours"]["warnings"]
            if w["module"].startswith("numpyro_dilation") or "Dilation" in w["message"]]


def _judged_vs_nuts(record: dict) -> bool:
    """Whether scalars without an exact answer are judged against NUTS: not where NUTS is
    unreliable and the model has exact answers."""
    rows = record["scalars"].values()
    has_exact = any("exact" in row for row in rows)
    return any("exact" not in row for row in rows) and not (has_exact and
                                                            nuts_unreliable(record))


def mismatches(record: dict) -> list[str]:
    """The scalars that fail their test: against the exact answer where there is one, else
    against NUTS (``|z| > 4`` or a ratio outside [0.8, 1.25]) where it is judged."""
    out = []
    vs_nuts = _judged_vs_nuts(record)
    for k, row in record["scalars"].items():
        if "exact" in row:
            ex = row["exact"]
            if abs(ex["ours_z"]) > Z_MAX or _outside(ex["ours_sd_ratio"]):
                out.append(k)
        elif vs_nuts and (abs(row["z"]) > Z_MAX or _outside(row["width_ratio"])):
            out.append(k)
    return out


def verdict(record: dict) -> str:
    """``agrees``/``differs``, the reference's qualifier, our R-hat and warning (module doc)."""
    bad = mismatches(record)
    has_exact = any("exact" in row for row in record["scalars"].values())
    unreliable = _judged_vs_nuts(record) and nuts_unreliable(record)
    ref = ["exact"] * has_exact + ["NUTS unreliable"] * unreliable
    text = ("differs" if bad else "agrees") + (f" ({', '.join(ref)})" if ref else "")
    high_rhat = record["ours"]["rhat_max"] > RHAT_MAX
    if not bad and high_rhat:
        text += f", R-hat {record['ours']['rhat_max']:.3g}"
    if our_warnings(record):
        text += "; ours warned"
    elif (bad and not unreliable) or high_rhat:
        text += "; SILENT"
    return text


_GISTS = (
    (r"(\d+) of (\d+) iterations diverged", "{0}/{1} div"),
    (r"R-hat > [\d.]+ on '([^']+)' \(([\d.]+)\)", "R-hat {0} {1}"),
    (r"moves between the (\d+) modes found were accepted with mean probability ([\d.]+)",
     "{0} modes, global acc {1}"),
    (r"moves between the (\d+) modes found were stopped", "{0} modes, global moves stopped"),
    (r"(\d+) of (\d+) chains run with step sizes", "{0}/{1} chains tiny steps"),
)  # fmt: skip


def warning_gist(message: str) -> str:
    """A few words per problem a warning lists (``"11/12800 div"``, ``"R-hat z 1.189"``)."""
    lines = [ln.strip()[2:] for ln in message.splitlines() if ln.strip().startswith("- ")]
    parts = []
    for line in lines or [message]:
        for pattern, fmt in _GISTS:
            m = re.search(pattern, line)
            if m:
                parts.append(fmt.format(*m.groups()))
                break
        else:
            parts.append(" ".join(line.split()[:6]))
    prefix = "warm-up: " if "warm-up draws" in message else ""
    return prefix + ", ".join(parts)


def _row(record: dict) -> str:
    name = record["model"]
    nuts, ours = record["NUTS"], record["ours"]
    if record["verdict"] == "error":
        err = (nuts["error"] or ours["error"]).strip().splitlines()[-1][:80]
        return f"| {name} | | {nuts.get('wall_s', '')} | {ours.get('wall_s', '')} | | | | | | " \
               f"error: {err} |"
    rows = record["scalars"].values()
    zs = [abs(r["z"]) for r in rows]
    z = f"{max(zs):.2f}"
    ex = [abs(r["exact"]["ours_z"]) for r in rows if "exact" in r]
    if ex:
        z += f" (exact {max(ex):.2f})"
    srs = [r["sd_ratio"] for r in rows]
    gist = "; ".join(warning_gist(w["message"]) for w in our_warnings(record)) or "none"
    return (f"| {name} | {record['d']} | {nuts['wall_s']:.1f} | {ours['wall_s']:.1f} | {z} | "
            f"{min(srs):.2f}-{max(srs):.2f} | {nuts['rhat_max']:.3f} / {ours['rhat_max']:.3f} | "
            f"{nuts['divergences']} | {gist} | {record['verdict']} |")  # fmt: skip


def summary_table(records: list[dict]) -> str:
    """The Markdown table of ``summary.md``."""
    head = ("| model | d | NUTS s | ours s | max \\|z\\| | sd ratio | R-hat max NUTS / ours "
            "| NUTS div | our warnings | verdict |\n|---|---|---|---|---|---|---|---|---|---|")
    return "\n".join([head] + [_row(r) for r in records]) + "\n"


def write_summary(out: Path) -> str:
    """``summary.md`` over every model of ``EXAMPLES`` with a JSON in ``out``."""
    from benchmarks.numpyro_example_models import EXAMPLES

    records = [json.loads((out / f"{n}.json").read_text()) for n in EXAMPLES
               if (out / f"{n}.json").exists()]  # fmt: skip
    for r in records:  # the rules may have changed since the run: the JSON follows them
        if r["verdict"] != "error" and r["verdict"] != verdict(r):
            r["verdict"] = verdict(r)
            (out / f"{r['model']}.json").write_text(json.dumps(r, indent=1) + "\n")
    text = (
        "# DilationLangevin vs NUTS on NumPyro's examples\n\n"
        "Written by `python -m benchmarks.numpyro_examples` (its docstring: settings, tests, "
        "verdicts). NUTS: 4 sequential chains x (1000 + 1000); ours: 64 vectorized chains x "
        "(300 + 200); wall times include compilation. d: scalars compared; max |z|: against "
        "NUTS (in brackets: ours against the exact answer); sd ratio: ours / NUTS, min-max; "
        "NUTS div: NUTS's divergent transitions.\n\n" + summary_table(records))
    (out / "summary.md").write_text(text)
    return text


def _rounded(x):
    if isinstance(x, float):
        return round(x, 5)
    if isinstance(x, dict):
        return {k: _rounded(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_rounded(v) for v in x]
    return x


def main(argv: list[str] | None = None) -> None:
    """Command line: run each model in a fresh process, then write ``summary.md``."""
    from benchmarks.numpyro_example_models import EXAMPLES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(EXAMPLES))
    parser.add_argument("--out", default=DEFAULT_OUT)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per model")
    parser.add_argument("--summary-only", action="store_true",
                        help="only rewrite summary.md (and the verdicts) from the JSONs in --out")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.child is not None:
        record = _rounded(run_model(args.child))
        (out / f"{args.child}.json").write_text(json.dumps(record, indent=1) + "\n")
        return
    if args.summary_only:
        print(write_summary(out))
        return
    names = args.models.split(",")
    unknown = [n for n in names if n not in EXAMPLES]
    if unknown:
        parser.error(f"unknown models {unknown}; known: {', '.join(EXAMPLES)}")
    env = os.environ | {"PYTHONPATH": os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}
    for name in names:
        cmd = [sys.executable, "-m", "benchmarks.numpyro_examples", "--child", name,
               "--out", str(out.resolve())]  # fmt: skip
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                                  timeout=args.timeout)  # fmt: skip
            failed = proc.returncode != 0
            tail = proc.stderr[-3000:]
        except subprocess.TimeoutExpired:
            failed, tail = True, f"timed out after {args.timeout:.0f} s"
        if failed:
            err = {"error": tail, "warnings": []}
            record = {"model": name, "NUTS": err, "ours": {"error": None}, "verdict": "error"}
            (out / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n")
        record = json.loads((out / f"{name}.json").read_text())
        print(f"{name}: {record['verdict']} ({time.perf_counter() - t0:.0f} s in all)", flush=True)
    print(write_summary(out))


if __name__ == "__main__":
    main()
