"""Parameter scales from 1e-3 to 1e3 need no user step size or scale."""

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import mcse_z
from numpyro.infer import MCMC

from numpyro_dilation import DilationLangevin

SCALES = np.array([1e-3, 1e-2, 1.0, 10.0, 1e3])
MEAN = np.array([1.0, -1.0, 0.5, 3.0, 100.0])


def run(adapt_mass_matrix: bool):
    def potential(z):
        return 0.5 * jnp.sum(((z - MEAN) / SCALES) ** 2)

    mcmc = MCMC(
        DilationLangevin(potential_fn=potential, adapt_mass_matrix=adapt_mass_matrix),
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
