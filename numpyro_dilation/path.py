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

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from numpyro_dilation.path import to_target

        center = {"a": jnp.zeros(2), "b": jnp.array(1.0)}  # any pytree, like the position
        x = {"a": jnp.array([0.1, -0.2]), "b": jnp.array(1.5)}  # dilated coordinates at lam = 0.01
        print(to_target(x, center, 0.01))  # {'a': [1. -2.], 'b': 6.}: c + (x - c) / sqrt(lam)
    """
    scale = 1.0 / jnp.sqrt(lam)
    return jax.tree.map(lambda xi, ci: ci + scale * (xi - ci), x, center)


def to_dilated(y: ArrayLikeTree, center: ArrayLikeTree, lam: float) -> ArrayTree:
    r"""Map target coordinates to dilated coordinates: :math:`x = c + \sqrt{\lambda}\,(y - c)`.

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from numpyro_dilation.path import to_dilated, to_target

        center, lam = jnp.array([1.0, 1.0]), 0.04
        y = jnp.array([6.0, -4.0])  # target coordinates
        x = to_dilated(y, center, lam)
        print(x)  # [2. 0.] = c + sqrt(0.04) (y - c): pulled toward the center
        print(to_target(x, center, lam))  # [6. -4.]: back to y
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

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from numpyro_dilation.path import change_level, to_dilated

        center, y = jnp.zeros(2), jnp.array([2.0, -4.0])
        y_new = change_level(y, center, 0.25, 1.0)  # one annealing step 0.25 -> 1, x held fixed
        print(y_new)  # [1. -2.]: contraction by sqrt(0.25 / 1) toward the center
        print(to_dilated(y, center, 0.25), to_dilated(y_new, center, 1.0))  # the same particle x
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

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from numpyro_dilation.path import dilated_logdensity, dilated_score

        logdensity = lambda y: -0.5 * jnp.sum((y - 3.0) ** 2)  # N(3, I) in 2-d
        center, lam = jnp.zeros(2), 0.25
        x = jnp.array([1.0, 0.5])  # dilated coordinates: y = c + (x - c) / sqrt(lam) = (2, 1)
        print(dilated_score(logdensity, center, lam)(x))  # [2. 4.] = (3 - y) / sqrt(lam)
        print(jax.grad(dilated_logdensity(logdensity, center, lam))(x))  # the same, by autodiff
    """
    grad_fn = jax.grad(logdensity_fn)

    def score(x: ArrayLikeTree) -> ArrayTree:
        g = grad_fn(to_target(x, center, lam))
        return jax.tree.map(lambda gi: gi / jnp.sqrt(lam), g)

    return score
