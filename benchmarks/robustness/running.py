"""Running DilationLangevin through NumPyro's ``MCMC`` and scoring mixture runs.

:func:`run_dilation` (one vectorized ``MCMC`` run, warm-up and sampling) and its
:class:`RunResult`; :func:`score_mixture` (mode-weight TV, coverage, modes found,
acceptance, step sizes, gradients); :func:`uniform_init` (initial points); ``_key``,
the fixed random key of a configuration.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer import MCMC
from scipy.stats import chi2

import numpyro_dilation as nd
from benchmarks.metrics import total_variation
from benchmarks.robustness.mixtures import MovedMixture
from benchmarks.targets import GaussianMixture

__all__ = ["RunResult", "run_dilation", "reached_modes", "score_mixture", "uniform_init"]


def _key(*parts: Any) -> jax.Array:
    """A fixed key per configuration (stable across runs and sections).

    Not :func:`benchmarks.suite._key` (which folds each part into ``key(seed)``): this
    hashes ``repr(parts)`` once, and the published robustness rows were run with it.
    """
    return jax.random.key(zlib.crc32(repr(parts).encode()) % (2**31))


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
