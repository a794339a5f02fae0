"""Mode finding above DENSE_MAX_DIM: diagonal covariances, the barrier test that merges
unconverged optima of one mode, exact Hessian diagonals, and global moves that keep the
target with a diagonal mixture."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from numpyro_dilation import kernel
from numpyro_dilation.global_moves import build_independence_kernel
from numpyro_dilation.modes import (
    DENSE_MAX_DIM,
    GlobalMoves,
    find_modes,
    hessian_diagonal,
    mixture_logpdf,
    mixture_sample,
    nearest_mode,
    uses_dense_covariance,
)

DIM = DENSE_MAX_DIM + 20
WEIGHTS = np.array([0.3, 0.7])
SCALES = np.linspace(0.5, 1.5, DIM)
SHIFT = 2.0  # modes at -SHIFT * 1 and +SHIFT * 1: 2 * SHIFT * sqrt(DIM) / 1.5 >> 1 apart


def two_modes(y):
    """0.3 N(-2, diag(SCALES^2)) + 0.7 N(+2, diag(SCALES^2)), normalized (log Z = 0)."""
    log_norm = -0.5 * DIM * jnp.log(2 * jnp.pi) - jnp.sum(jnp.log(SCALES))
    comps = jnp.stack([-0.5 * jnp.sum(((y - s * SHIFT) / SCALES) ** 2) for s in (-1.0, 1.0)])
    return logsumexp(comps + jnp.log(WEIGHTS)) + log_norm


def test_auto_covariance_switches_at_the_documented_dimension():
    assert uses_dense_covariance(GlobalMoves(), DENSE_MAX_DIM)
    assert not uses_dense_covariance(GlobalMoves(), DENSE_MAX_DIM + 1)
    assert not uses_dense_covariance(GlobalMoves(covariance="diagonal"), 2)
    assert uses_dense_covariance(GlobalMoves(covariance="dense"), 10 * DENSE_MAX_DIM)


def test_hessian_diagonal_is_exact():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(7, 7))
    precision = jnp.asarray(a @ a.T + 7 * np.eye(7), jnp.float32)
    logdensity = lambda y: -0.5 * y @ precision @ y + jnp.sum(jnp.sin(y))  # noqa: E731
    y = jnp.asarray(rng.normal(size=7), jnp.float32)
    expected = -jnp.diagonal(jax.hessian(logdensity)(y))
    np.testing.assert_allclose(hessian_diagonal(logdensity, y, batch_size=3), expected, rtol=1e-5)


def test_diagonal_mixture_density_and_draws_match_the_dense_form():
    config = GlobalMoves(max_modes=4)
    starts = jnp.asarray(np.random.default_rng(1).normal(size=(16, DIM)) * 3.0, jnp.float32)
    mixture, _ = find_modes(starts, two_modes, 0.5, config)
    assert mixture.chol.shape == (4, DIM)
    n = int(mixture.num_modes)
    dense = mixture._replace(chol=jax.vmap(jnp.diag)(mixture.chol))
    y = jnp.full((DIM,), 0.3)
    np.testing.assert_allclose(mixture_logpdf(mixture, y), mixture_logpdf(dense, y), rtol=1e-5)
    draws = jax.vmap(lambda k: mixture_sample(k, mixture))(
        jax.random.split(jax.random.key(2), 4000)
    )
    labels = nearest_mode(draws, mixture.means[:n], mixture.chol[:n])
    shares = np.bincount(labels, minlength=n) / 4000
    np.testing.assert_allclose(
        shares, np.exp(mixture.log_weights[:n]), atol=4 * np.sqrt(0.25 / 4000)
    )


def test_both_modes_found_with_exact_laplace_weights_and_curvature():
    """Starts scattered around both modes: two modes, means at +-2, Sigma = diag(SCALES^2)
    (the components are Gaussian with diagonal covariances, so Laplace is exact up to the
    other component's negligible contribution), Laplace weights 0.3 / 0.7."""
    rng = np.random.default_rng(3)
    signs = np.where(rng.random(64) < 0.5, -1.0, 1.0)[:, None]
    starts = jnp.asarray(signs * SHIFT + rng.normal(size=(64, DIM)) * SCALES, jnp.float32)
    config = GlobalMoves(max_modes=8, inflation=1.0)
    mixture, grads = find_modes(starts, two_modes, 0.5, config)
    assert int(mixture.num_modes) == 2
    order = np.argsort(np.asarray(mixture.means[:2, 0]))
    means = np.asarray(mixture.means)[order]
    np.testing.assert_allclose(
        means, np.stack([-SHIFT * np.ones(DIM), SHIFT * np.ones(DIM)]), atol=0.02
    )
    np.testing.assert_allclose(
        np.asarray(mixture.chol)[order], np.stack([SCALES, SCALES]), rtol=1e-3
    )
    laplace = np.asarray(mixture.laplace_log_mass[:2])[order]
    np.testing.assert_allclose(np.exp(laplace - logsumexp(laplace)), WEIGHTS, atol=1e-3)
    np.testing.assert_allclose(laplace, np.log(WEIGHTS), atol=1e-2)  # log Z = 0
    # per start: the ascent's 100 + 1 evaluations + the 5 segment points + a share of the
    # 2 modes' DIM HVPs and 3 Newton steps
    assert int(grads) == config.num_ascent_steps + 1 + 5 + -(-2 * (DIM + 3) // 64)


def test_inactive_starts_are_never_modes_in_either_covariance():
    """``active``: starts switched off are not ascended and never become modes; the gradients
    returned are per active start (their ascents, and the Hessian share over them alone).
    Both the diagonal path (DIM) and the dense one (2-d) are checked: starts in both modes,
    those of the +2 mode inactive, give the -2 mode alone, as the -2 starts alone do."""
    rng = np.random.default_rng(3)
    signs = np.where(np.arange(64) < 32, -1.0, 1.0)[:, None]
    starts = jnp.asarray(signs * SHIFT + rng.normal(size=(64, DIM)) * SCALES, jnp.float32)
    left = jnp.arange(64) < 32
    config = GlobalMoves(max_modes=8)
    mixture, grads = find_modes(starts, two_modes, 0.5, config, active=left)
    alone, alone_grads = find_modes(starts[:32], two_modes, 0.5, config)
    assert int(mixture.num_modes) == int(alone.num_modes) == 1
    assert float(mixture.means[0, 0]) < 0
    np.testing.assert_allclose(mixture.means[0], alone.means[0], atol=1e-5)
    assert int(grads) == int(alone_grads)

    def two_2d(y):
        return logsumexp(-0.5 * jnp.sum((y - jnp.array([[-3.0, 0.0], [3.0, 0.0]])) ** 2, -1))

    starts2 = jnp.asarray(signs[:, :1] * 3.0 + 0.3 * rng.normal(size=(64, 2)), jnp.float32)
    mixture, grads = find_modes(starts2, two_2d, 0.5, config, active=left)
    alone, alone_grads = find_modes(starts2[:32], two_2d, 0.5, config)
    assert int(mixture.num_modes) == 1 and float(mixture.means[0, 0]) < 0
    assert int(grads) == int(alone_grads)


def test_unconverged_optima_of_one_mode_merge():
    """A correlated Gaussian, starts far out and only 3 ascent steps: the optima are far
    from converged and far from each other in the metric, yet the segment between any two
    has no barrier, so they make one mode (the dense rule would split them)."""
    rng = np.random.default_rng(4)
    a = rng.normal(size=(DIM, DIM)) / np.sqrt(DIM)
    precision = jnp.asarray(a @ a.T + 0.2 * np.eye(DIM), jnp.float32)
    logdensity = lambda y: -0.5 * y @ precision @ y  # noqa: E731
    starts = jnp.asarray(rng.normal(size=(32, DIM)) * 5.0, jnp.float32)
    config = GlobalMoves(max_modes=8, num_ascent_steps=3)
    mixture, _ = find_modes(starts, logdensity, 0.1, config)
    assert int(mixture.num_modes) == 1


def test_global_moves_with_a_diagonal_mixture_restore_the_weights():
    """All chains start in the light mode; independence moves alone (no local steps) with
    the diagonal mixture must bring the share of the heavy mode to 0.7."""
    rng = np.random.default_rng(5)
    signs = np.where(rng.random(32) < 0.5, -1.0, 1.0)[:, None]
    starts = jnp.asarray(signs * SHIFT + rng.normal(size=(32, DIM)) * SCALES, jnp.float32)
    mixture, _ = find_modes(starts, two_modes, 0.5, GlobalMoves(max_modes=8))
    num_chains = 2000
    init = -SHIFT + rng.normal(size=(num_chains, DIM)) * SCALES
    states = jax.vmap(lambda y: kernel.init(y, two_modes))(jnp.asarray(init, jnp.float32))
    move = build_independence_kernel()

    @jax.jit
    def run(states, key):
        def body(states, key):
            keys = jax.random.split(key, num_chains)
            states, info = jax.vmap(lambda k, s: move(k, s, two_modes, mixture))(keys, states)
            return states, info.acceptance_rate.mean()

        return jax.lax.scan(body, states, jax.random.split(key, 40))

    states, acceptance = run(states, jax.random.key(6))
    share = float(np.mean(np.asarray(states.position[:, 0]) > 0))
    assert float(acceptance[-1]) > 0.5
    assert abs(share - WEIGHTS[1]) < 4 * np.sqrt(0.21 / num_chains), share


def test_numpyro_run_above_dense_max_dim_corrects_the_weights():
    """The whole kernel in DIM = 120 > DENSE_MAX_DIM dimensions on the 0.3 / 0.7 two-mode
    target: diagonal mixture, both modes found from the 64 starting chains, pooled share of
    the heavy mode within 4 binomial-ESS standard errors of 0.7, per-chain visits to both
    modes (with the default rank-8 correction to the preconditioner, which must not cost
    the mixture its weights)."""
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer import MCMC

    from numpyro_dilation import DilationLangevin

    def model():
        locs = jnp.stack([-SHIFT * jnp.ones(DIM), SHIFT * jnp.ones(DIM)])
        comps = dist.Normal(locs, jnp.asarray(SCALES)).to_event(1)
        numpyro.sample("x", dist.MixtureSameFamily(dist.Categorical(jnp.asarray(WEIGHTS)), comps))

    mcmc = MCMC(
        DilationLangevin(model, center=None),
        num_warmup=200,
        num_samples=200,
        num_chains=128,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(jax.random.key(0), extra_fields=("global_accept_prob",))
    state = mcmc.last_state
    assert state.mixture.chol.shape == (GlobalMoves().max_modes, DIM)
    assert int(state.mixture.num_modes) == 2
    # the low-rank correction to the preconditioner is on by default above DENSE_MAX_DIM
    assert state.adapt_state.mass_low_rank.scales.shape == (8,)
    heavy = np.asarray(mcmc.get_samples(group_by_chain=True)["x"][..., 0] > 0)
    assert float(mcmc.get_extra_fields()["global_accept_prob"].mean()) > 0.3
    assert np.mean(heavy.any(axis=1) & (~heavy).any(axis=1)) > 0.9  # chains switch modes
    se = np.sqrt(WEIGHTS[0] * WEIGHTS[1] / heavy.shape[0])  # at worst one draw per chain
    assert abs(heavy.mean() - WEIGHTS[1]) < 4 * se, heavy.mean()


def test_one_mode_above_dense_max_dim_gives_the_draws_of_global_moves_none(capfd, monkeypatch):
    """Above DENSE_MAX_DIM a run that finds one mode makes no global move, so its draws are
    exactly those of ``global_moves=None`` (which compiles neither the moves nor the mode
    finding): bit-identical on a 1 + 2 x 60 = 121-dimensional hierarchical posterior, 64
    chains, NumPyro's progress bar both times, the same sampling gradients and the same
    warnings; the defaults did run the mode finding (one mode) and said on standard error
    that ``global_moves=None`` gives these draws."""
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer import MCMC

    from numpyro_dilation import DilationLangevin

    groups = DIM // 2
    for name in ("CI", "PYTEST_XDIST_WORKER"):  # NumPyro turns its progress bar off there
        monkeypatch.delenv(name, raising=False)
    y = np.random.default_rng(0).normal(1.0, 1.5, size=groups)

    def model(y):
        mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
        with numpyro.plate("groups", groups):
            theta = numpyro.sample("theta", dist.Normal(mu, 1.0))
            eta = numpyro.sample("eta", dist.Normal(0.5 * theta, 1.0))
            numpyro.sample("y", dist.Normal(theta + 0.1 * eta, 1.0), obs=y)

    runs = {}
    for name, options in (("defaults", {}), ("none", {"global_moves": None})):
        mcmc = MCMC(DilationLangevin(model, **options), num_warmup=150, num_samples=40,
                    num_chains=64, chain_method="vectorized", progress_bar=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            mcmc.run(jax.random.key(0), y, extra_fields=("num_grad_evals",))
            jax.effects_barrier()
        runs[name] = (mcmc, capfd.readouterr().err, [str(w.message) for w in caught])
    (default_mcmc, default_err, default_warned), (none_mcmc, none_err, none_warned) = (
        runs["defaults"], runs["none"])
    assert default_warned == none_warned  # the same checks of the same draws
    assert int(default_mcmc.last_state.mixture.num_modes) == 1
    assert default_mcmc.last_state.mixture.chol.shape[1:] == (2 * groups + 1,)  # diagonal
    assert "DilationLangevin: 1 mode(s) found in" in default_err
    assert "the draws will be those of `global_moves=None`" in default_err
    assert "mode(s) found" not in none_err
    for site, draws in default_mcmc.get_samples().items():
        np.testing.assert_array_equal(np.asarray(draws), np.asarray(none_mcmc.get_samples()[site]))
    fields = [np.asarray(m.get_extra_fields()["num_grad_evals"]) for m in (default_mcmc, none_mcmc)]
    np.testing.assert_array_equal(fields[0], fields[1])
    assert none_mcmc.last_state.mixture is None  # no mode finding there
