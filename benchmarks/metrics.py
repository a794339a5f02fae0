r"""Sample-quality metrics against exact answers.

All functions take NumPy arrays of draws of shape ``(n, d)`` (pooled over chains)
and return Python floats.

- :func:`mode_weight_tv`: total variation between estimated and exact mode weights,
  :math:`\mathrm{TV}(\hat w, w) = \tfrac12\sum_k |\hat w_k - w_k|`, with
  :math:`\hat w_k` the share of draws assigned to mode :math:`k`.
- :func:`energy_distance`: Székely–Rizzo energy distance between the empirical
  measures of two samples (V-statistic),

  .. math::

     \mathcal E(X, Y) = \frac{2}{nm}\sum_{i,j}\|x_i - y_j\|
                      - \frac{1}{n^2}\sum_{i,i'}\|x_i - x_{i'}\|
                      - \frac{1}{m^2}\sum_{j,j'}\|y_j - y_{j'}\| \;\ge 0,

  the plug-in estimate of :math:`2E\|X - Y\| - E\|X - X'\| - E\|Y - Y'\|`, which is
  zero iff the laws agree; it is exactly 0 for identical samples.
- :func:`mean_error`: :math:`\|\hat m - m\|_2 / \sqrt{\operatorname{tr}\Sigma}`
  (error of the mean in units of the target's overall scale).
- :func:`cov_error`: :math:`\|\hat\Sigma - \Sigma\|_F / \|\Sigma\|_F`.
- :func:`mode_indicator_rhat`: ArviZ's rank-normalized R-hat of the indicator
  :math:`1[\text{draw in the heaviest mode}]` over the chains (draws ``(C, S)`` of
  labels); :math:`\infty` when the indicator varies between chains but never
  within one (every chain stuck in its mode).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "mode_weights",
    "total_variation",
    "mode_weight_tv",
    "energy_distance",
    "mean_error",
    "cov_error",
    "mode_indicator_rhat",
]


def mode_weights(labels: np.ndarray, num_modes: int) -> np.ndarray:
    """Share of draws per mode, ``(num_modes,)``, from integer labels ``(n,)``."""
    labels = np.asarray(labels).ravel()
    if labels.size == 0:
        raise ValueError("no draws")
    return np.bincount(labels, minlength=num_modes)[:num_modes] / labels.size


def total_variation(p: np.ndarray, q: np.ndarray) -> float:
    """:math:`\\tfrac12\\sum_k |p_k - q_k|` for two probability vectors of equal length."""
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    if p.shape != q.shape:
        raise ValueError(f"shapes differ: {p.shape} vs {q.shape}")
    return float(0.5 * np.abs(p - q).sum())


def mode_weight_tv(labels: np.ndarray, weights: np.ndarray) -> float:
    """TV between the mode shares of ``labels`` and the exact ``weights``."""
    return total_variation(mode_weights(labels, len(weights)), weights)


def _mean_pairwise_distance(x: np.ndarray, y: np.ndarray, block: int = 2048) -> float:
    """:math:`\\frac{1}{nm}\\sum_{i,j}\\|x_i - y_j\\|`, in row blocks of ``x``."""
    y_sq = np.sum(y**2, axis=1)
    total = 0.0
    for start in range(0, len(x), block):
        xb = x[start : start + block]
        sq = np.sum(xb**2, axis=1)[:, None] + y_sq[None, :] - 2.0 * xb @ y.T
        total += np.sqrt(np.maximum(sq, 0.0)).sum()
    return total / (len(x) * len(y))


def energy_distance(x: np.ndarray, y: np.ndarray) -> float:
    """Energy distance :math:`\\mathcal E(X, Y)` (V-statistic, see the module docstring).

    ``x`` is ``(n, d)``, ``y`` is ``(m, d)`` (1-D inputs are treated as ``d = 1``).
    Computed in float64.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    x = x[:, None] if x.ndim == 1 else x
    y = y[:, None] if y.ndim == 1 else y
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"dimensions differ: {x.shape[1]} vs {y.shape[1]}")
    e = (
        2.0 * _mean_pairwise_distance(x, y)
        - _mean_pairwise_distance(x, x)
        - _mean_pairwise_distance(y, y)
    )
    return float(max(e, 0.0))


def mean_error(x: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> float:
    """:math:`\\|\\bar x - m\\|_2 / \\sqrt{\\operatorname{tr}\\Sigma}`."""
    x = np.asarray(x, dtype=np.float64)
    return float(np.linalg.norm(x.mean(axis=0) - mean) / np.sqrt(np.trace(cov)))


def cov_error(x: np.ndarray, cov: np.ndarray) -> float:
    r"""Relative covariance error :math:`\|\hat\Sigma - \Sigma\|_F / \|\Sigma\|_F` (ddof 1)."""
    x = np.asarray(x, dtype=np.float64)
    cov_hat = np.atleast_2d(np.cov(x, rowvar=False))
    return float(np.linalg.norm(cov_hat - cov) / np.linalg.norm(cov))


def mode_indicator_rhat(labels: np.ndarray, weights: np.ndarray) -> float:
    """R-hat of the heaviest mode's indicator, ``labels`` ``(C, S)`` (chain-major)."""
    import arviz as az

    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.shape[0] < 2:
        raise ValueError(f"labels must be (chains >= 2, draws), got {labels.shape}")
    indicator = (labels == int(np.argmax(weights))).astype(float)
    if indicator.std() == 0:
        return float("nan")
    value = float(az.rhat(indicator))
    return value if np.isfinite(value) else float("inf")
