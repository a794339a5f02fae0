"""Dilation-path annealed Langevin sampling for BlackJAX and NumPyro."""

from numpyro_dilation.annealing import AnnealingState, dilation_langevin
from numpyro_dilation.diagnostics import GlobalMoveWarning, log_evidence, mode_summary
from numpyro_dilation.kernel import DilationInfo, DilationState
from numpyro_dilation.mcmc import DilationLangevin, DilationLangevinState
from numpyro_dilation.modes import GlobalMoves
from numpyro_dilation.schedules import (
    cosine_schedule,
    geometric_schedule,
    linear_schedule,
    validate_schedule,
)

__version__ = "0.1.0"

__all__ = [
    "AnnealingState",
    "DilationInfo",
    "DilationLangevin",
    "DilationLangevinState",
    "DilationState",
    "GlobalMoveWarning",
    "GlobalMoves",
    "cosine_schedule",
    "dilation_langevin",
    "geometric_schedule",
    "linear_schedule",
    "log_evidence",
    "mode_summary",
    "validate_schedule",
]
