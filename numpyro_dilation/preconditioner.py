"""Preconditioners pooled across chains from the target's curvature.

Each chain :math:`c` of a population (or the one chain of a run alone) measures the
curvature :math:`H^{(c)} = -\\nabla^2\\log\\gamma(y_c)` at its position; the population's
preconditioner (inverse mass matrix) :math:`v` is the inverse of the elementwise median
:math:`\\bar H = \\mathrm{median}_c H^{(c)}`. The median, unlike the mean, ignores the few
chains that sit where the curvature is extreme (a funnel's neck, a far tail). Where
:math:`\\bar H` is not positive (a saddle, a flat or a non-finite direction), the chains'
spread along that direction is used instead, or 1 if they do not spread.

Shapes: positions ``(C, d)``; diagonal curvatures ``(C, d)`` give ``v`` of shape ``(d,)``;
dense curvatures ``(C, d, d)`` give ``v`` of shape ``(d, d)`` (symmetric positive
definite). No NumPyro import: these are pure functions of arrays.
"""

import jax
import jax.numpy as jnp

__all__ = ["pooled_inverse_mass_diagonal", "pooled_inverse_mass_dense"]


def _finite_median(x: jax.Array) -> jax.Array:
    """Median over axis 0 of the finite entries (NaN where none is finite)."""
    return jnp.nanmedian(jnp.where(jnp.isfinite(x), x, jnp.nan), axis=0)


def pooled_inverse_mass_diagonal(curvatures: jax.Array, positions: jax.Array) -> jax.Array:
    """Diagonal (Jacobi) preconditioner :math:`v_i = 1/\\mathrm{median}_c H^{(c)}_{ii}`.

    ``curvatures``: :math:`H^{(c)}_{ii}`, shape ``(C, d)``; ``positions``: shape ``(C, d)``.
    Coordinates whose median curvature is not finite and positive get the chains'
    variance :math:`\\mathrm{var}_c\\, y_{ci}` (or 1 when it is 0 or not finite).
    Returns ``v``, shape ``(d,)``.

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from numpyro_dilation.preconditioner import pooled_inverse_mass_diagonal

        curv = jnp.array([[4.0, -1.0], [4.0, -2.0], [100.0, -1.0]])  # 3 chains, d = 2
        pos = jnp.array([[0.0, -3.0], [0.0, 0.0], [0.0, 3.0]])
        print(pooled_inverse_mass_diagonal(curv, pos))  # [0.25 6.]: 1/4, then the spread
    """
    curv = _finite_median(curvatures)
    var = jnp.var(positions, axis=0)
    fallback = jnp.where(jnp.isfinite(var) & (var > 0), var, 1.0)
    good = jnp.isfinite(curv) & (curv > 0)
    return jnp.where(good, 1.0 / jnp.where(good, curv, 1.0), fallback).astype(positions.dtype)


def pooled_inverse_mass_dense(hessians: jax.Array, positions: jax.Array) -> jax.Array:
    """Dense preconditioner :math:`v = \\bar H^{-1}`, :math:`\\bar H = \\mathrm{median}_c
    H^{(c)}` (elementwise, then symmetrized).

    ``hessians``: :math:`H^{(c)} = -\\nabla^2\\log\\gamma(y_c)`, shape ``(C, d, d)``;
    ``positions``: shape ``(C, d)``. With :math:`\\bar H = U\\,\\mathrm{diag}(\\mu)\\,U^\\top`,
    every eigenvalue :math:`\\mu_j` that is not finite and positive is replaced by
    :math:`1/\\mathrm{var}_c(u_j^\\top y_c)` (or 1), and :math:`v = U\\,\\mathrm{diag}(1/\\mu)
    \\,U^\\top`. Entries of :math:`\\bar H` that no chain measured finitely count as 0.
    Its diagonal equals :func:`pooled_inverse_mass_diagonal`'s when :math:`\\bar H` is
    diagonal. Returns ``v``, shape ``(d, d)``, symmetric positive definite. Cost:
    one :math:`d\\times d` eigendecomposition; memory :math:`O(Cd^2)` for the inputs.

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from numpyro_dilation.preconditioner import pooled_inverse_mass_dense

        cov = jnp.array([[10.0, 0.8], [0.8, 0.1]])  # a Gaussian: the same H at every point
        hess = jnp.broadcast_to(jnp.linalg.inv(cov), (3, 2, 2))
        print(pooled_inverse_mass_dense(hess, jnp.zeros((3, 2))))  # cov again
    """
    h = _finite_median(hessians)
    h = jnp.where(jnp.isfinite(h), h, 0.0)
    h = 0.5 * (h + h.T)
    mu, u = jnp.linalg.eigh(h)
    spread = jnp.var(positions @ u, axis=0)
    fallback = jnp.where(jnp.isfinite(spread) & (spread > 0), 1.0 / spread, 1.0)
    good = jnp.isfinite(mu) & (mu > 0)
    mu = jnp.where(good, mu, fallback)
    v = (u / mu) @ u.T
    return (0.5 * (v + v.T)).astype(positions.dtype)
