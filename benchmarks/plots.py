"""Figures of the suite (matplotlib, Agg backend): scatter, quality vs budget, scaling."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.targets import Target  # noqa: E402

__all__ = ["scatter_figure", "budget_figure", "scaling_figure"]


def scatter_figure(target: Target, draws: dict[str, np.ndarray], path: str | Path) -> None:
    """One panel per sampler (2-D targets): draws, with the mode centers as crosses."""
    names = list(draws)
    fig, axes = plt.subplots(1, len(names), figsize=(3.0 * len(names), 3.2), sharex=True,
                             sharey=True)
    exact = draws["exact"]
    lo, hi = np.percentile(exact, [0.5, 99.5], axis=0)
    pad = 0.15 * (hi - lo)
    for ax, name in zip(np.atleast_1d(axes), names, strict=True):
        x = draws[name]
        ax.scatter(x[:, 0], x[:, 1], s=2, alpha=0.3, rasterized=True)
        if target.mode_locations is not None:
            means = target.mode_locations
            ax.scatter(means[:, 0], means[:, 1], marker="x", c="k", s=12, lw=0.8)
        ax.set_title(name, fontsize=9)
        ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
        ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
        ax.set_aspect("equal")
        ax.tick_params(labelsize=7)
    fig.suptitle(target.title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def budget_figure(title: str, runs: list[dict[str, Any]], path: str | Path) -> None:
    """Mode-weight TV and energy distance against the gradient budget, one line per sampler."""
    metrics = [m for m in ("mode_tv", "energy_distance") if m in runs[0]["exact"]]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.4))
    for ax, metric in zip(np.atleast_1d(axes), metrics, strict=True):
        for name in runs[0]["samplers"]:
            g = [r["samplers"][name]["grad_evals"] for r in runs]
            v = [r["samplers"][name].get(metric, np.nan) for r in runs]
            ax.plot(g, v, "o-", label=name, ms=4)
        g = [r["grad_budget"] for r in runs]
        ax.plot(g, [r["exact"].get(metric, np.nan) for r in runs], "k--", label="exact (floor)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("gradient evaluations")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def scaling_figure(records: list[dict[str, Any]], path: str | Path) -> None:
    """Time per gradient (DilationLangevin vs bare limit) and quality vs chains and dimension."""
    fig, axes = plt.subplots(2, 2, figsize=(9, 6.5))
    for col, (experiment, key, label) in enumerate(
        [("chains", "num_chains", "chains (ring8)"), ("dims", "dim", "dimension (two-mode, "
                                                                   "fixed chains)")]
    ):
        rows = [r for r in records if r["experiment"] == experiment]
        if not rows:
            continue
        x = [r[key] for r in rows]
        ax = axes[0, col]
        ax.plot(x, [r["dl_ns_per_grad"] for r in rows], "o-", label="DilationLangevin kernel")
        ax.plot(x, [r["bare_ns_per_grad"] for r in rows], "s--", label="bare vmap(grad) scan")
        ax.set_yscale("log")
        ax.set_ylabel("ns per gradient")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        ax = axes[1, col]
        if all("mode_tv" in r for r in rows):
            ax.plot(x, [r["mode_tv"] for r in rows], "o-", label="mode-weight TV")
        ax.plot(x, [r["energy_distance"] for r in rows], "s-", label="energy distance")
        ax.set_xlabel(label)
        for a in axes[:, col]:
            a.set_xscale("log")
            a.set_xticks(x, [str(v) for v in x])
            a.minorticks_off()
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle("DilationLangevin throughput and quality scaling", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
