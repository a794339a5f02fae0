"""Argument checks shared by the layers below the NumPyro kernel (which import no NumPyro).

Each check raises ``ValueError`` naming the argument when a *concrete* value is out of
range; a traced value (inside ``jit``) is the caller's contract and is not concretized:

- a probability :math:`p \\in (0, 1)` (:func:`check_probability`: ``target_accept_prob``,
  ``lambda_min``, ``annealing_fraction``; a traced one must be a float scalar);
- a level :math:`\\lambda \\in (0, 1]` and a step size :math:`h \\in (0, \\infty)`, finite;
- a center :math:`c` with the pytree structure and leaf shapes of the position;
- an inverse mass matrix, diagonal :math:`v` of shape ``(d,)`` or dense :math:`A` of shape
  ``(d, d)``, in ``ravel_pytree`` order.

It also holds the floating dtype a position implies (its own, or JAX's default float for
integer positions), in which a chain's level and step size are kept.
"""

import math
import numbers

import jax
import jax.numpy as jnp
from blackjax.types import ArrayLikeTree

from numpyro_dilation.low_rank import DiagonalPlusLowRank

__all__ = ["check_probability"]


def check_probability(name: str, value: float) -> None:
    """Raise ``ValueError`` unless ``0 < value < 1`` (a probability :math:`p \\in (0, 1)`,
    e.g. the target acceptance :math:`\\delta` of dual averaging).

    **Example**

    .. code-block:: python

        from numpyro_dilation.validation import check_probability

        check_probability("target_accept_prob", 0.8)  # valid: returns None
        try:
            check_probability("target_accept_prob", 1.5)
        except ValueError as err:
            print(err)  # `target_accept_prob` must lie in (0, 1), got 1.5.
    """
    if _traced_scalar(value):
        return  # validated without concretizing (inside jit), as NumPyro's kernels do
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not (ok and 0.0 < float(value) < 1.0):
        raise ValueError(f"`{name}` must lie in (0, 1), got {value!r}.")


def _traced_scalar(value) -> bool:
    """Whether ``value`` is a traced floating scalar (its value unknown until run time)."""
    if not isinstance(value, jax.core.Tracer):
        return False
    if jnp.shape(value) != () or not jnp.issubdtype(jnp.result_type(value), jnp.floating):
        raise ValueError(f"a traced hyperparameter must be a float scalar, got {value!r}.")
    return True


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_level(name: str, value) -> None:
    """A concrete level must lie in (0, 1] (traced values are the caller's contract)."""
    if _is_number(value) and not 0.0 < float(value) <= 1.0:
        raise ValueError(f"`{name}` must lie in (0, 1], got {value!r}.")


def _check_positive(name: str, value) -> None:
    """A concrete step size must be finite and > 0 (traced values are not checked)."""
    if _is_number(value) and not (math.isfinite(float(value)) and float(value) > 0.0):
        raise ValueError(f"`{name}` must be a finite number > 0, got {value!r}.")


def _check_center(
    center: ArrayLikeTree,
    position: ArrayLikeTree,
    name: str = "the position",
    leaf_name: str = "the position",
    note: str = "",
) -> None:
    """``center`` must have the pytree structure and leaf shapes of ``position`` (called
    ``name``, and ``leaf_name`` before "leaf", in the errors; ``note`` ends the leaf-shape
    message)."""
    if jax.tree.structure(center) != jax.tree.structure(position):
        raise ValueError(
            f"`center` must have the structure of {name} "
            f"({jax.tree.structure(position)}), got {jax.tree.structure(center)}."
        )
    for c, p in zip(jax.tree.leaves(center), jax.tree.leaves(position)):
        if jnp.shape(c) != jnp.shape(p):
            raise ValueError(
                f"`center` leaf of shape {jnp.shape(c)} does not match {leaf_name} "
                f"leaf of shape {jnp.shape(p)}{note}."
            )


def _float_dtype(tree: ArrayLikeTree):
    leaves = jax.tree.leaves(tree)
    dtype = jnp.result_type(*leaves) if leaves else jnp.float32
    return dtype if jnp.issubdtype(dtype, jnp.floating) else jnp.result_type(float)


def _check_inverse_mass_matrix(inverse_mass_matrix) -> None:
    if inverse_mass_matrix is None or isinstance(inverse_mass_matrix, DiagonalPlusLowRank):
        return
    shape = jnp.shape(inverse_mass_matrix)
    if not (len(shape) == 1 or (len(shape) == 2 and shape[0] == shape[1])):
        raise ValueError(
            "`inverse_mass_matrix` must be a diagonal, shape (d,), a dense (d, d) matrix, in "
            "`ravel_pytree` order, or a `numpyro_dilation.low_rank.DiagonalPlusLowRank`; got "
            f"shape {shape}."
        )
