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
    The kernel's pilot-box start (``start=Pilot()``) against ``center=None`` from
    the same initial points with the same run keys (``pilot_cases``).
``defaults_pilot``
    The ``defaults`` grid with ``start=Pilot()``: the kernel's default
    (``start="auto"``) at 256 chains or more.

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

The package: :mod:`~benchmarks.robustness.mixtures` (the moved mixtures and named
targets), :mod:`~benchmarks.robustness.presets` (:class:`Preset`, :data:`PRESETS`),
:mod:`~benchmarks.robustness.running` (:func:`run_dilation`, :func:`score_mixture`,
:func:`uniform_init`, the fixed keys), :mod:`~benchmarks.robustness.starts` (start
strategies, pilot runs), :mod:`~benchmarks.robustness.sections` (the sections),
:mod:`~benchmarks.robustness.tables` (the Markdown tables of ``--report``) and
:mod:`~benchmarks.robustness.cli` (the command line and the results file).
"""

from benchmarks.robustness.cli import main
from benchmarks.robustness.mixtures import (
    MovedMixture,
    gmm40_mixture,
    ring8_mixture,
    strategy_targets,
    two_mode_mixture,
)
from benchmarks.robustness.presets import PRESETS, SCHEDULE_CONFIG_NAMES, Preset
from benchmarks.robustness.running import (
    RunResult,
    reached_modes,
    run_dilation,
    score_mixture,
    uniform_init,
)
from benchmarks.robustness.sections import (
    SCHEDULE_CONFIGS,
    SECTION_FNS,
    SECTIONS,
    Record,
    section_defaults,
    section_pilot,
    section_schedules,
    section_seeds,
    section_step_size,
    section_strategies,
)
from benchmarks.robustness.starts import STRATEGIES, Pilots, Start
from benchmarks.robustness.tables import report

__all__ = [
    "Preset",
    "PRESETS",
    "SCHEDULE_CONFIG_NAMES",
    "MovedMixture",
    "ring8_mixture",
    "two_mode_mixture",
    "gmm40_mixture",
    "strategy_targets",
    "RunResult",
    "run_dilation",
    "reached_modes",
    "score_mixture",
    "uniform_init",
    "Start",
    "Pilots",
    "STRATEGIES",
    "SECTIONS",
    "SECTION_FNS",
    "Record",
    "SCHEDULE_CONFIGS",
    "section_defaults",
    "section_strategies",
    "section_step_size",
    "section_schedules",
    "section_seeds",
    "section_pilot",
    "report",
    "main",
]
