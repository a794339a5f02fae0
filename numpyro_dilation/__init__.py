"""Dilation-path annealed Langevin sampling for BlackJAX and NumPyro."""

from numpyro_dilation.annealing import AnnealingState, dilation_langevin
from numpyro_dilation.diagnostics import GlobalMoveWarning, log_evidence, mode_summary
from numpyro_dilation.health import ReliabilityWarning
from numpyro_dilation.kernel import DilationInfo, DilationState
from numpyro_dilation.mcmc import DilationLangevin, DilationLangevinState
from numpyro_dilation.modes import GlobalMoves
from numpyro_dilation.schedules import (
    cosine_schedule,
    geometric_schedule,
    linear_schedule,
    validate_schedule,
)
from numpyro_dilation.starts import Pilot
from numpyro_dilation.uturn import UTurn, plot_uturn
from numpyro_dilation.uturn_numpyro import uturn_diagnostic

__version__ = "0.1.0"

__all__ = [
    "AnnealingState",
    "DilationInfo",
    "DilationLangevin",
    "DilationLangevinState",
    "DilationState",
    "GlobalMoveWarning",
    "GlobalMoves",
    "Pilot",
    "ReliabilityWarning",
    "UTurn",
    "cosine_schedule",
    "dilation_langevin",
    "geometric_schedule",
    "linear_schedule",
    "log_evidence",
    "mode_summary",
    "plot_uturn",
    "uturn_diagnostic",
    "validate_schedule",
]
