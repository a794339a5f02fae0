"""Parameter scales from 1e-3 to 1e3 need no user step size or scale; correlations are
taken out by a dense preconditioner (``dense_mass=True``)."""

import warnings

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from conftest import mcse_z
from numpyro.infer import MCMC

from numpyro_dilation import DilationLangevin
from numpyro_dilation.preconditioner import (
    pooled_inverse_mass_dense,
    pooled_inverse_mass_diagonal,
)

SCALES = np.array([1e-3, 1e-2, 1.0, 10.0, 1e3])
MEAN = np.array([1.0, -1.0, 0.5, 3.0, 100.0])


def run(adapt_mass_matrix: bool):
    def potential(z):
        return 0.5 * jnp.sum(((z - MEAN) / SCALES) ** 2)

    mcmc = MCMC(
        DilationLangevin(
            potential_fn=potential, adapt_mass_matrix=adapt_mass_matrix, steps_per_draw=1
        ),  # one transition per draw: the bounds below were set for it (test time)
        num_warmup=300,
        num_samples=200,
        num_chains=128,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(jax.random.key(0), init_params=jnp.zeros((128, 5)))
    return mcmc, np.asarray(mcmc.get_samples(group_by_chain=True))


def test_scales_from_1e_minus_3_to_1e3():
    mcmc, x = run(adapt_mass_matrix=True)
    np.testing.assert_allclose(mcmc.last_state.inverse_mass_matrix, SCALES**2, rtol=1e-3)
    for j in range(5):
        assert mcse_z(x[..., j], MEAN[j]) < 4.5
        assert mcse_z((x[..., j] - MEAN[j]) ** 2, SCALES[j] ** 2) < 4.5
        assert float(az.rhat(x[..., j])) < 1.05


@pytest.mark.slow  # default suite time; `make test-all` runs it
def test_without_preconditioning_the_wide_coordinates_do_not_mix():
    """The same run with v = 1: the step size is set by the narrowest coordinate
    and the widest one barely moves (sd off by orders of magnitude). This is what
    the preconditioner fixes; the test would pass trivially if it did nothing."""
    _, x = run(adapt_mass_matrix=False)
    assert x[..., 4].std() < 0.1 * SCALES[4]


RHO_COV = np.array([[10.0, 0.8], [0.8, 0.1]])  # NumPyro's test_dense_mass target


def _correlated_model():
    numpyro.sample(
        "x", dist.MultivariateNormal(jnp.zeros(2), covariance_matrix=jnp.asarray(RHO_COV))
    )


@pytest.mark.parametrize("num_chains", [1, pytest.param(32, marks=pytest.mark.slow)])
def test_dense_mass_is_the_inverse_curvature_and_samples_a_correlated_gaussian(num_chains):
    """NumPyro's dense-mass test (correlation 0.8, variances 10 and 0.1), on one chain
    run alone and on a vectorized population: with ``dense_mass=True`` the adapted
    inverse mass matrix is the target's covariance (a Gaussian's curvature is the same
    everywhere), exposed as NumPyro exposes it (``adapt_state.mass_matrix_sqrt``), and the
    draws' second moments match it within 4.5 Monte Carlo standard errors."""
    mcmc = MCMC(
        DilationLangevin(_correlated_model, dense_mass=True, global_moves=None),
        num_warmup=300,
        num_samples=2000 if num_chains == 1 else 100,
        num_chains=num_chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a population of 1 is warned about; known here
        mcmc.run(jax.random.key(0))
    adapt = mcmc.last_state.adapt_state
    assert adapt.inverse_mass_matrix.shape == (2, 2)  # shared, not batched over chains
    np.testing.assert_allclose(adapt.inverse_mass_matrix, RHO_COV, rtol=1e-3, atol=1e-5)
    root = adapt.mass_matrix_sqrt
    np.testing.assert_allclose(np.linalg.inv(root @ root.T), RHO_COV, rtol=1e-3, atol=1e-5)
    x = np.asarray(mcmc.get_samples(group_by_chain=True)["x"])
    assert mcse_z(x[..., 0] * x[..., 1], RHO_COV[0, 1]) < 4.5
    assert mcse_z(x[..., 0] ** 2, RHO_COV[0, 0]) < 4.5
    assert mcse_z(x[..., 1] ** 2, RHO_COV[1, 1]) < 4.5


def test_a_chain_alone_adapts_its_own_diagonal_preconditioner():
    """A chain run alone (NumPyro's default ``MCMC``) preconditions with its own
    curvature: on the scales 1e-3 to 1e3 above, one chain's v is the exact variances."""

    def potential(z):
        return 0.5 * jnp.sum(((z - MEAN) / SCALES) ** 2)

    mcmc = MCMC(
        DilationLangevin(potential_fn=potential),
        num_warmup=200,
        num_samples=200,
        progress_bar=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mcmc.run(jax.random.key(0), init_params=jnp.zeros(5))
    np.testing.assert_allclose(mcmc.last_state.inverse_mass_matrix, SCALES**2, rtol=1e-3)
    x = np.asarray(mcmc.get_samples())
    assert np.all(np.abs(x.std(0) / SCALES - 1) < 0.5)  # without v the widest stays put


def test_pooled_dense_preconditioner_is_positive_definite_where_the_median_is_not():
    """A saddle direction in the median curvature takes the chains' spread along it
    instead (positive definite result); the positive direction keeps 1/curvature."""
    u = np.array([[1.0, 1.0], [1.0, -1.0]]) / np.sqrt(2)
    h = u @ np.diag([4.0, -1.0]) @ u.T  # curvature 4 along u0, -1 along u1
    pos = np.outer(np.array([-3.0, 0.0, 3.0]), u[:, 1])  # spread 6 along u1, 0 along u0
    v = np.asarray(pooled_inverse_mass_dense(jnp.broadcast_to(h, (3, 2, 2)), jnp.asarray(pos)))
    np.testing.assert_allclose(v, u @ np.diag([0.25, 6.0]) @ u.T, rtol=1e-5)
    diag = pooled_inverse_mass_diagonal(jnp.array([[4.0, np.nan]]), jnp.zeros((1, 2)))
    np.testing.assert_allclose(diag, [0.25, 1.0])  # nothing finite, no spread: 1


def test_exact_curvature_comes_from_sixteen_evenly_spaced_chains():
    """Up to DENSE_MAX_DIM the Hessians of CURVATURE_CHAINS chains only are measured (their
    cost counted to them): the preconditioner is the inverse median of those chains'
    curvatures, not of all 64, on a target whose curvature varies with the position."""
    from numpyro_dilation.population import init
    from numpyro_dilation.population_settings import make_settings
    from numpyro_dilation.preconditioner import (
        CURVATURE_CHAINS,
        curvature_chains,
        update_preconditioner,
    )

    def logdensity(x):  # curvature of coordinate i: 1 + 12 x_i^2, different in each chain
        return -jnp.sum(0.5 * x**2 + x**4)

    num_chains, dim = 64, 3
    x = jax.random.normal(jax.random.key(1), (num_chains, dim))
    settings = make_settings(100, dim, global_moves=None, uturn=None)
    state = init(x, logdensity, jax.random.split(jax.random.key(0), num_chains), settings)
    state, grads = update_preconditioner(state, logdensity, settings)
    rows = np.asarray(curvature_chains(num_chains))
    np.testing.assert_array_equal(rows, np.arange(CURVATURE_CHAINS) * 4)
    curvature = 1.0 + 12.0 * np.asarray(x) ** 2
    np.testing.assert_allclose(state.inverse_mass_matrix,
                               1.0 / np.median(curvature[rows], axis=0), rtol=1e-5)
    assert not np.allclose(state.inverse_mass_matrix, 1.0 / np.median(curvature, axis=0),
                           rtol=1e-3)  # the test tells the two apart
    search = int(np.min(np.asarray(grads)))  # the step-size search: every chain the same
    counted = np.asarray(grads) - search
    assert counted.sum() == CURVATURE_CHAINS * dim and set(counted[rows]) == {dim}
    assert np.asarray(curvature_chains(8)).tolist() == list(range(8))  # few chains: all
