"""BlackJAX's own sampling checks (``tests/mcmc/test_sampling.py``), run on our kernel.

BlackJAX checks each of its MCMC kernels on the same three harnesses; these are those
harnesses, written for :func:`numpyro_dilation.dilation_langevin` with BlackJAX's calling
convention (``algorithm(logdensity_fn, step_size, inverse_mass_matrix=...)``, ``init``,
``step``, :func:`blackjax.util.run_inference_algorithm`, :func:`blackjax.window_adaptation`)
and BlackJAX's targets and tolerances (run lengths as BlackJAX's, except the univariate
normal's: 20 000 steps of size 2 where BlackJAX's MALA takes 45 000 of size 0.2):

- **linear regression**: ``window_adaptation`` with a diagonal and with a dense mass
  matrix, 1000 warm-up steps, then 1000 draws: posterior means of the noise scale and the
  slope within 0.1 of 1 and 3;
- **univariate normal** N(1, 2²): mean and variance within 10%;
- **Monte Carlo standard error**: 10 chains of 2000 steps on a correlated 2-d Gaussian with
  no, a diagonal and a dense inverse mass matrix: the last 1000 draws' mean, variances and
  correlation each within the one-sided 99% normal quantile of their MCSE (BlackJAX's
  :func:`blackjax.diagnostics.effective_sample_size`).

The default suite runs the dense-mass cases; ``make test-all`` runs all six.
"""

import functools

import blackjax
import blackjax.diagnostics as diagnostics
import jax
import jax.numpy as jnp
import jax.scipy.stats as stats
import numpy as np
import pytest
from blackjax.util import run_inference_algorithm

import numpyro_dilation as nd


def _regression_logdensity(x, y):
    def logdensity(params):
        scale = jnp.exp(params["log_scale"])
        prior = stats.expon.logpdf(scale, 0, 1) + params["log_scale"]
        prior = prior + stats.norm.logpdf(params["coefs"], 0, 5)
        return prior + jnp.sum(stats.norm.logpdf(y, x[:, 0] * params["coefs"], scale))

    return logdensity


@pytest.mark.parametrize(
    "is_mass_matrix_diagonal",
    [pytest.param(True, marks=pytest.mark.slow), False],  # default suite: the dense one
)
def test_linear_regression_after_window_adaptation(is_mass_matrix_diagonal):
    key_x, key_y, key_warmup, key_run = jax.random.split(jax.random.key(19), 4)
    x = jax.random.normal(key_x, (1000, 1))
    y = 3 * x[:, 0] + jax.random.normal(key_y, (1000,))
    logdensity = _regression_logdensity(x, y)
    warmup = blackjax.window_adaptation(nd.dilation_langevin, logdensity, is_mass_matrix_diagonal)
    (state, parameters), _ = warmup.run(key_warmup, {"log_scale": 0.0, "coefs": 4.0}, 1000)
    assert jnp.ndim(parameters["inverse_mass_matrix"]) == (1 if is_mass_matrix_diagonal else 2)
    algorithm = nd.dilation_langevin(logdensity, **parameters)
    _, (states, _) = run_inference_algorithm(key_run, algorithm, 1000, initial_state=state)
    np.testing.assert_allclose(np.mean(np.exp(states.position["log_scale"])), 1.0, atol=0.1)
    np.testing.assert_allclose(np.mean(states.position["coefs"]), 3.0, atol=0.1)


@pytest.mark.slow  # default suite time; `make test-all` runs it
def test_univariate_normal():
    def logdensity(x):
        return stats.norm.logpdf(x, loc=1.0, scale=2.0)

    algorithm = nd.dilation_langevin(logdensity, step_size=2.0)
    _, (states, _) = jax.jit(
        functools.partial(run_inference_algorithm, inference_algorithm=algorithm, num_steps=20_000)
    )(rng_key=jax.random.key(12), initial_state=algorithm.init(jnp.array(1.0)))
    draws = np.asarray(states.position[2000:])
    np.testing.assert_allclose(draws.mean(), 1.0, rtol=0.1)
    np.testing.assert_allclose(draws.var(), 4.0, rtol=0.1)


LOC = jnp.array([0.0, 3.0])
SCALE = jnp.array([1.0, 2.0])
RHO = 0.75
COV = jnp.array([[1.0, RHO * 2.0], [RHO * 2.0, 4.0]])


def _within_mcse(draws, truth, p_value=0.01):
    """BlackJAX's check: |mean - truth| / MCSE below the normal's 1 - p quantile, with the
    MCSE from the average posterior sd and BlackJAX's ESS; ``draws`` is (chains, draws, k)."""
    mean = jnp.mean(draws, axis=(0, 1))
    ess = diagnostics.effective_sample_size(draws, chain_axis=0, sample_axis=1)
    mcse = jnp.mean(jnp.std(draws, axis=0, ddof=1), axis=0) / jnp.sqrt(ess)
    np.testing.assert_array_less(jnp.abs(mean - truth) / mcse, stats.norm.ppf(1 - p_value))


@pytest.mark.parametrize(
    "step_size, inverse_mass_matrix",
    [
        pytest.param(0.5, None, marks=pytest.mark.slow),
        pytest.param(0.5, SCALE**2, marks=pytest.mark.slow),
        (0.85, COV),  # default suite: the dense one
    ],
    ids=["no mass matrix", "diagonal", "dense"],
)
def test_monte_carlo_standard_error(step_size, inverse_mass_matrix):
    def logdensity(x):
        return stats.multivariate_normal.logpdf(x, LOC, COV)

    algorithm = nd.dilation_langevin(logdensity, step_size, inverse_mass_matrix)
    key_init, key_run = jax.random.split(jax.random.key(8456))
    states = jax.vmap(algorithm.init)(jax.random.normal(key_init, (10, 2)))
    run = functools.partial(
        run_inference_algorithm,
        inference_algorithm=algorithm,
        num_steps=2000,
        transform=lambda state, info: state.position,
    )
    _, draws = jax.jit(jax.vmap(run))(rng_key=jax.random.split(key_run, 10), initial_state=states)
    draws = draws[:, -1000:]
    delta = draws - LOC
    _within_mcse(draws, LOC)
    _within_mcse(delta**2, SCALE**2)
    _within_mcse(jnp.prod(delta, axis=-1, keepdims=True) / (SCALE[0] * SCALE[1]), RHO)
