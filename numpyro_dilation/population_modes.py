r"""The population's mode finding: which points start the ascents, and what they cost.

At ``settings.mode_iteration`` (after the annealing) the population's chains give the
starting points of :func:`~numpyro_dilation.mode_finding.find_modes`, in this order (the
greedy merge favours earlier points):

1. the chains' positions :math:`y_c`: every chain's with dense covariances (up to
   :data:`~numpyro_dilation.mode_settings.DENSE_MAX_DIM` dimensions), those of the
   :math:`S` starting chains with diagonal ones;
2. with ``UTurn(kind="explore")``, the U-turn explorer's returns
   (:func:`~numpyro_dilation.uturn_explore.explore`, :math:`L` levels
   :math:`\lambda_u`) from the :math:`S` starting chains;
3. the :math:`S` starting chains' annealing centers contracted toward their mean
   (:func:`~numpyro_dilation.mode_finding.contracted_starts`, :math:`R` ratios);
4. in the run's first mode finding (the pilot pass's, or the only one), and again, with
   other draws, in the run pass where the pilot pass found fewer than two modes (occupied
   or not: :attr:`~numpyro_dilation.mode_mixture.ModeMixture.num_found`;
   :func:`wide_starts_run`), :math:`W` wide starts
   (:func:`wide_starts`, ``GlobalMoves.num_wide_starts``, half the chains by default), drawn
   :math:`\kappa = 8` standard deviations of the chains' positions around their mean. Their
   ends become modes only where the Newton steps converge (``find_modes(...,
   strict_only=...)``), and they do not decide whether the other starts' unconverged ends
   count (funnel necks, where no start converges).

**Why the wide starts.** Far from a mixture of a wide and a narrow component, the wide one
holds every point: chains that anneal from far away all end in it, and so do the U-turns
from their centers and the contracted centers. A few directions from it lead into the narrow
one's basin; measured on the 10-d two-mode target moved 50 units (a wide mode of weight 1/3
hiding a narrow one of weight 2/3), about 0.7% of wide starts, at any :math:`\kappa` from 8
to 32, so that 250 of them find it with probability about 0.85. ``python -m
benchmarks.pilot_moves`` (500 chains, ten runs): both modes in 9 of 10 runs after the
pilot pass, 10 of 10 with the run pass's second try, at the same median gradients
(per-chain centers, one try: 6 of 10), against 0 of 10 without wide starts (4 of 10 with
the explorer from all 500 chains, at 2.4× the gradients); BENCHMARKS.md, "Wide starts" and
"Wide starts again where the pilot found one mode".

**The run pass's explorer.** With ``GlobalMoves(num_start_chains="auto")`` (the default),
where the mixture kept from an earlier pass holds exactly one mode, the run pass skips the
explorer and the ascents from its returns (``find_modes(..., active=...)``); the positions
and the contracted centers still start theirs. The restart at the end of the pilot pass keeps
the pilot's modes that its chains occupy (:func:`~numpyro_dilation.starts.occupied_modes` in
:func:`~numpyro_dilation.starts.restart_in_box`): a mode found by a wide start that the
pilot's global moves did not populate does not make the run pass explore (centered eight
schools: a second local maximum of the joint density, found by a wide start, holds no chain).
A posterior in which the pilot's chains ended in one mode pays for the explorer once; the
global moves still run, with the run pass's modes. A number of starting chains given keeps
the explorer in both passes. Measured (BENCHMARKS.md, "The run pass's explorer"): centered
eight schools' mode finding fell from 29% to 22% of the run's gradients; the multimodal
suite, where every pilot's chains held several modes, did not change.

The :math:`S` starting chains are :math:`S` =
:func:`~numpyro_dilation.mode_settings.mode_start_chains` evenly spaced chains (64 by
default, or all of them when there are fewer). The positions are where the chains already
are, so their ascents are short and find the modes the annealing reached, in proportion to
their mass; the explorer and the contracted centers look for modes no chain reached, which a
subset of the chains does about as well as all of them: on the multimodal suite, from 64 of
256 chains, most targets and seeds gave the same modes and draws to the last digit, the
others results within Monte Carlo noise, at 30–47% fewer gradients (BENCHMARKS.md, "Mode
finding from 64 starting chains").

**Cost**, in gradients per chain, with :math:`g` those of one start's ascent and Newton
steps (:func:`~numpyro_dilation.mode_finding.find_modes`) and :math:`K` the explorer's
re-annealing steps: :math:`g\,(P + S(L + R) + W) / C + S L (2K - 1) / C`, with :math:`P = C`
positions (dense) or :math:`P = S` (diagonal), :math:`W = 0` after a pass that found two modes
or more, and :math:`L = 0` after one whose chains ended in one mode. With 256
chains, 10 dimensions and the defaults (:math:`g = 150`, :math:`S = 64`, :math:`L = 3`,
:math:`R = 2`, :math:`K = 100`, :math:`W = 128`) that is about 560 gradients per chain in the
first pass against 1500 with every chain starting everything, and about 220 in a run pass
that skips the explorer and the wide starts (about 295 with them).
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import random

from numpyro_dilation._control import cond_or_zeros
from numpyro_dilation.blocks import block_structure
from numpyro_dilation.mode_finding import contracted_starts, find_modes
from numpyro_dilation.mode_settings import (
    GlobalMoves,
    mode_start_chains,
    uses_dense_covariance,
    wide_start_count,
)
from numpyro_dilation.population_settings import PopulationSettings
from numpyro_dilation.population_state import DilationLangevinState, ravel_chains
from numpyro_dilation.uturn_explore import explore

__all__ = ["explorer_runs", "find_population_modes", "wide_starts", "wide_starts_run"]


def explorer_runs(num_modes: jax.Array, config: GlobalMoves) -> jax.Array:
    """Whether the mode finding runs the U-turn explorer (module docstring): unless
    ``config.num_start_chains`` is ``"auto"`` and the mixture kept from an earlier pass holds
    exactly one mode (``num_modes``, the state's mixture's count before this mode finding:
    the pilot's modes that its chains occupy).

    **Example**

    .. code-block:: python

        from numpyro_dilation.modes import GlobalMoves
        from numpyro_dilation.population_modes import explorer_runs

        print(explorer_runs(0, GlobalMoves()), explorer_runs(1, GlobalMoves()))  # True False
        print(explorer_runs(1, GlobalMoves(num_start_chains=64)))  # True: a number given
    """
    return (jnp.asarray(num_modes) != 1) | (config.num_start_chains != "auto")


def wide_starts_run(num_found: jax.Array) -> jax.Array:
    """Whether the mode finding starts its wide starts (module docstring): unless an earlier
    pass's mode finding found two modes or more (``num_found``, the state's mixture's
    :attr:`~numpyro_dilation.mode_mixture.ModeMixture.num_found` before this mode finding:
    0 in the run's first one, the pilot's count, occupied or not, in the run pass's).

    **Example**

    .. code-block:: python

        from numpyro_dilation.population_modes import wide_starts_run

        print(wide_starts_run(0), wide_starts_run(1), wide_starts_run(2))  # True True False
    """
    return jnp.asarray(num_found) <= 1


def wide_starts(
    rng_key: jax.Array, positions: jax.Array, num: int, scale: float
) -> jax.Array:
    r"""``num`` points :math:`\bar y + \kappa\, s \odot z`, :math:`z \sim \mathcal N(0, I)`,
    with :math:`\bar y` and :math:`s` the mean and standard deviation of the rows of
    ``positions`` ``(C, d)`` per coordinate and :math:`\kappa` = ``scale``: shape
    ``(num, d)``, :math:`O(\text{num} \cdot d)` (no covariance matrix).

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from numpyro_dilation.population_modes import wide_starts

        positions = jax.random.normal(jax.random.key(0), (256, 2)) * jnp.array([1.0, 0.1])
        starts = wide_starts(jax.random.key(1), positions, 1000, 8.0)
        print(starts.shape, starts.std(axis=0))  # (1000, 2) about [8, 0.8]
    """
    mean, sd = jnp.mean(positions, axis=0), jnp.std(positions, axis=0)
    z = jax.random.normal(rng_key, (num, positions.shape[1]), positions.dtype)
    return mean + scale * sd * z


def find_population_modes(
    state: DilationLangevinState, logdensity_fn: Callable, settings: PopulationSettings
) -> tuple[DilationLangevinState, jax.Array]:
    """Mode finding from the chains (module docstring: which chains start what) into the
    shared mixture. Returns ``(state, grads)``, ``grads`` the gradients spent, shared by all
    chains (per chain, rounded up).

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from numpyro_dilation.population import init
        from numpyro_dilation.population_modes import find_population_modes
        from numpyro_dilation.population_settings import make_settings

        logdensity = lambda x: -0.5 * jnp.sum((x - 3.0) ** 2)  # N(3, I) in 2-d
        settings = make_settings(60, 2)
        keys = jax.random.split(jax.random.key(0), 8)
        state = init(jnp.zeros((8, 2)), logdensity, keys, settings)
        state, grads = find_population_modes(state, logdensity, settings)
        print(state.mixture.num_modes, state.mixture.means[0])  # 1 [3. 3.]
    """
    gm, uturn = settings.global_moves, settings.uturn
    flat, unravel_one = ravel_chains(state.z)
    flat_logdensity = lambda v: logdensity_fn(unravel_one(v))  # noqa: E731
    centers = ravel_chains(state.center)[0]
    num_chains, dim = flat.shape
    steps = jnp.broadcast_to(jnp.asarray(state.adapt_state.step_size, flat.dtype), (num_chains,))
    num_starts = mode_start_chains(gm, num_chains)
    sub = jnp.arange(num_starts) * (num_chains // num_starts)  # evenly spaced starting chains
    start_flat, start_steps, start_centers = flat[sub], steps[sub], centers[sub]
    if uses_dense_covariance(gm, dim):
        groups = [(flat, steps)]
    else:
        groups = [(start_flat, start_steps)]
    explore_grads = 0
    active = [jnp.ones(groups[0][0].shape[0], bool)]
    if uturn is not None and uturn.kind == "explore":
        explore_now = explorer_runs(state.mixture.num_modes, gm)

        def run_explorer(start_flat):
            return explore(
                random.fold_in(state.rng_key[0], 2),
                start_flat,
                flat_logdensity,
                start_steps,
                uturn,
                start_centers,
                True,
                state.inverse_mass_matrix,
            )

        returns = cond_or_zeros(explore_now, run_explorer, start_flat)  # zeros: not ascended
        num_levels = returns.shape[0] // num_starts
        groups.append((returns, jnp.tile(start_steps, num_levels)))
        active.append(jnp.full(returns.shape[0], explore_now))
        explore_grads = explore_now.astype(jnp.int32) * (
            num_starts * num_levels * (2 * uturn.num_steps - 1)
        )
    if gm.center_contractions:
        ratios = gm.center_contractions
        groups.append(
            (contracted_starts(start_centers, ratios), jnp.tile(start_steps, len(ratios)))
        )
        active.append(jnp.ones(num_starts * len(ratios), bool))
    num_wide = wide_start_count(gm, num_chains)
    if num_wide:  # masked below (not ascended) after a pass that found two modes
        wide = wide_starts(random.fold_in(state.rng_key[0], 3), flat, num_wide, gm.wide_scale)
        groups.append((wide, steps[jnp.arange(num_wide) % num_chains]))
        active.append(jnp.full(num_wide, wide_starts_run(state.mixture.num_found)))
    points = jnp.concatenate([p for p, _ in groups])
    active = jnp.concatenate(active)
    wide_rows = jnp.arange(points.shape[0]) >= points.shape[0] - num_wide  # the last group
    mixture, grads = find_modes(
        points,
        flat_logdensity,
        jnp.concatenate([h for _, h in groups]),
        gm,
        state.inverse_mass_matrix,
        active,
        wide_rows,
    )
    mixture = mixture._replace(blocks=block_structure(mixture, gm.blocks))
    total = grads * jnp.sum(active, dtype=jnp.int32) + explore_grads  # int32 under x64 too
    return state._replace(mixture=mixture), (total + num_chains - 1) // num_chains
