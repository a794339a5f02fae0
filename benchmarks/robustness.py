r"""Robustness of :class:`~numpyro_dilation.DilationLangevin`'s defaults (issue 6).

Every run goes through NumPyro's ``MCMC`` with ``potential_fn`` (or a ``model``
for the posteriordb checks), ``chain_method="vectorized"`` and the kernel's
*default* settings unless a section varies one of them; the gradient counts are
the ``num_grad_evals`` extra field summed over warm-up and sampling (and over
the pilot runs of a pilot strategy).

Sections (``--sections``, all by default):

``defaults``
    Per-chain centers (``center=None``, the kernel's default until ``center="auto"``;
    ``defaults_pilot`` is today's default at these chain counts) on Gaussian mixtures
    moved about: the target :math:`\pi` (means :math:`m_k`,
    sds :math:`\sigma_k`) with pivot :math:`p` becomes :math:`m_k' = p + t +
    s(m_k - p)`, :math:`\sigma_k' = s\sigma_k` (translation :math:`t`, scale
    :math:`s` about the pivot). ring8 (pivot (2, 1)) over offsets up to 50 units
    and :math:`s \in \{0.01, 0.1, 1, 10, 100\}`; the 10-d two-mode target
    (weights 1/3, 2/3; sds 1.0, 0.7; means :math:`\mp 2.5\cdot\mathbf 1`).
``strategies``
    Where the chains start (their centers, since ``center=None`` makes each
    chain's initial point its own center, or a shared ``center=``), on hard
    copies of the targets and on the 40-mode mixture: see :data:`STRATEGIES`.
``step_size``
    Scales :math:`s` from 1e-3 to 1e3 on a correlated Gaussian, on a Gaussian
    whose coordinates have scales 1e-3 ... 1e3 at once, and on ring8: the adapted
    step size and preconditioner against :math:`s^2`, and mean/sd z-scores with
    ArviZ's MCSE; posteriordb posteriors against their reference draws.
``schedules``
    Schedule shape, ``lambda_min`` and ``annealing_fraction`` at equal warm-up
    gradient budget: ``num_warmup`` :math:`= G/(1 + f)` (an annealing step costs
    two gradients, a MALA step at :math:`\lambda = 1` one).
``seeds``
    ``center=None`` on a few moved targets again, with ``num_seeds`` different random
    keys for the run (same initial points): how often a result of ``defaults``,
    measured with one key, holds.
``pilot``
    The kernel's pilot-box start (``center=Pilot()``) against ``center=None`` from
    the same initial points with the same run keys (``pilot_cases``).
``defaults_pilot``
    The ``defaults`` grid with ``center=Pilot()``: the kernel's default
    (``center="auto"``) at 256 chains or more.

Figures per run: mode-weight TV (pooled draws, each assigned to the component
with the highest *unweighted* density, i.e. the nearest mode in the component
metric), modes in the global-move mixture (``last_state.mixture.num_modes``)
and how many of them lie on true modes, *coverage* (true modes that at least one
chain is within the 99.9% :math:`\chi^2_d` ball of at the end of warm-up),
mean global-move acceptance, the final step sizes :math:`h` and the diagonal
preconditioner :math:`v` (the effective Langevin step on coordinate :math:`i` is
:math:`h v_i`).

Run ``python -m benchmarks.robustness [--preset small|full] [--sections ...]``;
results are merged into ``benchmarks/results/robustness_<preset>.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer import MCMC
from scipy.stats import chi2

import numpyro_dilation as nd
from benchmarks.metrics import total_variation
from benchmarks.targets import GaussianMixture
from numpyro_dilation.starts import bounding_box

__all__ = [
    "Preset",
    "PRESETS",
    "MovedMixture",
    "ring8_mixture",
    "two_mode_mixture",
    "gmm40_mixture",
    "RunResult",
    "run_dilation",
    "score_mixture",
    "STRATEGIES",
    "main",
]

SECTIONS = ("defaults", "strategies", "step_size", "schedules", "seeds", "pilot", "defaults_pilot")


# --------------------------------------------------------------------------- presets


@dataclass(frozen=True)
class Preset:
    r"""Sizes and grids of one robustness run.

    num_chains, num_warmup, num_samples
        Main runs (``MCMC`` arguments).
    pilot_chains, pilot_warmup
        Pilot annealing runs of the pilot strategies (warm-up only).
    ring_offsets, ring_scales
        The ``defaults`` grid for ring8 (every offset with every scale).
    two_mode_cases
        ``(offset norm, scale)`` pairs for the 10-d target (offset along a fixed
        random unit vector).
    strategy_targets, strategies
        Targets (keys of :func:`strategy_targets`) and strategies compared.
    scales, ring_step_scales, posteriors
        ``step_size`` grids (correlated Gaussian, ring8) and posteriordb posteriors.
    schedule_configs, schedule_targets
        Names of :data:`SCHEDULE_CONFIGS` and their targets.
    seed_targets, num_seeds
        ``seeds`` section: targets (keys of :func:`strategy_targets`) and run keys each.
    pilot_cases
        ``pilot`` section: ``(target, initial law, number of run keys)``, the initial
        law ``"uniform2"`` (uniform(-2, 2), the default start) or ``"normal3"``
        (:math:`\mathcal N(0, 3^2 I)`, overdispersed).
    """

    num_chains: int
    num_warmup: int
    num_samples: int
    pilot_chains: int
    pilot_warmup: int
    ring_offsets: tuple[tuple[float, float], ...]
    ring_scales: tuple[float, ...]
    two_mode_cases: tuple[tuple[float, float], ...]
    strategy_targets: tuple[str, ...]
    strategies: tuple[str, ...]
    scales: tuple[float, ...]
    ring_step_scales: tuple[float, ...]
    posteriors: tuple[str, ...]
    schedule_configs: tuple[str, ...]
    schedule_targets: tuple[str, ...]
    seed_targets: tuple[str, ...] = ()
    num_seeds: int = 0
    pilot_cases: tuple[tuple[str, str, int], ...] = ()


_DIAG = 50.0 / np.sqrt(2.0)
SCHEDULE_CONFIG_NAMES = (
    "linear",
    "geometric",
    "cosine",
    "lambda_min=1e-2",
    "lambda_min=1e-5",
    "fraction=0.25",
    "fraction=0.75",
)
PRESETS: dict[str, Preset] = {
    "small": Preset(
        num_chains=500,
        num_warmup=400,
        num_samples=200,
        pilot_chains=64,
        pilot_warmup=200,
        ring_offsets=((30.0, -40.0),),
        ring_scales=(0.01, 100.0),
        two_mode_cases=((0.0, 1.0),),
        strategy_targets=("gmm40",),
        strategies=("default", "uniform_R50"),
        scales=(1e-3, 1e3),
        ring_step_scales=(),
        posteriors=(),
        schedule_configs=(),
        schedule_targets=(),
    ),
    "full": Preset(
        num_chains=500,
        num_warmup=400,
        num_samples=200,
        pilot_chains=64,
        pilot_warmup=200,
        ring_offsets=((0.0, 0.0), (30.0, -40.0), (-50.0, 0.0), (_DIAG, _DIAG), (0.0, 20.0)),
        ring_scales=(0.01, 0.1, 1.0, 10.0, 100.0),
        two_mode_cases=((0.0, 1.0), (50.0, 1.0), (50.0, 0.01), (50.0, 100.0)),
        strategy_targets=(
            "ring8@(-50,0)x0.01",
            "ring8@(35,35)x100",
            "two_mode_10@50x1",
            "gmm40",
        ),
        strategies=tuple(
            "default origin uniform_R10 uniform_R50 pilot_mean pilot_median pilot_trimmed "
            "pilot_particles pilot_jitter pilot_box pilot_expand kernel_pilot".split()
        ),
        scales=(1e-3, 1e-2, 1e-1, 1.0, 1e1, 1e2, 1e3),
        ring_step_scales=(1e-3, 1e3),
        posteriors=("kidiq-kidscore_momhs", "arK-arK", "eight_schools-eight_schools_noncentered"),
        schedule_configs=tuple(SCHEDULE_CONFIG_NAMES),
        schedule_targets=("ring8@(30,-40)x1", "two_mode_10@50x1", "gmm40"),
        seed_targets=("two_mode_10@50x1", "two_mode_10@0x1", "ring8@(30,-40)x1"),
        num_seeds=5,
        pilot_cases=(
            ("two_mode_10@50x1", "uniform2", 5),
            ("two_mode_50@0x1", "normal3", 2),
            ("two_mode_50@0x1", "uniform2", 2),
            ("gmm40", "uniform2", 2),
        ),
    ),
}


# --------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class MovedMixture:
    """A Gaussian mixture translated by ``offset`` and scaled by ``scale`` about ``pivot``.

    ``mixture`` is the moved :class:`~benchmarks.targets.GaussianMixture` (means
    :math:`p + t + s(m_k - p)`, sds :math:`s\\sigma_k`, same weights); ``name`` a label.
    """

    name: str
    mixture: GaussianMixture
    offset: tuple[float, ...]
    scale: float

    @property
    def dim(self) -> int:
        return self.mixture.dim

    @property
    def logdensity_fn(self) -> Callable[[jax.Array], jax.Array]:
        return self.mixture.logdensity


def _move(name, weights, means, sds, pivot, offset, scale) -> MovedMixture:
    means = np.asarray(means, float)
    pivot = np.broadcast_to(np.asarray(pivot, float), means.shape[1:])
    offset = np.broadcast_to(np.asarray(offset, float), means.shape[1:])
    moved = pivot + offset + scale * (means - pivot)
    mix = GaussianMixture(weights, moved, scale * np.asarray(sds, float))
    return MovedMixture(name, mix, tuple(float(o) for o in offset), float(scale))


def ring8_mixture(offset=(0.0, 0.0), scale: float = 1.0) -> MovedMixture:
    """ring8 (8 modes, radius 5 around (2, 1), weights ∝ 1..8, sd 0.5), moved about (2, 1)."""
    angles = 2 * np.pi * np.arange(8) / 8
    means = np.stack([2 + 5 * np.cos(angles), 1 + 5 * np.sin(angles)], axis=1)
    name = f"ring8@({offset[0]:.0f},{offset[1]:.0f})x{scale:g}"
    return _move(name, np.arange(1, 9), means, 0.5, (2.0, 1.0), offset, scale)


def _unit_direction(dim: int) -> np.ndarray:
    u = np.random.default_rng(6).standard_normal(dim)
    return u / np.linalg.norm(u)


def two_mode_mixture(offset_norm: float = 0.0, scale: float = 1.0, dim: int = 10) -> MovedMixture:
    """(1/3) N(-2.5·1, I) + (2/3) N(2.5·1, 0.49 I) in ``dim`` dimensions, moved about 0.

    The offset has Euclidean norm ``offset_norm`` along a fixed random unit vector.
    """
    means = np.stack([-2.5 * np.ones(dim), 2.5 * np.ones(dim)])
    offset = offset_norm * _unit_direction(dim)
    name = f"two_mode_{dim}@{offset_norm:g}x{scale:g}"
    return _move(name, [1.0, 2.0], means, [1.0, 0.7], np.zeros(dim), offset, scale)


def gmm40_mixture(offset=(0.0, 0.0), scale: float = 1.0) -> MovedMixture:
    """The suite's GMM-40 (40 N(m_k, I), m_k uniform in [-40, 40]², seed 0), moved about 0."""
    means = np.random.default_rng(0).uniform(-40.0, 40.0, size=(40, 2))
    name = (
        "gmm40"
        if (tuple(offset), scale) == ((0.0, 0.0), 1.0)
        else (f"gmm40@({offset[0]:.0f},{offset[1]:.0f})x{scale:g}")
    )
    return _move(name, np.ones(40), means, 1.0, (0.0, 0.0), offset, scale)


def strategy_targets() -> dict[str, Callable[[], MovedMixture]]:
    """Named targets of the ``strategies`` and ``schedules`` sections."""
    return {
        "ring8@(30,-40)x1": lambda: ring8_mixture((30.0, -40.0), 1.0),
        "ring8@(-50,0)x0.01": lambda: ring8_mixture((-50.0, 0.0), 0.01),
        "ring8@(35,35)x100": lambda: ring8_mixture((_DIAG, _DIAG), 100.0),
        "two_mode_10@0x1": lambda: two_mode_mixture(0.0, 1.0),
        "two_mode_10@50x1": lambda: two_mode_mixture(50.0, 1.0),
        "two_mode_50@0x1": lambda: two_mode_mixture(0.0, 1.0, dim=50),
        "gmm40": lambda: gmm40_mixture(),
        "gmm40@(30,-40)x1": lambda: gmm40_mixture((30.0, -40.0), 1.0),
    }


# --------------------------------------------------------------------------- running


@dataclass
class RunResult:
    """What one ``MCMC`` run of DilationLangevin leaves behind.

    draws
        ``(C, S, d)`` sampling-phase positions.
    warm_positions
        ``(C, d)`` positions at the end of warm-up (before mode finding).
    grads_warmup, grads_sampling
        Sums of the ``num_grad_evals`` extra field.
    global_accept
        Mean of ``global_accept_prob`` over chains and draws (NaN if not collected).
    mean_accept
        Mean local (MALA) acceptance over chains and draws.
    step_size
        ``(C,)`` final :math:`h`.
    inverse_mass_matrix
        ``(d,)`` final diagonal preconditioner :math:`v`, or ``None``.
    mode_means
        ``(M, d)`` means of the global-move mixture (``M = num_modes``), or ``None``.
    seconds
        Wall time of warm-up plus sampling (compilation included).
    """

    draws: np.ndarray
    warm_positions: np.ndarray
    grads_warmup: int
    grads_sampling: int
    global_accept: float
    mean_accept: float
    step_size: np.ndarray
    inverse_mass_matrix: np.ndarray | None
    mode_means: np.ndarray | None
    seconds: float


def run_dilation(
    logdensity_fn: Callable[[jax.Array], jax.Array],
    init_params: jax.Array,
    rng_key: jax.Array,
    num_warmup: int,
    num_samples: int,
    **kernel_kwargs,
) -> RunResult:
    """``MCMC(DilationLangevin(potential_fn=-logdensity_fn, **kernel_kwargs))``, vectorized.

    ``init_params`` has shape ``(C, d)`` (one initial point, hence by default one
    center, per chain). ``num_samples = 0`` runs the warm-up only.
    """
    num_chains = int(init_params.shape[0])
    k_warm, k_run = jax.random.split(rng_key)
    mcmc = MCMC(
        nd.DilationLangevin(potential_fn=lambda x: -logdensity_fn(x), **kernel_kwargs),
        num_warmup=num_warmup,
        num_samples=max(num_samples, 1),
        num_chains=num_chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    t0 = time.perf_counter()
    if num_samples > 0 and hasattr(mcmc, "_set_collection_params"):
        # One compiled loop over warm-up and sampling, collecting both (what
        # ``warmup(collect_warmup=True)`` does for the warm-up alone); the same chain
        # as ``warmup`` then ``run``, at half the compilation time.
        total = num_warmup + num_samples
        mcmc._set_collection_params(0, total, total, "sample")
        fields = ("num_grad_evals", "global_accept_prob", "accept_prob")
        mcmc.run(k_warm, init_params=init_params, extra_fields=fields)
        extra = {k: np.asarray(v) for k, v in mcmc.get_extra_fields(group_by_chain=True).items()}
        z = np.asarray(mcmc.get_samples(group_by_chain=True))
        grads_warmup = int(extra["num_grad_evals"][:, :num_warmup].sum())
        grads_sampling = int(extra["num_grad_evals"][:, num_warmup:].sum())
        global_accept = float(extra["global_accept_prob"][:, num_warmup:].mean())
        mean_accept = float(extra["accept_prob"][:, num_warmup:].mean())
        warm, draws = z[:, num_warmup - 1], z[:, num_warmup:]
        state = mcmc.last_state
    else:
        mcmc.warmup(
            k_warm, init_params=init_params, collect_warmup=True, extra_fields=("num_grad_evals",)
        )
        grads_warmup = int(np.asarray(mcmc.get_extra_fields()["num_grad_evals"]).sum())
        warm = np.asarray(mcmc.last_state.z)
        state = mcmc.last_state
        if num_samples > 0:
            fields = ("num_grad_evals", "global_accept_prob", "accept_prob")
            mcmc.run(k_run, extra_fields=fields)
            extra = mcmc.get_extra_fields()
            draws = np.asarray(mcmc.get_samples(group_by_chain=True))
            grads_sampling = int(np.asarray(extra["num_grad_evals"]).sum())
            global_accept = float(np.mean(extra["global_accept_prob"]))
            mean_accept = float(np.mean(extra["accept_prob"]))
            state = mcmc.last_state
        else:
            draws = np.empty((num_chains, 0, init_params.shape[1]))
            grads_sampling, global_accept, mean_accept = 0, float("nan"), float("nan")
    seconds = time.perf_counter() - t0
    v = getattr(state, "inverse_mass_matrix", None)
    mix = getattr(state, "mixture", None)
    mode_means = None
    if mix is not None and num_samples > 0:
        mode_means = np.asarray(mix.means)[: int(mix.num_modes)]
    return RunResult(
        draws=draws,
        warm_positions=warm,
        grads_warmup=grads_warmup,
        grads_sampling=grads_sampling,
        global_accept=global_accept,
        mean_accept=mean_accept,
        step_size=np.asarray(state.adapt_state.step_size),
        inverse_mass_matrix=None if v is None else np.asarray(v),
        mode_means=mode_means,
        seconds=seconds,
    )


def _mahalanobis2(x: np.ndarray, mix: GaussianMixture) -> np.ndarray:
    """``(n, K)`` squared distances :math:`|x - m_k|^2/\\sigma_k^2` (float64)."""
    x = np.asarray(x, np.float64)
    sq = (x**2).sum(1)[:, None] - 2.0 * x @ mix.means.T + (mix.means**2).sum(1)[None, :]
    return np.maximum(sq, 0.0) / mix.sds[None, :] ** 2


def reached_modes(x: np.ndarray, mix: GaussianMixture, level: float = 0.999) -> np.ndarray:
    """Per row of ``x``: the mode whose :math:`\\chi^2_d` ``level`` ball holds it, else -1."""
    d2 = _mahalanobis2(x, mix)
    nearest = np.argmin(d2, axis=1)
    inside = d2[np.arange(len(x)), nearest] <= chi2.ppf(level, mix.dim)
    return np.where(inside, nearest, -1)


def _step_summary(res: RunResult) -> dict[str, Any]:
    h = res.step_size
    out: dict[str, Any] = {
        "step_size_median": float(np.median(h)),
        "step_size_min": float(np.min(h)),
        "step_size_max": float(np.max(h)),
        "collapsed_chains": int((h < 1e-3 * np.median(h)).sum()),
    }
    if res.inverse_mass_matrix is not None:
        v = res.inverse_mass_matrix
        out["inv_mass_min"] = float(np.min(v))
        out["inv_mass_max"] = float(np.max(v))
        out["effective_step_median"] = float(np.median(h) * np.exp(np.mean(np.log(v))))
    else:
        out["effective_step_median"] = float(np.median(h))
    return out


def score_mixture(res: RunResult, target: MovedMixture) -> dict[str, Any]:
    """TV, modes found, coverage, acceptance, step sizes and gradients of a mixture run."""
    mix = target.mixture
    k = len(mix.weights)
    draws = res.draws.reshape(-1, target.dim)
    shares = np.bincount(mix.assign(draws), minlength=k) / len(draws)
    warm = reached_modes(res.warm_positions, mix)
    chains_per_mode = np.bincount(warm[warm >= 0], minlength=k)
    row: dict[str, Any] = {
        "tv": total_variation(shares, mix.weights),
        "coverage": int((chains_per_mode > 0).sum()),
        "true_modes": k,
        "stray_chains": int((warm < 0).sum()),
        "min_chains_per_reached_mode": int(
            chains_per_mode[chains_per_mode > 0].min(initial=len(warm))
        ),
    }
    if res.mode_means is not None:
        found = reached_modes(res.mode_means, mix)
        row["num_modes"] = len(res.mode_means)
        row["modes_on_true"] = int(len(set(found[found >= 0].tolist())))
        row["spurious_modes"] = int((found < 0).sum())
        missed = np.setdiff1d(np.arange(k), found[found >= 0])
        row["missed_weight"] = float(mix.weights[missed].sum())
    row.update(
        global_accept=res.global_accept,
        mean_accept=res.mean_accept,
        **_step_summary(res),
        grads_warmup=res.grads_warmup,
        grads_sampling=res.grads_sampling,
        grads_total=res.grads_warmup + res.grads_sampling,
        seconds=round(res.seconds, 1),
    )
    return row


def uniform_init(key, num_chains: int, dim: int, radius: float, around=0.0) -> jax.Array:
    """``(C, d)`` draws uniform in :math:`[-R, R]^d` + ``around`` (init_to_uniform: R = 2)."""
    return jnp.asarray(around) + jax.random.uniform(
        key, (num_chains, dim), minval=-radius, maxval=radius
    )


# --------------------------------------------------------------------------- strategies


@dataclass(frozen=True)
class Start:
    """Initial points ``(C, d)``; ``center``: a shared center (``(d,)``), a
    :class:`~numpyro_dilation.starts.Pilot` (the kernel's own pilot box) or ``None``
    (per-chain centers at the initial points); gradients of the benchmark's own pilots."""

    init_params: jax.Array
    center: Any
    pilot_grads: int
    note: str = ""


class Pilots:
    """Pilot annealing runs (``pilot_chains`` chains, ``pilot_warmup`` warm-up, no
    sampling) of one target; the first one, from the default start, is shared by all
    pilot strategies (its gradients are charged to each of them)."""

    def __init__(self, target: MovedMixture, preset: Preset):
        self.target, self.preset = target, preset
        self._first: tuple[np.ndarray, int] | None = None

    def run(self, key, init_params, center=None) -> tuple[np.ndarray, int]:
        """``(particles (pilot_chains, d), gradients)`` at the end of the pilot's warm-up."""
        res = run_dilation(
            self.target.logdensity_fn,
            init_params,
            key,
            self.preset.pilot_warmup,
            0,
            center=center,
        )
        return res.warm_positions, res.grads_warmup

    def first(self) -> tuple[np.ndarray, int]:
        if self._first is None:
            x0 = uniform_init(
                _key("pilot0", self.target.name), self.preset.pilot_chains, self.target.dim, 2.0
            )
            self._first = self.run(_key("pilot1", self.target.name), x0)
        return self._first


def _trimmed_mean(x: np.ndarray, trim: float = 0.2) -> np.ndarray:
    """Coordinate-wise mean of the central ``1 - 2 trim`` of the values."""
    lo, hi = np.quantile(x, [trim, 1.0 - trim], axis=0)
    inside = (x >= lo) & (x <= hi)
    return (x * inside).sum(0) / np.maximum(inside.sum(0), 1)


_LOCATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "mean": lambda x: x.mean(0),
    "median": lambda x: np.median(x, 0),
    "trimmed": _trimmed_mean,
}


def _shared_pilot(location: str):
    """The first pilot's pooled ``location`` is a shared center; a second pilot starts
    from the Dirac there and its pooled ``location`` is the run's shared center."""

    def start(pilots: Pilots, key, num_chains: int) -> Start:
        particles, grads = pilots.first()
        c1 = jnp.asarray(_LOCATIONS[location](particles), jnp.float32)
        init = jnp.broadcast_to(c1, (pilots.preset.pilot_chains, pilots.target.dim))
        particles, g = pilots.run(key, init, center=c1)
        c2 = jnp.asarray(_LOCATIONS[location](particles), jnp.float32)
        note = f"center {np.round(np.asarray(c2), 4).tolist()}"
        return Start(jnp.broadcast_to(c2, (num_chains, pilots.target.dim)), c2, grads + g, note)

    return start


def _particle_pilot(kind: str):
    """Per-chain centers from the first pilot's particles: resampled (``particles``);
    resampled + Gaussian jitter with the particles' coordinate sd (``jitter``); uniform
    over their bounding box widened by 25% per side (``box``); or (``expand``) a second
    pilot from centers uniform in the box widened by 50% per side, whose particles'
    box widened by 25% per side holds the run's centers."""

    def start(pilots: Pilots, key, num_chains: int) -> Start:
        particles, grads = pilots.first()
        k1, k2, k3 = jax.random.split(key, 3)
        shape = (num_chains, pilots.target.dim)
        if kind == "particles":
            init = jnp.asarray(particles)[jax.random.choice(k1, len(particles), (num_chains,))]
        elif kind == "jitter":
            picked = jnp.asarray(particles)[jax.random.choice(k1, len(particles), (num_chains,))]
            init = picked + jnp.asarray(particles.std(0)) * jax.random.normal(k2, shape)
        else:
            if kind == "expand":
                lo, hi = bounding_box(jnp.asarray(particles), 0.5)
                x0 = jax.random.uniform(
                    k2, (pilots.preset.pilot_chains, pilots.target.dim), minval=lo, maxval=hi
                )
                particles, g = pilots.run(k3, x0)
                grads += g
            lo, hi = bounding_box(jnp.asarray(particles), 0.25)
            init = jax.random.uniform(k1, shape, minval=lo, maxval=hi)
        return Start(jnp.asarray(init, jnp.float32), None, grads)

    return start


def _uniform(radius: float, center: Any = None):
    def start(pilots: Pilots, key, num_chains: int) -> Start:
        return Start(uniform_init(key, num_chains, pilots.target.dim, radius), center, 0)

    return start


def _origin(pilots: Pilots, key, num_chains: int) -> Start:
    del key
    c = jnp.zeros(pilots.target.dim)
    return Start(jnp.broadcast_to(c, (num_chains, pilots.target.dim)), c, 0)


STRATEGIES: dict[str, Callable[[Pilots, jax.Array, int], Start]] = {
    "default": _uniform(2.0),
    "origin": _origin,
    "uniform_R10": _uniform(10.0),
    "uniform_R50": _uniform(50.0),
    "pilot_mean": _shared_pilot("mean"),
    "pilot_median": _shared_pilot("median"),
    "pilot_trimmed": _shared_pilot("trimmed"),
    "pilot_particles": _particle_pilot("particles"),
    "pilot_jitter": _particle_pilot("jitter"),
    "pilot_box": _particle_pilot("box"),
    "pilot_expand": _particle_pilot("expand"),
    "kernel_pilot": _uniform(2.0, center=nd.Pilot()),
}
"""Start strategies ``(pilots, key, num_chains) -> Start``:

- ``default``: per-chain centers at uniform(-2, 2) initial points (NumPyro's
  ``init_to_uniform`` radius, what a ``model`` gets by default);
- ``origin``: one shared center at 0 (all chains start at the Dirac there);
- ``uniform_R10``, ``uniform_R50``: per-chain centers uniform in :math:`[-R, R]^d`;
- ``pilot_mean``/``pilot_median``/``pilot_trimmed``: the pooled particle mean /
  coordinate-wise median / 20%-trimmed mean of a default-start pilot is a shared
  center, re-estimated once by a pilot from the Dirac there (two pilots);
- ``pilot_particles``: the pilot's particles (resampled) as per-chain centers;
- ``pilot_jitter``: the same plus Gaussian noise with the particles' coordinate sd;
- ``pilot_box``: per-chain centers uniform over the particles' bounding box widened
  by 25% per side;
- ``pilot_expand``: ``pilot_box`` after a second pilot started from the first
  pilot's box widened by 50% per side (two pilots);
- ``kernel_pilot``: ``pilot_box`` as built into the kernel, ``center=Pilot()`` from the
  default start (its pilot runs inside ``init``; its gradients are in the run's
  ``num_grad_evals``).
"""


# --------------------------------------------------------------------------- sections


def _key(*parts: Any) -> jax.Array:
    """A fixed key per configuration (stable across runs and sections)."""
    import zlib

    return jax.random.key(zlib.crc32(repr(parts).encode()) % (2**31))


def _run_mixture(target: MovedMixture, preset: Preset, start: Start, seed_parts, **kwargs):
    num_warmup = kwargs.pop("num_warmup", preset.num_warmup)
    # always explicit: a start's ``center=None`` means per-chain centers, not the
    # kernel's default ("auto", the pilot box from 256 vectorized chains)
    kernel_kwargs = dict(kwargs, center=start.center)
    res = run_dilation(
        target.logdensity_fn,
        start.init_params,
        _key("run", *seed_parts),
        num_warmup,
        preset.num_samples,
        **kernel_kwargs,
    )
    row = score_mixture(res, target)
    row["grads_pilot"] = start.pilot_grads
    row["grads_total"] += start.pilot_grads
    if start.note:
        row["note"] = start.note
    return row


Record = Callable[[dict, Callable[[], dict]], dict]
"""``record(ident, compute)``: the row ``{**ident, **compute()}``, logged (or an earlier
row with the same ``ident`` from an interrupted run of the section, reused)."""


def _default_start(target: MovedMixture, preset: Preset) -> Start:
    return STRATEGIES["default"](
        Pilots(target, preset), _key("init", target.name), preset.num_chains
    )


def section_defaults(preset: Preset, record: Record, center: Any = None) -> None:
    """Defaults on moved ring8 and the moved 10-d two-mode target (with ``center``
    given to the kernel if not ``None``: ``defaults_pilot`` gives ``Pilot()``)."""
    targets = [ring8_mixture(o, s) for o in preset.ring_offsets for s in preset.ring_scales]
    targets += [two_mode_mixture(n, s) for n, s in preset.two_mode_cases]
    for target in targets:
        ident = {
            "target": target.name,
            "offset_norm": float(np.linalg.norm(target.offset)),
            "scale": target.scale,
        }
        record(
            ident,
            lambda t=target: _run_mixture(
                t,
                preset,
                dataclasses.replace(_default_start(t, preset), center=center),
                (t.name, "default"),
            ),
        )


def section_strategies(preset: Preset, record: Record) -> None:
    """Every strategy of ``preset.strategies`` on every ``preset.strategy_targets``."""
    registry = strategy_targets()
    for name in preset.strategy_targets:
        target = registry[name]()
        pilots = Pilots(target, preset)
        for strategy in preset.strategies:

            def compute(target=target, name=name, strategy=strategy, pilots=pilots):
                start = STRATEGIES[strategy](
                    pilots, _key("start", name, strategy), preset.num_chains
                )
                return _run_mixture(target, preset, start, (name, strategy))

            record({"target": name, "strategy": strategy}, compute)


SCHEDULE_CONFIGS: dict[str, dict[str, Any]] = {
    "linear": {},
    "geometric": {"schedule": "geometric"},
    "cosine": {"schedule": "cosine"},
    "lambda_min=1e-2": {"lambda_min": 1e-2},
    "lambda_min=1e-5": {"lambda_min": 1e-5},
    "fraction=0.25": {"annealing_fraction": 0.25},
    "fraction=0.75": {"annealing_fraction": 0.75},
}
"""Schedule variants; the others keep the defaults (linear, 1e-3, 0.5 at the time of writing)."""


def _default(name: str):
    return inspect.signature(nd.DilationLangevin.__init__).parameters[name].default


def section_schedules(preset: Preset, record: Record) -> None:
    """Schedule variants at equal warm-up gradient budget :math:`G = W_0(1 + f_0)`."""
    registry = strategy_targets()
    f0 = _default("annealing_fraction")
    budget = preset.num_warmup * (1.0 + f0)
    for name in preset.schedule_targets:
        target = registry[name]()
        start = STRATEGIES["default"](Pilots(target, preset), _key("init", name), preset.num_chains)
        for config in preset.schedule_configs:
            kwargs = dict(SCHEDULE_CONFIGS[config])
            f = kwargs.get("annealing_fraction", f0)
            num_warmup = int(round(budget / (1.0 + f)))
            record(
                {"target": name, "config": config, "num_warmup": num_warmup},
                lambda t=target, st=start, c=config, w=num_warmup, kw=kwargs: _run_mixture(
                    t, preset, st, (t.name, "schedule", c), num_warmup=w, **kw
                ),
            )


def section_seeds(preset: Preset, record: Record) -> None:
    """The defaults on ``preset.seed_targets`` with ``preset.num_seeds`` run keys each."""
    registry = strategy_targets()
    for name in preset.seed_targets:
        target = registry[name]()
        start = _default_start(target, preset)
        for seed in range(preset.num_seeds):
            record(
                {"target": name, "seed": seed},
                lambda t=target, st=start, i=seed: _run_mixture(t, preset, st, (t.name, "seed", i)),
            )


def section_pilot(preset: Preset, record: Record) -> None:
    """The kernel's pilot-box start (``center=Pilot()``) against the default
    (``center=None``) from the same initial points, with the ``seeds`` section's run keys."""
    registry = strategy_targets()
    for name, law, num_seeds in preset.pilot_cases:
        target = registry[name]()
        shape = (preset.num_chains, target.dim)
        if law == "uniform2":
            init = uniform_init(_key("init", name), *shape, 2.0)
        else:
            init = 3.0 * jax.random.normal(_key("init", name, law), shape)
        for seed in range(num_seeds):
            for strategy, center in (("default", None), ("kernel_pilot", nd.Pilot())):
                record(
                    {"target": name, "init": law, "seed": seed, "strategy": strategy},
                    lambda t=target, x=init, c=center, i=seed: _run_mixture(
                        t, preset, Start(x, c, 0), (t.name, "seed", i)
                    ),
                )


# ---------------------------------------------------------------- step size / scale


def _correlated_gaussian(dim: int = 5, rho: float = 0.9):
    """Mean :math:`(1, -1, 2, 0, 0.5)`-like, AR(1) correlation ``rho``, unit variances."""
    mean = np.array([1.0, -1.0, 2.0, 0.0, 0.5, -2.0, 1.5, -0.5, 0.25, 3.0][:dim])
    idx = np.arange(dim)
    cov = rho ** np.abs(idx[:, None] - idx[None, :])
    return mean, cov


def _gaussian_logdensity(mean: np.ndarray, cov: np.ndarray):
    prec = jnp.asarray(np.linalg.inv(cov), jnp.float32)
    m = jnp.asarray(mean, jnp.float32)

    def logdensity(x):
        r = x - m
        return -0.5 * r @ prec @ r

    return logdensity


def _mcse(draws: np.ndarray, method: str) -> np.ndarray:
    """ArviZ's Monte Carlo standard error of each coordinate, ``draws`` ``(C, S, k)``."""
    import arviz as az

    with warnings.catch_warnings():  # "more chains than draws" is intended here
        warnings.simplefilter("ignore", UserWarning)
        post = az.convert_to_dataset({"x": np.asarray(draws, np.float64)})
        return np.asarray(az.mcse(post, method=method)["x"])


def _moment_z(draws: np.ndarray, mean: np.ndarray, sd: np.ndarray) -> dict[str, float]:
    """Largest |z| of the per-coordinate mean and sd, MCSE from ArviZ (``draws`` (C, S, d))."""
    mcse_mean, mcse_sd = _mcse(draws, "mean"), _mcse(draws, "sd")
    flat = draws.reshape(-1, draws.shape[-1]).astype(np.float64)
    z_mean = (flat.mean(0) - mean) / mcse_mean
    z_sd = (flat.std(0) - sd) / mcse_sd
    return {
        "max_abs_z_mean": float(np.max(np.abs(z_mean))),
        "max_abs_z_sd": float(np.max(np.abs(z_sd))),
        "max_rel_err_sd": float(np.max(np.abs(flat.std(0) / sd - 1.0))),
    }


def _gaussian_row(name, scale, mean, cov, preset, init_radius=2.0) -> dict[str, Any]:
    dim = len(mean)
    x0 = uniform_init(_key("init", name, scale), preset.num_chains, dim, init_radius)
    res = run_dilation(
        _gaussian_logdensity(mean, cov),
        x0,
        _key("run", name, scale),
        preset.num_warmup,
        preset.num_samples,
    )
    row = {"target": name, "scale": scale}
    row.update(_moment_z(res.draws, mean, np.sqrt(np.diag(cov))))
    row.update(
        mean_accept=res.mean_accept,
        **_step_summary(res),
        grads_total=res.grads_warmup + res.grads_sampling,
        seconds=round(res.seconds, 1),
    )
    return row


_EMPTY = RunResult(
    np.empty(0), np.empty(0), 0, 0, float("nan"), float("nan"), np.ones(1), None, None, 0.0
)


def _posteriordb_row(name: str, preset: Preset) -> dict[str, Any]:
    """Defaults on a posteriordb ``model``: z-scores of every scalar's mean and sd against
    the reference draws, :math:`z = \\Delta / \\sqrt{\\mathrm{MCSE}^2 + \\mathrm{se}_{ref}^2}`."""

    from benchmarks.posteriordb import get_spec, load_reference_draws, model_kwargs

    spec = get_spec(name)
    mcmc = MCMC(
        nd.DilationLangevin(spec.model),
        num_warmup=preset.num_warmup,
        num_samples=preset.num_samples,
        num_chains=preset.num_chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    t0 = time.perf_counter()
    mcmc.warmup(
        _key("warm", name),
        collect_warmup=True,
        extra_fields=("num_grad_evals",),
        **model_kwargs(name),
    )
    grads = int(np.asarray(mcmc.get_extra_fields()["num_grad_evals"]).sum())
    mcmc.run(
        _key("run", name), extra_fields=("num_grad_evals", "accept_prob"), **model_kwargs(name)
    )
    extra = mcmc.get_extra_fields()
    grads += int(np.asarray(extra["num_grad_evals"]).sum())
    seconds = time.perf_counter() - t0
    samples = mcmc.get_samples(group_by_chain=True)
    ref = load_reference_draws(spec.posteriordb_name)
    z_mean, z_sd = [], []
    for site in spec.reference_names:
        ours = np.asarray(samples[site], np.float64)
        theirs = np.asarray(ref[site], np.float64)
        ours = ours.reshape(ours.shape[:2] + (-1,))
        theirs = theirs.reshape(theirs.shape[:2] + (-1,))
        se = {}
        for method in ("mean", "sd"):
            se[method] = np.hypot(_mcse(ours, method), _mcse(theirs, method))
        fo, fr = ours.reshape(-1, ours.shape[-1]), theirs.reshape(-1, theirs.shape[-1])
        z_mean.append((fo.mean(0) - fr.mean(0)) / se["mean"])
        z_sd.append((fo.std(0) - fr.std(0)) / se["sd"])
    z_mean, z_sd = np.concatenate(z_mean), np.concatenate(z_sd)
    state = mcmc.last_state
    v = getattr(state, "inverse_mass_matrix", None)
    res = dataclasses.replace(
        _EMPTY,
        step_size=np.asarray(state.adapt_state.step_size),
        inverse_mass_matrix=None if v is None else np.asarray(v),
    )
    row = {
        "target": name,
        "num_scalars": int(len(z_mean)),
        "max_abs_z_mean": float(np.max(np.abs(z_mean))),
        "max_abs_z_sd": float(np.max(np.abs(z_sd))),
        "mean_accept": float(np.mean(extra["accept_prob"])),
        **_step_summary(res),
        "grads_total": grads,
        "seconds": round(seconds, 1),
    }
    return row


def section_step_size(preset: Preset, record: Record) -> None:
    """Scales ``preset.scales`` on a correlated Gaussian, ring8 and mixed scales; posteriordb."""
    mean0, cov0 = _correlated_gaussian()
    for s in preset.scales:
        record(
            {"target": "corr_gauss_5", "scale": s},
            lambda s=s: _gaussian_row("corr_gauss_5", s, s * mean0, s**2 * cov0, preset),
        )
    for s in preset.ring_step_scales:
        target = ring8_mixture((0.0, 0.0), s)
        record(
            {"target": target.name, "scale": s},
            lambda t=target: _run_mixture(t, preset, _default_start(t, preset), (t.name, "step")),
        )
    # one target with coordinate scales 1e-3 ... 1e3 at once (correlation 0.5)
    sds = np.logspace(-3, 3, 7)
    corr = np.full((7, 7), 0.5) + 0.5 * np.eye(7)
    record(
        {"target": "mixed_scales_7", "scale": None, "scales": sds.tolist()},
        lambda: _gaussian_row("mixed_scales_7", None, sds, corr * np.outer(sds, sds), preset),
    )
    for name in preset.posteriors:
        record({"target": name}, lambda n=name: _posteriordb_row(n, preset))


SECTION_FNS = {
    "defaults": section_defaults,
    "strategies": section_strategies,
    "step_size": section_step_size,
    "schedules": section_schedules,
    "seeds": section_seeds,
    "pilot": section_pilot,
    "defaults_pilot": lambda preset, record: section_defaults(preset, record, nd.Pilot()),
}


# --------------------------------------------------------------------------- main


def _environment() -> dict[str, Any]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    params = inspect.signature(nd.DilationLangevin.__init__).parameters
    defaults = {
        k: repr(p.default)
        for k, p in params.items()
        if p.default is not inspect.Parameter.empty and k not in ("model", "potential_fn")
    }
    return {
        "git_commit": commit,
        "jax": jax.__version__,
        "device": str(jax.devices()[0]),
        "python": sys.version.split()[0],
        "kernel_defaults": defaults,
    }


def _clean(x):
    """NaN -> None (strict JSON), recursively."""
    if isinstance(x, float) and x != x:
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


def _json_default(x):
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(type(x))


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
    section("defaults_pilot", "The defaults grid with center=Pilot() (the default from 256 "
            "chains)", grid_header, grid_cells)
    section(
        "pilot",
        "The kernel's pilot box (center=Pilot()) against per-chain centers (center=None)",
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


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.robustness", description=__doc__)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small")
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated subset of {','.join(SECTIONS)}",
    )
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument(
        "--fresh", action="store_true", help="ignore the rows an interrupted run left behind"
    )
    parser.add_argument(
        "--report", action="store_true", help="print Markdown tables of the results file and exit"
    )
    args = parser.parse_args(argv)
    if args.report:
        path = Path(args.out) / f"robustness_{args.preset}.json"
        print(report(json.loads(path.read_text())))
        return path
    sections = [s for s in args.sections.split(",") if s]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {SECTIONS}")
    preset = PRESETS[args.preset]
    path = Path(args.out) / f"robustness_{args.preset}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    results = json.loads(path.read_text()) if path.exists() and not args.fresh else {}
    results["preset"] = args.preset
    results["preset_config"] = dataclasses.asdict(preset)
    results.setdefault("sections", {})
    environment = _environment()  # the package as imported now is what gets measured
    for section in sections:
        t0 = time.perf_counter()
        rows: list[dict] = []
        previous = results["sections"].get(section, {})
        # rows of an interrupted run of this section are reused (same preset, same code)
        earlier = [] if previous.get("complete", True) else previous.get("rows", [])

        def record(ident, compute, rows=rows, section=section, earlier=earlier):
            ident = _clean(ident)
            match = [r for r in earlier if all(r.get(k) == v for k, v in ident.items())]
            row = match[0] if match else _clean({**compute(), **ident})
            rows.append(row)
            print(json.dumps({"section": section, **row}, default=_json_default), flush=True)
            results["sections"][section] = {"rows": rows, "complete": False}
            path.write_text(json.dumps(results, indent=1, default=_json_default))
            return row

        SECTION_FNS[section](preset, record)
        results["sections"][section] = {
            "rows": rows,
            "complete": True,
            "seconds": round(time.perf_counter() - t0, 1),
            "environment": environment,
            "command": f"python -m benchmarks.robustness --preset {args.preset} "
            f"--sections {section}",
        }
        path.write_text(json.dumps(results, indent=1, default=_json_default))
    return path


if __name__ == "__main__":
    print(f"wrote {main()}")
