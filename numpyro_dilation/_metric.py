r"""The inverse mass :math:`A` as the Langevin kernel uses it (private helpers of
:mod:`numpyro_dilation.kernel`): diagonal (a pytree like the position), dense (its
Cholesky factor computed once per step) or diagonal-plus-low-rank
(:class:`~numpyro_dilation.low_rank.DiagonalPlusLowRank`), and MALA's transition energy
with each. A dense or low-rank ``metric`` offers ``matvec`` (:math:`Ax`), ``sqrt_matvec``
(:math:`Lx`, :math:`A = LL^\top`) and ``inv_sqrt_matvec`` (:math:`L^{-1}x`).
"""

from typing import NamedTuple

import blackjax.mcmc.proposal as proposal
import jax
import jax.numpy as jnp
from blackjax.types import ArrayTree
from jax.flatten_util import ravel_pytree


def _transition_energy(state, new_state, step_size, inverse_mass):
    r""":math:`-\log\gamma(y') + \sum_i (y - y' - h v\odot\nabla\log\gamma(y'))_i^2 / (4 h v_i)`,
    minus the log of :math:`\gamma(y')\,q(y \mid y')` up to a constant (MALA's
    reverse move with diagonal inverse mass :math:`v`)."""
    sq = jax.tree.map(
        lambda a, b, g, v: jnp.sum((a - b - step_size * v * g) ** 2 / v),
        state.position,
        new_state.position,
        new_state.logdensity_grad,
        inverse_mass,
    )
    return -new_state.logdensity + 0.25 * sum(jax.tree.leaves(sq)) / step_size


def _acceptance_log_ratio(current, new, step_size, inverse_mass):
    r""":math:`\log[\gamma(y')q(y|y')] - \log[\gamma(y)q(y'|y)]`, NaN mapped to :math:`-\infty`."""
    return proposal.safe_energy_diff(
        _transition_energy(new, current, step_size, inverse_mass),
        _transition_energy(current, new, step_size, inverse_mass),
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


def _dense_transition_energy(state, new_state, step_size, metric):
    r"""As :func:`_transition_energy` with a dense or a diagonal-plus-low-rank :math:`A`
    (``metric``: a :class:`_DenseMetric` or a
    :class:`~numpyro_dilation.low_rank.DiagonalPlusLowRank`):
    :math:`-\log\gamma(y') + \lVert L^{-1}(y - y' - hA\nabla\log\gamma(y'))\rVert^2/(4h)`."""
    y = ravel_pytree(state.position)[0]
    y_new = ravel_pytree(new_state.position)[0]
    g_new = ravel_pytree(new_state.logdensity_grad)[0]
    r = metric.inv_sqrt_matvec(y - y_new - step_size * metric.matvec(g_new))
    return -new_state.logdensity + 0.25 * jnp.sum(r**2) / step_size
