"""The interweaving move (numpyro_dilation.interweaving, built for a NumPyro model by
numpyro_dilation.reparam.interweaving): it keeps the posterior (exact draws stay exact
draws; a wrong Jacobian is caught), and it brings a chain back from the ridge that
non-centering makes where the data are strong."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.distributions.transforms import biject_to

from numpyro_dilation import DilationLangevin
from numpyro_dilation.interweaving import Interweaving, interweaving_move
from numpyro_dilation.reparam import interweaving

NUM_GROUPS = 3


def _prior_model():
    tau = numpyro.sample("tau", dist.LogNormal(0.0, 1.0))
    numpyro.sample("theta", dist.Normal(1.0, tau).expand([NUM_GROUPS]))


def _prior_logdensity(z):
    """The non-centered prior in unconstrained coordinates: log tau ~ N(0, 1) and the
    decentered values ~ N(0, 1) (the log-normal's Jacobian makes log tau exactly normal)."""
    return -0.5 * z["tau"] ** 2 - 0.5 * jnp.sum(z["theta_decentered"] ** 2)


def _transforms():
    return {
        "tau": biject_to(dist.LogNormal(0.0, 1.0).support),
        "theta_decentered": biject_to(dist.Normal().support),
    }


def _moved(iw, num_chains=4000, num_moves=30, seed=0):
    """Exact draws of the prior, each moved ``num_moves`` times by the move alone."""
    key_tau, key_zeta, key_moves = jax.random.split(jax.random.key(seed), 3)
    z = {
        "tau": jax.random.normal(key_tau, (num_chains,)),
        "theta_decentered": jax.random.normal(key_zeta, (num_chains, NUM_GROUPS)),
    }
    ld, grad = jax.vmap(jax.value_and_grad(_prior_logdensity))(z)

    @jax.jit
    def moves(z, ld, grad, keys):
        def one(carry, key):
            z, ld, grad = carry
            keys = jax.random.split(key, num_chains)
            z, ld, grad, p, _ = jax.vmap(
                lambda k, z, ld, g: interweaving_move(k, z, ld, g, _prior_logdensity, iw)
            )(keys, z, ld, grad)
            return (z, ld, grad), p.mean()

        return jax.lax.scan(one, (z, ld, grad), keys)

    (z, _, _), p = moves(z, ld, grad, jax.random.split(key_moves, num_moves))
    return np.asarray(z["tau"]), np.asarray(p)


def test_the_move_keeps_exact_draws_exact_and_a_wrong_jacobian_is_caught():
    """4000 exact draws of a non-centered prior, 30 moves each (the move alone: the
    centered values are held, so only log tau moves, from its conditional given them):
    log tau stays N(0, 1) (mean within 4 standard errors, 0.063; variance within 0.1 of
    1, 4.5 of its standard errors, sqrt(2/4000) = 0.022). With the Jacobian left out the
    same test fails."""
    iw = interweaving(_prior_model, ["theta"], transforms=_transforms())
    log_tau, p = _moved(iw)
    assert 0.2 < p.mean() < 0.9  # the move moves
    se = 1.0 / np.sqrt(log_tau.size)
    assert abs(log_tau.mean()) < 4 * se, log_tau.mean()
    assert abs(log_tau.var() - 1.0) < 0.1, log_tau.var()

    wrong = Interweaving(iw.centered, lambda z, a: (iw.decentered(z, a)[0], 0.0))
    log_tau_wrong, _ = _moved(wrong)
    assert abs(log_tau_wrong.mean()) > 20 * se, log_tau_wrong.mean()


def test_the_move_brings_a_chain_back_from_the_ridge():
    """Ten groups pinned by their data (sd 0.05 around values of sd 0.3): a chain at
    tau = e^3 with the decentered values that keep the groups where the data put them
    sits on a narrow ridge of the non-centered posterior; 100 moves bring tau back to the
    posterior's scale (within a factor 3 of 0.3)."""
    values = 1.0 + 0.3 * np.random.default_rng(0).normal(size=10)

    def model():
        tau = numpyro.sample("tau", dist.HalfNormal(5.0))
        mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
        with numpyro.plate("groups", 10):
            a = numpyro.sample("a", dist.Normal(mu, tau))
            numpyro.sample("y", dist.Normal(a, 0.05), obs=values)

    kernel = DilationLangevin(model)
    kernel.init(jax.random.key(0), 100, None, (), {})
    assert kernel.noncentered_sites == ("a",)
    iw, logdensity = kernel.settings.interweaving, kernel._logdensity[1]
    z = {"tau": jnp.array(3.0), "mu": jnp.array(-2.0),
         "a_decentered": jnp.asarray((values + 2.0) / np.exp(3.0), jnp.float32)}
    ld, grad = jax.value_and_grad(logdensity)(z)
    move = jax.jit(lambda k, z, ld, g: interweaving_move(k, z, ld, g, logdensity, iw))
    for key in jax.random.split(jax.random.key(1), 100):
        z, ld, grad, _, diverging = move(key, z, ld, grad)
        assert not diverging
    assert 0.1 < float(jnp.exp(z["tau"])) < 0.9
    assert abs(float(z["mu"]) - values.mean()) < 0.5
    assert np.isfinite(ld) and all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grad))


def test_only_noncentered_sites_get_the_move():
    """``reparam="auto"`` with a funnel site: the settings hold the maps; as written
    (``reparam=None``) or without a funnel site: none."""
    def model():
        tau = numpyro.sample("tau", dist.HalfNormal(1.0))
        numpyro.sample("theta", dist.Normal(0.0, tau).expand([2]))

    def plain():
        numpyro.sample("x", dist.Normal(0.0, 1.0))

    for m, reparam, expected in ((model, "auto", True), (model, None, False),
                                 (plain, "auto", False)):
        kernel = DilationLangevin(m, reparam=reparam)
        kernel.init(jax.random.key(0), 100, None, (), {})
        assert (kernel.settings.interweaving is not None) is expected


def test_a_move_with_no_update_accepted_returns_the_position_exactly():
    """Every proposal has density 0 (its log-Jacobian is -inf away from the current scale):
    the chain stays exactly where it was (no round trip through the centered values, which
    would move it by rounding and hide a stuck chain from the end-of-run check)."""
    iw = interweaving(_prior_model, ["theta"], transforms=_transforms())
    z = {"tau": jnp.array(0.3), "theta_decentered": jnp.array([0.1, -1.7, 2.3])}

    def decentered(z_, a):
        zeta, log_det = iw.decentered(z_, a)
        return zeta, jnp.where(z_["tau"] == 0.3, log_det, -jnp.inf)

    ld, grad = jax.value_and_grad(_prior_logdensity)(z)
    new, new_ld, _, p, diverging = interweaving_move(
        jax.random.key(0), z, ld, grad, _prior_logdensity, Interweaving(iw.centered, decentered)
    )
    assert float(p) == 0.0 and not bool(diverging) and float(new_ld) == float(ld)
    for k in z:
        assert np.array_equal(np.asarray(new[k]), np.asarray(z[k]))
