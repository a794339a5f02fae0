"""Dilation-path annealed Langevin sampling for BlackJAX and NumPyro.

The names below are loaded on first use (PEP 562), so ``import numpyro_dilation`` imports
neither JAX nor NumPyro, and ``import numpyro_dilation.kernel`` (the BlackJAX layer) imports
no NumPyro, pandas or plotting library. BlackJAX starts JAX's backend when it is imported, so
call ``numpyro.set_host_device_count`` before the first name is used.
"""

import importlib

__version__ = "0.1.0"

_HOMES = {
    "AnnealingState": "annealing",
    "DilationInfo": "kernel",
    "DilationLangevin": "mcmc",
    "DilationLangevinState": "population_state",
    "DilationState": "kernel",
    "GlobalMoveWarning": "diagnostics",
    "GlobalMoves": "modes",
    "Pilot": "starts",
    "ReliabilityWarning": "health",
    "UTurn": "uturn",
    "cosine_schedule": "schedules",
    "dilation_langevin": "annealing",
    "geometric_schedule": "schedules",
    "linear_schedule": "schedules",
    "log_evidence": "diagnostics",
    "mode_summary": "diagnostics",
    "plot_uturn": "uturn",
    "population_sampler": "population",
    "uturn_diagnostic": "uturn_numpyro",
    "validate_schedule": "schedules",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
