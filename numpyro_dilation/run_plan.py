r"""How the NumPyro kernel plans a run: from its arguments
(:class:`KernelOptions`) and the run's shape (warm-up length :math:`W`, number of chains
:math:`C`, vectorized or not) to the population algorithm's
:class:`~numpyro_dilation.population_settings.PopulationSettings`.

- **Levels.** :math:`K` annealing levels
  (:func:`~numpyro_dilation.population_settings.num_annealing_levels`); a warm-up too short
  for :data:`~numpyro_dilation.population_settings.MIN_ANNEALING_STEPS` levels runs at
  :math:`\lambda = 1` from the initial points, and says so.
- **Moves.** Global moves need all chains at once (vectorized, :math:`C \ge 2`) and an
  annealing; the U-turn explorer feeds their mode finding, so ``uturn="auto"`` is the
  explorer where global moves run with at least :data:`AUTO_EXPLORER_MIN_CHAINS` chains.
- **Start.** The pilot-box start (:class:`~numpyro_dilation.starts.Pilot`) runs for
  ``start="auto"`` in a vectorized run of at least :data:`AUTO_PILOT_MIN_CHAINS` chains with
  per-chain centers; the warm-up is then a pilot pass and a run pass of one schedule, that
  of a warm-up of :math:`\lfloor W/2\rfloor + 1` iterations
  (:func:`~numpyro_dilation.starts.pilot_split`), in the run's one compiled loop.

Pure planning: no NumPyro import, no JAX computation.
"""

import warnings
from typing import Any, NamedTuple

import numpy as np

from numpyro_dilation.blocks import check_blocks, site_blocks
from numpyro_dilation.label_swaps import check_exchangeable, site_swap
from numpyro_dilation.modes import GlobalMoves
from numpyro_dilation.persistence import DEFAULT_PERSISTENCE
from numpyro_dilation.population_settings import (
    DEFAULT_ANNEALING_FRACTION,
    MIN_ANNEALING_STEPS,
    PopulationSettings,
    make_settings,
    min_annealing_warmup,
    mode_finding_iteration,
    num_annealing_levels,
)
from numpyro_dilation.schedules import DEFAULT_LAMBDA_MIN, make_schedule
from numpyro_dilation.starts import Pilot, pilot_split
from numpyro_dilation.step_size import DEFAULT_TARGET_ACCEPT_PROB
from numpyro_dilation.uturn import UTurn

__all__ = [
    "AUTO_EXPLORER_MIN_CHAINS",
    "AUTO_PILOT_MIN_CHAINS",
    "KernelOptions",
    "plan_pilot",
    "plan_start",
]

AUTO_PILOT_MIN_CHAINS = 4 * Pilot().num_chains
"""Fewest chains (256) for which ``start="auto"`` runs the pilot-box start: its box comes
from 64 chains' positions (``Pilot().num_chains``), then at most a quarter of the run's
chains, and the half that keeps its initial points is still 128 per-chain centers or more.
With fewer chains the box would come from a large share of few particles, and the run
pass's half of the warm-up would be bought for little (its measured cost and effect:
BENCHMARKS.md, "The pilot pass").

**Example**

.. code-block:: python

    from numpyro_dilation.run_plan import AUTO_PILOT_MIN_CHAINS

    num_chains = 500
    print(num_chains >= AUTO_PILOT_MIN_CHAINS)  # True: start="auto" runs the pilot box
"""

AUTO_EXPLORER_MIN_CHAINS = 128
"""Fewest chains (128) for which ``uturn="auto"`` runs the U-turn explorer in the mode
finding (where global moves run). The explorer looks for modes that no chain reached; its
U-turns start from at most 64 chains (``GlobalMoves.num_start_chains``), and it is compiled
into the run's loop whether it then finds anything or not: on the radon-like model of the
real-model suite (64 chains) 2.6 s of the loop's 10.8 s of XLA compilation and 0.8 s of its
tracing, about 40% of what a first run paid there beyond NumPyro's NUTS (20.2 s against
12.3 s; 16.9 s without it). Below 128 chains a run is
sized for a posterior with one mode (user guide, "How many chains"), and the chains' own
positions, the contracted centers and the wide starts start the mode finding without it.
Measured on the multimodal suite (its initial laws, 400 + 100 iterations, seeds 0 and 1, the
explorer on and off): at 128 chains the same modes and mode TV within noise on all seven
targets; at 64 chains the same on ring8, the two-mode targets, Many-Well and the 5-component
mixture, but on GMM-40 the explorer found 36-37 of the 40 modes against 35 (TV 0.029-0.035
against 0.041-0.063). ``uturn=UTurn(kind="explore")`` keeps it at any number of chains.

**Example**

.. code-block:: python

    from numpyro_dilation.run_plan import AUTO_EXPLORER_MIN_CHAINS

    print(AUTO_EXPLORER_MIN_CHAINS)  # 128: below it, uturn="auto" runs no explorer
"""


class KernelOptions(NamedTuple):
    """The algorithm arguments of :class:`~numpyro_dilation.mcmc.DilationLangevin`,
    validated (:func:`~numpyro_dilation.inputs.check_arguments`): one record, read by the
    planning functions of this module. ``center`` is ``None`` (per-chain centers) or a fixed
    point; ``start`` is ``"auto"``, a :class:`~numpyro_dilation.starts.Pilot` or ``None``.

    **Example**

    .. code-block:: python

        from numpyro_dilation.run_plan import KernelOptions, plan_pilot

        options = KernelOptions(start="auto")
        print(plan_pilot(options, True, True, 512))  # Pilot(num_chains=64, ...)
    """

    step_size: float | None = None
    adapt_step_size: bool = True
    target_accept_prob: Any = DEFAULT_TARGET_ACCEPT_PROB
    schedule: Any = "linear"
    lambda_min: float = DEFAULT_LAMBDA_MIN
    num_annealing_steps: int | None = None
    annealing_fraction: float = DEFAULT_ANNEALING_FRACTION
    center: Any = None
    start: Any = "auto"
    metropolis: bool = True
    anneal_metropolis: bool = True
    global_moves: Any = "auto"
    adapt_mass_matrix: bool = True
    uturn: Any = "auto"
    dense_mass: bool = False
    steps_per_draw: Any = "auto"
    mass_rank: Any = "auto"
    momentum_persistence: float = DEFAULT_PERSISTENCE


def plan_levels(
    options: KernelOptions, num_warmup: int, schedule, num_annealing_steps: int | None
) -> np.ndarray:
    """The annealing levels of a warm-up of ``num_warmup`` iterations; one level 1, with a
    warning, when it is too short to anneal."""
    num_levels = num_annealing_levels(
        num_warmup, schedule, num_annealing_steps, options.annealing_fraction
    )
    if num_levels > 0:
        return make_schedule(schedule, num_levels, options.lambda_min)
    warnings.warn(
        f"DilationLangevin: num_warmup={num_warmup} is too short to anneal (the "
        f"warm-up anneals over {MIN_ANNEALING_STEPS} steps at least; num_warmup >= "
        f"{min_annealing_warmup(options.annealing_fraction)} with these settings). The "
        "chains start at their initial points at lambda = 1 and run MALA (step size "
        "adapted over the warm-up, if any), without the pilot start and without "
        "global moves: the chains' shares of separated modes are not corrected. "
        "Raise `num_warmup` unless the chains continue a finished warm-up.",
        UserWarning,
        stacklevel=3,
    )
    return np.ones(1)  # one "level", lambda = 1: each chain starts at its initial point


def plan_global_moves(
    options: KernelOptions, vectorized: bool, num_chains: int
) -> GlobalMoves | None:
    """The global moves of a run: ``None`` unless all chains run at once (vectorized,
    :math:`C \\ge 2`; an explicit ``GlobalMoves`` then warns that it is dropped)."""
    arg = options.global_moves
    if arg is None:
        return None
    if not vectorized or num_chains < 2:
        if isinstance(arg, GlobalMoves):
            warnings.warn(
                "Global moves need all chains at once: use chain_method='vectorized' "
                "with num_chains >= 2. Running without them; mode weights are then "
                "those of annealing alone (biased in general).",
                stacklevel=4,
            )
        return None
    return arg if isinstance(arg, GlobalMoves) else GlobalMoves()


def plan_moves(options: KernelOptions, anneals: bool, vectorized: bool, num_chains: int):
    """``(global_moves, uturn)`` of a run, from the options and the run's shape."""
    global_moves = plan_global_moves(options, vectorized, num_chains)
    uturn = options.uturn
    if not anneals:
        global_moves = None
        uturn = None if isinstance(uturn, str) else uturn
    if isinstance(uturn, str):  # "auto": the explorer where global moves run on enough chains
        explores = global_moves is not None and num_chains >= AUTO_EXPLORER_MIN_CHAINS
        uturn = UTurn(kind="explore") if explores else None
    if uturn is not None and uturn.kind == "explore" and global_moves is None:
        warnings.warn(
            "UTurn(kind='explore') feeds the global moves' mode finding, which needs "
            "chain_method='vectorized', num_chains >= 2 and global moves on. Running "
            "without U-turns.",
            stacklevel=3,
        )
        uturn = None
    return global_moves, uturn


def plan_pilot(
    options: KernelOptions, anneals: bool, vectorized: bool, num_chains: int
) -> Pilot | None:
    """The pilot-box start of a run: ``options.start`` if it is a ``Pilot`` (``ValueError``
    unless the run is vectorized with :math:`C \\ge 2`); ``Pilot()`` for ``"auto"`` in a
    vectorized run with per-chain centers and at least :data:`AUTO_PILOT_MIN_CHAINS`
    chains; else ``None``. A run too short to anneal has no pilot.

    **Example**

    .. code-block:: python

        from numpyro_dilation.run_plan import KernelOptions, plan_pilot

        print(plan_pilot(KernelOptions(), True, True, 100))  # None: fewer than 256 chains
    """
    start = options.start
    if isinstance(start, Pilot) and (not vectorized or num_chains < 2):
        raise ValueError(
            "`start=Pilot(...)` (or 'pilot') needs all chains at once: use "
            "chain_method='vectorized' with num_chains >= 2, or `start=None`."
        )
    if not anneals:
        return None
    if isinstance(start, Pilot):
        return start
    if start == "auto" and vectorized and options.center is None:
        return Pilot() if num_chains >= AUTO_PILOT_MIN_CHAINS else None
    return None


def plan_settings(
    options: KernelOptions,
    num_warmup: int,
    dim: int,
    levels: np.ndarray,
    moves: tuple,
    one_at_a_time: bool,
    run_length: int | None,
) -> PopulationSettings:
    """The population algorithm's settings for these options: ``levels`` from
    :func:`plan_levels`, ``moves = (global_moves, uturn)`` from :func:`plan_moves`."""
    global_moves, uturn = moves
    return make_settings(
        int(num_warmup),
        dim,
        levels=levels,
        global_moves=global_moves,
        uturn=uturn,
        adapt_mass_matrix=options.adapt_mass_matrix,
        dense_mass=options.dense_mass,
        adapt_step_size=options.adapt_step_size,
        target_accept_prob=options.target_accept_prob,
        metropolis=options.metropolis,
        anneal_metropolis=options.anneal_metropolis,
        one_chain_at_a_time=one_at_a_time,
        run_length=run_length,
        steps_per_draw=options.steps_per_draw,
        mass_rank=options.mass_rank,
        persistence=options.momentum_persistence,
    )


def plan_start(
    options: KernelOptions, num_warmup: int, anneals: bool, vectorized: bool, num_chains: int
) -> tuple[Pilot | None, int]:
    """``(pilot, run_warmup)``: the run's pilot-box start (:func:`plan_pilot`) and the warm-up
    length its settings are made for: with a pilot, the run pass's
    (:func:`~numpyro_dilation.starts.pilot_split`), else ``num_warmup``. A pilot whose pass
    would not reach the end of the annealing, or the mode finding when global moves run,
    is dropped (with a warning if asked for by ``start=Pilot(...)``).

    **Example**

    .. code-block:: python

        from numpyro_dilation.run_plan import KernelOptions, plan_start

        print(plan_start(KernelOptions(), 300, True, True, 256))  # (Pilot(...), 151)
    """
    pilot = plan_pilot(options, anneals, vectorized, num_chains)
    if pilot is None:
        return None, num_warmup
    num_pilot, run_warmup = pilot_split(num_warmup)
    try:
        num_levels = num_annealing_levels(run_warmup, options.schedule,
                                          options.num_annealing_steps,
                                          options.annealing_fraction)  # fmt: skip
    except ValueError:  # a fixed annealing longer than the run pass
        num_levels = 0
    last = num_levels  # the pilot pass must pass the annealing's end, and the mode finding
    if num_levels and plan_global_moves(options, vectorized, num_chains) is not None:
        last = mode_finding_iteration(num_levels, run_warmup)
    if num_levels and last < num_pilot:
        return pilot, run_warmup
    if isinstance(options.start, Pilot):
        warnings.warn(
            f"DilationLangevin: num_warmup={num_warmup} is too short for `start=Pilot(...)` "
            "(its pilot pass, the first half of the warm-up, must finish the annealing "
            "and the mode finding). Running without it: raise `num_warmup` to have it.",
            UserWarning,
            stacklevel=3,
        )
    return None, num_warmup


def with_site_blocks(moves: tuple, one_chain: Any, transforms: dict | None = None
                     ) -> tuple[int, tuple]:  # fmt: skip
    """``(dim, moves)``: the flat dimension of one chain's position ``one_chain`` (for a
    model, its dict of unconstrained site values), and ``moves = (global_moves, uturn)``
    with ``GlobalMoves.blocks`` given as sites translated to flat indices
    (:func:`~numpyro_dilation.blocks.site_blocks`) and ``GlobalMoves.exchangeable`` given as
    sites made a :class:`~numpyro_dilation.label_swaps.SiteSwap` (``transforms``: the
    sites' bijections to constrained values), both checked against ``dim`` before any work
    (the pilot start runs before the run's settings are made)."""
    from jax.flatten_util import ravel_pytree

    dim = int(ravel_pytree(one_chain)[0].shape[0])
    global_moves, uturn = moves
    if global_moves is None:
        return dim, moves
    blocks = check_blocks(site_blocks(global_moves.blocks, one_chain), dim)
    exchangeable = check_exchangeable(global_moves.exchangeable, dim, sites=True)
    if exchangeable is not None and isinstance(exchangeable[0], str):
        exchangeable = site_swap(exchangeable, one_chain, transforms or {})
    return dim, (global_moves._replace(blocks=blocks, exchangeable=exchangeable), uturn)
