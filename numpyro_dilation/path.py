r"""The dilation path between a Dirac at a center and the target.

For a target :math:`\pi(\theta) \propto \gamma(\theta)` on :math:`\mathbb{R}^d`,
a center :math:`c` and a level :math:`\lambda \in (0, 1]`,

.. math::

    X_\lambda = c + \sqrt{\lambda}\,(X - c), \quad X \sim \pi, \qquad
    \pi_\lambda(x) = \lambda^{-d/2}\, \pi\!\big(c + (x - c)/\sqrt{\lambda}\big),

    \nabla \log \pi_\lambda(x) = \lambda^{-1/2}\,
    \nabla \log \pi\!\big(c + (x - c)/\sqrt{\lambda}\big).

:math:`\lambda \to 0` gives the Dirac at :math:`c`, :math:`\lambda = 1` the
target. Every :math:`\pi_\lambda` has the normalizing constant of :math:`\pi`.

We call :math:`x` the *dilated* coordinates and
:math:`y = c + (x - c)/\sqrt{\lambda}` the *target* coordinates. All functions
take pytree positions; ``center`` has the structure of the position.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
from blackjax.types import ArrayLikeTree, ArrayTree
from blackjax.util import pytree_size

__all__ = [
    "dilated_logdensity",
    "dilated_score",
    "to_dilated",
    "to_target",
    "change_level",
]


def to_target(x: ArrayLikeTree, center: ArrayLikeTree, lam: float) -> ArrayTree:
    r"""Map dilated coordinates to target coordinates: :math:`y = c + (x - c)/\sqrt{\lambda}`.

    **Example**: see :func:`~numpyro_dilation.path.dilated_logdensity`.
    """
    scale = 1.0 / jnp.sqrt(lam)
    return jax.tree.map(lambda xi, ci: ci + scale * (xi - ci), x, center)


def to_dilated(y: ArrayLikeTree, center: ArrayLikeTree, lam: float) -> ArrayTree:
    r"""Map target coordinates to dilated coordinates: :math:`x = c + \sqrt{\lambda}\,(y - c)`.

    **Example**: see :func:`~numpyro_dilation.path.dilated_logdensity`.
    """
    scale = jnp.sqrt(lam)
    return jax.tree.map(lambda yi, ci: ci + scale * (yi - ci), y, center)


def change_level(
    y: ArrayLikeTree, center: ArrayLikeTree, lam_from: float, lam_to: float
) -> ArrayTree:
    r"""Target coordinates after moving from level ``lam_from`` to ``lam_to`` with
    the dilated position held fixed.

    .. math:: y \leftarrow c + \sqrt{\lambda_\text{from} / \lambda_\text{to}}\,(y - c)

    With ``lam_from < lam_to`` this is a contraction toward the center.

    **Example**: see :func:`~numpyro_dilation.path.dilated_logdensity`.
    """
    scale = jnp.sqrt(lam_from / lam_to)
    return jax.tree.map(lambda yi, ci: ci + scale * (yi - ci), y, center)


def dilated_logdensity(
    logdensity_fn: Callable, center: ArrayLikeTree, lam: float
) -> Callable[[ArrayLikeTree], jax.Array]:
    r"""Log-density of :math:`\pi_\lambda` in dilated coordinates.

    .. math:: \log \pi_\lambda(x) = -\tfrac{d}{2}\log\lambda
        + \log\gamma\!\big(c + (x - c)/\sqrt{\lambda}\big)

    where ``logdensity_fn`` is :math:`\log\gamma` (unnormalized is fine) and
    :math:`d` the total number of scalars in the position.

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from numpyro_dilation.path import change_level, dilated_logdensity, to_dilated, to_target

        logdensity = lambda y: -0.5 * jnp.sum(y**2)  # standard normal in 2-d
        center, lam = jnp.array([1.0, 1.0]), 0.25
        y = jnp.array([3.0, -1.0])  # target coordinates
        x = to_dilated(y, center, lam)  # c + sqrt(lam) (y - c) = [2., 0.]
        assert jnp.allclose(to_target(x, center, lam), y)
        log_pi = dilated_logdensity(logdensity, center, lam)
        # log pi_lam(x) = -(d/2) log(lam) + log gamma(y)
        assert jnp.allclose(log_pi(x), -jnp.log(lam) + logdensity(y))
        # moving from lam to 1 with x fixed is x itself in target coordinates
        assert jnp.allclose(change_level(y, center, lam, 1.0), x)
        print(x)
    """

    def logdensity(x: ArrayLikeTree) -> jax.Array:
        d = pytree_size(x)
        return -0.5 * d * jnp.log(lam) + logdensity_fn(to_target(x, center, lam))

    return logdensity


def dilated_score(
    logdensity_fn: Callable, center: ArrayLikeTree, lam: float
) -> Callable[[ArrayLikeTree], ArrayTree]:
    r"""Score of :math:`\pi_\lambda` in closed form.

    .. math:: \nabla \log \pi_\lambda(x) = \lambda^{-1/2}\,
        \nabla \log\gamma\!\big(c + (x - c)/\sqrt{\lambda}\big)
    """
    grad_fn = jax.grad(logdensity_fn)

    def score(x: ArrayLikeTree) -> ArrayTree:
        g = grad_fn(to_target(x, center, lam))
        return jax.tree.map(lambda gi: gi / jnp.sqrt(lam), g)

    return score
