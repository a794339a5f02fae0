r"""Which blocks of coordinates the block-wise global moves use
(:mod:`numpyro_dilation.block_moves`), and their :class:`BlockStructure`.

**Which blocks** (``GlobalMoves(blocks=...)``): ``None`` (no block moves), the user's
groups of flat indices (coordinates not named form one more block), NumPyro sites
(``"sites"``, or groups of site names, translated by :func:`site_blocks`), or ``"auto"``
(:func:`detect_blocks`, with dense Laplace covariances only, that is up to
:data:`~numpyro_dilation.mode_settings.DENSE_MAX_DIM` dimensions): coordinates
:math:`i \ne j` are *coupled* when

1. the Laplace correlation :math:`|\Sigma_{m,ij}|/\sqrt{\Sigma_{m,ii}\Sigma_{m,jj}}` exceeds
   :data:`LOCAL_COUPLING` at some mode (the curvature couples them), or
2. the modes' values of :math:`i` and :math:`j` do not look like a product: with
   :math:`r_a` the number of modes whose value of :math:`i` is :math:`a`, :math:`c_b` the
   same for :math:`j` and :math:`M` modes, the pairs :math:`(a, b)` that no mode has
   would hold :math:`\sum_{\text{empty }(a,b)} r_a c_b / M \ge` :data:`EMPTY_CELL_MASS`
   modes if the values were independent (a ring, modes on a diagonal, modes scattered at
   random: their values do not recombine; :math:`2^k` wells whose signs recombine leave no
   such pair empty, or a few of low expected count when only some modes were found).
   Values of one coordinate are grouped by sorting the modes' means and cutting where
   the gap exceeds :data:`CLUSTER_GAP` times the largest marginal proposal sd of that
   coordinate;

and the blocks are the connected components of the coupling graph. With few modes the
rule has little evidence either way; two modes always couple the coordinates in which
they differ (the empty pairs would hold one mode), which only makes blocks larger.

**Cost.** :math:`O(M d^2)` time and memory once, at the mode finding, for ``"auto"``
(dense covariances only, :math:`d \le 100`); the structure holds :math:`O(M d)` numbers,
shared by the chains.

No NumPyro import.
"""

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

__all__ = [
    "CLUSTER_GAP",
    "EMPTY_CELL_MASS",
    "LOCAL_COUPLING",
    "BlockStructure",
    "block_structure",
    "check_blocks",
    "detect_blocks",
    "no_blocks",
    "site_blocks",
]

LOCAL_COUPLING = 0.1
"""Laplace correlation above which two coordinates are coupled (``blocks="auto"``).

**Example**

.. code-block:: python

    from numpyro_dilation.blocks import LOCAL_COUPLING

    print(LOCAL_COUPLING)  # 0.1
"""

CLUSTER_GAP = 2.0
"""Two modes' means of one coordinate are different values when they differ by more than
this many of the coordinate's largest marginal proposal sd (``blocks="auto"``).

**Example**

.. code-block:: python

    from numpyro_dilation.blocks import CLUSTER_GAP

    print(CLUSTER_GAP)  # 2.0
"""


EMPTY_CELL_MASS = 1.0
"""Expected number of modes, under independence, in the pairs of two coordinates' values
that no mode has, from which the two coordinates are coupled (``blocks="auto"``; module
docstring). Independent values leave such pairs empty with probability about
:math:`e^{-1}` at this threshold.

**Example**

.. code-block:: python

    from numpyro_dilation.blocks import EMPTY_CELL_MASS

    print(EMPTY_CELL_MASS)  # 1.0
"""


class BlockStructure(NamedTuple):
    """The blocks of the flat coordinates and the block marginals' scales; shared by the
    chains (a field of :class:`~numpyro_dilation.mode_mixture.ModeMixture`).

    labels
        Block of each coordinate, ``0 .. B-1``, shape ``(d,)`` int32.
    order, bounds
        The coordinates sorted by block (``(d,)``) and where each label's run starts in that
        order (``(d + 1,)``: block :math:`b` is ``order[bounds[b]:bounds[b + 1]]``), for
        per-block sums by differences of a cumulative sum (gathers, not scatters).
    active
        Labels of the active blocks (coordinates that differ between modes) first, then
        padding, shape ``(d,)`` int32.
    num_active
        Number of active blocks (int32 scalar); block moves run when it is at least 2.
    scales
        :math:`s_{m,i}`, the marginal proposal sds of each component, shape ``(M, d)``.

    **Example**

    .. code-block:: python

        from numpyro_dilation.blocks import no_blocks

        blocks = no_blocks(dim=3, max_modes=2)
        print(blocks.labels, blocks.num_active, blocks.scales.shape)  # [0 0 0] 0 (2, 3)
    """

    labels: jax.Array
    order: jax.Array
    bounds: jax.Array
    active: jax.Array
    num_active: jax.Array
    scales: jax.Array


def no_blocks(dim: int, max_modes: int, dtype=jnp.float32) -> BlockStructure:
    """One block, none active: no block moves.

    **Example**

    .. code-block:: python

        from numpyro_dilation.blocks import no_blocks

        print(no_blocks(2, 4).num_active)  # 0
    """
    return _structure(
        jnp.zeros((dim,), jnp.int32),
        jnp.zeros((dim,), jnp.int32),
        jnp.zeros((), jnp.int32),
        jnp.ones((max_modes, dim), dtype),
    )


def _structure(labels, active, num_active, scales) -> BlockStructure:
    dim = labels.shape[0]
    order = jnp.argsort(labels, stable=True).astype(jnp.int32)
    bounds = jnp.searchsorted(labels[order], jnp.arange(dim + 1), side="left")
    return BlockStructure(labels, order, bounds.astype(jnp.int32), active, num_active, scales)


def check_blocks(blocks: Any, dim: int | None = None, sites: bool = False) -> Any:
    """Validate ``GlobalMoves(blocks=...)`` before any work and return it normalized
    (groups as tuples). ``None``, ``"auto"``, or a sequence of groups of flat indices in
    ``[0, dim)`` (disjoint); with ``sites=True`` (the NumPyro kernel) also ``"sites"`` or
    groups of site names. Raises ``ValueError`` naming ``blocks`` otherwise.

    **Example**

    .. code-block:: python

        from numpyro_dilation.blocks import check_blocks

        print(check_blocks([[0, 2], [1]], dim=4))  # ((0, 2), (1,))
        try:
            check_blocks([[0, 1], [1]], dim=4)
        except ValueError as err:
            print(err)  # index 1 is in two groups
    """
    if blocks is None:
        return None
    if isinstance(blocks, str) and (blocks == "auto" or (sites and blocks == "sites")):
        return blocks
    expected = (
        "None, 'auto'" + (", 'sites'" if sites else "") + " or a sequence of groups of flat "
        "indices" + (" or of site names" if sites else "")
    )
    if isinstance(blocks, str) or not isinstance(blocks, Sequence) or not blocks:
        raise ValueError(f"`blocks` must be {expected}, got {blocks!r}.")
    groups = []
    for group in blocks:
        if isinstance(group, (str, int, np.integer)) or not isinstance(group, Sequence):
            raise ValueError(f"`blocks` must be {expected}; group {group!r} is not a sequence.")
        if not group:
            raise ValueError("`blocks`: every group must be non-empty.")
        groups.append(tuple(group))
    names = [x for g in groups for x in g]
    if all(isinstance(x, str) for x in names):
        if not sites:
            raise ValueError(f"`blocks` must be {expected}: site names need the NumPyro kernel.")
        kinds = names
    elif all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in names):
        kinds = [int(x) for x in names]
        bad = [x for x in kinds if x < 0 or (dim is not None and x >= dim)]
        if bad:
            raise ValueError(f"`blocks`: indices must lie in [0, {dim}), got {bad[:5]}.")
        groups = [tuple(int(x) for x in g) for g in groups]
    else:
        raise ValueError(f"`blocks` must be {expected}: do not mix indices and names.")
    seen = set()
    for x in kinds:
        if x in seen:
            raise ValueError(f"`blocks`: {x!r} is in two groups (blocks must be disjoint).")
        seen.add(x)
    return tuple(groups)


def site_blocks(blocks: Any, sites: dict[str, Any]) -> Any:
    """NumPyro site blocks as groups of flat indices of ``ravel_pytree(sites)`` (one
    chain's unconstrained values, a dict ordered as ``ravel_pytree`` orders it: by
    name): ``"sites"`` gives one group per site, groups of names the union of their
    sites. Other values are returned unchanged. Raises ``ValueError`` for an unknown site,
    or for names when ``sites`` is not a dict (a ``potential_fn``'s position).

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from numpyro_dilation.blocks import site_blocks

        sites = {"b": jnp.zeros(2), "a": jnp.zeros(())}  # flat order: a, b[0], b[1]
        print(site_blocks("sites", sites))  # ((0,), (1, 2))
        print(site_blocks([["b"]], sites))  # ((1, 2),)
    """
    if blocks is None or isinstance(blocks, str) and blocks == "auto" or not _names(blocks):
        return blocks
    if not isinstance(sites, dict):
        raise ValueError(
            "`GlobalMoves.blocks`: site names need a model (a `potential_fn`'s position "
            "has no sites); give groups of flat indices."
        )
    offsets, start = {}, 0
    for name in sorted(sites):
        size = int(np.size(sites[name]))
        offsets[name] = tuple(range(start, start + size))
        start += size
    groups = [(name,) for name in sorted(sites)] if blocks == "sites" else blocks
    unknown = [n for g in groups for n in g if n not in offsets]
    if unknown:
        raise ValueError(
            f"`blocks`: unknown sites {unknown}; the model's sampled sites are {sorted(sites)}."
        )
    return tuple(
        tuple(i for name in g for i in offsets[name]) for g in groups if any(offsets[n] for n in g)
    )


def _names(blocks) -> bool:
    return blocks == "sites" or any(isinstance(x, str) for g in blocks for x in g)


def _given_labels(groups: tuple, dim: int) -> np.ndarray:
    """Labels of a user partition: group k gets label k, the coordinates not named the
    next label."""
    labels = np.full(dim, len(groups), np.int32)
    for k, group in enumerate(groups):
        labels[list(group)] = k
    return labels


def _marginal_scales(chol: jax.Array) -> jax.Array:
    """:math:`s_{m,i}`: square roots of the diagonal of :math:`L_m L_m^\\top` (dense factors
    ``(M, d, d)``) or the factors themselves (diagonal, ``(M, d)``)."""
    if chol.ndim == 2:
        return chol
    return jnp.sqrt(jnp.sum(chol * chol, axis=-1))


def _clusters(values: jax.Array, gap: jax.Array, used: jax.Array) -> jax.Array:
    """Cluster index of each mode's value of one coordinate (``values``, ``used`` of shape
    ``(M,)``): sorted, a new cluster where the gap to the previous value exceeds ``gap``;
    ``-1`` for unused slots."""
    order = jnp.argsort(jnp.where(used, values, jnp.inf))
    sorted_values = jnp.where(used, values, jnp.inf)[order]
    jumps = jnp.concatenate([jnp.zeros(1, bool), jnp.diff(sorted_values) > gap])
    cluster_sorted = jnp.cumsum(jumps)
    cluster = jnp.zeros_like(cluster_sorted).at[order].set(cluster_sorted)
    return jnp.where(used, cluster, -1).astype(jnp.int32)


def _value_clusters(mixture, scales: jax.Array, used: jax.Array) -> jax.Array:
    """Cluster labels ``(d, M)`` of the used modes' values of every coordinate (``-1`` for
    unused slots), gaps of :data:`CLUSTER_GAP` times the coordinate's largest sd."""
    gap = CLUSTER_GAP * jnp.max(jnp.where(used[:, None], scales, 0.0), axis=0)  # (d,)
    return jax.vmap(_clusters, in_axes=(1, 0, None))(mixture.means, gap, used)


def _num_distinct(keys: jax.Array) -> jax.Array:
    """Number of distinct non-negative values along the last axis."""
    s = jnp.sort(keys, axis=-1)
    new = jnp.concatenate([s[..., :1] >= 0, s[..., 1:] != s[..., :-1]], axis=-1) & (s >= 0)
    return jnp.sum(new, axis=-1)


def detect_blocks(mixture) -> tuple[jax.Array, jax.Array]:
    """The ``"auto"`` rule (module docstring) on a mixture with dense factors: returns
    ``(labels, varies)``, the block label of each coordinate ``(d,)`` and whether it takes
    several values across the modes ``(d,)``.

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from jax.scipy.special import logsumexp
        from numpyro_dilation.blocks import detect_blocks
        from numpyro_dilation.modes import GlobalMoves, find_modes

        def two_wells(x):  # modes at +-2 in each coordinate, independently: 4 modes
            return jnp.sum(logsumexp(-2.0 * (x[:, None] - jnp.array([-2.0, 2.0])) ** 2, -1))

        starts = jnp.array([[-2.0, -2.0], [-2.0, 2.0], [2.0, -2.0], [2.0, 2.0]]) * 1.1
        mixture, _ = find_modes(starts, two_wells, 0.1, GlobalMoves(max_modes=8))
        print(detect_blocks(mixture))  # ([0 1], [True True]): two blocks of one coordinate
    """
    chol = mixture.chol
    max_modes, dim = mixture.means.shape
    used = jnp.arange(max_modes) < mixture.num_modes
    clusters = _value_clusters(mixture, _marginal_scales(chol), used)  # (d, M)
    counts = _num_distinct(clusters)  # (d,)
    coupled = _empty_cell_mass(clusters, used) >= EMPTY_CELL_MASS
    if chol.ndim == 3:
        cov = jnp.einsum("mik,mjk->mij", chol, chol)
        sd = jnp.sqrt(jnp.diagonal(cov, axis1=1, axis2=2))
        corr = cov / (sd[:, :, None] * sd[:, None, :])
        local = jnp.any(used[:, None, None] & (jnp.abs(corr) > LOCAL_COUPLING), axis=0)
        coupled = coupled | local
    coupled = coupled & ~jnp.eye(dim, dtype=bool)
    return _components(coupled), counts >= 2


def _empty_cell_mass(clusters: jax.Array, used: jax.Array) -> jax.Array:
    """For every pair of coordinates ``(d, d)``: the expected number of modes, under
    independence, in the pairs of values that no mode has, :math:`M - \\sum_{\\text{seen
    }(a,b)} r_a c_b / M` (module docstring). ``clusters``: ``(d, M)`` value labels."""
    both = used[:, None] & used[None, :]
    same = (clusters[:, :, None] == clusters[:, None, :]) & both  # (d, M, M)
    same = same.astype(jnp.float32)
    num = jnp.maximum(jnp.sum(used), 1).astype(jnp.float32)
    rows = jnp.sum(same, axis=-1)  # (d, M): modes sharing mode m's value of coordinate i
    in_cell = jnp.einsum("imn,jmn->ijm", same, same)  # modes in mode m's pair of values
    seen = jnp.sum(
        jnp.where(used, rows[:, None, :] * rows[None, :, :] / jnp.maximum(in_cell, 1.0), 0.0),
        axis=-1,
    )
    return num - seen / num


def _components(adjacency: jax.Array) -> jax.Array:
    """Connected components of a symmetric boolean ``(d, d)`` graph, labelled ``0 .. B-1``
    in order of their smallest coordinate (label propagation to the smallest index)."""
    dim = adjacency.shape[0]

    def spread(carry):
        labels, _ = carry
        neighbour = jnp.min(jnp.where(adjacency, labels[None, :], dim), axis=1)
        new = jnp.minimum(labels, neighbour)
        new = new[new]  # pointer jumping
        return new, jnp.any(new != labels)

    labels, _ = lax.while_loop(
        lambda c: c[1], spread, (jnp.arange(dim, dtype=jnp.int32), jnp.ones((), bool))
    )
    is_root = labels == jnp.arange(dim)
    index = jnp.cumsum(is_root) - 1
    return index[labels].astype(jnp.int32)


def block_structure(mixture, blocks: Any) -> BlockStructure:
    """The :class:`BlockStructure` of ``mixture`` for ``GlobalMoves(blocks=...)`` (already
    checked and, in the NumPyro kernel, translated to flat indices): ``None`` gives
    :func:`no_blocks`, ``"auto"`` :func:`detect_blocks` (none with diagonal factors),
    groups of indices their partition. Active blocks: those holding a coordinate whose
    modes' means take several values.

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from jax.scipy.special import logsumexp
        from numpyro_dilation.blocks import block_structure
        from numpyro_dilation.modes import GlobalMoves, find_modes

        def two_wells(x):  # modes at +-2 in each of 3 coordinates: 8 modes
            return jnp.sum(logsumexp(-2.0 * (x[:, None] - jnp.array([-2.0, 2.0])) ** 2, -1))

        starts = jnp.array([[-2.0, -2.0, 2.0], [2.0, 2.0, -2.0]])  # 2 of the 8 modes
        mixture, _ = find_modes(starts, two_wells, 0.1, GlobalMoves(max_modes=8))
        blocks = block_structure(mixture, ((0,), (1,), (2,)))
        print(blocks.labels, blocks.num_active)  # [0 1 2] 3: each well can change alone
    """
    max_modes, dim = mixture.means.shape
    dtype = mixture.means.dtype
    if blocks is None or (blocks == "auto" and mixture.chol.ndim == 2):
        return no_blocks(dim, max_modes, dtype)
    scales = _marginal_scales(mixture.chol).astype(dtype)
    used = jnp.arange(max_modes) < mixture.num_modes
    if blocks == "auto":
        labels, varies = detect_blocks(mixture)
    else:
        labels = jnp.asarray(_given_labels(blocks, dim))
        varies = _num_distinct(_value_clusters(mixture, scales, used)) >= 2
    block_varies = jax.ops.segment_max(varies.astype(jnp.int32), labels, num_segments=dim) > 0
    (active,) = jnp.nonzero(block_varies, size=dim, fill_value=0)
    return _structure(
        labels, active.astype(jnp.int32), jnp.sum(block_varies).astype(jnp.int32), scales
    )
