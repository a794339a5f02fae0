r"""One chain's iteration in the population: the annealed MALA step at its level, then
the global (independence) move, the interweaving move of non-centered sites and the exact
U-turn move whose turn it is, then the run monitor's update. The population's shared parts
(mixture, preconditioner) come in the state;
:func:`~numpyro_dilation.population.population_step` maps this over the chains.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import lax, random
from jax.flatten_util import ravel_pytree

from numpyro_dilation._control import uniform_cond
from numpyro_dilation.annealing import AnnealingState, annealing_step
from numpyro_dilation.draw_length import VARIOGRAM_LAG, jump_window_start
from numpyro_dilation.draws import draw_transitions, global_moves_active
from numpyro_dilation.global_moves import build_independence_kernel, update_evidence
from numpyro_dilation.health import init_monitor, update_monitor
from numpyro_dilation.interweaving import interweaving_move
from numpyro_dilation.kernel import DilationState
from numpyro_dilation.label_swaps import build_swap_kernel
from numpyro_dilation.mode_mixture import truncated_mixture_logpdf
from numpyro_dilation.persistence import DRAW_STEP_SCALE, refresh
from numpyro_dilation.population_settings import PopulationSettings, phase_end
from numpyro_dilation.population_state import (
    DilationLangevinState,
    to_state,
    with_inverse_mass_matrix,
)
from numpyro_dilation.preconditioner import update_preconditioner
from numpyro_dilation.random_keys import with_original_layout
from numpyro_dilation.uturn import build_kernel as build_uturn_kernel

__all__ = ["chain_alone_step", "chain_step"]


def _move_if(move_now, move: Callable, skip: Callable, key, state, *operands):
    """``move(key, z, logdensity, grad, *operands)`` if ``move_now`` else ``skip(...)``,
    as a real branch that all chains of a vectorized run take together (``uniform_cond``)."""
    return uniform_cond(
        move_now,
        move,
        skip,
        key,
        state.z,
        -state.potential_energy,
        jax.tree.map(jnp.negative, state.z_grad),
        *operands,
    )


def _global_move(key, state, logdensity_fn, iteration, settings: PopulationSettings, turn=0):
    """Independence MH move with the mode mixture after local step number
    ``iteration`` (0-based) if it is a step whose turn it is (every transition of such an
    iteration); a branch that all chains take together (see ``uniform_cond``). With
    blocks, an odd ``turn`` makes a block move, an even one a whole-vector move (shared by
    the chains, not batched: a real branch, one kind of move computed). With exchangeable
    components each move is followed by a label swap (:mod:`numpyro_dilation.label_swaps`)."""
    blocks = settings.global_moves.blocks is not None
    swap = settings.global_moves.exchangeable
    kernel = build_independence_kernel(blocks=blocks)
    start = settings.mode_iteration
    move_now = (iteration >= start) & ((iteration - start) % settings.global_moves.every == 0)
    move_now = move_now & global_moves_active(state.mixture, settings)

    def move(key, z, ld, grad, evidence, mixture):
        d = DilationState(z, ld, grad, jnp.ones_like(ld), z)
        block_turn = turn % 2 == 1 if blocks else None
        d, info = kernel(key, d, logdensity_fn, mixture, block_turn)
        if swap is not None:
            d, swapped = build_swap_kernel()(jax.random.fold_in(key, 7), d, logdensity_fn, swap)
            # between-mode moves: the better of the two acceptances is what the checks see
            info = info._replace(
                acceptance_rate=jnp.maximum(info.acceptance_rate, swapped.acceptance_rate),
                is_divergent=info.is_divergent | swapped.is_divergent,
            )
        if swap is None:  # a block proposal is not a draw of a density on the whole space
            updated = update_evidence(evidence, info.log_weight)
            keep = info.is_block_move
        else:  # relabellings outside the mixture: the modified harmonic mean over the draws
            flat = ravel_pytree(d.position)[0]
            updated = update_evidence(
                evidence, truncated_mixture_logpdf(mixture, flat) - d.logdensity
            )
            keep = iteration < settings.config.num_adaptation_steps  # sampling phase only
        evidence = jax.tree.map(lambda new, old: jnp.where(keep, old, new), updated, evidence)
        return (
            d.position,
            d.logdensity,
            d.logdensity_grad,
            evidence,
            info.acceptance_rate,
            info.is_divergent,
        )

    def skip(key, z, ld, grad, evidence, mixture):
        del key, mixture
        zero = jnp.zeros_like(ld)
        return z, ld, grad, evidence, zero, jnp.zeros((), bool)

    return _move_if(move_now, move, skip, key, state, state.evidence, state.mixture), move_now


def _uturn_move(key, state, logdensity_fn, iteration, settings: PopulationSettings, last=True):
    """Exact U-turn move (:func:`numpyro_dilation.uturn_kernel.build_kernel`) after local step
    number ``iteration`` if it is a sampling-phase step whose turn it is (every
    ``UTurn.every`` sampling iterations) and ``last`` (the draw's last transition), about
    the chain's own center."""
    kernel = build_uturn_kernel(settings.uturn)
    num_warmup = settings.config.num_adaptation_steps
    move_now = (iteration >= num_warmup) & ((iteration - num_warmup) % settings.uturn.every == 0)
    move_now = move_now & last

    def move(key, z, ld, grad, center, step_size, inverse_mass_matrix):
        d = DilationState(z, ld, grad, jnp.ones_like(ld), center)
        d, info = kernel(key, d, logdensity_fn, step_size, inverse_mass_matrix)
        return (
            d.position,
            d.logdensity,
            d.logdensity_grad,
            info.acceptance_rate,
            info.is_divergent,
            info.num_grad_evals,
        )

    def skip(key, z, ld, grad, center, step_size, inverse_mass_matrix):
        del key, center, step_size, inverse_mass_matrix
        zero = jnp.zeros_like(ld)
        return z, ld, grad, zero, jnp.zeros((), bool), jnp.zeros((), jnp.int32)

    z, ld, grad, p_accept, divergent, grads = _move_if(
        move_now,
        move,
        skip,
        key,
        state,
        state.center,
        state.adapt_state.step_size,
        state.inverse_mass_matrix,
    )
    return state._replace(
        z=z,
        potential_energy=-ld,
        z_grad=jax.tree.map(jnp.negative, grad),
        uturn_accept_prob=p_accept,
        diverging=state.diverging | divergent,
        num_grad_evals=state.num_grad_evals + grads,
    )


def _transition(
    state: DilationLangevinState,
    logdensity_fn: Callable,
    settings: PopulationSettings,
    last,
    turn=0,
    momentum=None,
    first=True,
    several=True,
):
    """One transition of one chain: the annealed MALA step at its level, then the global
    move whose turn it is, the interweaving move (with ``settings.interweaving``), and, if
    ``last`` (the draw's last transition; a boolean, traced
    or not), the exact U-turn move whose turn it is. ``turn``: a number shared by the
    chains that sets whether a block move's turn it is (odd). Returns the state (``i``
    advanced, ``num_grad_evals`` this transition's), whether a global move was made and the
    momentum: with ``settings.persistence`` and a ``momentum`` (a draw's loop), the step of a
    draw of ``several`` transitions keeps it (:mod:`numpyro_dilation.persistence`; afresh at
    its ``first``)."""
    config = settings.config
    rng_key, key = random.split(state.rng_key)
    step_size = state.adapt_state.step_size
    noise = None
    persist = settings.persistence > 0 and momentum is not None
    if persist:  # in the draws only: the warm-up's steps stay MALA's
        draw = (state.i >= config.num_adaptation_steps) & several
        alpha = jnp.where(first | ~draw, 0.0, settings.persistence)
        # xi from the key the kernel would draw it with (its docstring): with alpha = 0 (the
        # warm-up, a draw's first transition) the step is MALA's (up to XLA's rounding)
        noise = refresh(random.split(key)[0], momentum, alpha)
        step_size = jnp.where(draw, step_size * DRAW_STEP_SCALE**2, step_size)
    astate = AnnealingState(
        DilationState(
            state.z,
            -state.potential_energy,
            jax.tree.map(jnp.negative, state.z_grad),
            state.lam,
            state.center,
        ),
        state.i,
        step_size,
        state.adapt_state.dual_averaging,
    )
    rng_key, key_global = random.split(rng_key)
    exact_uturn = settings.uturn is not None and settings.uturn.kind == "exact"
    if exact_uturn:  # its own key (fold_in(k, 1) is split(k, n)[1]: the global move's)
        key_global, key_uturn = random.split(key_global)
    astate, info = annealing_step(
        key, astate, logdensity_fn, config, state.step_inverse_mass, noise
    )
    if persist:  # in the draws the tuned step stays the state's
        kept = jnp.where(draw, state.adapt_state.step_size, astate.step_size)
        astate = astate._replace(step_size=kept)
    num_warmup = config.num_adaptation_steps
    n = jnp.where(state.i < num_warmup, state.i + 1, state.i + 1 - num_warmup)
    mean_accept_prob = state.mean_accept_prob + (info.acceptance_rate - state.mean_accept_prob) / n
    new = to_state(
        astate,
        state.inverse_mass_matrix,
        state.adapt_state.steps_per_draw,
        state.adapt_state.mass_low_rank,
        accept_prob=info.acceptance_rate,
        mean_accept_prob=mean_accept_prob,
        diverging=info.is_divergent,
        num_grad_evals=info.num_grad_evals,
        global_accept_prob=jnp.zeros_like(info.acceptance_rate),
        uturn_accept_prob=jnp.zeros_like(info.acceptance_rate),
        evidence=state.evidence,
        monitor=state.monitor,
        mixture=state.mixture,
        rng_key=rng_key,
    )
    moved = jnp.zeros((), bool)
    if settings.global_moves is not None:
        (z, ld, grad, evidence, p_global, divergent), moved = _global_move(
            key_global, new, logdensity_fn, state.i, settings, turn
        )
        moves_per_turn = 1 if settings.global_moves.exchangeable is None else 2  # + a swap
        new = new._replace(
            z=z,
            potential_energy=-ld,
            z_grad=jax.tree.map(jnp.negative, grad),
            evidence=evidence,
            global_accept_prob=p_global,
            diverging=new.diverging | divergent,
            num_grad_evals=new.num_grad_evals + moved.astype(jnp.int32) * moves_per_turn,
        )
    if settings.interweaving is not None:
        new = _interweave(random.fold_in(key, 11), new, logdensity_fn, settings)
    if exact_uturn:
        new = _uturn_move(key_uturn, new, logdensity_fn, state.i, settings, last)
    return new, moved, info.momentum if persist else momentum


def _interweave(key, state, logdensity_fn, settings: PopulationSettings):
    """The interweaving move (:mod:`numpyro_dilation.interweaving`) after every transition,
    at every level (the position is in target coordinates, where each level's MALA step
    targets the posterior itself)."""
    z, ld, grad, _, divergent = interweaving_move(
        key,
        state.z,
        -state.potential_energy,
        jax.tree.map(jnp.negative, state.z_grad),
        logdensity_fn,
        settings.interweaving,
        state.inverse_mass_matrix,
    )
    return state._replace(
        z=z,
        potential_energy=-ld,
        z_grad=jax.tree.map(jnp.negative, grad),
        diverging=state.diverging | divergent,
        num_grad_evals=state.num_grad_evals + 1,
    )


def chain_step(
    state: DilationLangevinState,
    logdensity_fn: Callable,
    settings: PopulationSettings,
    num_transitions: int | jax.Array = 1,
    iteration: jax.Array | None = None,
) -> DilationLangevinState:
    r"""One chain's iteration (unbatched ``state``; the mixture and preconditioner are the
    population's): ``num_transitions`` transitions (1 in the warm-up; the draw length
    :mod:`~numpyro_dilation.draw_length` in the sampling phase, a scalar shared by the
    chains), each the annealed MALA step at its level and the global move whose turn it is
    (the warm-up measures the autocorrelation of such transitions), the last one followed by
    the exact U-turn move whose turn it is; then the run monitor's update at
    :math:`\lambda = 1`. Its key is ``state.rng_key``. ``iteration``: the population's
    iteration number, shared by the chains (not batched; default ``state.i``), which sets
    the turn of the block moves (:mod:`numpyro_dilation.block_moves`) so that a vectorized
    run computes one kind of global move per transition. The new state reports the
    iteration's summed gradients, whether any transition diverged, and the last
    transition's acceptance probability.

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from numpyro_dilation.population import init
        from numpyro_dilation.population_chain import chain_step
        from numpyro_dilation.population_settings import make_settings

        logdensity = lambda x: -0.5 * jnp.sum((x - 3.0) ** 2)  # N(3, I) in 2-d
        settings = make_settings(60, 2)
        keys = jax.random.split(jax.random.key(0), 8)
        state = init(jnp.zeros((8, 2)), logdensity, keys, settings)
        one = jax.tree.map(lambda x: x[0], state._replace(mixture=None, adapt_state=None))
        one = one._replace(adapt_state=jax.tree.map(lambda x: x[0], state.adapt_state)._replace(
            inverse_mass_matrix=state.inverse_mass_matrix))  # chain 0, with the shared v
        one = chain_step(one._replace(mixture=state.mixture), logdensity, settings)
        print(one.i, one.lam)  # 1 0.001: the first transition, at the first level
    """
    end_warmup, end_run = phase_end(state.i, settings)
    monitor = jax.tree.map(
        lambda fresh, old: jnp.where(end_warmup | end_run, fresh, old),
        init_monitor(state.monitor.mean.shape[-1], state.monitor.mean.dtype),
        state.monitor,
    )
    iteration = state.i if iteration is None else iteration
    if isinstance(num_transitions, int) and num_transitions == 1:
        new, moved, _ = _transition(state, logdensity_fn, settings, True, iteration)
    else:

        def body(t, carry):
            s, grads, divergent, _, momentum = carry
            last = t == num_transitions - 1
            new, moved, momentum = _transition(
                s, logdensity_fn, settings, last, iteration + t, momentum, t == 0,
                num_transitions > 1,
            )  # fmt: skip
            # only the draw's last transition counts as an iteration
            new = new._replace(
                i=jnp.where(last, new.i, s.i),
                mean_accept_prob=jnp.where(last, new.mean_accept_prob, s.mean_accept_prob),
            )
            return new, grads + new.num_grad_evals, divergent | new.diverging, moved, momentum

        # zeros made from the chain's own values: batched from the start under vmap, so
        # that the loop's body is not batched again when the carry turns batched (tracing)
        zero = state.num_grad_evals * 0
        momentum = jax.tree.map(jnp.zeros_like, state.z) if settings.persistence else None
        carry = (state, zero, state.diverging & False, state.diverging & False, momentum)
        new, grads, divergent, moved, _ = lax.fori_loop(0, num_transitions, body, carry)
        new = new._replace(num_grad_evals=grads, diverging=divergent)
    # the first iteration also reports the initialization's gradients
    init_grads = jnp.where(state.i == 0, state.num_grad_evals, 0).astype(jnp.int32)
    new = new._replace(num_grad_evals=new.num_grad_evals + init_grads)
    flat_old, flat_new = ravel_pytree(state.z)[0], ravel_pytree(new.z)[0]
    window_start = jump_window_start(settings)
    count_jump = (state.i >= window_start) & (state.lam == 1)
    updated = update_monitor(
        monitor,
        flat_new,
        jnp.any(flat_new != flat_old),
        new.diverging,
        new.global_accept_prob,
        moved,
        previous=flat_old,
        # jumps from the last preconditioner update or mode finding on (draw_length)
        count_jump=count_jump,
        lag_point=count_jump & ((state.i - window_start) % VARIOGRAM_LAG == 0),
        # the run's first half of draws, for the split R-hat of the end-of-run check
        half=None if settings.run_length is None else settings.run_length // 2,
    )
    at_target = new.lam == 1  # annealing contractions are not moves
    monitor = jax.tree.map(lambda u, m: jnp.where(at_target, u, m), updated, monitor)
    return new._replace(monitor=monitor)


@with_original_layout
def chain_alone_step(
    state: DilationLangevinState, logdensity_fn: Callable, settings: PopulationSettings
) -> DilationLangevinState:
    """One chain run alone (unbatched ``state``; NumPyro's sequential or parallel
    chains): the preconditioner updates from its own curvature (a population of one),
    then its step (:func:`chain_step`).

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from numpyro_dilation.population import init
        from numpyro_dilation.population_chain import chain_alone_step
        from numpyro_dilation.population_settings import make_settings

        logdensity = lambda x: -0.5 * jnp.sum((x - 3.0) ** 2)  # N(3, I) in 2-d
        settings = make_settings(60, 2, global_moves=None)
        state = init(jnp.zeros(2), logdensity, jax.random.key(0), settings, batched=False)
        step = jax.jit(lambda s: chain_alone_step(s, logdensity, settings))
        for _ in range(100):
            state = step(state)
        print(state.z, state.inverse_mass_matrix)  # a draw of N(3, I); [1. 1.]
    """
    extra_grads = jnp.zeros((), jnp.int32)
    if settings.mass_schedule:

        def update(s):
            alone = with_inverse_mass_matrix(s, None)
            batch = jax.tree.map(lambda x: x[None], alone)
            batch, grads = update_preconditioner(
                with_inverse_mass_matrix(batch, s.inverse_mass_matrix), logdensity_fn, settings
            )
            v = batch.inverse_mass_matrix
            one = jax.tree.map(lambda x: x[0], with_inverse_mass_matrix(batch, None))
            return with_inverse_mass_matrix(one, v), grads[0]

        update_now = jnp.any(state.i == jnp.asarray(settings.mass_schedule))
        state, extra_grads = lax.cond(update_now, update, lambda s: (s, extra_grads), state)
    state, num_transitions = draw_transitions(state, settings, batched=False)
    new = chain_step(state, logdensity_fn, settings, num_transitions)
    return new._replace(num_grad_evals=new.num_grad_evals + extra_grads)
