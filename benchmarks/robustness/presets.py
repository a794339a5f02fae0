"""Sizes and grids of a robustness run: :class:`Preset` and :data:`PRESETS` (``small``,
``full``), and the names of the schedule variants (:data:`SCHEDULE_CONFIG_NAMES`).

Not :class:`benchmarks.suite.Preset`: the grids here are of moved targets, start
strategies and schedules; the results files record these fields as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.robustness.mixtures import _DIAG

__all__ = ["Preset", "PRESETS", "SCHEDULE_CONFIG_NAMES"]


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
