"""U-turns inside DilationLangevin (``uturn=``): the exact move keeps the posterior,
the explorer is on by default with global moves on enough chains, bad settings are
named."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import mcse_z
from numpyro.infer import MCMC

from numpyro_dilation import DilationLangevin, ReliabilityWarning, UTurn

COV = np.array([[1.0, 0.8], [0.8, 2.0]])
MEAN = np.array([1.0, -2.0])


def gaussian_potential(x):
    r = x - jnp.asarray(MEAN, x.dtype)
    return 0.5 * r @ jnp.asarray(np.linalg.inv(COV), x.dtype) @ r


@pytest.mark.parametrize(
    "chain_method", ["vectorized", pytest.param("sequential", marks=pytest.mark.slow)]
)
def test_exact_uturn_move_in_the_sampler_keeps_a_correlated_gaussian(chain_method):
    """Every sampling iteration makes an exact palindromic U-turn (MALA in between):
    means and variances within Monte Carlo error, and the move is really accepted."""
    num_chains = 40 if chain_method == "vectorized" else 2
    num_samples = 200 if chain_method == "vectorized" else 1000
    kernel = DilationLangevin(
        potential_fn=gaussian_potential,
        uturn=UTurn(kind="exact", lambda_u=0.3, num_steps=4, every=1),
        global_moves=None,
    )
    mcmc = MCMC(
        kernel,
        num_warmup=200,
        num_samples=num_samples,
        num_chains=num_chains,
        chain_method=chain_method,
        progress_bar=False,
    )
    init = jax.random.uniform(jax.random.key(1), (num_chains, 2), minval=-2, maxval=2)
    mcmc.run(jax.random.key(0), init_params=init, extra_fields=("uturn_accept_prob",))
    x = np.asarray(mcmc.get_samples(group_by_chain=True))
    acc = np.asarray(mcmc.get_extra_fields()["uturn_accept_prob"])
    assert 0.2 < acc.mean() < 1.0
    for i in range(2):
        assert mcse_z(x[..., i], MEAN[i]) < 4.5
        assert mcse_z((x[..., i] - MEAN[i]) ** 2, COV[i, i]) < 4.5


def test_uturn_settings_are_checked_before_sampling():
    with pytest.raises(ValueError, match="`uturn`"):
        DilationLangevin(potential_fn=gaussian_potential, uturn="yes")
    with pytest.raises(ValueError, match="UTurn.num_steps"):
        DilationLangevin(potential_fn=gaussian_potential, uturn=UTurn(num_steps=0))


def test_explorer_without_global_moves_warns_and_is_off():
    kernel = DilationLangevin(potential_fn=gaussian_potential, uturn=UTurn(kind="explore"))
    mcmc = MCMC(kernel, num_warmup=20, num_samples=5, num_chains=1, progress_bar=False)
    with pytest.warns(UserWarning, match="explore"):
        mcmc.run(jax.random.key(0), init_params=jnp.zeros(2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "auto" is silently off without global moves
        # (the one warning is that a single chain runs without the population algorithm)
        warnings.filterwarnings("ignore", "DilationLangevin: a single chain", ReliabilityWarning)
        mcmc = MCMC(
            DilationLangevin(potential_fn=gaussian_potential),
            num_warmup=20,
            num_samples=5,
            num_chains=1,
            progress_bar=False,
        )
        mcmc.run(jax.random.key(0), init_params=jnp.zeros(2))


def test_auto_explorer_runs_from_128_chains_and_an_explicit_one_at_any_count():
    """``uturn="auto"``: the explorer where global moves run on at least
    ``AUTO_EXPLORER_MIN_CHAINS`` (128) chains, none below (a run sized for one mode: its
    compiled loop holds no explorer); ``UTurn(kind="explore")`` keeps it at 64; no global
    moves, no explorer."""
    from numpyro_dilation.run_plan import AUTO_EXPLORER_MIN_CHAINS, KernelOptions, plan_moves

    assert AUTO_EXPLORER_MIN_CHAINS == 128
    for num_chains, explores in ((64, False), (127, False), (128, True), (1024, True)):
        global_moves, uturn = plan_moves(KernelOptions(), True, True, num_chains)
        assert global_moves is not None
        assert (uturn is not None and uturn.kind == "explore") is explores
    options = KernelOptions(uturn=UTurn(kind="explore"))
    assert plan_moves(options, True, True, 64)[1].kind == "explore"
    assert plan_moves(KernelOptions(global_moves=None), True, True, 256) == (None, None)
