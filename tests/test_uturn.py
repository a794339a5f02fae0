"""U-turn diagnostic, exact NCMC U-turn move and explorer (numpyro_dilation.uturn).

Statistical tests use exact draws and Monte Carlo tolerances; fixed seeds. What the
exact move can and cannot do on well-separated modes is measured in BENCHMARKS.md
("U-turn"): its acceptance is ~0 whenever its proposals switch modes, so the
single-chain mode-frequency test is done with what does work, the explorer feeding the
mode set of the global moves.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.special import logsumexp

from numpyro_dilation import kernel as dk
from numpyro_dilation import uturn
from numpyro_dilation.global_moves import build_independence_kernel
from numpyro_dilation.modes import find_modes
from numpyro_dilation.path import dilated_logdensity

Z99 = 4.5  # two-sided tolerance in standard errors, several tests x several statistics


def two_mode_2d():
    """(1/3) N(-2.5 (1, 1), I) + (2/3) N(2.5 (1, 1), 0.49 I): the 10-d benchmark in 2-D."""
    means = np.array([[-2.5, -2.5], [2.5, 2.5]])
    sds, weights = np.array([1.0, 0.7]), np.array([1 / 3, 2 / 3])

    def logdensity(x):
        mu, sd, w = (jnp.asarray(a, x.dtype) for a in (means, sds, weights))
        comp = jnp.log(w) - 0.5 * jnp.sum((x - mu) ** 2, -1) / sd**2 - 2 * jnp.log(sd)
        return logsumexp(comp)

    def sample(seed, n, component=None):
        rng = np.random.default_rng(seed)
        k = rng.choice(2, n, p=weights) if component is None else np.full(n, component)
        return (means[k] + sds[k, None] * rng.standard_normal((n, 2))).astype(np.float32), k

    def label(x):
        return (np.asarray(x).sum(-1) > 0).astype(int)  # the modes' dividing line, ± 1 point

    return logdensity, sample, label, weights


# --------------------------------------------------------------------------- exact move


@pytest.mark.parametrize("protocol", ["palindromic", "reanneal"])
def test_work_equals_the_dilated_coordinate_work(x64, protocol):
    """W and the end point of a protocol, computed in target coordinates, equal the NCMC
    work sum_j [log g_{l'}(x) - log g_l(x)] and the end point of the same protocol run in
    dilated coordinates with BlackJAX's MALA on pi_lambda (same keys)."""

    def logdensity(y):
        return jnp.logaddexp(-jnp.sum((y - 1.5) ** 2), -0.5 * jnp.sum((y + 1.0) ** 2))

    center, y0, h, m = jnp.array([0.3, -0.2, 0.1]), jnp.array([1.2, 1.7, 1.4]), 0.2, 2
    reference = jax.jit(
        lambda k, x, lam: dk.build_dilated_kernel()(k, x, logdensity, center, lam, h)
    )
    log_g = jax.jit(lambda x, lam: dilated_logdensity(logdensity, center, lam)(x))
    run_protocol = jax.jit(uturn._run_protocol, static_argnums=(2, 6))
    levels, transport, rev_levels, rev_transport = uturn.protocol_levels(
        0.05, 3, protocol, "geometric"
    )
    for seed, (lv, tr) in enumerate([(levels, transport), (rev_levels, rev_transport)]):
        key = jax.random.key(seed)
        state = dk.init(y0, logdensity, center, 1.0)
        end, work, finite, _ = run_protocol(
            key, state, logdensity, jnp.asarray(lv), jnp.asarray(tr), h, m
        )
        x, lam, expected = y0, 1.0, 0.0
        keys = jax.random.split(key, len(lv) - 1)
        for j, (lam_to, is_transport) in enumerate(zip(lv, tr)):
            if is_transport:
                x = center + np.sqrt(lam_to / lam) * (x - center)
            else:
                expected += log_g(x, lam_to) - log_g(x, lam)
            lam = lam_to
            if j < len(lv) - 1:
                for k in jax.random.split(keys[j], m):
                    x = reference(k, x, lam)
        assert bool(finite)
        np.testing.assert_allclose(float(work), float(expected), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(np.asarray(end.position), np.asarray(x), atol=1e-10)


def test_protocols_are_their_own_reverse():
    levels, transport, rev, rev_t = uturn.protocol_levels(0.01, 4, "palindromic")
    np.testing.assert_allclose(levels, rev)
    # visited levels (start at 1): 1, nu_1..nu_K = 0.01, nu_{K-1}..1 -- a palindrome
    visited = np.concatenate([[1.0], levels])
    np.testing.assert_allclose(visited, visited[::-1])
    assert visited.min() == pytest.approx(0.01) and not transport.any()
    fwd, fwd_t, rev, rev_t = uturn.protocol_levels(0.01, 4, "reanneal")
    np.testing.assert_allclose(np.concatenate([[1.0], fwd])[::-1], np.concatenate([[1.0], rev]))
    assert fwd_t.tolist() == [True] + [False] * 4 and rev_t.tolist() == [False] * 4 + [True]


MEAN = np.array([1.0, -1.0])
COV = np.array([[1.0, 0.8], [0.8, 1.0]])


def _gaussian():
    prec = jnp.asarray(np.linalg.inv(COV), jnp.float32)
    mean = jnp.asarray(MEAN, jnp.float32)
    return lambda y: -0.5 * (y - mean) @ prec @ (y - mean)


def _moment_z(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """|mean - truth| / se and |cov - truth| / se for independent rows of ``y``."""
    n = len(y)
    z_mean = np.abs(y.mean(0) - MEAN) / np.sqrt(np.diag(COV) / n)
    centred = y - MEAN
    prods = np.stack([centred[:, 0] ** 2, centred[:, 1] ** 2, centred[:, 0] * centred[:, 1]], 1)
    truth = np.array([COV[0, 0], COV[1, 1], COV[0, 1]])
    z_cov = np.abs(prods.mean(0) - truth) / (prods.std(0) / np.sqrt(n))
    return z_mean, z_cov


@pytest.mark.parametrize(
    "protocol",
    # the reanneal protocol is also checked, faster, by the two-mode test below
    ["palindromic", pytest.param("reanneal", marks=pytest.mark.slow)],
)
def test_exact_move_alone_preserves_a_correlated_gaussian(protocol):
    """10,000 independent chains started from exact draws of N(m, S) (corr 0.8), three
    exact U-turns each with the center far from the mean and nothing else: mean and
    covariance stay within Monte Carlo error, while the chains really moved."""
    logdensity, n = _gaussian(), 10_000
    y0 = MEAN + np.random.default_rng(0).standard_normal((n, 2)) @ np.linalg.cholesky(COV).T
    y0 = jnp.asarray(y0, jnp.float32)
    center = jnp.array([3.0, 2.0])
    move = uturn.build_kernel(
        uturn.UTurn(kind="exact", lambda_u=(0.5, 0.2), num_steps=5, protocol=protocol)
    )

    @jax.jit
    def run(key):
        state = jax.vmap(lambda y: dk.init(y, logdensity, center, 1.0))(y0)

        def one(s, k):
            s, info = jax.vmap(lambda kk, ss: move(kk, ss, logdensity, 0.3))(
                jax.random.split(k, n), s
            )
            return s, info.is_accepted.mean()

        return jax.lax.scan(one, state, jax.random.split(key, 3))

    state, accepted = run(jax.random.key(1))
    y = np.asarray(state.position, float)
    assert float(accepted.mean()) > 0.3
    assert np.corrcoef(y[:, 0], np.asarray(y0[:, 0]))[0, 1] < 0.6  # it moves
    z_mean, z_cov = _moment_z(y)
    assert np.all(z_mean < Z99) and np.all(z_cov < Z99), (z_mean, z_cov)


def test_the_moment_check_detects_the_unaccepted_uturn():
    """Power of the check above: the approximate U-turn (same center, levels, step;
    always accepted) moves the mean toward the center by far more than Monte Carlo error."""
    logdensity, n = _gaussian(), 10_000
    y0 = MEAN + np.random.default_rng(0).standard_normal((n, 2)) @ np.linalg.cholesky(COV).T
    returns = uturn.explore(
        jax.random.key(1),
        jnp.asarray(y0, jnp.float32),
        logdensity,
        0.3,
        uturn.UTurn(lambda_u=0.2, num_steps=6, schedule="geometric", center_scale=0.0),
        center=jnp.array([3.0, 2.0]),
    )
    z_mean, z_cov = _moment_z(np.asarray(returns, float))
    assert max(z_mean.max(), z_cov.max()) > 10


def test_exact_move_keeps_the_mode_weights_of_a_two_mode_target():
    """Exact draws of the 2-D two-mode target, 2 exact U-turns at levels where the
    proposals do switch modes: the mode shares stay at (1/3, 2/3) within binomial error."""
    logdensity, sample, label, weights = two_mode_2d()
    n = 10_000
    y0, _ = sample(0, n)
    center = jnp.full(2, 2.5 / 3)  # the target's mean: scalings about it cross the modes' border
    move = uturn.build_kernel(
        uturn.UTurn(kind="exact", lambda_u=(0.01, 0.001), num_steps=5, protocol="reanneal")
    )

    @jax.jit
    def run(key):
        state = jax.vmap(lambda y: dk.init(y, logdensity, center, 1.0))(y0)

        def one(s, k):
            s, info = jax.vmap(lambda kk, ss: move(kk, ss, logdensity, 0.3))(
                jax.random.split(k, n), s
            )
            return s, info.proposal

        return jax.lax.scan(one, state, jax.random.split(key, 2))

    state, proposals = run(jax.random.key(2))
    share = np.mean(label(state.position) == 1)
    assert abs(share - weights[1]) < Z99 * np.sqrt(weights[1] * weights[0] / n)
    assert np.mean(label(proposals[0]) != label(y0)) > 0.02  # proposals do switch modes


# --------------------------------------------------------------------------- diagnostic


@pytest.fixture(scope="module")
def two_mode_table():
    logdensity, sample, _, _ = two_mode_2d()
    draws, _ = sample(1, 400)
    return uturn.uturn_curves(
        jax.random.key(0),
        logdensity,
        jnp.asarray(draws),
        (0.5, 0.1, 0.02, 0.005, 0.001, 0.0002),
        step_size=0.3,
        num_steps=100,
        center=jnp.zeros(2),
    )


def test_switch_rate_rises_as_lambda_u_falls(two_mode_table):
    t = two_mode_table
    assert t.attrs["num_modes"] == 2
    assert list(t.lambda_u) == sorted(t.lambda_u, reverse=True)
    s, se = t.switch_rate.to_numpy(), t.switch_rate_se.to_numpy()
    assert s[0] < 0.02 and s[-1] > 0.2
    # non-decreasing as lambda_u falls, up to Monte Carlo error
    assert np.all(np.diff(s) > -3 * np.sqrt(se[1:] ** 2 + se[:-1] ** 2) - 1e-9)
    assert t.correlation.iloc[0] > t.correlation.iloc[-1]


def test_speciation_below_memorization(two_mode_table):
    lam_m, lam_s = two_mode_table.attrs["lambda_m"], two_mode_table.attrs["lambda_s"]
    assert np.isfinite(lam_m) and np.isfinite(lam_s)
    assert 0.0002 <= lam_s < lam_m <= 0.5


def test_crossing_level():
    lam = [0.5, 0.1, 0.01]
    assert uturn.crossing_level(lam, [0.0, 0.1, 0.9], 0.05) == pytest.approx(
        np.exp(np.log(0.5) + 0.5 * (np.log(0.1) - np.log(0.5)))
    )
    assert np.isnan(uturn.crossing_level(lam, [0.0, 0.01, 0.02], 0.05))  # not reached
    assert np.isnan(uturn.crossing_level(lam, [0.2, 0.3, 0.4], 0.05))  # not bracketed


def test_plot_uturn_smoke(two_mode_table):
    """Smoke test: returns the axes it drew on, one vertical line per level found."""
    import matplotlib.pyplot as plt

    ax = uturn.plot_uturn(two_mode_table, label="two-mode")
    assert ax.get_xscale() == "log" and len(ax.lines) == 4
    assert uturn.plot_uturn(two_mode_table, ax=ax) is ax
    plt.close("all")


# --------------------------------------------------------------------------- explorer


def test_explorer_feeds_the_global_moves_single_chains_get_the_weights():
    """All 16 chains sit in the light mode at the end of warm-up (the annealing missed the
    heavy one). Mode finding from the chains alone finds one mode, and chains then never
    visit the other (the control). With the explorer's returns (default UTurn: overdispersed
    centers around the chains and their annealing centers, uniform in [-2, 2]^2 as with
    NumPyro's init_to_uniform) it finds both, and every single chain running MALA +
    independence Metropolis-Hastings visits the modes at frequencies within 0.05 of
    (1/3, 2/3)."""
    logdensity, sample, label, weights = two_mode_2d()
    chains, iters, h = 16, 2500, 0.3
    positions = jnp.asarray(sample(3, chains, component=0)[0])
    centers = jax.random.uniform(jax.random.key(4), (chains, 2), minval=-2.0, maxval=2.0)
    alone, _ = jax.jit(lambda y: find_modes(y, logdensity, h))(positions)
    assert int(alone.num_modes) == 1
    config = uturn.UTurn()
    mixture, grads = jax.jit(
        lambda k, y, c: uturn.explore_modes(k, y, logdensity, h, config, c)
    )(jax.random.key(5), positions, centers)
    assert int(mixture.num_modes) == 2 and int(grads) > 0
    local, global_move = dk.build_kernel(), build_independence_kernel()

    @jax.jit
    def run(key, mixture):
        def step(s, k):
            k1, k2 = jax.random.split(k)
            s, _ = local(k1, s, logdensity, 1.0, h)
            s, _ = global_move(k2, s, logdensity, mixture)
            return s, s.position

        def chain(k, y):
            _, ys = jax.lax.scan(step, dk.init(y, logdensity), jax.random.split(k, iters))
            return ys

        return jax.vmap(chain)(jax.random.split(key, chains), positions)

    freq = np.mean(label(run(jax.random.key(6), mixture)) == 1, axis=1)
    assert np.all(np.abs(freq - weights[1]) < 0.05), freq
    control = np.mean(label(run(jax.random.key(6), alone)) == 1, axis=1)
    assert np.median(np.abs(control - weights[1])) > 0.3, control  # MALA alone: stuck


def test_bad_settings_are_named():
    for field, value in [("kind", "both"), ("lambda_u", 1.0), ("lambda_u", ()),
                         ("num_steps", 0), ("protocol", "fast"), ("every", 0),
                         ("center_scale", -1.0)]:
        with pytest.raises(ValueError, match=f"UTurn.{field}"):
            uturn.build_kernel(uturn.UTurn(**{field: value}))
