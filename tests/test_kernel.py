"""BlackJAX-level kernel: x-form = y-form, exactness of MALA, divergences, jit/vmap."""

import blackjax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from blackjax.smc import resampling
from blackjax.util import run_inference_algorithm
from conftest import mcse_z
from jax import lax

import numpyro_dilation as nd
from numpyro_dilation import kernel as dk
from numpyro_dilation._control import cond_or_zeros, uniform_cond
from numpyro_dilation.path import to_dilated
from numpyro_dilation.schedules import linear_schedule


def banana(theta):
    """A non-Gaussian pytree target."""
    a, b = theta["a"], theta["b"]
    return -0.5 * a[0] ** 2 / 4.0 - 0.5 * (a[1] - 0.3 * a[0] ** 2) ** 2 - 0.5 * jnp.sum(b**2 / 0.5)


@pytest.mark.parametrize("metropolis", [True, False])
def test_target_and_dilated_forms_agree_step_for_step(x64, metropolis):
    center = {"a": jnp.array([0.5, -0.3]), "b": jnp.array([0.2])}
    y0 = {"a": jnp.array([1.0, 2.0]), "b": jnp.array([-0.4])}
    levels = linear_schedule(40, 1e-3)
    step_size = 0.3
    kernel = jax.jit(dk.build_kernel(), static_argnums=(2, 5))
    ref_kernel = jax.jit(dk.build_dilated_kernel(), static_argnums=(2, 6))

    state = dk.init(y0, banana, center=center, lam=levels[0])
    x = to_dilated(y0, center, levels[0])
    keys = jax.random.split(jax.random.key(3), len(levels) + 20)
    lams = np.concatenate([levels, np.ones(20)])
    n_accepted = 0
    for key, lam in zip(keys, lams):
        state, info = kernel(key, state, banana, lam, step_size, metropolis)
        x = ref_kernel(key, x, banana, center, lam, step_size, metropolis)
        n_accepted += int(info.is_accepted)
        x_from_y = dk.dilated_position(state)
        for k in x:
            np.testing.assert_allclose(x_from_y[k], x[k], rtol=1e-8, atol=1e-10)
    assert 0 < n_accepted < len(lams) if metropolis else n_accepted == len(lams)


def test_mala_at_lambda_one_leaves_a_correlated_gaussian_invariant():
    """Start 20 000 chains from the exact target, run 30 MALA steps: mean and
    covariance must stay within Monte Carlo error (chains are independent)."""
    n = 20_000
    cov = jnp.array([[1.0, 0.8, 0.1], [0.8, 1.5, -0.3], [0.1, -0.3, 0.5]])
    mean = jnp.array([1.0, -2.0, 0.5])
    prec = jnp.linalg.inv(cov)

    def logdensity(x):
        r = x - mean
        return -0.5 * r @ prec @ r

    kernel = dk.build_kernel()
    draws = jax.random.multivariate_normal(jax.random.key(0), mean, cov, (n,))
    state = jax.vmap(lambda y: dk.init(y, logdensity))(draws)

    def body(s, key):
        s, info = jax.vmap(lambda k, st: kernel(k, st, logdensity, 1.0, 0.25))(
            jax.random.split(key, n), s
        )
        return s, info.acceptance_rate.mean()

    state, acc = jax.lax.scan(body, state, jax.random.split(jax.random.key(1), 30))
    out = np.asarray(state.position)
    assert 0.3 < float(acc.mean()) < 0.95  # the chains really moved
    se_mean = np.sqrt(np.diag(cov) / n)
    assert np.all(np.abs(out.mean(0) - mean) < 4.5 * se_mean)
    emp_cov = np.cov(out.T)
    # sd of a sample covariance entry: sqrt((S_ij^2 + S_ii S_jj) / n)
    se_cov = np.sqrt((np.asarray(cov) ** 2 + np.outer(np.diag(cov), np.diag(cov))) / n)
    assert np.all(np.abs(emp_cov - cov) < 4.5 * se_cov)


def test_wrong_acceptance_would_be_caught():
    """Sanity check of the invariance test's power: unadjusted Langevin with the
    same step is biased (its variance is inflated), and the test sees it."""
    n = 20_000
    kernel = dk.build_kernel()
    draws = jax.random.normal(jax.random.key(0), (n,))
    state = jax.vmap(lambda y: dk.init(y, lambda x: -0.5 * x**2))(draws)
    step = jax.jit(jax.vmap(lambda k, s: kernel(k, s, lambda x: -0.5 * x**2, 1.0, 0.6, False)))
    for key in jax.random.split(jax.random.key(1), 30):
        state, _ = step(jax.random.split(key, n), state)
    # ULA on N(0,1) with step h has stationary variance 1/(1 - h/2) = 1.43.
    assert np.var(np.asarray(state.position)) > 1.0 + 4.5 * np.sqrt(2.0 / n)


def test_divergent_proposals_are_rejected_and_counted():
    # Support x > 0 only; the chain starts near the boundary with a large step.
    def logdensity(x):
        return jnp.where(x > 0, jnp.log(jnp.where(x > 0, x, 1.0)) - x, -jnp.inf)

    kernel = dk.build_kernel()
    n = 500
    state = jax.vmap(lambda y: dk.init(y, logdensity))(jnp.full((n,), 0.2))
    divergences = 0
    step = jax.jit(jax.vmap(lambda k, s: kernel(k, s, logdensity, 1.0, 0.5, False)))
    for key in jax.random.split(jax.random.key(0), 50):
        state, info = step(jax.random.split(key, n), state)
        divergences += int(info.is_divergent.sum())
        assert not np.any(info.is_accepted & info.is_divergent)
    assert divergences > 0
    assert np.all(np.isfinite(state.position)) and np.all(state.position > 0)
    assert np.all(np.isfinite(state.logdensity))


def test_uniform_cond_matches_lax_cond_under_vmap():
    def true_fun(x, s):
        return jnp.sin(x) * s, x + 1

    def false_fun(x, s):
        return jnp.cos(x) * s, x - 1

    def f(p, x, s):
        return uniform_cond(p, true_fun, false_fun, x, s)

    def g(p, x, s):
        return lax.cond(p, true_fun, false_fun, x, s)

    xs = jnp.linspace(-1, 1, 6)
    for preds in (jnp.ones(6, bool), jnp.zeros(6, bool), xs > 0.1):
        for a, b in zip(
            jax.jit(jax.vmap(f, (0, 0, None)))(preds, xs, 2.0),
            jax.vmap(g, (0, 0, None))(preds, xs, 2.0),
        ):
            np.testing.assert_allclose(a, b)
    for a, b in zip(
        jax.vmap(f, (None, 0, None))(True, xs, 2.0), jax.vmap(g, (None, 0, None))(True, xs, 2.0)
    ):
        np.testing.assert_allclose(a, b)
    for a, b in zip(f(False, 0.3, 2.0), g(False, 0.3, 2.0)):
        np.testing.assert_allclose(a, b)


def test_uniform_cond_does_not_copy_shared_operands_per_element():
    """A shared (unbatched) operand, such as the mode mixture every chain uses, must
    stay shared: copying a (m, m) matrix per chain made 10^4 chains need gigabytes."""
    num, m = 1000, 40
    mat = jnp.eye(m)

    def true_fun(x, a):
        return a @ x

    def false_fun(x, a):
        return x

    def f(p, x, a):
        return uniform_cond(p, true_fun, false_fun, x, a)

    xs = jnp.ones((num, m))
    preds = jnp.arange(num) % 2 == 0
    jaxpr = str(jax.make_jaxpr(jax.vmap(f, (0, 0, None)))(preds, xs, mat))
    assert f"[{num},{m},{m}]" not in jaxpr
    out = jax.vmap(f, (0, 0, None))(preds, xs, 2 * mat)
    np.testing.assert_allclose(out, jnp.where(preds[:, None], 2 * xs, xs))


def test_uniform_cond_compiles_each_branch_once_under_a_batched_predicate():
    """With a batched predicate the branch taken by some elements used to be traced twice
    (alone when all take it, and again beside the other branch when they differ): twice
    the compiled code for the level change's gradient and the global move, 15% of a
    population iteration's fused kernels. Each branch appears once, and the per-element
    choice is still exact."""

    def f(p, x):
        return uniform_cond(p, lambda y: jnp.sin(y), lambda y: jnp.cos(y), x)

    xs = jnp.linspace(-1, 1, 6)
    jaxpr = str(jax.make_jaxpr(jax.vmap(f))(xs > 0, xs))
    assert jaxpr.count(" sin ") == 1 and jaxpr.count(" cos ") == 1, jaxpr
    for preds in (jnp.ones(6, bool), jnp.zeros(6, bool), xs > 0.1):
        out = jax.jit(jax.vmap(f))(preds, xs)
        np.testing.assert_array_equal(out, jnp.where(preds, jnp.sin(xs), jnp.cos(xs)))


def test_cond_or_zeros_traces_its_function_once_and_gives_zeros_where_skipped():
    """``cond_or_zeros`` (mode finding's starts, the U-turn explorer) gets its zeros'
    shapes from ``lax.cond``'s own trace of the taken branch, so the function's Python runs
    once; eagerly under ``jax.disable_jit`` only the skipped branch runs and finds the
    shapes itself. Outputs: the function's where taken, zeros (``False``) where skipped,
    also per element under ``vmap``."""
    calls = [0]

    def fun(x):
        calls[0] += 1
        return 2.0 * x, x > 0

    x = jnp.array([1.0, -2.0])
    jax.make_jaxpr(lambda p, y: cond_or_zeros(p, fun, y))(True, x)
    assert calls[0] == 1
    for pred in (True, False):
        out, positive = jax.jit(lambda p, y: cond_or_zeros(p, fun, y))(pred, x)
        np.testing.assert_array_equal(out, 2.0 * x if pred else jnp.zeros(2))
        np.testing.assert_array_equal(positive, x > 0 if pred else jnp.zeros(2, bool))
    preds = jnp.array([True, False])
    out, _ = jax.vmap(lambda p, y: cond_or_zeros(p, fun, y))(preds, jnp.stack([x, x]))
    np.testing.assert_array_equal(out, jnp.stack([2.0 * x, jnp.zeros(2)]))
    with jax.disable_jit():
        out, positive = cond_or_zeros(False, fun, x)
    np.testing.assert_array_equal(out, jnp.zeros(2))
    assert positive.dtype == jnp.bool_ and not positive.any()


def test_top_level_algorithm_runs_with_run_inference_algorithm_jit_and_vmap():
    mean = {"m": jnp.array([3.0, -1.0]), "s": jnp.array(0.5)}

    def logdensity(theta):
        return -0.5 * jnp.sum((theta["m"] - mean["m"]) ** 2) - 0.5 * (theta["s"] - mean["s"]) ** 2

    num_annealing = 100
    algo = nd.dilation_langevin(logdensity, 0.1, num_annealing_steps=num_annealing, lambda_min=0.01)

    def one_chain(key, x0):
        return run_inference_algorithm(key, algo, 300, initial_position=x0)

    x0 = {"m": jnp.zeros((64, 2)), "s": jnp.zeros(64)}
    final, (states, infos) = jax.jit(jax.vmap(one_chain))(
        jax.random.split(jax.random.key(0), 64), x0
    )
    levels = linear_schedule(num_annealing, 0.01)
    np.testing.assert_allclose(infos.lam[0, :num_annealing], levels, rtol=1e-6)
    assert np.all(infos.lam[:, num_annealing:] == 1.0)
    # two gradients per level change, one otherwise (the first level needs no change)
    assert int(infos.num_grad_evals[0].sum()) == 300 + num_annealing - 1
    assert final.iteration[0] == 300
    # step size frozen after adaptation
    assert np.all(infos.step_size[:, num_annealing + 1 :] == infos.step_size[:, -1:])
    draws = states.position["m"][:, num_annealing:]
    assert np.all(np.abs(draws.mean((0, 1)) - mean["m"]) < 0.15)


def test_dilation_langevin_rejects_bad_arguments():
    f = lambda x: -(x**2)  # noqa: E731
    with pytest.raises(ValueError, match="step_size"):
        nd.dilation_langevin(f, num_annealing_steps=10, step_size=0.0)
    with pytest.raises(ValueError, match="step_size"):
        nd.dilation_langevin(f, num_annealing_steps=10, step_size=float("nan"))
    with pytest.raises(ValueError, match="lambda_min"):
        nd.dilation_langevin(f, num_annealing_steps=10, step_size=0.1, lambda_min=1.0)
    with pytest.raises(ValueError, match="target_accept_prob"):
        nd.dilation_langevin(f, num_annealing_steps=10, step_size=0.1, target_accept_prob=1.2)
    with pytest.raises(ValueError, match="strictly increasing"):
        nd.dilation_langevin(f, 0.1, schedule=[0.5, 0.2, 1.0])
    with pytest.raises(ValueError, match="num_steps"):
        nd.dilation_langevin(f, 0.1, num_annealing_steps=-1)
    with pytest.raises(ValueError, match="2 levels but 4 annealing steps"):
        nd.dilation_langevin(f, 0.1, num_annealing_steps=4, schedule=[0.5, 1.0])
    with pytest.raises(ValueError, match="inverse_mass_matrix"):
        nd.dilation_langevin(f, 0.1, jnp.ones((2, 3)))


def test_a_huge_energy_error_counts_as_divergent():
    """NumPyro's rule: a proposal whose energy error -W exceeds 1000 is divergent (and, with
    the Metropolis step, rejected); a sensible step is not."""
    logdensity = lambda y: -0.5 * jnp.sum(y**2)  # noqa: E731
    kernel = dk.build_kernel()
    state = jax.vmap(lambda y: dk.init(y, logdensity))(jnp.zeros((200, 3)))
    keys = jax.random.split(jax.random.key(0), 200)
    step = jax.vmap(lambda k, s, h: kernel(k, s, logdensity, 1.0, h), in_axes=(0, 0, None))
    _, info = step(keys, state, 1e5)
    assert np.all(np.asarray(info.is_divergent)) and not np.any(np.asarray(info.is_accepted))
    _, info = step(keys, state, 0.5)
    assert not np.any(np.asarray(info.is_divergent))


# -- BlackJAX's utilities driving the kernel -------------------------------------------------


def test_blackjax_window_adaptation_tunes_and_hands_over_to_the_algorithm():
    """``blackjax.window_adaptation(nd.dilation_langevin, ...)`` anneals for 100 steps while
    it tunes h and the diagonal preconditioner; its parameters build the algorithm (BlackJAX's
    positional ``step_size``), which continues from the adapted states at lambda = 1. On
    N((1, -2), diag(1, 100)) the preconditioner finds the variances, and the pooled draws of
    32 chains have every mean and variance within 4.5 MCSE."""
    mean, var = jnp.array([1.0, -2.0]), jnp.array([1.0, 100.0])

    def logdensity(x):
        return -0.5 * jnp.sum((x - mean) ** 2 / var)

    warmup = blackjax.window_adaptation(nd.dilation_langevin, logdensity, num_annealing_steps=100)

    def one_chain(key, x0):
        k_warm, k_run = jax.random.split(key)
        (state, parameters), _ = warmup.run(k_warm, x0, num_steps=400)
        algo = nd.dilation_langevin(logdensity, **parameters)
        _, states = run_inference_algorithm(
            k_run, algo, 400, initial_state=state, transform=lambda s, i: s.position
        )
        return parameters["inverse_mass_matrix"], states

    keys = jax.random.split(jax.random.key(0), 32)
    v, x = jax.jit(jax.vmap(one_chain))(keys, jnp.zeros((32, 2)))
    np.testing.assert_allclose(np.median(v, axis=0), var, rtol=0.3)
    x = np.asarray(x)
    for j in range(2):
        assert mcse_z(x[..., j], float(mean[j])) < 4.5
        assert mcse_z((x[..., j] - float(mean[j])) ** 2, float(var[j])) < 4.5


def test_blackjax_tempered_smc_moves_particles_with_the_kernel():
    """``adaptive_tempered_smc`` with ``build_kernel()`` / ``init`` as its MCMC move (MALA at
    lambda = 1: the kernel's default of no annealing). Conjugate Gaussian, prior N(0, I_2),
    y = (1, -1) observed with sd 0.5: posterior N(0.8 y, 0.2 I), log Z = -2.861. Weighted
    means and variances within 4.5 se (se from the final weights' ESS; over 20 seeds the
    errors' sds were 0.7x those), log Z within 0.1 (its sd over 20 seeds: 0.022)."""
    y = jnp.array([1.0, -1.0])

    def logprior(x):
        return -0.5 * jnp.sum(x**2) - jnp.log(2 * jnp.pi)

    def loglikelihood(x):
        return jnp.sum(-0.5 * ((y - x) / 0.5) ** 2 - jnp.log(0.5 * jnp.sqrt(2 * jnp.pi)))

    smc = blackjax.adaptive_tempered_smc(
        logprior,
        loglikelihood,
        nd.dilation_langevin.build_kernel(),
        nd.dilation_langevin.init,
        {"step_size": jnp.array([0.3])},
        resampling.systematic,
        target_ess=0.5,
        num_mcmc_steps=10,
    )

    def run(key):
        k_init, k_run = jax.random.split(key)

        def body(carry):
            key, state, log_z = carry
            key, sub = jax.random.split(key)
            state, info = smc.step(sub, state)
            return key, state, log_z + info.log_likelihood_increment

        state = smc.init(jax.random.normal(k_init, (2000, 2)))
        carry = (k_run, state, jnp.zeros(()))
        _, state, log_z = lax.while_loop(lambda c: c[1].tempering_param < 1, body, carry)
        return state.particles, state.weights, log_z

    x, w, log_z = jax.jit(run)(jax.random.key(0))
    x, w = np.asarray(x, float), np.asarray(w, float)
    ess = 1.0 / np.sum(w**2)
    m = w @ x
    v = w @ (x - m) ** 2
    np.testing.assert_allclose(m, 0.8 * np.asarray(y), atol=4.5 * np.sqrt(0.2 / ess))
    np.testing.assert_allclose(v, 0.2, atol=4.5 * 0.2 * np.sqrt(2 / ess))
    exact = float(np.sum(-0.5 * np.log(2 * np.pi * 1.25) - np.asarray(y) ** 2 / 2.5))
    assert abs(float(log_z) - exact) < 0.1


def test_a_dense_inverse_mass_matrix_equal_to_a_diagonal_one_gives_the_same_steps():
    """The dense path (BlackJAX's matrix form, A = L L^T) with A = diag(v) must reproduce the
    diagonal path step for step: same noise, proposal, acceptance ratio and decision."""
    v = jnp.array([0.5, 2.0, 1.5])

    def logdensity(theta):
        x = jnp.concatenate([theta["a"], theta["b"][None]])
        return -0.5 * jnp.sum((x - 1.0) ** 2 * jnp.array([1.0, 0.3, 2.0])) - 0.1 * jnp.sum(x**4)

    kernel = jax.jit(dk.build_kernel(), static_argnums=2)
    start = {"a": jnp.array([0.3, -0.2]), "b": jnp.array(0.7)}
    diagonal = dense = dk.init(start, logdensity)
    for key in jax.random.split(jax.random.key(0), 20):
        diagonal, info_diag = kernel(key, diagonal, logdensity, 1.0, 0.4, True, v)
        dense, info_dense = kernel(key, dense, logdensity, 1.0, 0.4, True, jnp.diag(v))
        np.testing.assert_allclose(info_dense.acceptance_rate, info_diag.acceptance_rate, rtol=1e-4)
        assert bool(info_dense.is_accepted) == bool(info_diag.is_accepted)
    for leaf_dense, leaf_diag in zip(jax.tree.leaves(dense), jax.tree.leaves(diagonal)):
        np.testing.assert_allclose(leaf_dense, leaf_diag, rtol=1e-5, atol=1e-6)


def test_window_adaptation_with_a_dense_mass_matrix_samples_a_correlated_gaussian():
    """NumPyro's dense-mass check at the BlackJAX level: x ~ N(0, [[1, 0.8], [0.8, 1]]).
    ``window_adaptation(..., is_mass_matrix_diagonal=False)`` returns a dense inverse mass near
    the covariance; sampling with it, E[x0 x1] = 0.8 and the variances 1 are within 4.5 MCSE
    (16 chains, pooled)."""
    cov = jnp.array([[1.0, 0.8], [0.8, 1.0]])
    precision = jnp.linalg.inv(cov)

    def logdensity(x):
        return -0.5 * x @ precision @ x

    warmup = blackjax.window_adaptation(
        nd.dilation_langevin, logdensity, is_mass_matrix_diagonal=False
    )

    def one_chain(key):
        k_warm, k_run = jax.random.split(key)
        (state, parameters), _ = warmup.run(k_warm, jnp.ones(2), num_steps=500)
        algo = nd.dilation_langevin(logdensity, **parameters)
        _, draws = run_inference_algorithm(
            k_run, algo, 500, initial_state=state, transform=lambda s, i: s.position
        )
        return parameters["inverse_mass_matrix"], draws

    matrices, x = jax.jit(jax.vmap(one_chain))(jax.random.split(jax.random.key(1), 16))
    assert matrices.shape == (16, 2, 2)
    np.testing.assert_allclose(np.median(matrices, axis=0), cov, atol=0.3)
    x = np.asarray(x)
    assert mcse_z(x[..., 0] * x[..., 1], 0.8) < 4.5
    assert mcse_z(x[..., 0] ** 2, 1.0) < 4.5
    assert mcse_z(x[..., 1] ** 2, 1.0) < 4.5
