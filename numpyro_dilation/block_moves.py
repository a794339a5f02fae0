r"""Block-wise global moves: choices made in different blocks of coordinates recombine.

**Why.** The whole-vector global move (:mod:`numpyro_dilation.global_moves`) proposes
from the mixture :math:`q` of the :math:`M \le` ``max_modes`` modes found. A posterior
made of independent parts, each with a few modes (Many-Well: 16 double wells, :math:`2^{16}`
modes), has far more modes than any mixture can list, and a chain can then only move
between the combinations that were found.

**Blocks.** A partition of the flat coordinates into blocks :math:`b`
(:class:`~numpyro_dilation.blocks.BlockStructure`: a block label per coordinate; which
blocks, and the ``"auto"`` rule: :mod:`numpyro_dilation.blocks`). The *block marginal* of the
mixture on block :math:`b` is

.. math::

    q_b(y_b) = \sum_m w_m\big[(1-\delta)\,\mathcal N(y_b; \mu_{m,b}, S_{m,b}^2)
               + \delta\, t_\nu(y_b; \mu_{m,b}, S_{m,b}^2)\big],

with :math:`S_{m,b} = \operatorname{diag}(s_{m,i})_{i\in b}` the marginal proposal
standard deviations of component :math:`m` (the square roots of the diagonal of
:math:`s^2\Sigma_m`; cross-correlations inside a block are dropped, which keeps every
move exact and costs only efficiency), and the same weights :math:`w_m`, tail share
:math:`\delta` and degrees of freedom :math:`\nu` as :math:`q` (a Student-t's marginal
on :math:`|b|` coordinates is a Student-t with the same :math:`\nu`).

**Block move** (Metropolis-within-Gibbs with an independence proposal). Pick a block
:math:`b` uniformly among the *active* blocks (those whose coordinates differ between
the modes found), independently of the state; propose :math:`y' = (y_{-b}, y'_b)` with
:math:`y'_b \sim q_b`; accept with probability

.. math::

    \alpha = \min\Big(1, \frac{\gamma(y')\, q_b(y_b)}{\gamma(y)\, q_b(y'_b)}\Big).

The proposal of block :math:`b` does not depend on :math:`y_b`, so this is
Metropolis–Hastings on the conditional :math:`\pi(y_b \mid y_{-b})` and leaves
:math:`\pi` invariant for any fixed :math:`q_b`; a random block chosen independently of
the state keeps the mixture of these kernels reversible. A chain so changes the mode
of one block at a time, and changes made in different blocks recombine into modes that
no mixture component describes.

**Whole-vector moves and the log-evidence.** With blocks, the whole-vector move's
proposal is the defensive mixture :math:`\tilde q = (1-\beta)\, q + \beta\, q_\Pi` with
the product of the block marginals :math:`q_\Pi(y) = \prod_b q_b(y_b)`
(:data:`PRODUCT_SHARE` :math:`=\beta`), whose support holds every combination of the
blocks' modes; its importance weights :math:`\gamma(y')/\tilde q(y')` give the
log-evidence as before, :math:`\log\hat Z = \log\bar w` with
:math:`\operatorname{se} \approx \operatorname{sd}(w)/(\bar w\sqrt n)` over the
whole-vector proposals only (block proposals are not draws of a density on the whole
space). The estimate stays consistent when the draws' modes are not among the mixture's
components, as long as they are combinations of the blocks' modes; its error grows with
the number of blocks through the variance of the product's weights (for independent
blocks, :math:`1 + \operatorname{Var}(w)/\bar w^2 = \prod_b (1 + \chi^2(\pi_b\|q_b))`).
**How the two are mixed.** In the population sampler the global moves alternate: block
moves after the odd-numbered transitions, whole-vector moves after the even ones (a turn
shared by the chains, so that each transition computes one kind of move; a fixed cycle of
:math:`\pi`-invariant kernels leaves :math:`\pi` invariant). The kernel alone
(:func:`~numpyro_dilation.global_moves.build_independence_kernel` with ``blocks=True``)
draws the kind per move, a block move with probability :data:`BLOCK_MOVE_SHARE`. Without
active blocks (fewer than two) every global move is the whole-vector move with the mixture
:math:`q` alone, as without blocks.

**Cost.** A block move costs one gradient, as a whole-vector move, plus :math:`O(M d)`
arithmetic and :math:`O(M)` transcendental functions for :math:`q_b` at the two points;
a whole-vector move with the product costs :math:`O(M d)` transcendental functions for
:math:`q_\Pi` (per-block sums by a cumulative sum over the coordinates sorted by block).
Memory :math:`O(M d)` shared by the chains. On cheap targets this is more than the
gradient: Many-Well (:math:`d = 32`, :math:`M = 64`) took 2.2× the time of the
whole-vector moves alone for the same gradients on 2 CPU cores, 0.7× on a GPU with fewer
gradients (BENCHMARKS.md, "Block-wise global moves").

**Limits.** Block moves recombine only values that some mode in the mixture has: a well
whose other side no kept mode occupies is not corrected (measured at 256 chains on
Many-Well: 3 of 16 wells), and the log-evidence's standard error grows accordingly. They do
not make permutations (:math:`K!` label switching): a component's block proposed alone
collides with another component's value.

No NumPyro import.
"""

import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp

from numpyro_dilation.mode_mixture import (
    chi_square_sample,
    log_gauss_and_student,
    mixture_sample,
    slot_sample,
)

__all__ = [
    "BLOCK_MOVE_SHARE",
    "PRODUCT_SHARE",
    "block_logpdf",
    "block_marginal_logpdf",
    "block_sample",
    "product_sample",
]

BLOCK_MOVE_SHARE = 0.5
"""Share of the global moves that are block moves when at least two blocks are active.

**Example**

.. code-block:: python

    from numpyro_dilation.block_moves import BLOCK_MOVE_SHARE

    print(BLOCK_MOVE_SHARE)  # 0.5
"""

PRODUCT_SHARE = 0.5
r""":math:`\beta`: share of the product of block marginals in the whole-vector proposal
:math:`(1-\beta)q + \beta q_\Pi` when at least two blocks are active.

**Example**

.. code-block:: python

    from numpyro_dilation.block_moves import PRODUCT_SHARE

    print(PRODUCT_SHARE)  # 0.5
"""


def block_logpdf(mixture, y: jax.Array) -> jax.Array:
    r""":math:`\log q_b(y_b)` for every block label :math:`b = 0 .. d-1` (module docstring;
    labels that no coordinate has give 0), shape ``(d,)``, for a flat point ``y`` of shape
    ``(d,)``. Their sum is :math:`\log q_\Pi(y)`. Cost :math:`O(M d)`.

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from jax.scipy.stats import norm
        from numpyro_dilation.block_moves import block_logpdf
        from numpyro_dilation.blocks import block_structure
        from numpyro_dilation.modes import empty_mixture

        # one component N(0, diag(1, 4)) in 2-d, no Student-t share, blocks {0} and {1}
        mixture = empty_mixture(2, 1, dense=False)._replace(
            chol=jnp.array([[1.0, 2.0]]), log_weights=jnp.zeros(1), num_modes=jnp.array(1),
            tail_weight=jnp.array(0.0))
        mixture = mixture._replace(blocks=block_structure(mixture, ((0,), (1,))))
        y = jnp.array([0.5, 1.0])
        print(block_logpdf(mixture, y))  # [log N(0.5; 0, 1), log N(1; 0, 2^2)] = [-1.04 -1.74]
        print(norm.logpdf(0.5), norm.logpdf(1.0, 0.0, 2.0))
    """
    blocks = mixture.blocks
    z2 = ((y[None, :] - mixture.means) / blocks.scales) ** 2  # (M, d)
    log_s = jnp.log(blocks.scales)

    def per_block(values):  # (..., d) -> (..., d): sums per block label
        cum = jnp.cumsum(values[..., blocks.order], axis=-1)
        cum = jnp.concatenate([jnp.zeros_like(cum[..., :1]), cum], axis=-1)
        return cum[..., blocks.bounds[1:]] - cum[..., blocks.bounds[:-1]]

    r2, log_det = per_block(z2), per_block(log_s)
    size = (blocks.bounds[1:] - blocks.bounds[:-1]).astype(y.dtype)  # (d,)
    return _component_logpdf(mixture, r2, log_det, size)


def product_sample(rng_key: jax.Array, mixture) -> jax.Array:
    r"""One draw of :math:`q_\Pi = \prod_b q_b`, shape ``(d,)``: for each block its own
    component, Student-t or Gaussian choice and normal draws. Its block :math:`b` alone is
    a draw of :math:`q_b`.

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from numpyro_dilation.block_moves import product_sample
        from numpyro_dilation.blocks import block_structure
        from numpyro_dilation.modes import empty_mixture

        # components at (-3, -3) and (3, 3); blocks {0} and {1} draw their component apart
        mixture = empty_mixture(2, 2, dense=False)._replace(
            means=jnp.array([[-3.0, -3.0], [3.0, 3.0]]), chol=jnp.full((2, 2), 0.1),
            log_weights=jnp.log(jnp.full(2, 0.5)), num_modes=jnp.array(2))
        mixture = mixture._replace(blocks=block_structure(mixture, ((0,), (1,))))
        keys = jax.random.split(jax.random.key(0), 1000)
        ys = jax.vmap(lambda k: product_sample(k, mixture))(keys)
        print(jnp.mean(ys[:, 0] * ys[:, 1] < 0))  # about 0.5: mixed signs, no component has them
    """
    blocks = mixture.blocks
    dim = mixture.means.shape[-1]
    dtype = mixture.means.dtype
    key_m, key_z, key_t, key_u = jax.random.split(rng_key, 4)
    # a component per block by inverse CDF (d uniforms, not d * M Gumbel draws)
    m = slot_sample(key_m, mixture.log_weights, (dim,))[blocks.labels]
    z = jax.random.normal(key_z, (dim,), dtype)
    nu = mixture.tail_dof
    u = chi_square_sample(key_u, nu, (dim,), dtype)[blocks.labels]
    heavy = jax.random.bernoulli(key_t, mixture.tail_weight, (dim,))[blocks.labels]
    scale = jnp.where(heavy, jnp.sqrt(nu / u), 1.0).astype(dtype)
    index = jnp.arange(dim)
    return mixture.means[m, index] + blocks.scales[m, index] * scale * z


def _component_logpdf(mixture, r2, log_det, size):
    """:math:`\\log q` of a block from its per-component squared whitened distances
    ``r2``, log-determinants ``log_det`` (``(M, ...)``) and size: the weighted Gaussian and
    Student-t terms, summed over components (the first axis)."""
    delta = mixture.tail_weight
    gauss, student = log_gauss_and_student(r2, size, mixture.tail_dof)
    log_w = jnp.expand_dims(mixture.log_weights, tuple(range(1, r2.ndim))) - log_det
    terms = jnp.concatenate(
        [log_w + jnp.log1p(-delta) + gauss, log_w + jnp.log(delta) + student], axis=0
    )
    return logsumexp(terms, axis=0)


def block_marginal_logpdf(mixture, y: jax.Array, in_block: jax.Array) -> jax.Array:
    r""":math:`\log q_b(y_b)` of one block, given as a boolean mask ``in_block`` of shape
    ``(d,)``; ``y`` of shape ``(d,)`` (its other coordinates are ignored). Cost
    :math:`O(M d)`, with :math:`O(M)` transcendental functions.

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from numpyro_dilation.block_moves import block_logpdf, block_marginal_logpdf
        from numpyro_dilation.blocks import block_structure
        from numpyro_dilation.modes import empty_mixture

        mixture = empty_mixture(3, 1, dense=False)._replace(
            chol=jnp.array([[1.0, 2.0, 0.5]]), log_weights=jnp.zeros(1), num_modes=jnp.array(1))
        mixture = mixture._replace(blocks=block_structure(mixture, ((0, 2), (1,))))
        y = jnp.array([0.5, 1.0, -0.2])
        mask = jnp.array([True, False, True])
        print(block_marginal_logpdf(mixture, y, mask), block_logpdf(mixture, y)[0])  # equal
    """
    blocks = mixture.blocks
    z2 = jnp.where(in_block, ((y[None, :] - mixture.means) / blocks.scales) ** 2, 0.0)
    log_det = jnp.sum(jnp.where(in_block, jnp.log(blocks.scales), 0.0), axis=-1)
    size = jnp.sum(in_block).astype(y.dtype)
    return _component_logpdf(mixture, jnp.sum(z2, axis=-1), log_det, size)


def block_sample(rng_key: jax.Array, mixture) -> jax.Array:
    r"""One draw of a block marginal :math:`q_b` for any block, shape ``(d,)``: one
    component, one Gaussian or Student-t choice and normal draws on every coordinate (so its
    restriction to any block :math:`b` is a draw of :math:`q_b`). Cheaper than
    :func:`product_sample` (one component, not one per block).

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from numpyro_dilation.block_moves import block_sample
        from numpyro_dilation.blocks import block_structure
        from numpyro_dilation.modes import empty_mixture

        mixture = empty_mixture(2, 2, dense=False)._replace(
            means=jnp.array([[-3.0, -3.0], [3.0, 3.0]]), chol=jnp.full((2, 2), 0.1),
            log_weights=jnp.log(jnp.array([0.25, 0.75])), num_modes=jnp.array(2))
        mixture = mixture._replace(blocks=block_structure(mixture, ((0,), (1,))))
        keys = jax.random.split(jax.random.key(0), 2000)
        ys = jax.vmap(lambda k: block_sample(k, mixture))(keys)
        print(jnp.mean(ys[:, 0] > 0))  # about 0.75: block {0} drawn from its marginal
    """
    # the mixture's own sampler with the block marginals' (diagonal) scales as factors
    return mixture_sample(rng_key, mixture._replace(chol=mixture.blocks.scales))
