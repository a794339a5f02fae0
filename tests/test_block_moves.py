"""Block-wise global moves (numpyro_dilation.block_moves): exactness, recombination of the
blocks' modes, the log-evidence with the product proposal, the automatic detection, the
NumPyro site blocks and the validation of ``GlobalMoves(blocks=...)``."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from conftest import population_draws
from jax.scipy.special import logsumexp
from numpyro.infer import MCMC

import numpyro_dilation as nd
from numpyro_dilation import kernel as dk
from numpyro_dilation.blocks import block_structure, check_blocks, detect_blocks
from numpyro_dilation.global_moves import (
    build_independence_kernel,
    combine_evidence,
    init_evidence,
    update_evidence,
)
from numpyro_dilation.modes import GlobalMoves, empty_mixture, find_modes

LEFT, RIGHT, SD = -3.0, 3.0, 0.5
P_RIGHT = 0.7  # each coordinate: 0.3 N(-3, 0.5^2) + 0.7 N(3, 0.5^2), independently


def _product_logdensity(x):
    """Normalized product of two independent 1-D two-component mixtures (log Z = 0)."""
    comps = (
        jnp.log(jnp.array([1 - P_RIGHT, P_RIGHT]))
        - 0.5 * ((x[:, None] - jnp.array([LEFT, RIGHT])) / SD) ** 2
    )
    return jnp.sum(logsumexp(comps, axis=-1) - jnp.log(SD * jnp.sqrt(2 * jnp.pi)))


def _diagonal_mixture():
    """A proposal mixture that knows only the two 'diagonal' modes (-3, -3) and (3, 3),
    with equal (wrong) weights: whole-vector moves alone never reach (-3, 3) or (3, -3)."""
    mixture = empty_mixture(2, 2, dense=False)._replace(
        means=jnp.array([[LEFT, LEFT], [RIGHT, RIGHT]]),
        chol=jnp.full((2, 2), 1.2 * SD),
        log_weights=jnp.log(jnp.array([0.5, 0.5])),
        laplace_log_mass=jnp.zeros(2),
        num_modes=jnp.array(2),
    )
    return mixture._replace(blocks=block_structure(mixture, ((0,), (1,))))


def test_block_moves_recombine_modes_exactly_and_the_evidence_stays_right():
    """20,000 chains start at (3, 3); 40 global moves with blocks {0} and {1}. The chains
    reach the mixed-sign modes that no component of the mixture has, and every joint
    quadrant's share matches the exact product of 0.3 / 0.7 within 4.5 binomial standard
    errors (a wrong acceptance ratio, e.g. without the q_b terms, puts 0.5 instead of 0.7
    on each side and fails). The importance weights of the whole-vector moves, proposed
    from (q + q_prod) / 2, give log Z = 0 within 4.5 se < 0.02; with the mixture alone
    (``PRODUCT_SHARE`` near 0) the mixed quadrants, 42% of the mass, are proposed only by
    the Student-t tails and the se is 0.13 (measured): the test fails."""
    n = 20_000
    mixture = _diagonal_mixture()
    move = build_independence_kernel(blocks=True)
    state = jax.vmap(lambda y: dk.init(y, _product_logdensity))(jnp.full((n, 2), RIGHT))
    acc = jax.vmap(lambda _: init_evidence())(jnp.arange(n))

    def step(carry, key):
        state, acc = carry
        keys = jax.random.split(key, n)
        state, info = jax.vmap(lambda k, s: move(k, s, _product_logdensity, mixture))(keys, state)
        updated = jax.vmap(update_evidence)(acc, info.log_weight)
        acc = jax.tree.map(
            lambda new, old: jnp.where(
                info.is_block_move.reshape((-1,) + (1,) * (new.ndim - 1)), old, new
            ),
            updated,
            acc,
        )
        return (state, acc), (info.is_block_move.mean(), info.is_accepted.mean())

    keys = jax.random.split(jax.random.key(0), 40)
    (state, acc), (block_share, accepted) = jax.lax.scan(step, (state, acc), keys)
    assert abs(float(block_share.mean()) - 0.5) < 0.01
    assert float(accepted[-10:].mean()) > 0.3
    x = np.asarray(state.position)
    right = x > 0
    for event, p in (
        (right[:, 0] & ~right[:, 1], P_RIGHT * (1 - P_RIGHT)),
        (~right[:, 0] & right[:, 1], P_RIGHT * (1 - P_RIGHT)),
        (right[:, 0] & right[:, 1], P_RIGHT**2),
        (~right[:, 0] & ~right[:, 1], (1 - P_RIGHT) ** 2),
    ):
        assert abs(event.mean() - p) < 4.5 * np.sqrt(p * (1 - p) / n), (event.mean(), p)
    log_z, se = combine_evidence(acc)
    assert se < 0.02
    assert abs(log_z) < 4.5 * se, (log_z, se)


def test_without_active_blocks_the_move_is_the_whole_vector_move():
    """A mixture whose blocks do not differ between modes (one mode) has no active block:
    ``blocks=True`` then makes the moves of ``blocks=False`` (the same draws from the same
    keys up to float rounding, no block move)."""
    mixture = empty_mixture(2, 2, dense=False)._replace(
        log_weights=jnp.array([0.0, -jnp.inf]), laplace_log_mass=jnp.zeros(2),
        num_modes=jnp.array(1),
    )  # fmt: skip
    mixture = mixture._replace(blocks=block_structure(mixture, ((0,), (1,))))
    assert int(mixture.blocks.num_active) == 0
    logdensity = lambda y: -0.5 * jnp.sum(y**2)  # noqa: E731
    state = dk.init(jnp.array([0.3, -0.2]), logdensity)
    # a block turn, but no active block: the whole-vector move, with the same key
    move_blocks = jax.jit(
        lambda k: build_independence_kernel(True)(k, state, logdensity, mixture, jnp.array(True))
    )
    move = jax.jit(lambda k: build_independence_kernel(False)(k, state, logdensity, mixture))
    for key in jax.random.split(jax.random.key(3), 5):
        with_blocks, info = move_blocks(key)
        without, info_without = move(key)
        assert not bool(info.is_block_move)
        np.testing.assert_allclose(with_blocks.position, without.position, rtol=1e-6)
        assert float(info.log_weight) == pytest.approx(float(info_without.log_weight), rel=1e-6)


def _wells(centers):
    """A density with a narrow Gaussian mode at each row of ``centers``."""
    centers = jnp.asarray(centers)

    def logdensity(x):
        return logsumexp(-8.0 * jnp.sum((x - centers) ** 2, axis=-1))

    return logdensity


def _modes_of(centers):
    starts = jnp.asarray(centers) * 1.02
    mixture, _ = find_modes(starts, _wells(centers), 0.05, GlobalMoves(max_modes=16))
    assert int(mixture.num_modes) == len(centers)
    return mixture


def test_detect_blocks_splits_products_and_keeps_coupled_coordinates_together():
    """The "auto" rule: all 8 sign patterns of 3 wells -> 3 blocks; modes on the diagonal
    (-2, -2), (2, 2) -> one block (a pair of values never seen together); 8 modes on a
    ring (x and y uncorrelated across modes, not a product) -> one block; a product of
    two wells in coordinate 2 with a Laplace correlation of 0.8 between coordinates 0 and
    1 -> blocks {0, 1} and {2}."""
    cube = np.array([[a, b, c] for a in (-2, 2) for b in (-2, 2) for c in (-2, 2)], float)
    labels, varies = detect_blocks(_modes_of(cube))
    assert list(np.asarray(labels)) == [0, 1, 2] and bool(np.all(varies))

    labels, _ = detect_blocks(_modes_of([[-2.0, -2.0], [2.0, 2.0]]))
    assert list(np.asarray(labels)) == [0, 0]

    angles = np.arange(8) * np.pi / 4
    labels, _ = detect_blocks(_modes_of(np.stack([3 * np.cos(angles), 3 * np.sin(angles)], 1)))
    assert list(np.asarray(labels)) == [0, 0]

    prec = jnp.linalg.inv(jnp.array([[1.0, 0.8], [0.8, 1.0]]))

    def correlated(x):
        gauss = -0.5 * x[:2] @ prec @ x[:2]
        return gauss + logsumexp(-8.0 * (x[2] - jnp.array([-2.0, 2.0])) ** 2)

    starts = jnp.array([[0.1, 0.0, -2.1], [0.0, 0.1, 2.1]])
    mixture, _ = find_modes(starts, correlated, 0.05, GlobalMoves(max_modes=4))
    labels, varies = detect_blocks(mixture)
    assert list(np.asarray(labels)) == [0, 0, 1]
    assert list(np.asarray(varies)) == [False, False, True]
    structure = block_structure(mixture, "auto")
    assert int(structure.num_active) == 1  # one active block: no block moves


@pytest.mark.parametrize(
    "blocks, message",
    [
        ([[0, 1], [1]], "two groups"),
        ([[0, 7]], r"\[0, 4\)"),
        ("sites", "must be None, 'auto' or a sequence"),
        ([["a"]], "site names need the NumPyro kernel"),
        ([[0, "a"]], "do not mix"),
        ([[]], "non-empty"),
        (3, "must be None"),
    ],
)
def test_bad_blocks_are_refused_before_any_work(blocks, message):
    with pytest.raises(ValueError, match=message):
        check_blocks(blocks, dim=4)
    with pytest.raises(ValueError, match="blocks"):
        nd.population_sampler(
            lambda x: -0.5 * jnp.sum(x**2), 40, global_moves=GlobalMoves(blocks=blocks)
        ).init(jnp.zeros((8, 4)), jax.random.key(0))


def _two_site_model():
    """Two independent sites, each 0.3 N(-3, 0.5^2) + 0.7 N(3, 0.5^2): 4 modes."""
    mix = dist.MixtureSameFamily(
        dist.Categorical(jnp.array([1 - P_RIGHT, P_RIGHT])),
        dist.Normal(jnp.array([LEFT, RIGHT]), SD),
    )
    numpyro.sample("a", mix)
    numpyro.sample("b", dist.Normal(jnp.zeros(2), 1.0))
    numpyro.sample("c", mix)


def test_numpyro_site_blocks_and_unknown_sites():
    """``GlobalMoves(blocks="sites")`` in the NumPyro kernel: one block per site in
    ``ravel_pytree`` order (a, b[0], b[1], c), and the weights are right (P(a > 0) and
    P(c > 0) within 4.5 se of 0.7, the se from ArviZ's ESS of the indicator). Unknown
    site names are refused, naming the model's sites."""
    import arviz as az

    kernel = nd.DilationLangevin(_two_site_model, global_moves=GlobalMoves(blocks="sites"))
    mcmc = MCMC(kernel, num_warmup=200, num_samples=150, num_chains=64,
                chain_method="vectorized", progress_bar=False)  # fmt: skip
    mcmc.run(jax.random.key(0))
    blocks = mcmc.last_state.mixture.blocks
    assert list(np.asarray(blocks.labels)) == [0, 1, 1, 2]
    samples = mcmc.get_samples(group_by_chain=True)
    for site in ("a", "c"):
        right = (np.asarray(samples[site]) > 0).astype(float)
        se = np.sqrt(P_RIGHT * (1 - P_RIGHT) / float(az.ess(right)))
        assert abs(right.mean() - P_RIGHT) < 4.5 * se, (site, right.mean(), se)

    bad = nd.DilationLangevin(_two_site_model, global_moves=GlobalMoves(blocks=[["a", "z"]]))
    mcmc = MCMC(bad, num_warmup=40, num_samples=10, num_chains=8, chain_method="vectorized",
                progress_bar=False)  # fmt: skip
    with pytest.raises(ValueError, match="unknown sites"):
        mcmc.run(jax.random.key(0))


def test_many_well_blocks_found_automatically_give_each_well_its_weight():
    """Many-Well with 7 double wells (d = 14, 128 modes), of which the mixture holds at most
    64: ``blocks="auto"`` finds the 7 wells and their 7 Gaussian partners as 14 blocks
    (7 active), and every well's P(a > 0) matches the exact value within 4.5 se (se from
    ArviZ's ESS of the indicator per well); log Z within 4.5 se + 0.02."""
    import arviz as az

    from benchmarks.targets import many_well

    target = many_well(14)
    algo = nd.population_sampler(
        target.logdensity_fn, 200, global_moves=GlobalMoves(blocks="auto"), steps_per_draw=1
    )
    state, x = population_draws(algo, target.init_positions(jax.random.key(0), 96), 450, 200)
    blocks = state.mixture.blocks
    assert int(state.mixture.num_modes) == 64
    assert list(np.asarray(blocks.labels)) == list(range(14))
    assert int(blocks.num_active) == 7
    p_exact = float(np.mean(target.sample_fn(np.random.default_rng(0), 400_000)[:, 0] > 0))
    for j in range(7):
        right = (x[:, :, 2 * j] > 0).astype(float)
        se = np.sqrt(p_exact * (1 - p_exact) / float(az.ess(right)))
        assert abs(right.mean() - p_exact) < 4.5 * se + 0.002, (j, right.mean(), p_exact, se)
    log_z, se = nd.log_evidence(state)
    assert abs(log_z - target.log_z) < 4.5 * se + 0.02, (log_z, target.log_z, se)
