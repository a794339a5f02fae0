r"""The inverse mass :math:`A` as the Langevin kernel uses it (private helpers of
:mod:`numpyro_dilation.kernel`): diagonal (a pytree like the position), dense (its
Cholesky factor computed once per step) or diagonal-plus-low-rank
(:class:`~numpyro_dilation.low_rank.DiagonalPlusLowRank`), and the whitened noise of
MALA's reverse move with each (its acceptance ratio and the momentum after the step). A
dense or low-rank ``metric`` offers ``matvec`` (:math:`Ax`), ``sqrt_matvec`` (:math:`Lx`,
:math:`A = LL^\top`) and ``inv_sqrt_matvec`` (:math:`L^{-1}x`).
"""

from typing import NamedTuple

import blackjax.mcmc.proposal as proposal
import jax
import jax.numpy as jnp
from blackjax.types import ArrayTree
from jax.flatten_util import ravel_pytree


def _reverse_noise(state, new_state, step_size, inverse_mass):
    r""":math:`\xi' = (y - y' - h v\odot\nabla\log\gamma(y'))/\sqrt{2hv}`, the whitened noise
    that MALA's reverse move (from ``new_state`` to ``state``, diagonal inverse mass :math:`v`)
    would need; a pytree like the position. Minus it is the leapfrog momentum after the step."""
    return jax.tree.map(
        lambda a, b, g, v: (a - b - step_size * v * g) / jnp.sqrt(2 * step_size * v),
        state.position,
        new_state.position,
        new_state.logdensity_grad,
        inverse_mass,
    )


def _half_squared_norm(tree: ArrayTree) -> jax.Array:
    r""":math:`\lVert\xi\rVert^2/2` summed over the leaves of ``tree``."""
    return 0.5 * sum(jnp.sum(x**2) for x in jax.tree.leaves(tree))


def _acceptance_log_ratio(current, new, noise, reverse_noise):
    r"""MALA's :math:`\log[\gamma(y')q(y|y')] - \log[\gamma(y)q(y'|y)]
    = -\log\gamma(y) + \lVert\xi\rVert^2/2 - (-\log\gamma(y') + \lVert\xi'\rVert^2/2)`
    (the energy error of one leapfrog step with momentum :math:`\xi`), from the forward
    noise :math:`\xi` and the reverse one :math:`\xi'` (pytrees or flat vectors, any metric);
    NaN mapped to :math:`-\infty`."""
    return proposal.safe_energy_diff(
        -current.logdensity + _half_squared_norm(noise),
        -new.logdensity + _half_squared_norm(reverse_noise),
    )


def _inverse_mass_tree(position: ArrayTree, inverse_mass_matrix: jax.Array | None) -> ArrayTree:
    """The diagonal inverse mass as a pytree like ``position`` (ones if ``None``)."""
    if inverse_mass_matrix is None:
        return jax.tree.map(jnp.ones_like, position)
    flat, unravel = ravel_pytree(position)
    return unravel(jnp.asarray(inverse_mass_matrix, dtype=flat.dtype))


class _DenseMetric(NamedTuple):
    r"""A dense inverse mass :math:`A = LL^\top` (``(d, d)``, ``ravel_pytree`` order) with its
    Cholesky factor :math:`L` and :math:`L^{-1}`, computed once per step (not per chain
    under ``vmap`` when :math:`A` is shared): the step itself then only multiplies."""

    matrix: jax.Array
    chol: jax.Array
    chol_inv: jax.Array

    def matvec(self, x):
        return self.matrix @ x

    def sqrt_matvec(self, x):
        return self.chol @ x

    def inv_sqrt_matvec(self, x):
        return self.chol_inv @ x


def _dense_metric(inverse_mass_matrix: jax.Array, dtype) -> _DenseMetric:
    a = jnp.asarray(inverse_mass_matrix, dtype=dtype)
    chol = jnp.linalg.cholesky(a)
    eye = jnp.eye(a.shape[0], dtype=dtype)
    return _DenseMetric(a, chol, jax.scipy.linalg.solve_triangular(chol, eye, lower=True))


def _dense_reverse_noise(state, new_state, step_size, metric):
    r"""As :func:`_reverse_noise` with a dense or a diagonal-plus-low-rank :math:`A = LL^\top`
    (``metric``: a :class:`_DenseMetric` or a
    :class:`~numpyro_dilation.low_rank.DiagonalPlusLowRank`), on the flat vector (``(d,)``):
    :math:`L^{-1}(y - y' - hA\nabla\log\gamma(y'))/\sqrt{2h}`."""
    y = ravel_pytree(state.position)[0]
    y_new = ravel_pytree(new_state.position)[0]
    g_new = ravel_pytree(new_state.logdensity_grad)[0]
    r = metric.inv_sqrt_matvec(y - y_new - step_size * metric.matvec(g_new))
    return r / jnp.sqrt(2 * step_size)
