r"""The sampling phase's plan, made at its first draw: how many transitions each draw
holds (:func:`draw_transitions`: 1 in the warm-up, then the draw length of
:mod:`numpyro_dilation.draw_length`, shortened by persistent momentum,
:mod:`numpyro_dilation.persistence`, where the draws make no global or interweaving move)
and whether the draws make global moves (:func:`stop_idle_global_moves`,
:func:`global_moves_active`, :func:`one_mode_moves_skipped`). The population's state holds
every chain; no NumPyro import.
"""

import jax
import jax.numpy as jnp
from jax import lax
from jax.flatten_util import ravel_pytree

from numpyro_dilation.draw_length import steps_per_draw
from numpyro_dilation.mode_settings import STOP_ACCEPTANCE
from numpyro_dilation.persistence import persistent_draw_length
from numpyro_dilation.population_settings import PopulationSettings
from numpyro_dilation.population_state import DilationLangevinState

__all__ = ["draw_transitions", "stop_idle_global_moves"]


def one_mode_moves_skipped(mixture, settings: PopulationSettings) -> bool:
    """Whether the global moves are skipped while the mixture holds fewer than two modes
    (static): with diagonal covariances (above ``DENSE_MAX_DIM`` dimensions) and no label
    swaps, a move from a one-mode mixture cannot change any weight, so it is not paid for,
    and such a run's draws are those of ``global_moves=None``."""
    return mixture.chol.ndim == 2 and settings.global_moves.exchangeable is None


def global_moves_active(mixture, settings: PopulationSettings) -> jax.Array | bool:
    """Whether global moves are made now (a bool scalar, or ``False`` where none are
    configured): moves configured, not stopped (:func:`stop_idle_global_moves`), and not
    skipped for a one-mode mixture (:func:`one_mode_moves_skipped`). Read at the first draw,
    it says whether the draws make them; every transition's move asks it too."""
    if settings.global_moves is None or mixture is None:
        return False
    active = jnp.logical_not(mixture.stopped)
    if one_mode_moves_skipped(mixture, settings):
        active = active & (mixture.num_modes >= 2)
    return active


def draw_transitions(
    state: DilationLangevinState, settings: PopulationSettings, batched: bool = True
) -> tuple[DilationLangevinState, jax.Array]:
    """The transitions of this iteration (int32 scalar; the Python integer 1 when
    ``settings.steps_per_draw`` is 1): 1 in the warm-up, then
    ``adapt_state.steps_per_draw``; at the first draw, with ``steps_per_draw="auto"``
    (``settings.steps_per_draw is None``), that is measured from the warm-up's monitors
    (:func:`~numpyro_dilation.draw_length.steps_per_draw`) and stored. ``batched``: the
    state holds all chains (one shared value) or one chain alone (its own).

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from numpyro_dilation.population import init
        from numpyro_dilation.draws import draw_transitions
        from numpyro_dilation.population_settings import make_settings

        logdensity = lambda x: -0.5 * jnp.sum(x**2)
        settings = make_settings(60, 2, steps_per_draw=4)
        state = init(jnp.zeros((8, 2)), logdensity, jax.random.split(jax.random.key(0), 8),
                     settings)
        print(draw_transitions(state, settings)[1])  # 1: a warm-up iteration
    """
    if settings.steps_per_draw == 1:  # one transition in every iteration: a Python 1, so
        # that chain_step compiles no loop of transitions (and nothing is measured)
        return state, 1
    num_warmup = settings.config.num_adaptation_steps
    i = state.i[0] if batched else state.i
    current = state.adapt_state.steps_per_draw
    if settings.steps_per_draw is None:
        monitor = state.monitor if batched else jax.tree.map(lambda x: x[None], state.monitor)
        has_latent = batched and bool(jax.tree.leaves(state.z))

        def measure(m, z, mixture):  # the chains' flat positions, only at the first draw
            positions = jax.vmap(lambda one: ravel_pytree(one)[0])(z) if has_latent else None
            k = steps_per_draw(m, num_draws=settings.run_length, positions=positions)
            # persistent momentum shortens the draws where the transitions make no other
            # move: global moves (the mode weights) and interweaving moves (a hierarchical
            # scale) mix by their number per draw, which is not cut
            if settings.interweaving is None:
                shorter = persistent_draw_length(k, settings.persistence)
                k = jnp.where(global_moves_active(mixture, settings), k, shorter)
            return jnp.full_like(current, k)

        measured = lax.cond(
            i == num_warmup, measure, lambda *_: current, monitor, state.z, state.mixture
        )
        state = state._replace(adapt_state=state.adapt_state._replace(steps_per_draw=measured))
        current = measured
    k = current[0] if batched else current
    return state, jnp.where(i >= num_warmup, k, 1).astype(jnp.int32)


def stop_idle_global_moves(
    state: DilationLangevinState, settings: PopulationSettings
) -> DilationLangevinState:
    """At the first draw (``state`` batched over the chains, the warm-up's monitors not yet
    reset), stop the global moves (``mixture.stopped``) if the warm-up's were accepted with
    mean probability below :data:`~numpyro_dilation.mode_settings.STOP_ACCEPTANCE` over at
    least one move per chain; otherwise, and at any other iteration, ``state`` unchanged.

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from numpyro_dilation.population import init
        from numpyro_dilation.draws import stop_idle_global_moves
        from numpyro_dilation.population_settings import make_settings

        settings = make_settings(60, 2)
        state = init(jnp.zeros((8, 2)), lambda x: -0.5 * jnp.sum(x**2),
                     jax.random.split(jax.random.key(0), 8), settings)
        print(stop_idle_global_moves(state, settings).mixture.stopped)  # False: iteration 0
    """
    if settings.global_moves is None or state.mixture is None:
        return state
    monitor = state.monitor
    moves = jnp.sum(monitor.num_global_moves)
    acceptance = jnp.sum(monitor.global_accept_sum) / jnp.maximum(moves, 1)
    idle = (moves >= state.i.shape[0]) & (acceptance < STOP_ACCEPTANCE)
    first_draw = state.i[0] == settings.config.num_adaptation_steps
    stopped = state.mixture.stopped | (first_draw & idle)
    return state._replace(mixture=state.mixture._replace(stopped=stopped))
