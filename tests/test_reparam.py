"""Automatic non-centering (numpyro_dilation.reparam): which sites are funnels, and that
the non-centered model is the same posterior (its log-density, mapped back, equals the
centered one up to the Jacobian)."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro import handlers
from numpyro.infer.util import log_density

from numpyro_dilation import DilationLangevin
from numpyro_dilation.reparam import funnel_sites, noncentered

SIGMA = jnp.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])
Y = jnp.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])


def centered(sigma, y=None):
    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
    with numpyro.plate("J", sigma.shape[0]):
        theta = numpyro.sample("theta", dist.Normal(mu, tau))
        numpyro.sample("obs", dist.Normal(theta, sigma), obs=y)


def test_funnel_sites():
    assert funnel_sites(centered, (SIGMA, Y)) == ["theta"]

    def loc_only(sigma, y=None):  # the scale is data: no funnel
        mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
        numpyro.sample("theta", dist.Normal(mu, sigma).to_event(1))

    assert funnel_sites(loc_only, (SIGMA,)) == []

    def with_discrete(y=None):  # discrete latent sites: the model is left as written
        tau = numpyro.sample("tau", dist.HalfNormal(1.0))
        numpyro.sample("z", dist.Bernoulli(0.5))
        numpyro.sample("theta", dist.Normal(0.0, tau))

    assert funnel_sites(with_discrete) == []


def test_funnel_sites_of_a_model_that_cannot_be_compiled():
    """Python control flow on a latent value cannot be traced into one program: the model
    is then run eagerly, with the same answer; a model that fails at every point is left as
    written."""

    def branching(sigma, y=None):
        mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
        tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
        tau = tau if float(tau) > 0 else 1.0  # needs a concrete value
        with numpyro.plate("J", sigma.shape[0]):
            theta = numpyro.sample("theta", dist.Normal(mu, tau))
            numpyro.sample("obs", dist.Normal(theta, sigma), obs=y)

    assert funnel_sites(branching, (SIGMA, Y)) == ["theta"]

    def failing(sigma, y=None):
        numpyro.sample("tau", dist.HalfCauchy(5.0))
        raise RuntimeError("this model needs more arguments")

    assert funnel_sites(failing, (SIGMA, Y)) == []


def test_noncentered_model_is_the_same_posterior():
    """log p_nc(mu, tau, eta) = log p_c(mu, tau, mu + tau eta) + J log tau: the centered
    density times the Jacobian of theta = mu + tau eta, at random points."""
    model = noncentered(centered, ["theta"])
    rng = np.random.default_rng(0)
    for _ in range(3):
        mu, tau = rng.normal(), float(np.exp(rng.normal()))
        eta = jnp.asarray(rng.normal(size=8))
        lp_nc, _ = log_density(
            model, (SIGMA, Y), {}, {"mu": mu, "tau": tau, "theta_decentered": eta}
        )
        theta = mu + tau * eta
        lp_c, _ = log_density(centered, (SIGMA, Y), {}, {"mu": mu, "tau": tau, "theta": theta})
        np.testing.assert_allclose(lp_nc, lp_c + 8 * np.log(tau), rtol=1e-5)
    trace = handlers.trace(handlers.seed(model, 0)).get_trace(SIGMA, Y)
    assert trace["theta"]["type"] == "deterministic"


def test_kernel_reports_the_noncentered_sites_and_reparam_none_keeps_the_model():
    kernel = DilationLangevin(centered)
    kernel.init(jax.random.key(0), 40, model_args=(SIGMA, Y))
    assert kernel.noncentered_sites == ("theta",)
    assert kernel.model is centered  # ArviZ reads the user's model
    as_written = DilationLangevin(centered, reparam=None)
    as_written.init(jax.random.key(0), 40, model_args=(SIGMA, Y))
    assert as_written.noncentered_sites == () and as_written.sampled_model is centered


def test_funnel_sites_under_an_outer_trace():
    """Under an outer ``jit`` or ``pmap`` (NumPyro's ``chain_method="parallel"`` initializes
    there) the key is traced: the funnels are still found, at concrete points, where the
    model's arguments are concrete; a scale made from traced arguments cannot be compared,
    and its site is left as written."""
    found = []

    def traced_key(key):
        found.append(funnel_sites(centered, (SIGMA, Y), None, key))
        return key

    jax.jit(traced_key)(jax.random.key(1))
    jax.pmap(traced_key)(jax.random.split(jax.random.key(1), 1))

    def data_scale(sigma):
        numpyro.sample("theta", dist.Normal(0.0, sigma).to_event(1))

    def traced_data(sigma):
        found.append(funnel_sites(data_scale, (sigma,)))
        return sigma

    jax.jit(traced_data)(SIGMA)
    assert found == [["theta"], ["theta"], []]
