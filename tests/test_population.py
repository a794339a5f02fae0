"""The population algorithm at the BlackJAX level (``numpyro_dilation.population``):
a BlackJAX user gets the weight-corrected sampler and the log-evidence directly, with the
NumPyro kernel's cost, and the NumPyro kernel is a thin layer over it."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.special import logsumexp
from numpyro.infer import MCMC

import numpyro_dilation as nd
from numpyro_dilation import DilationLangevin
from numpyro_dilation.population import population_step
from numpyro_dilation.population_settings import make_settings
from numpyro_dilation.population_state import assemble_state, init_chains

NUM_CHAINS, NUM_WARMUP, NUM_DRAWS = 256, 200, 200


def ring8():
    """8 modes on a circle of radius 5 around (2, 1), weights (k+1)/36, sd 0.5; Z = 1."""
    angles = 2 * np.pi * np.arange(8) / 8
    means = np.stack([2 + 5 * np.cos(angles), 1 + 5 * np.sin(angles)], 1)
    weights = np.arange(1, 9) / 36.0
    log_w, m = jnp.log(weights), jnp.asarray(means)

    def logdensity(x):
        comp = log_w - 0.5 * jnp.sum((x - m) ** 2, -1) / 0.25 - 2 * jnp.log(0.5)
        return logsumexp(comp) - jnp.log(2 * jnp.pi)

    return logdensity, means, weights


def tv(x, means, weights):
    labels = (((x[..., None, :] - means) ** 2).sum(-1)).argmin(-1)
    freq = np.bincount(labels.ravel(), minlength=len(weights)) / labels.size
    return 0.5 * np.abs(freq - weights).sum()


@pytest.fixture(scope="module")
def blackjax_run():
    logdensity, means, weights = ring8()
    algo = nd.population_sampler(logdensity, NUM_WARMUP)
    start = jax.random.uniform(jax.random.key(1), (NUM_CHAINS, 2), minval=-2, maxval=2)
    state = algo.init(start, jax.random.key(0))

    def one(state, key):
        state, info = algo.step(key, state)
        return state, (state.z, info.num_grad_evals, info.global_acceptance_rate)

    keys = jax.random.split(jax.random.key(2), NUM_WARMUP + NUM_DRAWS)
    state, (z, grads, p_global) = jax.jit(lambda s: jax.lax.scan(one, s, keys))(state)
    return state, np.asarray(z[NUM_WARMUP:]), np.asarray(grads), np.asarray(p_global), start


def test_blackjax_population_corrects_ring8_weights_and_estimates_log_z(blackjax_run):
    """ring8 through the BlackJAX-level API alone: mode TV <= 0.01 over the 256 x 200
    draws (independent draws would give TV about 0.004), log Z within 3 se of the exact 0;
    the global moves are accepted."""
    state, z, _, p_global, _ = blackjax_run
    logdensity, means, weights = ring8()
    assert tv(z, means, weights) <= 0.01
    log_z, se = nd.log_evidence(state)
    assert abs(log_z) < 3 * se + 1e-3
    assert p_global[NUM_WARMUP:].mean() > 0.3


def test_the_numpyro_kernel_is_the_population_algorithm(blackjax_run):
    """The same settings through NumPyro (``potential_fn``, per-chain centers, the same
    initial points): a healthy run (no warning) whose draws have the right weights, and
    exactly what the low-level pieces give from the same keys (:func:`init_chains`,
    :func:`assemble_state`, then :func:`population_step` per iteration): the same
    positions bit for bit and the same gradients per iteration; the BlackJAX-level run
    (other keys) spends the same warm-up gradients within 2% (the step-size searches'
    lengths depend on the keys) and, as the NumPyro run, 2 per transition of its draws."""
    _, _, blackjax_grads, _, start = blackjax_run
    logdensity, means, weights = ring8()
    kernel = DilationLangevin(potential_fn=lambda x: -logdensity(x), start=None)
    mcmc = MCMC(
        kernel,
        num_warmup=NUM_WARMUP,
        num_samples=NUM_DRAWS,
        num_chains=NUM_CHAINS,
        chain_method="vectorized",
        progress_bar=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a healthy run: no warning
        mcmc.run(jax.random.key(3), init_params=start, extra_fields=("num_grad_evals",))
    assert tv(np.asarray(mcmc.get_samples()), means, weights) <= 0.015
    numpyro_grads = np.asarray(mcmc.get_extra_fields(group_by_chain=True)["num_grad_evals"])

    settings = kernel.settings
    assert settings == make_settings(
        NUM_WARMUP, 2, levels=settings.config.levels, uturn=settings.uturn, run_length=NUM_DRAWS
    )
    # NumPyro splits the run's key per chain; the kernel splits each in three
    chain_keys = jax.random.split(jax.random.key(3), NUM_CHAINS)
    keys = jax.vmap(lambda k: jax.random.split(k, 3))(chain_keys)
    astate, grads = init_chains(start, logdensity, keys[:, 2], settings)
    state = assemble_state(astate, grads, keys[:, 0], settings, True)

    def one(state, _):
        state = population_step(state, logdensity, settings)
        return state, state.num_grad_evals

    state, grads = jax.jit(lambda s: jax.lax.scan(one, s, length=NUM_WARMUP + NUM_DRAWS))(state)
    np.testing.assert_array_equal(state.z, mcmc.last_state.z)
    np.testing.assert_array_equal(np.asarray(grads[NUM_WARMUP:]).T, numpyro_grads)
    grads = np.asarray(grads)
    total = grads[:NUM_WARMUP].sum(0).mean()
    blackjax_total = blackjax_grads[:NUM_WARMUP].sum(0).mean()
    assert abs(blackjax_total - total) <= 0.02 * total
    # each draw: k transitions, each a MALA step and a global move (2 gradients), with the
    # k of each run's own rule (NumPyro knows the run's length, 200 draws: a target
    # autocorrelation time of 2 draws; the BlackJAX step does not: 1.5)
    for per_draw, run_state in ((grads[NUM_WARMUP:], mcmc.last_state),
                                (blackjax_grads[NUM_WARMUP:], blackjax_run[0])):
        k = int(np.asarray(run_state.adapt_state.steps_per_draw).ravel()[0])
        np.testing.assert_array_equal(per_draw, 2 * k)


def test_bad_arguments_are_refused_before_any_work():
    logdensity, _, _ = ring8()
    with pytest.raises(ValueError, match="num_warmup"):
        nd.population_sampler(logdensity, 5)
    with pytest.raises(ValueError, match="logdensity_fn"):
        nd.population_sampler("not a function", 100)
    with pytest.raises(ValueError, match="global_moves"):
        nd.population_sampler(logdensity, 100, global_moves="auto")
    with pytest.raises(ValueError, match="UTurn"):
        nd.population_sampler(logdensity, 100, global_moves=None)
    with pytest.raises(ValueError, match="annealing"):
        nd.population_sampler(logdensity, 100, num_annealing_steps=200)
    algo = nd.population_sampler(logdensity, 100)
    with pytest.raises(ValueError, match="at least 2 chains"):
        algo.init(jnp.zeros((1, 2)), jax.random.key(0))


def test_mode_finding_ascends_from_every_chain_and_explores_from_64():
    """Dense covariances, 256 chains: every chain's position starts an ascent (a mode that a
    single chain reached is found, although that chain is not one of the 64 evenly spaced
    starting chains), while the explorer and the contracted centers start from the 64 only;
    the gradients returned are those of the starts and the explorer, shared by all chains."""
    from numpyro_dilation.modes import GlobalMoves, find_modes
    from numpyro_dilation.population import init
    from numpyro_dilation.population_modes import find_population_modes
    from numpyro_dilation.uturn import UTurn

    mus = jnp.array([[0.0, 0.0], [12.0, 0.0]])

    def logdensity(x):
        return logsumexp(-0.5 * jnp.sum((x - mus) ** 2, -1))

    uturn = UTurn(kind="explore", lambda_u=(0.5,), num_steps=10)
    gm = GlobalMoves(max_modes=8)
    settings = make_settings(60, 2, global_moves=gm, uturn=uturn)
    positions = 0.3 * jax.random.normal(jax.random.key(3), (NUM_CHAINS, 2))
    positions = positions.at[1].add(mus[1])  # chain 1 alone in the right mode
    keys = jax.random.split(jax.random.key(0), NUM_CHAINS)
    state = init(positions, logdensity, keys, settings)
    state, grads = find_population_modes(state, logdensity, settings)
    found = np.asarray(state.mixture.means[: int(state.mixture.num_modes)])
    assert int(state.mixture.num_modes) == 2
    np.testing.assert_allclose(found[np.argsort(found[:, 0])], mus, atol=1e-3)
    per_start = int(find_modes(jnp.zeros((1, 2)), logdensity, 0.1, gm)[1])
    # positions, returns, centers, and the wide starts of a run's first mode finding
    starts = NUM_CHAINS + 64 * (1 + len(gm.center_contractions)) + NUM_CHAINS // 2
    total = per_start * starts + 64 * (2 * uturn.num_steps - 1)
    assert int(grads) == -(-total // NUM_CHAINS)


def test_run_pass_skips_the_explorer_where_the_pilot_found_one_mode():
    """All chains sit in the left of two modes and only the U-turn explorer reaches the right
    one (no wide starts). With no earlier mode finding (an empty mixture) the explorer runs
    and both modes are found; where an earlier pass (the pilot's mixture, whose occupied
    modes the restart keeps) found one mode, the explorer and its returns' ascents are
    skipped: one mode found, and the gradients are the positions' ascents alone; unless
    ``num_start_chains`` is given."""
    from numpyro_dilation.modes import GlobalMoves, find_modes
    from numpyro_dilation.population import init
    from numpyro_dilation.population_modes import find_population_modes
    from numpyro_dilation.starts import Pilot, restart_in_box
    from numpyro_dilation.uturn import UTurn

    mus = jnp.array([[-3.0, 0.0], [3.0, 0.0]])

    def logdensity(x):
        return logsumexp(-0.5 * jnp.sum((x - mus) ** 2, -1))

    uturn = UTurn(kind="explore", lambda_u=(1e-4,), num_steps=30, center_scale=0.0)
    gm = GlobalMoves(max_modes=8, center_contractions=(), num_wide_starts=0)
    settings = make_settings(60, 2, global_moves=gm, uturn=uturn)
    positions = mus[0] + 0.3 * jax.random.normal(jax.random.key(3), (NUM_CHAINS, 2))
    keys = jax.random.split(jax.random.key(0), NUM_CHAINS)
    state = init(positions, logdensity, keys, settings)
    state = state._replace(center=jnp.zeros_like(positions))  # between the modes
    per_start = int(find_modes(jnp.zeros((1, 2)), logdensity, 0.1, gm)[1])

    explored, grads = find_population_modes(state, logdensity, settings)
    assert int(explored.mixture.num_modes) == 2
    total = per_start * (NUM_CHAINS + 64) + 64 * (2 * uturn.num_steps - 1)
    assert int(grads) == -(-total // NUM_CHAINS)

    one_mode = find_population_modes(state._replace(center=positions), logdensity, settings)[0]
    assert int(one_mode.mixture.num_modes) == 1  # centers in the left mode: no return leaves it
    kept = restart_in_box(one_mode, logdensity, settings, Pilot())
    assert int(kept.mixture.num_modes) == 1 and int(kept.i[0]) == 0  # the pilot's mixture
    skipped, grads = find_population_modes(state._replace(mixture=kept.mixture), logdensity,
                                           settings)
    assert int(skipped.mixture.num_modes) == 1
    assert int(grads) == per_start
    with jax.enable_x64(True):  # the count stays int32 (lax.cond's branches must agree)
        state64 = init(positions.astype(jnp.float64), logdensity, keys, settings)
        assert find_population_modes(state64, logdensity, settings)[1].dtype == jnp.int32
    # a number of starting chains given keeps the explorer in every pass
    wide = settings._replace(global_moves=gm._replace(num_start_chains=64))
    searched, grads = find_population_modes(state._replace(mixture=kept.mixture), logdensity, wide)
    assert int(searched.mixture.num_modes) == 2
    assert int(grads) == -(-total // NUM_CHAINS)


def _hidden_mode():
    """(1/3) N(m0, I) + (2/3) N(m1, 0.49 I) in 10-d, m1 - m0 = 5 (1, ..., 1): far from both,
    the wide component holds every point, so chains annealed from far away all end in it."""
    m0, m1 = -2.5 * jnp.ones(10), 2.5 * jnp.ones(10)

    def logdensity(x):
        return logsumexp(jnp.stack([
            jnp.log(1 / 3) - 0.5 * jnp.sum((x - m0) ** 2),
            jnp.log(2 / 3) - 0.5 * jnp.sum((x - m1) ** 2) / 0.49 - 10 * jnp.log(0.7),
        ]))

    return logdensity, m0, m1


def test_wide_starts_find_a_narrow_mode_hidden_behind_a_wide_one():
    """Every chain in the wide mode: the positions, U-turns and contracted centers find only
    it; the wide starts of a run's first mode finding (an empty mixture) find the narrow mode
    of weight 2/3 too, at the gradients of the formula; a later pass starts them again only
    where the earlier one found fewer than two modes (the pilot's count, occupied or not).
    Fixed keys: found with these keys, about 85% of keys at 250 wide starts (BENCHMARKS.md,
    "Wide starts")."""
    from numpyro_dilation.modes import GlobalMoves, find_modes
    from numpyro_dilation.population import init
    from numpyro_dilation.population_modes import find_population_modes
    from numpyro_dilation.starts import occupied_modes
    from numpyro_dilation.uturn import UTurn

    logdensity, m0, m1 = _hidden_mode()
    num_chains = 500
    positions = m0 + jax.random.normal(jax.random.key(3), (num_chains, 10))
    keys = jax.random.split(jax.random.key(0), num_chains)
    found = {}
    for wide in (0, "auto"):
        gm = GlobalMoves(max_modes=8, num_wide_starts=wide)
        settings = make_settings(60, 10, global_moves=gm, uturn=UTurn(kind="explore"))
        state = init(positions, logdensity, keys, settings)
        state = state._replace(center=positions)  # centers in the wide mode
        found[wide], grads = find_population_modes(state, logdensity, settings)
        per_start = int(find_modes(jnp.zeros((1, 10)), logdensity, 0.1, gm)[1])
        return_starts = 64 * 3 * (2 * 100 - 1)  # the explorer's U-turns (defaults)
        starts = num_chains + 64 * 3 + 64 * 2 + (250 if wide == "auto" else 0)
        assert int(grads) == -(-(per_start * starts + return_starts) // num_chains)
    assert int(found[0].mixture.num_modes) == 1
    means = np.asarray(found["auto"].mixture.means[: int(found["auto"].mixture.num_modes)])
    assert len(means) == 2
    np.testing.assert_allclose(means[np.argsort(means[:, 0])], np.stack([m0, m1]), atol=1e-3)
    # a later pass after one mode found: the explorer and its returns are skipped, the wide
    # starts get a second try (and find it); after two found, no wide starts (masked: not
    # ascended, not counted) and the explorer runs (and misses it again)
    later, grads = find_population_modes(found[0], logdensity, settings)
    assert int(later.mixture.num_modes) == 2 and int(later.mixture.num_found) == 2
    assert int(grads) == -(-(per_start * (num_chains + 128 + 250)) // num_chains)
    later, grads = find_population_modes(found["auto"], logdensity, settings)
    assert int(later.mixture.num_modes) == 1
    assert int(grads) == -(-(per_start * (num_chains + 320) + return_starts) // num_chains)
    # the restart keeps the occupied mode only, and the count of both: still no wide starts
    kept = occupied_modes(found["auto"].mixture, positions)
    assert int(kept.num_modes) == 1 and int(kept.num_found) == 2
    later, grads = find_population_modes(found["auto"]._replace(mixture=kept), logdensity,
                                         settings)
    assert int(grads) == -(-(per_start * (num_chains + 128)) // num_chains)


def test_strict_only_ends_become_modes_only_where_converged():
    """Four separated unit Gaussians; one tiny ascent step and no Newton step, so every end
    short of its mode is unconverged (loose). The ordinary starts (near modes 0 and 1) give
    two modes; ``strict_only`` starts near modes 2 and 3 add none, and one started exactly
    at mode 3 (converged) adds that mode without making the ordinary loose ends drop out
    (they would under "converged ends only, where any converged")."""
    from numpyro_dilation.modes import GlobalMoves, find_modes

    mus = jnp.array([[-20.0, 0.0], [0.0, 20.0], [20.0, 0.0], [0.0, -20.0]])

    def logdensity(x):
        return logsumexp(-0.5 * jnp.sum((x - mus) ** 2, -1))

    off = jnp.array([2.0, 1.5])
    points = jnp.concatenate([mus[:2] + off, mus[2:] + off, mus[3:]])  # rows 2-4 strict_only
    gm = GlobalMoves(max_modes=8, num_ascent_steps=1, num_newton_steps=0)
    found = find_modes(points[:2], logdensity, 1e-3, gm)[0]
    assert int(found.num_modes) == 2
    every = find_modes(points[:4], logdensity, 1e-3, gm)[0]
    assert int(every.num_modes) == 4  # as ordinary starts, rows 2 and 3 would be modes
    mask = jnp.arange(5) >= 2
    mixed = find_modes(points, logdensity, 1e-3, gm, None, None, mask)[0]
    means = np.asarray(mixed.means[: int(mixed.num_modes)])
    assert len(means) == 3
    np.testing.assert_allclose(means[:2], np.asarray(found.means[:2]), rtol=1e-6)
    np.testing.assert_allclose(means[2], mus[3], atol=1e-4)


def test_the_restart_keeps_the_pilot_modes_its_chains_occupy():
    """``occupied_modes``: of three modes, the two nearest to some chain stay, in order, their
    weights renormalized; none is nearest to a chain in the middle one's place."""
    from numpyro_dilation.modes import empty_mixture
    from numpyro_dilation.starts import occupied_modes

    mixture = empty_mixture(dim=2, max_modes=4)
    means = jnp.array([[-5.0, 0.0], [0.0, 0.0], [5.0, 0.0], [0.0, 0.0]])
    mixture = mixture._replace(means=means, num_modes=jnp.asarray(3, jnp.int32),
                               log_weights=jnp.log(jnp.array([0.2, 0.5, 0.3, 0.0])),
                               laplace_log_mass=jnp.array([1.0, 2.0, 3.0, -jnp.inf]))
    chains = jnp.array([[-4.0, 1.0], [6.0, -1.0], [4.5, 0.0]])
    kept = occupied_modes(mixture, chains)
    assert int(kept.num_modes) == 2
    np.testing.assert_allclose(kept.means[:2], means[jnp.array([0, 2])])
    np.testing.assert_allclose(np.exp(kept.log_weights[:2]), [0.4, 0.6], rtol=1e-6)
    assert np.all(np.isneginf(np.asarray(kept.log_weights[2:])))
    np.testing.assert_allclose(kept.laplace_log_mass[:2], [1.0, 3.0])
