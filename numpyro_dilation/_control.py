"""Control flow that stays cheap under ``jax.vmap``.

``jax.lax.cond`` with a batched predicate is lowered to ``select``: both
branches run for every chain. The annealing kernel branches on "is this a new
λ level?", a predicate that is the same for all chains of a vectorized run;
running both branches would double the gradient cost of every sampling step.
:func:`uniform_cond` keeps a real branch whenever the predicate is uniform
across the batch and falls back to a per-element choice only when it is not.
"""

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_batching import custom_vmap

__all__ = ["uniform_cond"]


def _broadcast_unbatched(axis_size: int, tree: Any, batched: Any) -> Any:
    return jax.tree.map(
        lambda x, b: x if b else jnp.broadcast_to(x, (axis_size,) + jnp.shape(x)),
        tree,
        batched,
    )


def uniform_cond(pred: jax.Array, true_fun: Callable, false_fun: Callable, *operands: Any) -> Any:
    """``lax.cond(pred, true_fun, false_fun, *operands)``, batch-aware.

    Under ``vmap`` with a batched ``pred`` it evaluates

    - ``vmap(true_fun)`` only, if ``all(pred)``;
    - ``vmap(false_fun)`` only, if ``not any(pred)``;
    - both, selecting per element, otherwise (what ``lax.cond`` always does).

    Nested ``vmap`` is correct but falls back to the per-element choice.
    """

    @custom_vmap
    def _cond(p, *ops):
        return lax.cond(p, true_fun, false_fun, *ops)

    @_cond.def_vmap
    def _cond_vmap(axis_size, in_batched, p, *ops):
        p_batched, *ops_batched = in_batched
        ops = [_broadcast_unbatched(axis_size, o, b) for o, b in zip(ops, ops_batched)]
        all_true = jax.vmap(true_fun)
        all_false = jax.vmap(false_fun)
        if not p_batched:
            out = lax.cond(p, all_true, all_false, *ops)
        else:

            def per_element(*o):
                return jax.vmap(lambda pi, *oi: lax.cond(pi, true_fun, false_fun, *oi))(p, *o)

            def not_all_true(*o):
                return lax.cond(jnp.any(p), per_element, all_false, *o)

            out = lax.cond(jnp.all(p), all_true, not_all_true, *ops)
        return out, jax.tree.map(lambda _: True, out)

    return _cond(pred, *operands)
