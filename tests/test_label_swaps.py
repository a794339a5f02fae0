"""Label-swap moves between exchangeable components (numpyro_dilation.label_swaps).

Correctness: the swap kernel leaves its target invariant (exact draws in, exact draws out,
also on an asymmetric target and through a simplex site), the Jacobian term equals the
log-determinant of the swap's Jacobian, and with swaps a mixture whose mode mixture holds
only some of the labellings visits all of them equally (population sampler and NumPyro).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from conftest import population_draws
from jax.flatten_util import ravel_pytree
from jax.scipy.special import logsumexp
from numpyro.distributions import constraints
from numpyro.distributions.transforms import biject_to
from numpyro.infer import MCMC

import numpyro_dilation as nd
from numpyro_dilation import GlobalMoves, kernel
from numpyro_dilation.label_swaps import (
    GroupSwap,
    build_swap_kernel,
    check_exchangeable,
    site_swap,
)


def _swap_once(logdensity, swap, positions, seed=0):
    """One swap move from each of ``positions`` (independent chains)."""
    move = build_swap_kernel()

    def one(key, x):
        state, info = move(key, kernel.init(x, logdensity), logdensity, swap)
        return state.position, info.acceptance_rate

    keys = jax.random.split(jax.random.key(seed), positions.shape[0])
    return jax.jit(jax.vmap(one))(keys, positions)


def test_swap_keeps_an_asymmetric_target_invariant():
    """0.7 N((-2, 2), 0.3^2 I) + 0.3 N((2, -2), 0.3^2 I): the swap maps one mode onto the
    other, so from exact draws the share of the first stays 0.7 (within 4.5 binomial se of
    40,000 chains) only if the swap is accepted with gamma(y')/gamma(y) (always accepting
    gives 0.5)."""
    p, n = 0.7, 40_000
    mus = jnp.array([[-2.0, 2.0], [2.0, -2.0]])

    def logdensity(y):
        comp = -0.5 * jnp.sum((y - mus) ** 2, axis=-1) / 0.3**2
        return logsumexp(comp + jnp.log(jnp.array([p, 1 - p])))

    k1, k2 = jax.random.split(jax.random.key(1))
    first = jax.random.bernoulli(k1, p, (n,))
    x = jnp.where(first[:, None], mus[0], mus[1]) + 0.3 * jax.random.normal(k2, (n, 2))
    out, accept = _swap_once(logdensity, GroupSwap(((0,), (1,))), x)
    share = float(np.mean(np.asarray(out[:, 0]) < 0))
    se = math.sqrt(p * (1 - p) / n)
    assert abs(share - p) < 4.5 * se, (share, se)
    # a = b (probability 1/2): accepted; else 0.3/0.7 from the first mode, 1 from the second
    assert abs(float(np.mean(accept)) - (0.5 + 0.5 * (0.7 * 3 / 7 + 0.3))) < 0.01


def test_site_swap_jacobian_is_the_log_determinant():
    """The Jacobian term of a swap through a simplex site, a positive site and a real one
    equals log|det| of the swap's Jacobian (forward-mode autodiff of the flat map)."""
    values = {
        "locs": jnp.array([-1.0, 0.5, 2.0]),
        "scales": jnp.array([0.1, -0.4, 0.3]),
        "w": jnp.array([0.3, -0.7]),
    }
    transforms = {name: biject_to(c) for name, c in
                  (("locs", constraints.real), ("scales", constraints.positive),
                   ("w", constraints.simplex))}  # fmt: skip
    swap = site_swap(("locs", "scales", "w"), values, transforms)
    assert swap.num_groups == 3
    flat = ravel_pytree(values)[0]
    for a, b in ((0, 1), (0, 2), (1, 2)):
        new, log_det = swap(flat, a, b)
        jac = jax.jacfwd(lambda f, a=a, b=b: swap(f, a, b)[0])(flat)
        assert abs(float(log_det) - float(jnp.linalg.slogdet(jac)[1])) < 1e-4
        back, log_det_back = swap(new, a, b)  # an involution
        np.testing.assert_allclose(back, flat, atol=1e-5)
        assert abs(float(log_det + log_det_back)) < 1e-4
        w_old = transforms["w"](values["w"])
        w_new = transforms["w"](ravel_pytree(values)[1](new)["w"])
        np.testing.assert_allclose(w_new[a], w_old[b], rtol=1e-5)


def test_swap_through_a_simplex_keeps_a_dirichlet_invariant():
    """Weights w ~ Dirichlet(1, 2, 3) in NumPyro's unconstrained coordinates: exact draws
    swapped once keep E[w] = (1/6, 1/3, 1/2) within 4.5 se (accepting every swap would
    move the means toward 1/3)."""
    alpha = jnp.array([1.0, 2.0, 3.0])
    t = biject_to(constraints.simplex)
    dirichlet = dist.Dirichlet(alpha)

    def logdensity(u):
        w = t(u)
        return dirichlet.log_prob(w) + t.log_abs_det_jacobian(u, w)

    n = 40_000
    w0 = dirichlet.sample(jax.random.key(2), (n,))
    u0 = jax.vmap(t.inv)(w0)
    swap = site_swap(("w",), {"w": u0[0]}, {"w": t})
    out, _ = _swap_once(logdensity, swap, u0, seed=3)
    w = np.asarray(jax.vmap(t)(out))
    exact = np.asarray(alpha / alpha.sum())
    se = np.sqrt(exact * (1 - exact) / (alpha.sum() + 1) / n)
    assert np.all(np.abs(w.mean(axis=0) - exact) < 4.5 * se), (w.mean(axis=0), exact, se)


def _class_index(x):
    """Index of the ranks of each row of ``x`` ``(n, K)`` among the K! orderings."""
    from benchmarks.targets import _lehmer_index

    return _lehmer_index(np.argsort(np.argsort(np.asarray(x), axis=1), axis=1))


def _uniform_shares_within_se(classes_by_chain, num_classes):
    """Class shares uniform within 4.5 se, the se from the spread of the chains' own
    shares (independent chains)."""
    per_chain = np.stack([np.bincount(c, minlength=num_classes) / len(c) for c in classes_by_chain])
    shares = per_chain.mean(axis=0)
    se = per_chain.std(axis=0, ddof=1) / math.sqrt(len(per_chain))
    se = np.maximum(se, 1e-4)
    assert np.all(np.abs(shares - 1 / num_classes) < 4.5 * se), (shares, se)
    return shares


def test_population_sampler_visits_every_labelling_and_gets_log_z():
    """Means of an unordered 4-component mixture (``benchmarks.targets.mixture_k5`` with
    4 components of 30 points: 24 labellings of weight 1/24), with a mixture of at most 4
    modes: with ``exchangeable`` the 24 labellings are visited equally (within 4.5 se from
    the chains' spread) and the modified harmonic mean gets log Z within 4.5 se + 0.02;
    without, the shares are far from uniform and the importance-sampling log Z is too low
    by about log(24 / c) for the c labellings the 4 modes cover."""
    from benchmarks.targets import mixture_k5

    target = mixture_k5(per_component=30, k=4)
    results = {}
    for label, swaps in (("swaps", ((0,), (1,), (2,), (3,))), ("none", None)):
        algo = nd.population_sampler(
            target.logdensity_fn, 200,
            global_moves=GlobalMoves(max_modes=4, exchangeable=swaps), steps_per_draw=1,
        )  # fmt: skip
        state, x = population_draws(algo, target.init_positions(jax.random.key(0), 64), 400, 200)
        results[label] = ([_class_index(chain) for chain in x], nd.log_evidence(state))
    _uniform_shares_within_se(results["swaps"][0], 24)
    log_z, se = results["swaps"][1]
    assert abs(log_z - target.log_z) < 4.5 * se + 0.02, (log_z, target.log_z, se)
    pooled = np.bincount(np.concatenate(results["none"][0]), minlength=24) / (64 * 200)
    assert 0.5 * np.abs(pooled - 1 / 24).sum() > 0.2
    assert results["none"][1][0] < target.log_z - 0.5  # covers a few of the 24 labellings


def _mixture_model(y):
    k = 3
    weights = numpyro.sample("weights", dist.Dirichlet(jnp.ones(k)))
    locs = numpyro.sample("locs", dist.Normal(0.0, 10.0).expand([k]))
    scales = numpyro.sample("scales", dist.HalfNormal(2.0).expand([k]))
    mix = dist.MixtureSameFamily(dist.Categorical(weights), dist.Normal(locs, scales))
    numpyro.sample("y", mix, obs=y)


def test_numpyro_mixture_with_exchangeable_sites():
    """A 3-component mixture with Dirichlet weights, locations and scales
    (``exchangeable=("locs", "scales", "weights")``, the weights swapped through the
    simplex): the 6 labellings are visited equally (within 4.5 se), the locations and
    weights sorted by location sit at the clusters' and 1/3 each, and the run does not
    warn. (With ``max_modes=2`` some chains stay in a mode where one component covers two
    clusters; the run warns of it, R-hat 1.05.)"""
    import warnings

    rng = np.random.default_rng(0)
    y = jnp.asarray(np.concatenate([rng.normal(c, 1.0, 40) for c in (-8.0, 0.0, 8.0)]))
    moves = GlobalMoves(exchangeable=("locs", "scales", "weights"))
    mcmc = MCMC(nd.DilationLangevin(_mixture_model, global_moves=moves), num_warmup=200,
                num_samples=100, num_chains=64, chain_method="vectorized",
                progress_bar=False)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error", nd.ReliabilityWarning)
        mcmc.run(jax.random.key(0), y)
    samples = mcmc.get_samples(group_by_chain=True)
    locs = np.asarray(samples["locs"])
    _uniform_shares_within_se([_class_index(chain) for chain in locs], 6)
    order = np.argsort(locs.reshape(-1, 3), axis=1)
    np.testing.assert_allclose(
        np.sort(locs.reshape(-1, 3), axis=1).mean(axis=0), [-8.0, 0.0, 8.0], atol=0.5
    )  # posterior sd about 0.16
    weights = np.take_along_axis(np.asarray(samples["weights"]).reshape(-1, 3), order, axis=1)
    np.testing.assert_allclose(weights.mean(axis=0), 1 / 3, atol=0.03)  # sd about 0.04


@pytest.mark.parametrize(
    "value, match",
    [
        ([[0, 1], [2]], "as many indices"),
        ([[0]], "at least 2 groups"),
        ([[0], [0]], "two groups"),
        ([[0], [7]], r"\[0, 4\)"),
        ("locs", "must be"),
        ([[0], ["a"]], "flat indices"),
        (("locs", "scales"), "NumPyro kernel"),
    ],
)
def test_exchangeable_is_checked(value, match):
    with pytest.raises(ValueError, match=match):
        check_exchangeable(value, dim=4)


def test_exchangeable_site_errors():
    """Unknown sites, sites whose component axes differ, and names with a potential_fn are
    refused before any sampling, naming ``exchangeable``."""
    values = {"locs": jnp.zeros(3), "scales": jnp.zeros(2), "noise": jnp.zeros(())}
    with pytest.raises(ValueError, match="unknown sites"):
        site_swap(("loc",), values, {})
    with pytest.raises(ValueError, match="leading"):
        site_swap(("locs", "scales"), values, {})
    with pytest.raises(ValueError, match="leading"):
        site_swap(("noise",), values, {})
    kernel_ = nd.DilationLangevin(
        potential_fn=lambda x: 0.5 * jnp.sum(x**2),
        global_moves=GlobalMoves(exchangeable=("locs",)),
    )
    mcmc = MCMC(kernel_, num_warmup=20, num_samples=5, num_chains=8,
                chain_method="vectorized", progress_bar=False)  # fmt: skip
    with pytest.raises(ValueError, match="site names need a model"):
        mcmc.run(jax.random.key(0), init_params=jnp.zeros((8, 3)))
    with pytest.raises(ValueError, match="exchangeable"):
        nd.DilationLangevin(_mixture_model, global_moves=GlobalMoves(exchangeable=[[0], [1, 2]]))


def test_reverse_weights_give_the_harmonic_mean():
    """Reverse weights u = q~/gamma pooled over chains: log Z = -log(mean u), and the se
    comes from the spread of the chains' means (0 when they agree)."""
    from numpyro_dilation.global_moves import combine_evidence, init_evidence, update_evidence

    acc = jax.vmap(lambda _: init_evidence(reverse=True))(jnp.arange(4))
    for u in (0.5, 2.0):  # every chain: mean weight 1.25
        acc = jax.vmap(update_evidence)(acc, jnp.log(jnp.full(4, u)))
    log_z, se = combine_evidence(acc)
    assert log_z == pytest.approx(-math.log(1.25), abs=1e-6) and se == pytest.approx(0.0)
    acc = acc._replace(log_sum_w=acc.log_sum_w + jnp.log(jnp.array([1.0, 1.0, 2.0, 2.0])))
    log_z, se = combine_evidence(acc)  # chain means 1.25, 1.25, 2.5, 2.5: relative se
    means = np.array([1.0, 1.0, 2.0, 2.0]) / 1.5
    assert log_z == pytest.approx(-math.log(1.875), abs=1e-6)
    assert se == pytest.approx(np.std(means, ddof=1) / 2, rel=1e-5)


def test_swaps_reach_every_labelling_after_an_even_number_of_moves():
    """From (-1, 0, 1) under a symmetric target, 10 swaps give each of the 6 orderings 1/6
    (within 4.5 binomial se of 6,000 chains): the choice a = b keeps the walk aperiodic.
    With a != b always every swap flips the parity, and after an even number of swaps only
    the 3 even orderings would be reached."""
    logdensity = lambda y: -0.5 * jnp.sum(y**2)  # noqa: E731
    swap = GroupSwap(((0,), (1,), (2,)))
    move = build_swap_kernel()

    def ten(key, x):
        state = kernel.init(x, logdensity)
        for k in jax.random.split(key, 10):
            state, _ = move(k, state, logdensity, swap)
        return state.position

    n = 6000
    x0 = jnp.tile(jnp.array([-1.0, 0.0, 1.0]), (n, 1))
    out = jax.jit(jax.vmap(ten))(jax.random.split(jax.random.key(4), n), x0)
    shares = np.bincount(_class_index(out), minlength=6) / n
    se = math.sqrt((1 / 6) * (5 / 6) / n)
    assert np.all(np.abs(shares - 1 / 6) < 4.5 * se), shares


def _hierarchical_mixture_model(y):
    k = 3
    weights = numpyro.sample("weights", dist.Dirichlet(jnp.ones(k)))
    center = numpyro.sample("center", dist.Normal(0.0, 1.0))  # tight hyperpriors: the
    spread = numpyro.sample("spread", dist.LogNormal(jnp.log(8.0), 0.1))  # test is the swap
    locs = numpyro.sample("locs", dist.Normal(center, spread).expand([k]))  # a funnel site
    scales = numpyro.sample("scales", dist.HalfNormal(2.0).expand([k]))
    mix = dist.MixtureSameFamily(dist.Categorical(weights), dist.Normal(locs, scales))
    numpyro.sample("y", mix, obs=y)


def test_a_noncentered_site_is_swapped_through_its_decentered_values():
    """With ``reparam="auto"`` a hierarchical prior on the locations is sampled non-centered
    (``locs_decentered``); ``exchangeable`` still names ``locs``, swapped through the
    decentered values (the location and scale are shared): the 6 labellings are visited
    equally (within 4.5 se) and the run does not warn."""
    import warnings

    values = {"locs_decentered": jnp.zeros(3), "center": jnp.zeros(())}
    assert site_swap(("locs",), values, {}).names == ("locs_decentered",)
    rng = np.random.default_rng(1)
    y = jnp.asarray(np.concatenate([rng.normal(c, 1.0, 40) for c in (-8.0, 0.0, 8.0)]))
    moves = GlobalMoves(exchangeable=("locs", "scales", "weights"))
    # 6 transitions per draw: with the measured 2-3 (global moves in the draws keep the
    # whole draw length) the hierarchical scale's split R-hat sits near 1.01 at 200 draws,
    # over 1.01 for 2 of keys 0-8 with MALA's draws and 1 with persistent momentum (1.011
    # for key 0 after this file's other tests, 1.005 alone)
    kernel_ = nd.DilationLangevin(_hierarchical_mixture_model, global_moves=moves,
                                  steps_per_draw=6)  # fmt: skip
    mcmc = MCMC(kernel_, num_warmup=200, num_samples=200, num_chains=64,
                chain_method="vectorized", progress_bar=False)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error", nd.ReliabilityWarning)
        mcmc.run(jax.random.key(0), y)
    assert kernel_.noncentered_sites == ("locs",)
    locs = np.asarray(mcmc.get_samples(group_by_chain=True)["locs"])
    _uniform_shares_within_se([_class_index(chain) for chain in locs], 6)
