"""Where the chains start: :class:`Start`, the benchmark's pilot runs (:class:`Pilots`),
the start strategies (:data:`STRATEGIES`), and one scored run of a moved mixture from a
start (``_run_mixture``, ``_default_start``), shared by the sections.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import numpyro_dilation as nd
from benchmarks.robustness.mixtures import MovedMixture
from benchmarks.robustness.presets import Preset
from benchmarks.robustness.running import _key, run_dilation, score_mixture, uniform_init
from numpyro_dilation.starts import bounding_box

__all__ = ["Start", "Pilots", "STRATEGIES"]


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
            start=None,
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
- ``kernel_pilot``: the pilot box as built into the kernel, ``start=Pilot()`` from the
  default start (its pilot pass is the first half of the run's warm-up; its gradients are
  in the run's ``num_grad_evals``).
"""


def _run_mixture(target: MovedMixture, preset: Preset, start: Start, seed_parts, **kwargs):
    """One scored run of ``target`` from ``start`` (run key from ``seed_parts``; ``kwargs``
    for the kernel, ``num_warmup`` overriding the preset's), pilot gradients included."""
    num_warmup = kwargs.pop("num_warmup", preset.num_warmup)
    # always explicit: a start's ``center=None`` means per-chain centers at the initial
    # points, not the kernel's default start ("auto", the pilot box from 256 chains)
    if isinstance(start.center, nd.Pilot):
        kernel_kwargs = dict(kwargs, start=start.center)
    else:
        kernel_kwargs = dict(kwargs, center=start.center, start=None)
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


def _default_start(target: MovedMixture, preset: Preset) -> Start:
    """The ``default`` strategy's start of ``target`` (key from its name)."""
    return STRATEGIES["default"](
        Pilots(target, preset), _key("init", target.name), preset.num_chains
    )


