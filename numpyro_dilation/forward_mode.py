r"""Gradients of a log-density by forward-mode differentiation.

Reverse-mode differentiation cannot pass through ``lax.while_loop`` (nor through some
custom primitives); forward mode can. :func:`forward_mode_logdensity` returns the same
log-density, :math:`\ell`, with a custom JVP rule

.. math::

    \frac{d}{dt}\,\ell(x + t\,\dot x)\Big|_{t=0} = \langle \nabla \ell(x), \dot x \rangle,
    \qquad \nabla \ell(x) = \texttt{jacfwd}(\ell)(x),

whose tangent output is linear in :math:`\dot x`. JAX transposes that linear map, so
``jax.grad``, ``jax.value_and_grad`` and everything built on them (the sampler's steps,
mode finding, Hessian-vector products, ``jax.hessian``) work unchanged, and every gradient
costs :math:`d` forward passes instead of one reverse pass: use it only when reverse mode
fails. ``DilationLangevin(..., forward_mode_differentiation=True)`` applies it to the
model's log-density, as the flag of NumPyro's ``NUTS`` does.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

__all__ = ["forward_mode_logdensity"]


def forward_mode_logdensity(logdensity_fn: Callable) -> Callable:
    """The log-density ``logdensity_fn`` (a scalar function of a pytree position), with its
    gradient computed by forward mode (``jax.jacfwd``): equal values and gradients, but
    reverse-mode transformations no longer trace through ``logdensity_fn`` itself.

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from jax import lax
        from numpyro_dilation.forward_mode import forward_mode_logdensity

        def logdensity(x):  # a while loop: jax.grad(logdensity) raises
            y = lax.while_loop(lambda y: y < 10.0, lambda y: y + 1.0, x)
            return -0.5 * x**2 - 0.5 * (y - 10.5) ** 2

        print(jax.grad(forward_mode_logdensity(logdensity))(0.25))  # -0.25 + 0.25 = 0.0
    """

    @jax.custom_jvp
    def logdensity(position):
        return logdensity_fn(position)

    @logdensity.defjvp
    def logdensity_jvp(primals, tangents):
        (position,), (tangent,) = primals, tangents
        grad = jax.jacfwd(logdensity_fn)(position)
        products = jax.tree.map(lambda g, t: jnp.sum(g * t), grad, tangent)
        return logdensity_fn(position), sum(jax.tree.leaves(products))

    return logdensity
