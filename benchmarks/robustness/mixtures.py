"""Moved Gaussian mixtures: the suite's ring8, GMM-40 and a two-mode mixture, translated
and rescaled (:class:`MovedMixture`), and the named targets of the ``strategies``,
``schedules``, ``seeds`` and ``pilot`` sections (:func:`strategy_targets`).

ring8's and GMM-40's parameters are the suite's (:mod:`benchmarks.targets`); the two-mode
mixture shares the suite's weights and sds but has its own means (:math:`\\mp 2.5\\cdot
\\mathbf 1`, not the suite's distance 8).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax
import numpy as np

from benchmarks.targets import (
    RING8_CENTER,
    TWO_MODE_SDS,
    TWO_MODE_WEIGHTS,
    GaussianMixture,
    gmm40_parameters,
    ring8_parameters,
)

__all__ = [
    "MovedMixture",
    "ring8_mixture",
    "two_mode_mixture",
    "gmm40_mixture",
    "strategy_targets",
]

_DIAG = 50.0 / np.sqrt(2.0)
"""Each coordinate of an offset of norm 50 along the diagonal."""


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
    name = f"ring8@({offset[0]:.0f},{offset[1]:.0f})x{scale:g}"
    return _move(name, *ring8_parameters(), RING8_CENTER, offset, scale)


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
    return _move(name, TWO_MODE_WEIGHTS, means, TWO_MODE_SDS, np.zeros(dim), offset, scale)


def gmm40_mixture(offset=(0.0, 0.0), scale: float = 1.0) -> MovedMixture:
    """The suite's GMM-40 (40 N(m_k, I), m_k uniform in [-40, 40]², seed 0), moved about 0."""
    name = (
        "gmm40"
        if (tuple(offset), scale) == ((0.0, 0.0), 1.0)
        else (f"gmm40@({offset[0]:.0f},{offset[1]:.0f})x{scale:g}")
    )
    return _move(name, *gmm40_parameters(0), (0.0, 0.0), offset, scale)


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
