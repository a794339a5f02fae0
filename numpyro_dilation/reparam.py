r"""Automatic non-centering of funnel sites (NumPyro models).

A latent site :math:`\theta \sim \mathcal N(\mu, \tau)` whose scale :math:`\tau` is itself
latent makes a *funnel*: as :math:`\tau \to 0` the conditional of :math:`\theta` narrows
without bound, and a sampler whose step is tuned where :math:`\tau` is large cannot enter the
neck (and one tuned in the neck cannot leave it). Measured on NumPyro's centered eight
schools: 256 chains x (300 + 100) gave :math:`\hat R = 3.5` on ``tau`` and ``mu`` 0.52 sd off.

The non-centered form :math:`\theta = \mu + \tau\,\tilde\theta`,
:math:`\tilde\theta \sim \mathcal N(0, 1)` is the *same* posterior for :math:`(\mu, \tau,
\theta)` (a change of variables with its Jacobian), and has no funnel in
:math:`(\mu, \log\tau, \tilde\theta)` when the data inform each :math:`\theta` weakly.
NumPyro provides it as ``LocScaleReparam(centered=0)``; :func:`funnel_sites` finds the sites
to apply it to:

- a latent (not observed) ``sample`` site whose distribution, once ``expand``,
  ``to_event`` and masks are unwrapped, is a ``Normal``;
- whose ``scale`` differs between two runs of the model at two points of its latent space
  (so it depends on latent values, not only on data). The points are NumPyro's
  ``init_to_uniform`` draws (uniform on :math:`[-2, 2]` in each unconstrained coordinate):
  unlike draws of the prior (a Gamma draw's rejection loop, for instance), they compile
  quickly, and the two runs are traced into one compiled program.

The model must run at such points and have no discrete latent site (their
enumeration and a reparameterized site are not combined here). The reparameterized model
samples ``NAME_decentered`` and returns ``NAME`` as a deterministic site, so
``mcmc.get_samples()`` holds both.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from numpyro import distributions as dist
from numpyro import handlers
from numpyro.infer.initialization import init_to_uniform
from numpyro.infer.reparam import LocScaleReparam
from numpyro.infer.util import constrain_fn

from numpyro_dilation.interweaving import Interweaving

__all__ = ["funnel_sites", "interweaving", "noncentered"]


def _base(fn):
    """The distribution under ``expand``/``to_event``/mask wrappers."""
    while isinstance(fn, (dist.ExpandedDistribution, dist.Independent, dist.MaskedDistribution)):
        fn = fn.base_dist
    return fn


def funnel_sites(model: Callable, model_args=(), model_kwargs=None, rng_key=None) -> list[str]:
    """Names of the latent ``Normal`` sites whose scale depends on latent randomness (module
    docstring); ``[]`` if the model has a discrete latent site. Under an outer ``jit`` or
    ``pmap`` (a traced ``rng_key``) the points are drawn from a fixed key, so that the
    scales are concrete wherever the model's arguments are; a site whose scale depends on
    traced arguments is left as written.

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        import numpyro
        import numpyro.distributions as dist
        from numpyro_dilation.reparam import funnel_sites

        def eight_schools(sigma, y=None):
            mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
            tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
            with numpyro.plate("J", len(sigma)):
                theta = numpyro.sample("theta", dist.Normal(mu, tau))
                numpyro.sample("obs", dist.Normal(theta, sigma), obs=y)

        sigma = jnp.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])
        print(funnel_sites(eight_schools, (sigma,)))  # ['theta']: its scale tau is latent
    """
    model_kwargs = {} if model_kwargs is None else model_kwargs
    rng_key = jax.random.key(0) if rng_key is None else rng_key
    sites: list[dict] = []

    def normal_scales(rng_key):
        """Two runs of the model at ``init_to_uniform``'s points: each latent ``Normal``
        site's scale per run (arrays); what the sites are (static) goes to ``sites``."""
        sites.clear()
        scales = []
        for key in jax.random.split(rng_key, 2):
            spread = handlers.substitute(handlers.seed(model, key), substitute_fn=init_to_uniform)
            trace = handlers.trace(spread).get_trace(*model_args, **model_kwargs)
            sites.append({name: _describe(site) for name, site in trace.items()})
            scales.append({
                name: jnp.asarray(_base(site["fn"]).scale)
                for name, site in trace.items()
                if sites[-1][name] == "normal"
            })
        return scales

    # concrete values also under an outer trace (where the model's arguments are concrete)
    with jax.ensure_compile_time_eval():
        if isinstance(rng_key, jax.core.Tracer):  # an outer jit or pmap (parallel chains)
            rng_key = jax.random.key(0)  # the points need not be random, only concrete
        try:  # one compiled program: eagerly, each of the model's operations compiles alone
            first, second = jax.jit(normal_scales)(rng_key)
        except Exception:  # e.g. Python control flow on a sampled value: run it eagerly
            try:
                first, second = normal_scales(rng_key)
            except Exception:  # a model that cannot run at such points: leave it as written
                return []
    if "discrete" in sites[0].values():
        return []  # discrete latent sites: leave the model as written
    names = []
    for name, scale in first.items():
        if name not in second:
            continue
        if isinstance(scale, jax.core.Tracer) or isinstance(second[name], jax.core.Tracer):
            continue  # a scale of traced model arguments (an outer jit): cannot be compared
        scale, scale2 = np.asarray(scale), np.asarray(second[name])
        if scale.shape != scale2.shape or not np.all(np.isfinite(scale)):
            continue
        if not np.allclose(scale, scale2, rtol=1e-6, atol=0.0):
            names.append(name)
    return names


def _describe(site: dict) -> str | None:
    """``"normal"`` for a latent ``Normal`` site (under wrappers) not already
    reparameterized, ``"discrete"`` for a discrete or enumerated latent site, else ``None``."""
    if site["type"] != "sample" or site["is_observed"]:
        return None
    if site["fn"].is_discrete or site["infer"].get("enumerate"):
        return "discrete"
    if site["infer"].get("reparam") is None and type(_base(site["fn"])) is dist.Normal:
        return "normal"
    return None


def noncentered(model: Callable, sites: list[str]) -> Callable:
    """``model`` with ``LocScaleReparam(centered=0)`` at each of ``sites``.

    **Example**

    .. code-block:: python

        import jax
        import numpyro
        import numpyro.distributions as dist
        from numpyro import handlers
        from numpyro_dilation.reparam import noncentered

        def model():
            tau = numpyro.sample("tau", dist.HalfNormal(1.0))
            numpyro.sample("theta", dist.Normal(0.0, tau))

        trace = handlers.trace(handlers.seed(noncentered(model, ["theta"]), 0)).get_trace()
        print([k for k, v in trace.items() if v["type"] == "sample"])  # ['tau', 'theta_decentered']
    """
    return handlers.reparam(model, config={name: LocScaleReparam(centered=0) for name in sites})


def interweaving(
    model: Callable, sites, model_args=(), model_kwargs=None, transforms=None
) -> Interweaving:
    r"""The maps between the unconstrained positions of ``noncentered(model, sites)`` and
    the centered values of ``sites``, for the interweaving move
    (:mod:`numpyro_dilation.interweaving`): ``centered(z)`` runs the non-centered model
    and reads ``NAME`` (a deterministic site there) for each ``NAME_decentered``;
    ``decentered(z, a)`` runs ``model`` as written with ``NAME = a`` and the other sites
    at ``z`` (constrained by ``transforms``: a dictionary of bijections, from
    unconstrained to constrained, for the non-centered model's latent sites), reads each
    site's ``Normal(loc, scale)`` and returns :math:`\zeta = (a - \mathrm{loc})/
    \mathrm{scale}` and :math:`\log J = -\sum\log\mathrm{scale}` (broadcast to the
    site's shape).

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        import numpyro
        import numpyro.distributions as dist
        from numpyro.distributions.transforms import biject_to
        from numpyro_dilation.reparam import interweaving

        def model():
            tau = numpyro.sample("tau", dist.HalfNormal(1.0))
            numpyro.sample("theta", dist.Normal(1.0, tau).expand([3]))

        transforms = {"tau": biject_to(dist.HalfNormal(1.0).support),
                      "theta_decentered": biject_to(dist.Normal().support)}
        iw = interweaving(model, ["theta"], transforms=transforms)
        z = {"tau": jnp.log(2.0), "theta_decentered": jnp.ones(3)}
        a = iw.centered(z)
        print(a["theta_decentered"])  # [3. 3. 3.]: 1 + 2 * 1
        print(iw.decentered(z, a)[0]["theta_decentered"])  # [1. 1. 1.]
    """
    model_kwargs = {} if model_kwargs is None else model_kwargs
    transforms = {} if transforms is None else transforms
    sites = tuple(sites)
    reparam_model = noncentered(model, list(sites))
    keys = {name: f"{name}_decentered" for name in sites}

    def centered(z):
        values = constrain_fn(reparam_model, model_args, model_kwargs, z,
                              return_deterministic=True)  # fmt: skip
        return {keys[name]: values[name] for name in sites}

    def decentered(z, a):
        held = set(keys.values())
        values = {k: transforms[k](v) for k, v in z.items() if k not in held}
        values.update({name: a[keys[name]] for name in sites})
        seeded = handlers.seed(handlers.substitute(model, data=values), 0)
        trace = handlers.trace(seeded).get_trace(*model_args, **model_kwargs)
        zeta, log_det = {}, 0.0
        for name in sites:
            base = _base(trace[name]["fn"])
            value = a[keys[name]]
            scale = jnp.broadcast_to(base.scale, jnp.shape(value))
            zeta[keys[name]] = (value - base.loc) / scale
            log_det = log_det - jnp.sum(jnp.log(scale))
        return zeta, log_det

    return Interweaving(centered, decentered)
