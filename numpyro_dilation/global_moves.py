r"""Independence Metropolis–Hastings moves between modes, and the log-evidence.

Given the mode mixture :math:`q` of :mod:`numpyro_dilation.modes` (fixed
during sampling), a global move proposes :math:`y' \sim q` independently of
the current :math:`y` and accepts with probability

.. math:: \alpha = \min\Big(1, \frac{\gamma(y')\,q(y)}{\gamma(y)\,q(y')}\Big),

which leaves :math:`\pi \propto \gamma` invariant for any :math:`q` whose
support covers :math:`\pi`'s. A chain can so jump between modes in one step,
and the pooled (and per-chain) mode frequencies converge to the true weights.

Each proposal is also an importance sample: with :math:`w = \gamma(y')/q(y')`,
:math:`\hat Z = \bar w` is an unbiased estimate of the normalizing constant
:math:`Z = \int\gamma`, and :math:`\operatorname{se}(\log\hat Z) \approx
\operatorname{sd}(w)/(\bar w\sqrt n)`. :class:`EvidenceAccumulator` keeps the
running sums in log space, per chain.
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.flatten_util import ravel_pytree
from jax.scipy.special import logsumexp

from numpyro_dilation.block_moves import (
    BLOCK_MOVE_SHARE,
    PRODUCT_SHARE,
    block_logpdf,
    block_marginal_logpdf,
    block_sample,
    product_sample,
)
from numpyro_dilation.kernel import DilationState
from numpyro_dilation.modes import ModeMixture, mixture_logpdf, mixture_sample

__all__ = [
    "GlobalMoveInfo",
    "EvidenceAccumulator",
    "build_independence_kernel",
    "init_evidence",
    "update_evidence",
    "combine_evidence",
]


class GlobalMoveInfo(NamedTuple):
    """Diagnostics of one global move.

    acceptance_rate
        :math:`\\alpha` (0 when the mixture has no mode).
    is_accepted
        Whether the chain jumped.
    is_divergent
        Non-finite log-density or gradient at the proposal (rejected).
    log_weight
        :math:`\\log\\gamma(y') - \\log q(y')` of the proposal (``-inf`` if divergent);
        an importance weight of the evidence unless ``is_block_move``.
    is_block_move
        Whether the move was a block move (:mod:`numpyro_dilation.block_moves`).

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from numpyro_dilation import kernel
        from numpyro_dilation.global_moves import build_independence_kernel
        from numpyro_dilation.modes import find_modes

        logdensity = lambda y: -0.5 * jnp.sum((y - 1.0) ** 2)  # N(1, I) in 2-d: Z = 2 pi
        mixture, _ = find_modes(jnp.zeros((4, 2)), logdensity, 0.5)  # one mode, at (1, 1)
        state = kernel.init(jnp.array([1.0, 2.0]), logdensity)  # a chain at lambda = 1
        state, info = build_independence_kernel()(jax.random.key(0), state, logdensity, mixture)
        print(info.acceptance_rate, info.is_accepted, info.is_divergent)  # high: q is close to pi
        print(info.log_weight)  # log gamma(y') - log q(y'), near log Z = log(2 pi) = 1.84
    """

    acceptance_rate: jax.Array
    is_accepted: jax.Array
    is_divergent: jax.Array
    log_weight: jax.Array
    is_block_move: jax.Array


class EvidenceAccumulator(NamedTuple):
    """Running :math:`\\log\\sum w`, :math:`\\log\\sum w^2` and count :math:`n`;
    ``reverse``: whether the :math:`w` are reverse weights :math:`\\tilde q(y)/\\gamma(y)` at
    the chains' states (the modified harmonic mean, :math:`\\hat Z = 1/\\bar w`, used with
    label swaps: :func:`combine_evidence`) instead of importance weights
    :math:`\\gamma(y')/q(y')` of the proposals (:math:`\\hat Z = \\bar w`).

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from jax.scipy.stats import norm
        from numpyro_dilation.global_moves import init_evidence, update_evidence

        # importance weights w = gamma(y) / q(y): gamma(y) = exp(-y^2 / 2), q = N(0, 2^2)
        y = 2.0 * jax.random.normal(jax.random.key(0), (100,))
        acc = init_evidence()
        for log_w in -0.5 * y**2 - norm.logpdf(y, 0.0, 2.0):
            acc = update_evidence(acc, log_w)
        print(acc.count, acc.log_sum_w - jnp.log(acc.count))  # 100, about 0.92 = log sqrt(2 pi)
        print(acc.log_sum_w2)  # log of the sum of w^2, for the standard error
    """

    log_sum_w: jax.Array
    log_sum_w2: jax.Array
    count: jax.Array
    reverse: jax.Array


def init_evidence(dtype=jnp.float32, reverse: bool = False) -> EvidenceAccumulator:
    """Empty accumulator: :math:`\\log\\sum w = \\log\\sum w^2 = -\\infty`, :math:`n = 0`
    (``reverse``: of reverse weights, see :class:`EvidenceAccumulator`).

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from numpyro_dilation.global_moves import init_evidence, update_evidence

        acc = init_evidence()
        print(acc)  # log_sum_w = log_sum_w2 = -inf (empty sums), count = 0
        acc = update_evidence(acc, jnp.log(2.0))  # one importance weight w = 2
        print(acc.log_sum_w, acc.count)  # 0.693 = log 2, 1
    """
    return EvidenceAccumulator(
        jnp.asarray(-jnp.inf, dtype),
        jnp.asarray(-jnp.inf, dtype),
        jnp.zeros((), jnp.int32),
        jnp.asarray(reverse, bool),
    )


def update_evidence(acc: EvidenceAccumulator, log_weight: jax.Array) -> EvidenceAccumulator:
    """Add one importance weight (a divergent proposal counts as :math:`w = 0`).

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from numpyro_dilation.global_moves import combine_evidence, init_evidence, update_evidence

        acc = init_evidence()
        for w in (1.0, 3.0, 0.0, 4.0):  # w = 0: log w = -inf, e.g. a divergent proposal
            acc = update_evidence(acc, jnp.log(w))
        print(acc.count, jnp.exp(acc.log_sum_w), jnp.exp(acc.log_sum_w2))  # 4, 8 and 26
        print(combine_evidence(acc))  # (0.693, 0.395): log(8 / 4) and its standard error
    """
    return EvidenceAccumulator(
        jnp.logaddexp(acc.log_sum_w, log_weight),
        jnp.logaddexp(acc.log_sum_w2, 2 * log_weight),
        acc.count + 1,
        acc.reverse,
    )


def combine_evidence(acc: EvidenceAccumulator) -> tuple[float, float]:
    """Pool accumulators (any batch shape) into :math:`(\\log\\hat Z, \\operatorname{se})`.

    :math:`\\log\\hat Z = \\log\\sum w - \\log n`;
    :math:`\\operatorname{se}^2 \\approx (\\overline{w^2}/\\bar w^2 - 1)/n` (independent
    proposals). Reverse weights (``acc.reverse``, the modified harmonic mean):
    :math:`\\log\\hat Z = -(\\log\\sum w - \\log n)`, and since the weights of one chain are
    autocorrelated, the relative standard error of :math:`\\bar w` comes from the spread of
    the chains' own means, :math:`\\operatorname{sd}_c(\\bar w_c)/(\\bar w\\sqrt C)` (with at
    least two chains; the formula above otherwise).

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from jax.scipy.stats import norm
        from numpyro_dilation.global_moves import combine_evidence, init_evidence, update_evidence

        # 4 chains' accumulators of w = gamma(y) / q(y): gamma(y) = exp(-y^2 / 2), q = N(0, 2^2)
        y = 2.0 * jax.random.normal(jax.random.key(0), (50, 4))
        log_w = -0.5 * y**2 - norm.logpdf(y, 0.0, 2.0)
        acc = jax.vmap(lambda _: init_evidence())(jnp.arange(4))  # batch shape (4,)
        for row in log_w:
            acc = jax.vmap(update_evidence)(acc, row)
        print(combine_evidence(acc))  # about (0.92, 0.05): log sqrt(2 pi) = 0.919, all chains
    """
    log_sum_w = logsumexp(jnp.asarray(acc.log_sum_w))
    log_sum_w2 = logsumexp(jnp.asarray(acc.log_sum_w2))
    n = jnp.sum(jnp.asarray(acc.count))
    log_z = log_sum_w - jnp.log(n)
    rel_var = jnp.exp(log_sum_w2 - 2 * log_sum_w + jnp.log(n)) - 1.0
    se = jnp.sqrt(jnp.maximum(rel_var, 0.0) / n)
    if not bool(jnp.any(jnp.asarray(acc.reverse))):
        return float(log_z), float(se)
    counts = np.asarray(acc.count, dtype=float).reshape(-1)
    if counts.size >= 2 and np.all(counts > 0):  # chains' means: their spread is the error
        means = np.exp(np.asarray(acc.log_sum_w, dtype=float).reshape(-1) - float(log_z))
        means = means / counts  # each chain's mean weight over the pooled mean
        se = np.std(means, ddof=1) / np.sqrt(counts.size)
    return -float(log_z), float(se)


def build_independence_kernel(blocks: bool = False) -> Callable:
    """Independence Metropolis–Hastings kernel with a :class:`ModeMixture` proposal.

    ``blocks=True``: where the mixture's :class:`~numpyro_dilation.block_moves.BlockStructure`
    has at least two active blocks, a move is a block move where ``block_turn`` (the
    kernel's last argument; ``None``: each chain draws it, true with probability
    :data:`~numpyro_dilation.block_moves.BLOCK_MOVE_SHARE`; the population sampler passes
    a turn shared by the chains, every other transition, so that only one kind of move is
    computed) and the whole-vector moves propose from :math:`(1-\\beta)q + \\beta q_\\Pi`
    (:mod:`numpyro_dilation.block_moves`); ``False`` (or no active blocks): the mixture
    :math:`q` alone.

    Returns ``kernel(rng_key, state, logdensity_fn, mixture, block_turn=None)`` returning
    ``(DilationState, GlobalMoveInfo)``; ``state`` is a
    :class:`~numpyro_dilation.kernel.DilationState` at :math:`\\lambda = 1`
    (any pytree position; the mixture lives on its ``ravel_pytree`` vector).

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from jax.scipy.special import logsumexp
        from numpyro_dilation import kernel
        from numpyro_dilation.global_moves import build_independence_kernel
        from numpyro_dilation.modes import find_modes

        def logdensity(y):  # two unit Gaussians at (-3, 0) and (3, 0), 2-d
            mus = jnp.array([[-3.0, 0.0], [3.0, 0.0]])
            return logsumexp(-0.5 * jnp.sum((y - mus) ** 2, axis=-1))

        positions = jnp.array([[-2.5, 0.5], [2.0, -1.0], [3.5, 0.2], [-3.0, -0.3]])
        mixture, _ = find_modes(positions, logdensity, 0.5)
        move = jax.jit(build_independence_kernel(), static_argnums=2)
        state = kernel.init(jnp.array([-3.0, 0.0]), logdensity)  # a chain at lambda = 1
        xs = []
        for key in jax.random.split(jax.random.key(0), 100):
            state, info = move(key, state, logdensity, mixture)
            xs.append(state.position[0])
        print(info.acceptance_rate, (jnp.array(xs) > 0).mean())  # the chain visits both modes
    """

    def kernel(
        rng_key: jax.Array,
        state: DilationState,
        logdensity_fn: Callable,
        mixture: ModeMixture,
        block_turn: jax.Array | None = None,
    ) -> tuple[DilationState, GlobalMoveInfo]:
        if not blocks:
            return _whole_vector_move(rng_key, state, logdensity_fn, mixture)
        if mixture.blocks is None:
            raise ValueError(
                "`build_independence_kernel(blocks=True)` needs a mixture with `blocks` "
                "(numpyro_dilation.block_moves.block_structure)."
            )
        active = mixture.blocks.num_active >= 2  # the mixture is shared: the same for all
        if block_turn is None:  # each chain draws its kind of move
            key_kind, rng_key = jax.random.split(rng_key)
            block_turn = jax.random.bernoulli(key_kind, BLOCK_MOVE_SHARE)

        def whole(key, st, mix):  # a real branch: ``active`` is not batched
            return lax.cond(
                active,
                lambda k, s, m: _product_mixture_move(k, s, logdensity_fn, m),
                lambda k, s, m: _whole_vector_move(k, s, logdensity_fn, m),
                key,
                st,
                mix,
            )

        # a real branch where the turn is not batched (the population's), else per chain
        return lax.cond(
            active & block_turn,
            lambda k, st, mix: _block_move(k, st, logdensity_fn, mix),
            whole,
            rng_key,
            state,
            mixture,
        )

    return kernel


def _accept(key, state, proposal_flat, unravel, logdensity_fn, log_q_new, log_q_old, valid=True):
    """Evaluate :math:`\\log\\gamma` at the proposal and accept with probability
    :math:`\\min\\{1, [\\gamma(y')/q(y')]/[\\gamma(y)/q(y)]\\}` for the proposal's log-densities
    ``log_q_new`` :math:`= \\log q(y')` and ``log_q_old`` :math:`= \\log q(y)` (a divergent
    proposal, or one made while not ``valid``, is rejected); returns ``(new_state,
    p_accept, accept, divergent, log_weight)`` with ``log_weight`` :math:`\\log\\gamma(y') -
    \\log q(y')` (``-inf`` where rejected for those reasons)."""
    valid = jnp.asarray(valid, bool)
    proposal = unravel(proposal_flat)
    logdensity, grad = jax.value_and_grad(logdensity_fn)(proposal)
    divergent = ~jnp.isfinite(logdensity)
    for g in jax.tree.leaves(grad):
        divergent = divergent | ~jnp.all(jnp.isfinite(g))
    log_weight = jnp.where(divergent | ~valid, -jnp.inf, logdensity - log_q_new)
    log_ratio = log_weight - (state.logdensity - log_q_old)
    log_ratio = jnp.where(jnp.isnan(log_ratio) | ~valid, -jnp.inf, log_ratio)
    p_accept = jnp.clip(jnp.exp(log_ratio), max=1.0)
    accept = jax.random.bernoulli(key, p_accept) & ~divergent & valid
    proposed = state._replace(position=proposal, logdensity=logdensity, logdensity_grad=grad)
    new_state = jax.tree.map(lambda a, b: jnp.where(accept, a, b), proposed, state)
    return new_state, p_accept, accept, divergent, log_weight


def _whole_vector_move(rng_key, state, logdensity_fn, mixture):
    """The independence move with the mixture :math:`q` alone."""
    key_prop, key_acc = jax.random.split(rng_key)
    flat, unravel = ravel_pytree(state.position)
    proposal_flat = mixture_sample(key_prop, mixture).astype(flat.dtype)
    log_q_new, log_q_old = mixture_logpdf(mixture, proposal_flat), mixture_logpdf(mixture, flat)
    new_state, p_accept, accept, divergent, log_weight = _accept(
        key_acc, state, proposal_flat, unravel, logdensity_fn, log_q_new, log_q_old,
        valid=mixture.num_modes > 0,
    )  # fmt: skip
    info = GlobalMoveInfo(p_accept, accept, divergent, log_weight, jnp.zeros((), bool))
    return new_state, info


def _product_mixture_move(rng_key, state, logdensity_fn, mixture):
    """The whole-vector move from :math:`(1-\\beta)q + \\beta q_\\Pi`
    (:mod:`numpyro_dilation.block_moves`), with at least two active blocks."""
    key_prop, key_acc, key_product, key_share = jax.random.split(rng_key, 4)
    flat, unravel = ravel_pytree(state.position)
    from_product = jax.random.bernoulli(key_share, PRODUCT_SHARE)
    product = product_sample(key_product, mixture).astype(flat.dtype)
    mixed = mixture_sample(key_prop, mixture).astype(flat.dtype)
    proposal_flat = jnp.where(from_product, product, mixed)

    def log_q(y):  # log of (1 - beta) q(y) + beta q_prod(y)
        return jnp.logaddexp(
            jnp.log1p(-PRODUCT_SHARE) + mixture_logpdf(mixture, y),
            jnp.log(PRODUCT_SHARE) + jnp.sum(block_logpdf(mixture, y)),
        )

    new_state, p_accept, accept, divergent, log_weight = _accept(
        key_acc, state, proposal_flat, unravel, logdensity_fn, log_q(proposal_flat), log_q(flat)
    )
    info = GlobalMoveInfo(p_accept, accept, divergent, log_weight, jnp.zeros((), bool))
    return new_state, info


def _block_move(rng_key, state, logdensity_fn, mixture):
    """A block move: one active block, picked uniformly, proposed from its marginal
    :math:`q_b` (:mod:`numpyro_dilation.block_moves`); :math:`O(Md)` work, :math:`O(M)`
    transcendental functions."""
    key_acc, key_block, key_sample = jax.random.split(rng_key, 3)
    flat, unravel = ravel_pytree(state.position)
    structure = mixture.blocks
    b = structure.active[jax.random.randint(key_block, (), 0, structure.num_active)]
    in_block = structure.labels == b
    proposal_flat = jnp.where(in_block, block_sample(key_sample, mixture), flat)
    new_state, p_accept, accept, divergent, _ = _accept(
        key_acc, state, proposal_flat, unravel, logdensity_fn,
        block_marginal_logpdf(mixture, proposal_flat, in_block),
        block_marginal_logpdf(mixture, flat, in_block),
    )  # fmt: skip
    # not a draw of a density on the whole space: no importance weight
    info = GlobalMoveInfo(p_accept, accept, divergent, jnp.full_like(p_accept, -jnp.inf),
                          jnp.ones((), bool))  # fmt: skip
    return new_state, info
