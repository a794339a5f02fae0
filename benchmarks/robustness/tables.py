"""Markdown tables of a robustness results file (``--report``): :func:`report`, one table
per section present.

Its own number format (``_fmt``, three significant digits), not
:mod:`benchmarks.report`'s: the tables in BENCHMARKS.md were written with it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["report"]


def _fmt(x, digits: int = 3) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.{digits}g}" if abs(x) < 1e4 else f"{x:.2e}"
    return str(x)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _modes(r: dict) -> str:
    return f"{r['coverage']}/{r['true_modes']} · {r.get('modes_on_true', '–')}"


def _steps(r: dict) -> str:
    out = f"{_fmt(r['step_size_median'])} [{_fmt(r['step_size_min'])}, {_fmt(r['step_size_max'])}]"
    return out + (f" ({r['collapsed_chains']} coll.)" if r.get("collapsed_chains") else "")


def report(results: dict) -> str:
    """Markdown tables of a results file (one per section present)."""
    out = []
    sections = results.get("sections", {})
    mix_header = [
        "TV",
        "coverage · modes found",
        "missed weight",
        "global acc.",
        "h median [min, max]",
        "v",
        "gradients",
    ]

    def mix_cells(r):
        v = (
            f"{_fmt(r['inv_mass_min'])}"
            if r.get("inv_mass_min") == r.get("inv_mass_max")
            else f"{_fmt(r.get('inv_mass_min'))}–{_fmt(r.get('inv_mass_max'))}"
        )
        return [
            r["tv"],
            _modes(r),
            r.get("missed_weight"),
            r["global_accept"],
            _steps(r),
            v,
            f"{r['grads_total']:,}",
        ]

    def section(key, title, header, cells):
        if key in sections:
            rows = [cells(r) for r in sections[key]["rows"]]
            out.append(f"**{title}**\n\n" + _table(header, rows))

    grid_header = ["target", "offset", "scale", *mix_header]

    def grid_cells(r):
        return [r["target"], r["offset_norm"], r["scale"], *mix_cells(r)]

    section("defaults", "Per-chain centers (center=None) on moved targets", grid_header,
            grid_cells)
    section(
        "strategies",
        "Center strategies",
        ["target", "strategy", *mix_header, "of which pilots"],
        lambda r: [r["target"], r["strategy"], *mix_cells(r), f"{r.get('grads_pilot', 0):,}"],
    )
    if "step_size" in sections:
        rows = []
        for r in sections["step_size"]["rows"]:
            quality = (
                f"TV {_fmt(r['tv'])}, {_modes(r)}"
                if "tv" in r
                else f"max abs z: mean {_fmt(r['max_abs_z_mean'])}, sd {_fmt(r['max_abs_z_sd'])}"
            )
            rows.append(
                [
                    r["target"],
                    r.get("scale"),
                    quality,
                    _steps(r),
                    f"{_fmt(r.get('inv_mass_min'))}–{_fmt(r.get('inv_mass_max'))}",
                    r["effective_step_median"],
                    r["mean_accept"],
                ]
            )
        out.append(
            "**Step size and preconditioner across scales**\n\n"
            + _table(
                [
                    "target",
                    "scale",
                    "quality",
                    "h median [min, max]",
                    "v range",
                    "h·geomean(v)",
                    "MALA acc.",
                ],
                rows,
            )
        )
    section(
        "seeds",
        "Defaults under other run keys",
        ["target", "seed", *mix_header],
        lambda r: [r["target"], r["seed"], *mix_cells(r)],
    )
    section("defaults_pilot", "The defaults grid with start=Pilot() (the default from 256 "
            "chains)", grid_header, grid_cells)
    section(
        "pilot",
        "The kernel's pilot box (start=Pilot()) against per-chain centers (center=None)",
        ["target", "initial points", "seed", "start", *mix_header],
        lambda r: [r["target"], r["init"], r["seed"], r["strategy"], *mix_cells(r)],
    )
    section(
        "schedules",
        "Schedules at equal warm-up gradient budget",
        ["target", "schedule", "num_warmup", *mix_header],
        lambda r: [r["target"], r["config"], r["num_warmup"], *mix_cells(r)],
    )
    return "\n\n".join(out)
