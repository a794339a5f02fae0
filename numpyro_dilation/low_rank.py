r"""Diagonal-plus-low-rank preconditioners, estimated from the chains' gradients.

A diagonal preconditioner :math:`D = \mathrm{diag}(v)` whitens each coordinate but not
their correlations: in whitened coordinates :math:`w = D^{-1/2}y` the curvature is
:math:`\hat H = D^{1/2} H D^{1/2}`, whose diagonal is about 1 (that is how :math:`v` was
chosen) but whose eigenvalues need not be. MALA's mixing time grows with the spread of
those eigenvalues: on the 1000-group hierarchical model of ``benchmarks/models.py`` they
are 0.19 and 1.81 (mu against the mean of the group effects), and the chains needed
32 transitions per draw.

The correction used here is

.. math:: A = D^{1/2}\,(I + Q\,\mathrm{diag}(s)\,Q^\top)\,D^{1/2},

with :math:`Q` (``(d, r)``, orthonormal columns) and :math:`s > -1` (``(r,)``): the
inverse mass :math:`A` equals :math:`D` outside the span of :math:`Q`, and along
:math:`q_j` it is :math:`D^{1/2}` times :math:`1 + s_j`. Its square root is
:math:`L = D^{1/2}(I + Q\,\mathrm{diag}(\sqrt{1+s} - 1)\,Q^\top)`, its inverse square
root :math:`L^{-1} = (I + Q\,\mathrm{diag}(1/\sqrt{1+s} - 1)\,Q^\top)D^{-1/2}`: every
product costs :math:`O(dr)` and memory is :math:`O(dr)` (shared by the chains), never
:math:`d\times d`.

**Where the directions come from.** For a Gaussian target, :math:`\nabla\log\gamma(y) =
-H(y - m)`, so each chain's whitened *residual*

.. math:: \rho_c = D^{1/2}\nabla\log\gamma(y_c) + D^{-1/2} y_c
    = -(\hat H - I)(w_c - w_m)

lies in the range of :math:`\hat H - I`, exactly, at any position: it is zero where the
diagonal preconditioner is already right. (The diagonal of :math:`\hat H - I` is about 0,
so its eigenvalues come in signs of both kinds: one correlation makes a direction too
wide and one too narrow, a rank of 2.) The top-:math:`r` principal directions of the
chains' centred residuals (one SVD of the ``(C, d)`` residual matrix,
:math:`O(C^2 d)`) therefore span the directions the diagonal gets wrong, with no extra
gradient. Along them the curvature is measured with :math:`r` Hessian-vector products per
chain, :math:`P_c = Q^\top \hat H_c Q` (``(r, r)``), pooled by the elementwise median over
chains as the diagonal is (:mod:`numpyro_dilation.preconditioner`);
:math:`\bar P = R\,\mathrm{diag}(\mu)\,R^\top` gives the directions :math:`QR` and
:math:`1 + s = 1/\mu` (clipped to :math:`[1/\kappa, \kappa]`, :data:`MAX_CORRECTION`;
:math:`s = 0` where :math:`\mu` is not finite and positive, or where the chains' own
curvatures along that direction disagree by more than :data:`MAX_CURVATURE_SPREAD`: a
funnel's or a heavy tail's directions are left to the diagonal). For a Gaussian whose
:math:`\hat H - I` has rank :math:`\le r`, :math:`A = H^{-1}` exactly. For other targets the
directions are where the chains' gradients depart most from the diagonal model, and any
fixed positive definite :math:`A` keeps MALA exact: the estimate decides efficiency only.

Shapes: positions and gradients ``(C, d)`` (flat, ``ravel_pytree`` order), the diagonal
``(d,)``. No NumPyro import.
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = [
    "CHAINS_PER_DIRECTION",
    "MAX_CORRECTION",
    "MAX_CURVATURE_SPREAD",
    "DiagonalPlusLowRank",
    "low_rank_size",
    "residual_directions",
    "low_rank_correction",
]

MAX_CORRECTION = 100.0
r""":math:`\kappa`: the factor :math:`1 + s_j` by which the low-rank part may widen
(at most :math:`\kappa`) or narrow (at least :math:`1/\kappa`) the diagonal
preconditioner along one direction.

**Example**

.. code-block:: python

    from numpyro_dilation.low_rank import MAX_CORRECTION

    print(MAX_CORRECTION)  # 100.0
"""


MAX_CURVATURE_SPREAD = 2.0
r"""A direction is corrected only where the chains' curvatures along it agree: their
upper quartile at most twice their lower quartile. A Gaussian's curvature is the same
everywhere (ratio 1); in a funnel or a heavy tail it changes by orders of magnitude across
the posterior, and a fixed wide or narrow metric along such a direction made the horseshoe
regression's MALA steps diverge at every draw (measured: 25,600 of 25,600 draws with a
divergent transition, against 2,230 with the diagonal alone).

**Example**

.. code-block:: python

    from numpyro_dilation.low_rank import MAX_CURVATURE_SPREAD

    print(MAX_CURVATURE_SPREAD)  # 2.0
"""


class DiagonalPlusLowRank(NamedTuple):
    r"""The inverse mass :math:`A = D^{1/2}(I + Q\,\mathrm{diag}(s)\,Q^\top)D^{1/2}`
    (module docstring), a pytree that the kernels take as ``inverse_mass_matrix``.

    - **diagonal** - :math:`v`, shape ``(d,)``, positive.
    - **directions** - :math:`Q`, shape ``(d, r)``, orthonormal columns (whitened
      coordinates).
    - **scales** - :math:`s`, shape ``(r,)``, each :math:`> -1`.

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from numpyro_dilation.low_rank import DiagonalPlusLowRank

        q = jnp.array([[1.0], [1.0]]) / jnp.sqrt(2.0)  # the direction (1, 1)
        a = DiagonalPlusLowRank(jnp.array([1.0, 4.0]), q, jnp.array([3.0]))
        print(a.to_dense())  # [[2.5 3.], [3. 10.]]
        x = jnp.array([1.0, -1.0])
        print(a.matvec(x), a.inv_sqrt_matvec(a.sqrt_matvec(x)))  # A x = [-0.5 -7.], x again
    """

    diagonal: jax.Array
    directions: jax.Array
    scales: jax.Array

    def _inner(self, x: jax.Array, factor: jax.Array) -> jax.Array:
        """:math:`(I + Q\\,\\mathrm{diag}(f)\\,Q^\\top)x` for ``factor`` :math:`f`."""
        q = self.directions.astype(x.dtype)
        return x + q @ (factor.astype(x.dtype) * (q.T @ x))

    def matvec(self, x: jax.Array) -> jax.Array:
        """:math:`Ax`, shape ``(d,)``."""
        root = jnp.sqrt(self.diagonal).astype(x.dtype)
        return root * self._inner(root * x, self.scales)

    def sqrt_matvec(self, x: jax.Array) -> jax.Array:
        """:math:`Lx` with :math:`LL^\\top = A`."""
        root = jnp.sqrt(self.diagonal).astype(x.dtype)
        return root * self._inner(x, jnp.sqrt(1.0 + self.scales) - 1.0)

    def inv_sqrt_matvec(self, x: jax.Array) -> jax.Array:
        """:math:`L^{-1}x`."""
        root = jnp.sqrt(self.diagonal).astype(x.dtype)
        return self._inner(x / root, jax.lax.rsqrt(1.0 + self.scales) - 1.0)

    def to_dense(self) -> jax.Array:
        """:math:`A` as a ``(d, d)`` matrix (for checks; :math:`O(d^2)` memory)."""
        root = jnp.sqrt(self.diagonal)
        q = self.directions
        inner = jnp.eye(root.shape[0], dtype=root.dtype) + (q * self.scales) @ q.T
        return root[:, None] * inner * root[None, :]


CHAINS_PER_DIRECTION = 4
"""Chains per low-rank direction: a population of :math:`C` chains estimates at most
:math:`C/4` directions (:func:`low_rank_size`).

**Example**

.. code-block:: python

    from numpyro_dilation.low_rank import CHAINS_PER_DIRECTION

    print(CHAINS_PER_DIRECTION)  # 4
"""


def low_rank_size(rank: int, num_chains: int, dim: int) -> int:
    """The rank used for a population of ``num_chains`` chains in ``dim`` dimensions when
    ``rank`` is asked: at most one direction per :data:`CHAINS_PER_DIRECTION` (4) chains
    (the directions and their median curvature come from the chains) and at most
    ``dim - 1``; 0 (diagonal only) for a chain alone.

    **Example**

    .. code-block:: python

        from numpyro_dilation.low_rank import low_rank_size

        print(low_rank_size(8, 256, 1001), low_rank_size(8, 12, 1001), low_rank_size(8, 1, 5))
        # 8 3 0
    """
    return max(min(int(rank), int(num_chains) // CHAINS_PER_DIRECTION, int(dim) - 1), 0)


def residual_directions(
    positions: jax.Array, gradients: jax.Array, diagonal: jax.Array, rank: int
) -> jax.Array:
    r"""The top-``rank`` principal directions :math:`Q` (``(d, rank)``, orthonormal) of the
    chains' centred whitened residuals :math:`\rho_c = D^{1/2}\nabla\log\gamma(y_c) +
    D^{-1/2}y_c` (module docstring). ``positions``, ``gradients``: ``(C, d)``;
    ``diagonal``: :math:`v`, ``(d,)``. Non-finite residuals count as 0.

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from numpyro_dilation.low_rank import residual_directions

        prec = jnp.array([[2.0, 1.0, 0.0], [1.0, 2.0, 0.0], [0.0, 0.0, 5.0]])
        y = jax.random.normal(jax.random.key(0), (16, 3))  # 16 chains
        q = residual_directions(y, -y @ prec, 1.0 / jnp.diag(prec), 2)
        print(q.round(3))  # spans (x1, x2), which are correlated; its last row is 0 (x3 is not)
    """
    root = jnp.sqrt(diagonal)
    rho = gradients * root + positions / root
    rho = jnp.where(jnp.isfinite(rho), rho, 0.0)
    rho = rho - jnp.mean(rho, axis=0)
    _, _, vt = jnp.linalg.svd(rho, full_matrices=False)
    return vt[:rank].T


def low_rank_correction(
    positions: jax.Array,
    gradients: jax.Array,
    diagonal: jax.Array,
    rank: int,
    hvp_fn: Callable[[jax.Array, jax.Array], jax.Array],
    map_fn: Callable = jax.vmap,
) -> DiagonalPlusLowRank:
    r"""The pooled :class:`DiagonalPlusLowRank` preconditioner of rank ``rank`` on top of
    the diagonal ``diagonal`` (module docstring): directions from
    :func:`residual_directions`, scales from the median over chains of the curvature
    along them. ``hvp_fn(y, u)`` returns :math:`-\nabla^2\log\gamma(y)\,u` for one chain's
    flat position ``y`` and direction ``u`` (both ``(d,)``); it is called ``rank`` times
    per chain, over the chains with ``map_fn`` (``jax.vmap``, or
    :func:`~numpyro_dilation.batching.map_items`'s one at a time). ``positions``,
    ``gradients``: ``(C, d)``. Cost: one SVD of a ``(C, d)`` matrix, ``rank`` Hessian-vector
    products per chain, one ``(rank, rank)`` eigendecomposition.

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from numpyro_dilation.low_rank import low_rank_correction

        prec = jnp.array([[2.0, 1.9], [1.9, 2.0]])  # correlation 0.95
        y = jax.random.normal(jax.random.key(0), (16, 2))  # 16 chains
        a = low_rank_correction(y, -y @ prec, jnp.full(2, 0.5), 2, lambda y, u: prec @ u)
        print(a.to_dense() @ prec)  # the identity: A is the covariance
    """
    q = residual_directions(positions, gradients, diagonal, rank).astype(positions.dtype)
    root = jnp.sqrt(diagonal).astype(positions.dtype)
    scaled = (root[:, None] * q).T  # (r, d): D^{1/2} q_j in target coordinates

    def along(y):  # Q^T D^{1/2} H D^{1/2} Q at one chain, (r, r)
        return scaled @ jax.vmap(lambda u: hvp_fn(y, u))(scaled).T

    curvatures = map_fn(along)(positions)
    curv = jnp.nanmedian(jnp.where(jnp.isfinite(curvatures), curvatures, jnp.nan), axis=0)
    usable = jnp.all(jnp.isfinite(curv))
    curv = jnp.where(usable, 0.5 * (curv + curv.T), jnp.eye(q.shape[1], dtype=curv.dtype))
    mu, rotation = jnp.linalg.eigh(curv)
    # each chain's curvature along each final direction: a fixed metric suits a direction
    # only if the curvature there is about the same wherever the chains are
    per_chain = jnp.einsum("jk,cjl,lk->ck", rotation, curvatures, rotation)
    per_chain = jnp.where(jnp.isfinite(per_chain), per_chain, jnp.nan)
    low, high = jnp.nanquantile(per_chain, jnp.array([0.25, 0.75]), axis=0)
    steady = (low > 0) & (high <= MAX_CURVATURE_SPREAD * low)
    good = jnp.isfinite(mu) & (mu > 0) & steady
    factor = jnp.clip(1.0 / jnp.where(good, mu, 1.0), 1.0 / MAX_CORRECTION, MAX_CORRECTION)
    return DiagonalPlusLowRank(diagonal, q @ rotation, jnp.where(good, factor - 1.0, 0.0))
