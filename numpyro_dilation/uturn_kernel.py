r"""The exact U-turn move at the BlackJAX level (:func:`build_kernel`): a palindromic or
re-annealing protocol down to the U-turn level and back, accepted with
:math:`\min(1, e^W)`; its levels (:func:`protocol_levels`) and the return map
(:func:`uturn_return`). The maths is in :mod:`numpyro_dilation.uturn`.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np
from blackjax.types import ArrayLikeTree, ArrayTree, PRNGKey
from blackjax.util import pytree_size

from numpyro_dilation import kernel as dilation_kernel

if TYPE_CHECKING:
    pass
from numpyro_dilation.kernel import DilationState
from numpyro_dilation.path import change_level
from numpyro_dilation.schedules import make_schedule

__all__ = ["protocol_levels", "build_kernel", "uturn_return"]

from numpyro_dilation.uturn_settings import (
    PROTOCOLS,
    UTurn,
    UTurnInfo,
    _lambda_grid,
    check_uturn,
)


def protocol_levels(
    lambda_u: float, num_steps: int, protocol: str = "palindromic", schedule: str = "geometric"
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r"""The operations of an exact U-turn protocol, as static arrays.

    Entry :math:`j` of a protocol moves the particle to level ``levels[j]``, by a
    level change with :math:`x` fixed (``transport[j]`` false: work counted) or
    by exact transport (``transport[j]`` true: :math:`y` unchanged, no work), and
    is then followed by :math:`m` MALA steps at that level, except the last
    entry, which returns to :math:`\lambda = 1`.

    Returns
    -------
    ``(levels, transport, levels_reverse, transport_reverse)``: the protocol and
    the one proposed with equal probability as its reverse (the same arrays
    for ``"palindromic"``); each of length :math:`2K` (palindromic) or
    :math:`K + 1` (reanneal).

    Examples
    --------

    .. code-block:: python

        from numpyro_dilation.uturn import protocol_levels

        levels, transport, _, _ = protocol_levels(0.01, 2)  # palindromic, geometric: 1 -> 0.01 -> 1
        print(levels, transport)  # [0.1 0.01 0.1 1.] [False False False False]
        fwd, fwd_transport, rev, rev_transport = protocol_levels(0.01, 2, protocol="reanneal")
        print(fwd, fwd_transport)  # [0.01 0.1 1.] [True False False]: transport, then re-anneal
        print(rev, rev_transport)  # [0.1 0.01 1.] [False False True]: anneal down, transport back
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"`protocol` must be one of {PROTOCOLS}, got {protocol!r}.")
    up = make_schedule(schedule, num_steps + 1, lambda_u)  # mu_0 = lambda_u < ... < mu_K = 1
    if protocol == "palindromic":
        down = up[::-1][1:]  # nu_1 > ... > nu_K = lambda_u
        levels = np.concatenate([down, up[1:]])  # ..., lambda_u, mu_1, ..., 1
        transport = np.zeros(levels.shape, bool)
        return levels, transport, levels, transport
    forward = up.copy()  # transport to lambda_u, then x-fixed changes up to 1
    forward_transport = np.zeros(forward.shape, bool)
    forward_transport[0] = True
    reverse = np.concatenate([up[::-1][1:], [1.0]])  # x-fixed changes down to lambda_u, back
    reverse_transport = np.zeros(reverse.shape, bool)
    reverse_transport[-1] = True
    return forward, forward_transport, reverse, reverse_transport


_mala = dilation_kernel.build_kernel()


def _all_finite(logdensity, grad) -> jax.Array:
    finite = jnp.isfinite(logdensity)
    for g in jax.tree.leaves(grad):
        finite = finite & jnp.all(jnp.isfinite(g))
    return finite


def _tree_where(pred, on_true, on_false):
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


def _level_change(state: DilationState, logdensity_fn: Callable, lam_to, transport):
    """Move to ``lam_to``; return (state, work increment, finite)."""
    y = change_level(state.position, state.center, state.lam, lam_to)
    y = _tree_where(transport, state.position, y)
    logdensity, grad = jax.value_and_grad(logdensity_fn)(y)
    finite = _all_finite(logdensity, grad)
    d = pytree_size(state.position)
    work = logdensity - state.logdensity - 0.5 * d * jnp.log(lam_to / state.lam)
    work = jnp.where(transport, 0.0, work)
    moved = DilationState(y, logdensity, grad, lam_to, state.center)
    return _tree_where(finite, moved, state._replace(lam=lam_to)), work, finite


def _run_protocol(
    rng_key,
    state,
    logdensity_fn,
    levels,
    transport,
    step_size,
    num_mala_steps,
    inverse_mass_matrix=None,
):
    """Run one protocol; return (end state, W, all level changes finite, mean MALA acceptance)."""
    dtype = state.lam.dtype
    num_entries = levels.shape[0]

    def mala_block(key, s):
        def one(carry, k):
            s, acc = carry
            s, info = _mala(k, s, logdensity_fn, None, step_size, True, inverse_mass_matrix)
            return (s, acc + info.acceptance_rate), None

        keys = jax.random.split(key, num_mala_steps)
        (s, acc), _ = jax.lax.scan(one, (s, jnp.zeros((), dtype)), keys)
        return s, acc

    def body(carry, inputs):
        s, work, finite, acc = carry
        key, lam_to, is_transport = inputs
        s, dw, ok = _level_change(s, logdensity_fn, lam_to, is_transport)
        s, a = mala_block(key, s)
        return (s, work + dw, finite & ok, acc + a), None

    keys = jax.random.split(rng_key, num_entries - 1)
    init = (state, jnp.zeros((), dtype), jnp.ones((), bool), jnp.zeros((), dtype))
    (s, work, finite, acc), _ = jax.lax.scan(
        body, init, (keys, levels[:-1].astype(dtype), transport[:-1])
    )
    s, dw, ok = _level_change(s, logdensity_fn, levels[-1].astype(dtype), transport[-1])
    mean_acc = acc / ((num_entries - 1) * num_mala_steps)
    return s, work + dw, finite & ok, mean_acc


def build_kernel(config: UTurn | None = None) -> Callable:
    r"""Build the exact U-turn move (NCMC along the dilation path).

    ``config`` fixes the protocol (``lambda_u``, ``num_steps``, ``num_mala_steps``,
    ``protocol``, ``schedule``; ``kind`` and ``every`` are ignored here).

    Returns
    -------
    ``kernel(rng_key, state, logdensity_fn, step_size, inverse_mass_matrix=None)``
    returning ``(DilationState, UTurnInfo)``. ``state`` is a
    :class:`~numpyro_dilation.kernel.DilationState` at :math:`\lambda = 1`
    (any pytree position); its ``center`` is the :math:`c` of the protocol (fixed
    per chain, e.g. the chain's annealing center). ``step_size`` is the MALA step
    :math:`h` in target coordinates at every level (the chain's tuned step) and
    ``inverse_mass_matrix`` its diagonal preconditioner :math:`v` (flat, shape
    ``(d,)``; ``None``: ones), as in :func:`numpyro_dilation.kernel.build_kernel`:
    preconditioned MALA is still :math:`\gamma`-reversible, so the work is unchanged. The
    move runs the protocol from ``state`` and accepts its end point with
    probability :math:`\min(1, e^W)`; it leaves :math:`\pi \propto \gamma`
    invariant (module docstring). Jit- and vmap-able; one turning level is drawn
    per call when ``lambda_u`` is a tuple.

    Examples
    --------

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from numpyro_dilation import kernel, uturn

        logdensity = lambda y: -0.5 * jnp.sum((y - 1.0) ** 2)  # N(1, I) in 2-d
        config = uturn.UTurn(kind="exact", lambda_u=0.1, num_steps=10)
        move = jax.jit(uturn.build_kernel(config), static_argnums=2)
        # a chain at lambda = 1; its U-turns dilate toward the center 0 and back
        state = kernel.init(jnp.array([1.5, 0.5]), logdensity, center=jnp.zeros(2))
        accept = []
        for key in jax.random.split(jax.random.key(0), 20):
            state, info = move(key, state, logdensity, 0.5)
            accept.append(info.acceptance_rate)
        print(state.position, jnp.mean(jnp.array(accept)), info.num_grad_evals)
    """
    config = UTurn(kind="exact") if config is None else config
    check_uturn(config)
    schedule = "geometric" if config.schedule is None else config.schedule
    tables = [
        protocol_levels(lam, config.num_steps, config.protocol, schedule)
        for lam in _lambda_grid(config)
    ]
    fwd_levels = np.stack([t[0] for t in tables])
    fwd_transport = np.stack([t[1] for t in tables])
    rev_levels = np.stack([t[2] for t in tables])
    rev_transport = np.stack([t[3] for t in tables])
    lambdas = np.asarray(_lambda_grid(config))
    num_entries = fwd_levels.shape[1]
    num_grads = num_entries + (num_entries - 1) * config.num_mala_steps

    def kernel(
        rng_key: PRNGKey,
        state: DilationState,
        logdensity_fn: Callable,
        step_size: float | jax.Array,
        inverse_mass_matrix: jax.Array | None = None,
    ) -> tuple[DilationState, UTurnInfo]:
        dtype = state.lam.dtype
        step_size = jnp.asarray(step_size, dtype)
        key_level, key_dir, key_run, key_acc = jax.random.split(rng_key, 4)
        i = jax.random.randint(key_level, (), 0, len(lambdas))
        reverse = jax.random.bernoulli(key_dir)
        levels = jnp.where(reverse, jnp.asarray(rev_levels)[i], jnp.asarray(fwd_levels)[i])
        transport = jnp.where(reverse, jnp.asarray(rev_transport)[i], jnp.asarray(fwd_transport)[i])
        start = state._replace(lam=jnp.ones((), dtype))
        end, work, finite, mala_acc = _run_protocol(
            key_run,
            start,
            logdensity_fn,
            levels,
            transport,
            step_size,
            config.num_mala_steps,
            inverse_mass_matrix,
        )
        divergent = ~finite
        work = jnp.where(divergent | jnp.isnan(work), -jnp.inf, work)
        p_accept = jnp.exp(jnp.minimum(work, 0.0))
        accept = jax.random.bernoulli(key_acc, p_accept) & ~divergent
        new_state = _tree_where(accept, end._replace(lam=state.lam), state)
        info = UTurnInfo(
            acceptance_rate=p_accept,
            is_accepted=accept,
            is_divergent=divergent,
            work=work,
            lambda_u=jnp.asarray(lambdas, dtype)[i],
            mala_acceptance=mala_acc,
            num_grad_evals=jnp.asarray(num_grads, jnp.int32),
            proposal=end.position,
        )
        return new_state, info

    return kernel


# --------------------------------------------------------------------------- explorer


def uturn_return(
    rng_key: PRNGKey,
    position: ArrayLikeTree,
    logdensity_fn: Callable,
    levels: jax.Array,
    step_size: float | jax.Array,
    center: ArrayLikeTree,
    metropolis: bool = True,
    inverse_mass_matrix: jax.Array | None = None,
) -> tuple[ArrayTree, jax.Array]:
    r"""One approximate U-turn: dilate ``position`` to ``levels[0]`` and re-anneal to 1.

    In target coordinates the dilation leaves ``position`` unchanged; the
    re-annealing runs :func:`numpyro_dilation.kernel.build_kernel` at each of
    ``levels`` (:math:`\lambda_u = \lambda_0 < \dots < \lambda_{K-1} = 1`, the
    first call without a level change) with step :math:`h` = ``step_size`` and
    diagonal preconditioner ``inverse_mass_matrix`` (flat ``(d,)`` or ``None``),
    MALA if ``metropolis`` (default) else unadjusted Langevin. No accept/reject
    of the whole path: the return is **not** a draw of :math:`\pi`.

    Returns
    -------
    ``(return_position, mean_acceptance)``; ``levels`` may be traced (no
    recompilation for a new :math:`\lambda_u` of the same length). Costs
    :math:`2K - 1` gradients.

    Examples
    --------

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from jax.scipy.special import logsumexp
        from numpyro_dilation.schedules import linear_schedule
        from numpyro_dilation.uturn import uturn_return

        def logdensity(y):  # two unit Gaussians at (-3, 0) and (3, 0), 2-d
            mus = jnp.array([[-3.0, 0.0], [3.0, 0.0]])
            return logsumexp(-0.5 * jnp.sum((y - mus) ** 2, axis=-1))

        levels = jnp.asarray(linear_schedule(50, 1e-4))  # dilate to 1e-4, re-anneal in 50 steps
        start, center = jnp.array([-3.0, 0.0]), jnp.zeros(2)  # from the left mode, center 0
        turn = lambda key: uturn_return(key, start, logdensity, levels, 0.5, center)
        returns, acceptance = jax.jit(jax.vmap(turn))(jax.random.split(jax.random.key(0), 50))
        print((returns[:, 0] > 0).mean(), acceptance.mean())  # about 0.25: a quarter switched mode
    """
    levels = jnp.asarray(levels)
    state = dilation_kernel.init(position, logdensity_fn, center, 1.0)
    state = state._replace(lam=levels[0].astype(state.lam.dtype))
    step_size = jnp.asarray(step_size, state.lam.dtype)

    def body(s, inputs):
        key, lam = inputs
        s, info = _mala(key, s, logdensity_fn, lam, step_size, metropolis, inverse_mass_matrix)
        return s, info.acceptance_rate

    keys = jax.random.split(rng_key, levels.shape[0])
    state, acc = jax.lax.scan(body, state, (keys, levels.astype(state.lam.dtype)))
    return state.position, jnp.mean(acc)
