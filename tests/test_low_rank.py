"""The diagonal-plus-low-rank preconditioner (numpyro_dilation.low_rank): its algebra, its
estimate on a Gaussian whose correlations a diagonal cannot follow, the MALA step with it
(the same step as with the equal dense matrix), and the sampler using it by default above
100 dimensions."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest

import numpyro_dilation as nd
from numpyro_dilation import kernel
from numpyro_dilation.low_rank import (
    DiagonalPlusLowRank,
    low_rank_correction,
    low_rank_size,
    residual_directions,
)
from numpyro_dilation.population_settings import check_mass_rank, make_settings


def hierarchical_precision(num_groups: int, per_group: int = 4) -> np.ndarray:
    """Posterior precision of (mu, eta_1..J) in the non-centered hierarchical model of
    benchmarks/models.py (sigma 1, tau 0.7, mu ~ N(0, 5)): whitened by its diagonal, its
    eigenvalues are 1 -+ 0.81 (mu against the mean of the group effects) and 1 elsewhere."""
    tau, prec = 0.7, np.zeros((num_groups + 1, num_groups + 1))
    prec[0, 0] = 1.0 / 25.0 + num_groups * per_group
    prec[0, 1:] = prec[1:, 0] = tau * per_group
    prec[1:, 1:] = np.diag(np.full(num_groups, 1.0 + tau**2 * per_group))
    return prec


def test_algebra_of_the_square_root_and_its_inverse():
    d, r = 7, 3
    keys = jax.random.split(jax.random.key(0), 3)
    q = jnp.linalg.qr(jax.random.normal(keys[0], (d, r)))[0]
    a = DiagonalPlusLowRank(
        jnp.exp(jax.random.normal(keys[1], (d,))), q, jnp.array([5.0, -0.8, 0.0])
    )
    eye = jnp.eye(d)
    dense = np.asarray(a.to_dense())
    root = np.asarray(jax.vmap(a.sqrt_matvec, 1, 1)(eye))
    root_inv = np.asarray(jax.vmap(a.inv_sqrt_matvec, 1, 1)(eye))
    np.testing.assert_allclose(root @ root.T, dense, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(root_inv @ root, np.eye(d), atol=1e-5)
    np.testing.assert_allclose(np.asarray(jax.vmap(a.matvec, 1, 1)(eye)), dense, atol=1e-5)
    np.testing.assert_allclose(np.linalg.eigvalsh(dense).min() > 0, True)


def test_correction_inverts_a_gaussian_whose_whitened_curvature_has_rank_two_off_identity():
    """For a Gaussian whose diagonally whitened precision is I + (rank 2), the residuals
    span exactly that rank-2 part and the estimate is the covariance itself."""
    prec = jnp.asarray(hierarchical_precision(60))
    diag = 1.0 / jnp.diag(prec)
    y = 0.3 * jax.random.normal(jax.random.key(1), (32, 61))  # any positions
    grads = -y @ prec
    q = residual_directions(y, grads, diag, 2)
    whitened = jnp.sqrt(diag)[:, None] * prec * jnp.sqrt(diag)[None, :] - jnp.eye(61)
    # the directions span the range of the whitened precision's departure from I
    np.testing.assert_allclose(np.asarray(q @ (q.T @ whitened)), np.asarray(whitened), atol=1e-4)
    a = low_rank_correction(y, grads, diag, 2, lambda y, u: prec @ u)
    np.testing.assert_allclose(np.asarray(a.to_dense() @ prec), np.eye(61), atol=2e-4)
    # diagonal alone: condition number about 9.7; with the correction: 1
    eig = np.linalg.eigvals(np.asarray(a.to_dense() @ prec)).real
    assert eig.max() / eig.min() < 1.001
    eig_diag = np.linalg.eigvals(np.asarray(diag[:, None] * prec)).real
    assert eig_diag.max() / eig_diag.min() > 9.0


def test_non_finite_curvature_leaves_the_diagonal_unchanged():
    y = jax.random.normal(jax.random.key(2), (16, 3))
    a = low_rank_correction(y, -y * 2.0, jnp.ones(3), 2, lambda y, u: jnp.full_like(u, jnp.nan))
    np.testing.assert_array_equal(np.asarray(a.scales), 0.0)


def test_a_direction_whose_curvature_changes_across_chains_is_left_to_the_diagonal():
    """Curvature 4 along x0 everywhere (corrected: 1 + s = 1/4), and 10 exp(-2 x0) along x1,
    which differs by orders of magnitude between the chains (a funnel): left alone."""
    y = jax.random.normal(jax.random.key(7), (64, 2)) * jnp.array([1.5, 1.0])

    def hvp(y, u):
        return jnp.array([4.0, 10.0 * jnp.exp(-2.0 * y[0])]) * u

    grads = -jax.vmap(lambda y: hvp(y, y))(y)
    a = low_rank_correction(y, grads, jnp.ones(2), 2, hvp)
    scales = np.sort(np.asarray(a.scales))
    np.testing.assert_allclose(scales, [-0.75, 0.0], atol=1e-5)


def test_mala_ratio_and_proposal_equal_those_of_the_same_dense_matrix():
    """The reverse move's whitened noise (hence the Metropolis-Hastings ratio) of any pair of
    states has the dense path's norm for the same matrix, and the proposals have the same covariance
    (the square roots differ: symmetric here, Cholesky there)."""
    prec = jnp.array([[2.0, 1.5, 0.0], [1.5, 2.0, 0.3], [0.0, 0.3, 1.0]])
    logdensity = lambda y: -0.5 * y @ prec @ y  # noqa: E731
    q = jnp.linalg.qr(jnp.array([[1.0, 0.2], [1.0, -0.5], [0.1, 1.0]]))[0]
    a = DiagonalPlusLowRank(jnp.array([0.5, 0.7, 1.2]), q, jnp.array([3.0, -0.5]))
    dense = kernel._dense_metric(a.to_dense(), jnp.float32)
    points = jax.random.normal(jax.random.key(3), (6, 3))
    states = [kernel.init(y, logdensity) for y in points]
    for s, t in zip(states[:-1], states[1:]):
        e_low = jnp.sum(kernel._dense_reverse_noise(s, t, 0.4, a) ** 2)
        e_dense = jnp.sum(kernel._dense_reverse_noise(s, t, 0.4, dense) ** 2)
        np.testing.assert_allclose(e_low, e_dense, rtol=1e-5)
    step = jax.jit(
        jax.vmap(
            lambda k: (
                kernel.build_kernel()(
                    k, states[0], logdensity, 1.0, 0.05, metropolis=False, inverse_mass_matrix=a
                )[0].position
            )
        )
    )  # unadjusted: y + h A g + sqrt(2h) L xi, covariance 2h A
    moves = np.asarray(step(jax.random.split(jax.random.key(4), 40000)))
    cov = np.cov(moves.T) / (2 * 0.05)
    np.testing.assert_allclose(cov, np.asarray(a.to_dense()), atol=0.05)


def test_rank_rules_and_bad_input():
    assert low_rank_size(8, 256, 1001) == 8
    assert low_rank_size(8, 12, 1001) == 3
    assert low_rank_size(8, 1, 1001) == 0
    assert check_mass_rank("auto", 100) == 0 and check_mass_rank("auto", 101) == 8
    assert make_settings(100, 500, dense_mass=True).mass_rank == 0
    for bad in ("full", -1, 2.5, True):
        with pytest.raises(ValueError, match="mass_rank"):
            check_mass_rank(bad, 10)
    with pytest.raises(ValueError, match="mass_rank"):
        nd.DilationLangevin(lambda: numpyro.sample("x", dist.Normal()), mass_rank="full")
    with pytest.raises(ValueError, match="mass_rank"):
        nd.population_sampler(lambda x: -jnp.sum(x**2), 100, mass_rank=-2)


def test_population_sampler_learns_the_correction_and_samples_the_gaussian():
    """121-d hierarchical Gaussian (above DENSE_MAX_DIM: the low-rank correction is on by
    default). After the warm-up, the step's inverse mass times the precision has
    condition number near 1 (9.7 with the diagonal alone), and the draws' means and the
    variance of mu match the exact ones within Monte Carlo error."""
    prec = hierarchical_precision(120)
    cov = np.linalg.inv(prec)
    mean = cov @ np.linspace(-20.0, 20.0, 121)
    prec_j, mean_j = jnp.asarray(prec, jnp.float32), jnp.asarray(mean, jnp.float32)
    logdensity = lambda x: -0.5 * (x - mean_j) @ prec_j @ (x - mean_j)  # noqa: E731
    num_chains, num_warmup, num_draws = 128, 200, 30
    algo = nd.population_sampler(logdensity, num_warmup, global_moves=None, uturn=None)
    init = jnp.asarray(mean, jnp.float32) + jax.random.normal(jax.random.key(4), (num_chains, 121))
    state = algo.init(init, jax.random.key(5))
    step = jax.jit(algo.step)
    draws = []
    for i, key in enumerate(jax.random.split(jax.random.key(6), num_warmup + num_draws)):
        state, _ = step(key, state)
        if i >= num_warmup:
            draws.append(np.asarray(state.z))
    low_rank = state.adapt_state.mass_low_rank
    assert low_rank is not None and low_rank.scales.shape == (8,)
    eig = np.linalg.eigvals(np.asarray(low_rank.to_dense()) @ prec).real
    assert eig.max() / eig.min() < 2.0, eig
    draws = np.stack(draws)  # (draws, chains, d)
    # draws of one chain are nearly independent (steps_per_draw='auto'); chains independent
    n = draws.shape[0] * draws.shape[1]
    sd = np.sqrt(np.diag(cov))
    z = (draws.mean(axis=(0, 1)) - mean) / (sd / np.sqrt(n / 2.0))  # ESS >= n / 2
    assert np.max(np.abs(z)) < 4.5, np.max(np.abs(z))
    var_mu = draws[..., 0].var()
    assert abs(var_mu / cov[0, 0] - 1.0) < 5.0 * np.sqrt(2.0 / (n / 2.0)), var_mu / cov[0, 0]
