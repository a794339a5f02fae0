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

__all__ = ["cond_or_zeros", "uniform_cond"]


def _in_axes(batched: Any) -> Any:
    """vmap ``in_axes`` of an operand: 0 where batched, ``None`` where shared.

    Shared operands (e.g. a mode mixture used by every chain) are never copied
    per element."""
    return jax.tree.map(lambda b: 0 if b else None, batched)


def _closure_convert(fun: Callable, operands: tuple) -> tuple[Callable, list, Any]:
    """``fun`` as a function of ``(consts, *operands)`` with every value it closes over
    (e.g. model arguments traced by an outer ``jit``) passed explicitly as ``consts``:
    a ``custom_vmap`` function must not close over tracers. Also returns the shapes and
    dtypes of its outputs. ``fun`` is traced once, here; the converted function replays
    its jaxpr (cheaper than tracing the model's Python code again)."""
    closed, out_shape = jax.make_jaxpr(fun, return_shape=True)(*operands)
    out_tree = jax.tree.structure(out_shape)

    def converted(consts, *ops):
        out = jax.core.eval_jaxpr(closed.jaxpr, consts, *jax.tree.leaves(ops))
        return jax.tree.unflatten(out_tree, out)

    return converted, list(closed.consts), out_shape


def uniform_cond(pred: jax.Array, true_fun: Callable, false_fun: Callable, *operands: Any) -> Any:
    """``lax.cond(pred, true_fun, false_fun, *operands)``, batch-aware.

    Under ``vmap`` with a batched ``pred`` it evaluates

    - ``vmap(true_fun)`` only, if ``all(pred)``;
    - ``vmap(false_fun)`` only, if ``not any(pred)``;
    - both, selecting per element, otherwise (what ``lax.cond`` always does).

    Each branch is compiled once (a branch that is also taken in the mixed case used to
    be compiled twice: 15% of a population iteration's fused kernels, BENCHMARKS.md).

    Nested ``vmap`` is correct but falls back to the per-element choice. Operands
    that are not batched (shared by all elements) are never copied per element.
    """
    true_conv, true_consts, _ = _closure_convert(true_fun, operands)
    false_conv, false_consts, _ = _closure_convert(false_fun, operands)

    def true_branch(consts, *ops):
        return true_conv(consts[0], *ops)

    def false_branch(consts, *ops):
        return false_conv(consts[1], *ops)

    return _uniform_cond(pred, true_branch, false_branch, (true_consts, false_consts), *operands)


def _uniform_cond(pred: jax.Array, true_fun: Callable, false_fun: Callable, *operands: Any) -> Any:

    @custom_vmap
    def _cond(p, *ops):
        return lax.cond(p, true_fun, false_fun, *ops)

    @_cond.def_vmap
    def _cond_vmap(axis_size, in_batched, p, *ops):
        p_batched, *ops_batched = in_batched
        axes = tuple(_in_axes(b) for b in ops_batched)

        def batched(fun):
            return jax.vmap(fun, in_axes=axes, axis_size=axis_size)

        all_true = batched(true_fun)
        all_false = batched(false_fun)
        if not p_batched:
            out = lax.cond(p, all_true, all_false, *ops)
        else:
            # each branch compiled once: computed only where some element takes it, then a
            # per-element choice (what ``lax.cond`` under ``vmap`` does, but skipping a
            # branch that no element takes and keeping shared operands shared)
            a = cond_or_zeros(jnp.any(p), all_true, *ops)
            b = cond_or_zeros(~jnp.all(p), all_false, *ops)
            out = jax.tree.map(
                lambda u, v: jnp.where(jnp.reshape(p, (-1,) + (1,) * (u.ndim - 1)), u, v), a, b
            )
        return out, jax.tree.map(lambda _: True, out)

    return _cond(pred, *operands)


def cond_or_zeros(pred: jax.Array, fun: Callable, *operands: Any) -> Any:
    """``fun(*operands)`` if ``pred``, else zeros of its outputs' shapes and dtypes (a boolean
    output: ``False``), as ``lax.cond``: a real branch with a scalar ``pred``, both computed
    under ``vmap`` with a batched one. For work that is skipped (a start not ascended, an
    explorer not run) whose outputs are then ignored or flagged invalid.

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from numpyro_dilation._control import cond_or_zeros

        f = lambda x: (2.0 * x, x > 0)
        print(cond_or_zeros(True, f, jnp.ones(2)), cond_or_zeros(False, f, jnp.ones(2)))
        # ([2, 2], [True, True]) and ([0, 0], [False, False])
    """
    shapes = []  # the taken branch's output shapes, recorded as ``lax.cond`` traces it

    def taken(*ops):
        out = fun(*ops)
        shapes.append(jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), out))
        return out

    def skipped(*ops):  # ``lax.cond`` traces ``taken`` first: ``fun`` is traced once
        out = shapes[-1] if shapes else jax.eval_shape(fun, *ops)
        return jax.tree.map(lambda a: jnp.zeros(a.shape, a.dtype), out)

    return lax.cond(pred, taken, skipped, *operands)
