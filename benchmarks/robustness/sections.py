"""The sections of a robustness run (``--sections``): ``defaults``, ``strategies``,
``step_size``, ``schedules``, ``seeds``, ``pilot`` and ``defaults_pilot``
(:data:`SECTION_FNS`), each ``(preset, record) -> None`` calling ``record`` once per
row; the step-size section's Gaussian targets, MCSE z-scores and posteriordb checks.
"""

from __future__ import annotations

import dataclasses
import inspect
import time
import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer import MCMC

import numpyro_dilation as nd
from benchmarks.robustness.mixtures import ring8_mixture, strategy_targets, two_mode_mixture
from benchmarks.robustness.presets import Preset
from benchmarks.robustness.running import (
    RunResult,
    _key,
    _step_summary,
    run_dilation,
    uniform_init,
)
from benchmarks.robustness.starts import (
    STRATEGIES,
    Pilots,
    Start,
    _default_start,
    _run_mixture,
)

__all__ = [
    "SECTIONS",
    "SECTION_FNS",
    "Record",
    "SCHEDULE_CONFIGS",
    "section_defaults",
    "section_strategies",
    "section_schedules",
    "section_seeds",
    "section_pilot",
    "section_step_size",
]

SECTIONS = ("defaults", "strategies", "step_size", "schedules", "seeds", "pilot", "defaults_pilot")


# --------------------------------------------------------------- mixture sections

Record = Callable[[dict, Callable[[], dict]], dict]
"""``record(ident, compute)``: the row ``{**ident, **compute()}``, logged (or an earlier
row with the same ``ident`` from an interrupted run of the section, reused)."""


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
    """The kernel's pilot-box start (``start=Pilot()``) against the default
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
