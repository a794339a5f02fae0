r"""The population algorithm's settings, fixed before the run: the warm-up's stages as
data (annealing levels, the iterations at which the preconditioner is re-estimated and at
which the modes are found) and the switches of its moves. One owner per tunable: the step
size's adaptation lives in :class:`~numpyro_dilation.annealing.AnnealingConfig`, the
modes' in :class:`~numpyro_dilation.mode_settings.GlobalMoves`, the U-turns' in
:class:`~numpyro_dilation.uturn_settings.UTurn`.
"""

from typing import NamedTuple

import jax
import numpy as np

from numpyro_dilation.annealing import AnnealingConfig
from numpyro_dilation.blocks import check_blocks
from numpyro_dilation.interweaving import Interweaving
from numpyro_dilation.label_swaps import check_exchangeable, swap_of
from numpyro_dilation.mode_settings import DENSE_MAX_DIM
from numpyro_dilation.modes import GlobalMoves
from numpyro_dilation.persistence import DEFAULT_PERSISTENCE, check_persistence
from numpyro_dilation.schedules import DEFAULT_LAMBDA_MIN, make_schedule
from numpyro_dilation.step_size import DEFAULT_TARGET_ACCEPT_PROB
from numpyro_dilation.uturn import UTurn
from numpyro_dilation.validation import check_probability

__all__ = [
    "min_annealing_warmup",
    "num_annealing_levels",
    "DEFAULT_GLOBAL_MOVES",
    "DEFAULT_UTURN",
    "MIN_ANNEALING_STEPS",
    "PopulationSettings",
    "annealing_levels",
    "check_steps_per_draw",
    "check_mass_rank",
    "DEFAULT_MASS_RANK",
    "make_settings",
    "mass_schedule",
    "mode_finding_iteration",
    "fixed_step_iteration",
    "MIN_FIXED_STEP_ITERATIONS",
    "phase_end",
]

DEFAULT_ANNEALING_FRACTION = 0.5
"""Share of the warm-up spent annealing unless ``annealing_fraction`` says otherwise (the
NumPyro kernel's and :func:`~numpyro_dilation.population.population_sampler`'s default)."""

MIN_ANNEALING_STEPS = 10
"""Fewest annealing steps a run may have: below that the start is not annealed.

**Example**

.. code-block:: python

    from numpyro_dilation.population_settings import MIN_ANNEALING_STEPS

    print(MIN_ANNEALING_STEPS)  # 10
"""

DEFAULT_GLOBAL_MOVES = GlobalMoves()
"""The global moves' default settings (:class:`~numpyro_dilation.mode_settings.GlobalMoves`), as
in the NumPyro kernel's ``global_moves="auto"`` with enough vectorized chains.

**Example**

.. code-block:: python

    from numpyro_dilation.population_settings import DEFAULT_GLOBAL_MOVES

    print(DEFAULT_GLOBAL_MOVES.max_modes)  # 64
"""

DEFAULT_UTURN = UTurn(kind="explore")
"""The U-turn explorer feeding mode finding:
:func:`~numpyro_dilation.population.population_sampler`'s default, and the NumPyro
kernel's ``uturn="auto"`` where global moves run with at least
:data:`~numpyro_dilation.run_plan.AUTO_EXPLORER_MIN_CHAINS` chains.

**Example**

.. code-block:: python

    from numpyro_dilation.population_settings import DEFAULT_UTURN

    print(DEFAULT_UTURN.kind)  # explore
"""


class PopulationSettings(NamedTuple):
    r"""Static settings of the population algorithm, fixed before the run (the warm-up
    stages as data). Built by :func:`make_settings`.

    - **config** - :class:`~numpyro_dilation.annealing.AnnealingConfig`: the levels, the
      warm-up length (``num_adaptation_steps``), the step-size adaptation (its one owner)
      and the Metropolis switches.
    - **global_moves** - :class:`~numpyro_dilation.mode_settings.GlobalMoves`, or ``None`` (off).
    - **uturn** - :class:`~numpyro_dilation.uturn_settings.UTurn`, or ``None`` (off).
    - **mass_schedule** - iterations at which the preconditioner is re-estimated
      (:func:`mass_schedule`; empty: never).
    - **mode_iteration** - iteration at which the modes are found
      (:func:`mode_finding_iteration`).
    - **dense_mass** - a dense preconditioner (``(d, d)``) instead of a diagonal.
    - **adapt_mass_matrix** - whether the preconditioner is estimated at all.
    - **one_chain_at_a_time** - map over chains one at a time (``lax.map``) instead of
      ``vmap`` (LAPACK-calling densities on CPU; see :mod:`numpyro_dilation.batching`).
    - **run_length** - draws per ``run`` (the end of each run's draws resets the run
      monitors); ``None``: only the end of warm-up does.
    - **steps_per_draw** - transitions per draw in the sampling phase: an integer, or
      ``None`` to measure it at the end of the warm-up
      (:mod:`numpyro_dilation.draw_length`).
    - **mass_rank** - rank :math:`r` of the low-rank correction to the diagonal
      preconditioner (:mod:`numpyro_dilation.low_rank`); 0: diagonal only.
    - **interweaving** - :class:`~numpyro_dilation.interweaving.Interweaving` (the maps of
      non-centered sites to their centered values) for an interweaving move after every
      transition, or ``None`` (none).
    - **persistence** - :math:`\alpha` of the draws' persistent momentum
      (:mod:`numpyro_dilation.persistence`); 0: MALA.

    **Example**

    .. code-block:: python

        from numpyro_dilation.population_settings import make_settings

        settings = make_settings(num_warmup=400, dim=2)
        print(len(settings.config.levels), settings.mass_schedule, settings.mode_iteration)
        # 200 (0, 50, 100, 150, 200, 300) 300
    """

    config: AnnealingConfig
    global_moves: GlobalMoves | None = None
    uturn: UTurn | None = None
    mass_schedule: tuple[int, ...] = ()
    mode_iteration: int = 0
    dense_mass: bool = False
    adapt_mass_matrix: bool = True
    one_chain_at_a_time: bool = False
    run_length: int | None = None
    steps_per_draw: int | None = None
    mass_rank: int = 0
    interweaving: Interweaving | None = None
    persistence: float = 0.0


DEFAULT_MASS_RANK = 8
"""Rank of the low-rank correction to the diagonal preconditioner with ``mass_rank="auto"``
above :data:`~numpyro_dilation.mode_settings.DENSE_MAX_DIM` dimensions (below it the
default stays diagonal, and ``dense_mass=True`` is the full-rank option). Cost per update:
8 Hessian-vector products per chain; memory :math:`8d` shared by the chains; per MALA
step :math:`O(8d)` flops. See :mod:`numpyro_dilation.low_rank`.

**Example**

.. code-block:: python

    from numpyro_dilation.population_settings import DEFAULT_MASS_RANK

    print(DEFAULT_MASS_RANK)  # 8
"""


def check_mass_rank(mass_rank, dim: int) -> int:
    """``mass_rank`` as the settings hold it: ``"auto"`` (or ``None``) is
    :data:`DEFAULT_MASS_RANK` above :data:`~numpyro_dilation.mode_settings.DENSE_MAX_DIM`
    dimensions and 0 at or below it; an integer ``>= 0`` is kept (capped at ``dim - 1``).

    **Example**

    .. code-block:: python

        from numpyro_dilation.population_settings import check_mass_rank

        print(check_mass_rank("auto", 10), check_mass_rank("auto", 1001), check_mass_rank(4, 10))
        # 0 8 4
    """
    if mass_rank is None or (isinstance(mass_rank, str) and mass_rank == "auto"):
        return DEFAULT_MASS_RANK if dim > DENSE_MAX_DIM else 0
    if (
        isinstance(mass_rank, (bool, np.bool_))
        or not isinstance(mass_rank, (int, np.integer))
        or mass_rank < 0
    ):
        raise ValueError(f'`mass_rank` must be "auto" or an integer >= 0, got {mass_rank!r}.')
    return max(min(int(mass_rank), dim - 1), 0)


def mass_schedule(num_levels: int, num_warmup: int) -> tuple[int, ...]:
    """Iterations at which the preconditioner is re-estimated: at the start, after a
    quarter, half and three quarters of the annealing, when it ends, and halfway
    through the rest of the warm-up.

    **Example**

    .. code-block:: python

        from numpyro_dilation.population_settings import mass_schedule

        print(mass_schedule(200, 400))  # (0, 50, 100, 150, 200, 300)
    """
    points = {0, num_levels // 4, num_levels // 2, (3 * num_levels) // 4}
    rest = num_warmup - num_levels
    if rest >= 2:
        points |= {num_levels, num_levels + rest // 2}
    return tuple(sorted(p for p in points if p < num_warmup))


def mode_finding_iteration(num_levels: int, num_warmup: int) -> int:
    """Iteration at which the modes are found and the global moves start: halfway
    through the warm-up that follows the annealing (together with the last
    preconditioner update), so that chains the annealing left in negligible modes
    move out before the draws are kept; the end of warm-up if there is no room.

    **Example**

    .. code-block:: python

        from numpyro_dilation.population_settings import mode_finding_iteration

        print(mode_finding_iteration(200, 400))  # 300
    """
    rest = num_warmup - num_levels
    return num_levels + rest // 2 if rest >= 2 else num_warmup


MIN_FIXED_STEP_ITERATIONS = 16
"""Fewest warm-up iterations run at the draws' step size where the draw length is measured
(:func:`fixed_step_iteration`): two points of the lag-8 variogram
(:data:`~numpyro_dilation.draw_length.VARIOGRAM_LAG`) per chain.

**Example**

.. code-block:: python

    from numpyro_dilation.population_settings import MIN_FIXED_STEP_ITERATIONS

    print(MIN_FIXED_STEP_ITERATIONS)  # 16
"""


def fixed_step_iteration(schedule: tuple[int, ...], mode_iteration: int, num_warmup: int) -> int:
    r""":math:`W_h`, the iteration from which the warm-up runs at the draws' step size
    (``AnnealingConfig.step_size_fixed_from``, set with ``steps_per_draw="auto"``): halfway
    through the stretch from the last preconditioner update (which re-finds the step and
    restarts its dual averaging) or the mode finding (from which the global moves run),
    whichever is later (``s``), to the end of the warm-up,
    :math:`W_h = W - \lfloor (W - s)/2 \rfloor`. The first half tunes the step, the second
    measures the draw length (:mod:`numpyro_dilation.draw_length`): with a step that
    still adapts, each chain's :math:`h_t` scatters around the final one (per-chain log-sd
    0.68 measured on the 1000-group hierarchical model) and the chains jump less than at the
    fixed averaged step, so the draw length came out too long. A stretch shorter than
    2 :data:`MIN_FIXED_STEP_ITERATIONS` is not split (:math:`W_h = W`, the step adapts to the
    end): measured on a 1-d normal with 60 warm-up iterations and 32 chains, 8 iterations of
    dual averaging and 7 of measurement gave 1 or 2 transitions per draw and R-hat above
    1.01 in 10 runs of 10 (2 to 11 transitions and 1 of 10 without the split).

    **Example**

    .. code-block:: python

        from numpyro_dilation.population_settings import fixed_step_iteration

        print(fixed_step_iteration((0, 50, 100, 150, 200, 300), 300, 400))  # 350
    """
    start = max(tuple(schedule[-1:]) + (int(mode_iteration),))
    fixed = (int(num_warmup) - start) // 2
    return int(num_warmup) - fixed if fixed >= MIN_FIXED_STEP_ITERATIONS else int(num_warmup)


def make_settings(
    num_warmup: int,
    dim: int,
    *,
    levels: np.ndarray | None = None,
    global_moves: GlobalMoves | None = DEFAULT_GLOBAL_MOVES,
    uturn: UTurn | None = None,
    adapt_mass_matrix: bool = True,
    dense_mass: bool = False,
    adapt_step_size: bool = True,
    target_accept_prob: float = DEFAULT_TARGET_ACCEPT_PROB,
    metropolis: bool = True,
    anneal_metropolis: bool = True,
    one_chain_at_a_time: bool = False,
    run_length: int | None = None,
    steps_per_draw: int | None = None,
    mass_rank: int | str | None = "auto",
    persistence: float = DEFAULT_PERSISTENCE,
) -> PopulationSettings:
    """The :class:`PopulationSettings` of a run with ``num_warmup`` warm-up iterations on a
    ``dim``-dimensional target. ``levels``: the annealing schedule (default: the linear
    schedule over the first half of the warm-up, from ``lambda_min = 1e-3``); a single
    level 1 runs the warm-up at :math:`\\lambda = 1` (no annealing). ``mass_rank``: see
    :func:`check_mass_rank` (0 with ``dense_mass``); ``persistence``:
    :func:`~numpyro_dilation.persistence.check_persistence`. Without latent
    dimensions (``dim = 0``) nothing is preconditioned or found.

    **Example**

    .. code-block:: python

        from numpyro_dilation.population_settings import make_settings

        settings = make_settings(100, 5, global_moves=None)
        print(settings.mass_schedule, settings.global_moves)  # (0, 12, 25, 37, 50, 75) None
    """
    if not isinstance(num_warmup, (int, np.integer)) or num_warmup < 0:
        raise ValueError(f"`num_warmup` must be an integer >= 0, got {num_warmup!r}.")
    check_probability("target_accept_prob", target_accept_prob)
    if levels is None:
        num_levels = max(int(np.ceil(DEFAULT_ANNEALING_FRACTION * num_warmup)), 1)
        levels = make_schedule("linear", num_levels, DEFAULT_LAMBDA_MIN)
    config = AnnealingConfig(
        levels=np.asarray(levels),
        num_adaptation_steps=int(num_warmup),
        adapt_step_size=bool(adapt_step_size),
        # a traced target (hyperparameters under jit) stays traced
        target_accept_prob=target_accept_prob
        if isinstance(target_accept_prob, jax.core.Tracer)
        else float(target_accept_prob),
        metropolis=bool(metropolis),
        anneal_metropolis=bool(anneal_metropolis),
    )
    num_levels = len(config.levels)
    preconditioned = adapt_mass_matrix and dim > 0
    schedule = mass_schedule(num_levels, int(num_warmup)) if preconditioned else ()
    mode_iteration = mode_finding_iteration(num_levels, int(num_warmup))
    steps_per_draw = check_steps_per_draw(steps_per_draw)
    fixed = fixed_step_iteration(schedule, mode_iteration, int(num_warmup))
    if steps_per_draw is None and dim > 0 and config.adapt_step_size and fixed < num_warmup:
        config = config._replace(step_size_fixed_from=fixed)  # k is measured at the draws' h
    if global_moves is not None:  # groups of flat indices as hashable tuples, in range
        global_moves = global_moves._replace(
            blocks=check_blocks(global_moves.blocks, int(dim)),
            exchangeable=swap_of(check_exchangeable(global_moves.exchangeable, int(dim))),
        )
    return PopulationSettings(
        config=config,
        global_moves=global_moves if dim > 0 else None,
        uturn=uturn if dim > 0 else None,
        mass_schedule=schedule,
        mode_iteration=mode_iteration,
        dense_mass=bool(dense_mass) and dim > 0,
        adapt_mass_matrix=bool(adapt_mass_matrix) and dim > 0,
        one_chain_at_a_time=bool(one_chain_at_a_time),
        run_length=run_length,
        steps_per_draw=steps_per_draw,
        mass_rank=0 if dense_mass or not preconditioned else check_mass_rank(mass_rank, int(dim)),
        persistence=check_persistence(persistence),
    )


def check_steps_per_draw(steps_per_draw):
    """``steps_per_draw`` as the settings hold it: ``None`` for ``"auto"`` (or ``None``),
    else an integer >= 1; ``ValueError`` naming the argument otherwise.

    **Example**

    .. code-block:: python

        from numpyro_dilation.population_settings import check_steps_per_draw

        print(check_steps_per_draw("auto"), check_steps_per_draw(4))  # None 4
    """
    if steps_per_draw is None or (isinstance(steps_per_draw, str) and steps_per_draw == "auto"):
        return None
    if (
        isinstance(steps_per_draw, (bool, np.bool_))
        or not isinstance(steps_per_draw, (int, np.integer))
        or steps_per_draw < 1
    ):
        raise ValueError(
            f'`steps_per_draw` must be "auto" or an integer >= 1, got {steps_per_draw!r}.'
        )
    return int(steps_per_draw)


def phase_end(i, settings: PopulationSettings):
    """``(end of warm-up, end of a run's draws)`` after iteration count ``i`` (booleans,
    traced or not).

    **Example**

    .. code-block:: python

        from numpyro_dilation.population_settings import make_settings, phase_end

        settings = make_settings(100, 2)._replace(run_length=50)
        print(phase_end(100, settings), phase_end(150, settings))  # (True, False) (False, True)
    """
    num_warmup = settings.config.num_adaptation_steps
    end_warmup = i == num_warmup
    if settings.run_length is None:
        return end_warmup, end_warmup & False  # a Python bool for a Python count
    after = i - num_warmup
    return end_warmup, (after > 0) & (after % settings.run_length == 0)


def min_annealing_warmup(annealing_fraction: float) -> int:
    """The smallest ``num_warmup`` :math:`W` with ``ceil(annealing_fraction * W) >=``
    :data:`MIN_ANNEALING_STEPS`: the shortest warm-up that anneals with a named schedule
    whose length follows :math:`W`.

    **Example**

    .. code-block:: python

        from numpyro_dilation.population_settings import min_annealing_warmup

        print(min_annealing_warmup(0.5))  # 19: ceil(0.5 * 19) = 10 levels
    """
    needed = max(int(MIN_ANNEALING_STEPS / annealing_fraction) - 1, 1)
    while np.ceil(annealing_fraction * needed) < MIN_ANNEALING_STEPS:
        needed += 1
    return needed


def num_annealing_levels(
    num_warmup: int, schedule, num_annealing_steps: int | None, annealing_fraction: float
) -> int:
    """The number of annealing levels :math:`K` of a warm-up of ``num_warmup`` iterations
    (the one rule, for the NumPyro kernel and :func:`annealing_levels`): the length of an
    explicit ``schedule`` array; else ``num_annealing_steps``, or (``None``)
    ``ceil(annealing_fraction * num_warmup)`` for a named or callable schedule.

    Returns 0 when that last, derived length is below :data:`MIN_ANNEALING_STEPS` (the
    warm-up is too short to anneal); raises ``ValueError`` when a fixed length is below it
    or longer than the warm-up.

    **Example**

    .. code-block:: python

        from numpyro_dilation.population_settings import num_annealing_levels

        print(num_annealing_levels(400, "linear", None, 0.5))  # 200
        print(num_annealing_levels(10, "linear", None, 0.5))  # 0: too short to anneal
    """
    named = isinstance(schedule, str) or callable(schedule)
    if not named:
        num_levels = len(schedule)
    elif num_annealing_steps is not None:
        num_levels = int(num_annealing_steps)
    else:
        num_levels = int(np.ceil(annealing_fraction * num_warmup))
    fixed = num_annealing_steps is not None or not named
    if num_levels < MIN_ANNEALING_STEPS and not fixed:
        return 0  # too short to anneal: the warm-up runs at lambda = 1
    if num_levels < MIN_ANNEALING_STEPS:
        raise ValueError(
            f"DilationLangevin needs at least {MIN_ANNEALING_STEPS} annealing steps, "
            f"got {num_levels} (from `num_annealing_steps` or `schedule`)."
        )
    if num_warmup < num_levels:
        needed = num_levels if fixed else min_annealing_warmup(annealing_fraction)
        raise ValueError(
            f"`num_warmup` ({num_warmup}) is too small for annealing: DilationLangevin "
            f"anneals during warm-up ({num_levels} annealing steps here, at least "
            f"{MIN_ANNEALING_STEPS} needed) and needs `num_warmup` >= {needed}."
        )
    return num_levels


def annealing_levels(num_warmup, num_annealing_steps, annealing_fraction, schedule, lambda_min):
    r"""The run's annealing levels, shape ``(K,)``, as the NumPyro kernel builds them:
    an explicit ``schedule`` array as given; else ``num_annealing_steps`` levels, or
    (``None``) ``ceil(annealing_fraction * num_warmup)``, of the named ``schedule`` from
    ``lambda_min``. ``ValueError`` unless :data:`MIN_ANNEALING_STEPS` :math:`\le K \le`
    ``num_warmup``.

    **Example**

    .. code-block:: python

        from numpyro_dilation.population_settings import annealing_levels

        levels = annealing_levels(100, None, 0.5, "linear", 1e-3)
        print(len(levels), levels[0], levels[-1])  # 50 0.001 1.0
    """
    if num_annealing_steps is None and (isinstance(schedule, str) or callable(schedule)):
        check_probability("annealing_fraction", annealing_fraction)
    num_levels = num_annealing_levels(num_warmup, schedule, num_annealing_steps, annealing_fraction)
    if num_levels == 0:
        raise ValueError(
            f"`num_warmup` ({num_warmup}) is too short to anneal: at least "
            f"{min_annealing_warmup(annealing_fraction)} with `annealing_fraction` "
            f"{annealing_fraction} (the annealing needs {MIN_ANNEALING_STEPS} steps)."
        )
    if isinstance(schedule, str) or callable(schedule):
        check_probability("lambda_min", lambda_min)
    return make_schedule(schedule, num_levels, lambda_min)
