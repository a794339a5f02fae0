"""NumPyro ports of five posteriordb posteriors, as `shared/posteriordb/README.md` writes them.

Each model takes its data as keyword arguments (build them from the raw data
dict with ``Spec.data_fn``, or call :func:`model_kwargs`). The sites that the
reference draws report have the reference names and shapes: vector
parameters are single sites with an event dimension (``beta`` has shape
``(K,)``), and eight_schools exposes ``theta`` as a deterministic site.
Observations are sample sites named as in the data (``y``, ``kid_score``)
inside a plate, so ``az.from_numpyro`` gives a pointwise log_likelihood group.

Priors follow Stan: an unbounded parameter without a prior statement is flat
(``ImproperUniform`` on the reals); ``cauchy``/``normal`` on a ``<lower=0>``
parameter is the half distribution (same density up to a constant).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints


def _flat(*event_shape: int) -> dist.Distribution:
    """Improper flat prior on R^event_shape (log density 0)."""
    return dist.ImproperUniform(constraints.real, (), event_shape)


def _as_float(x: Any) -> jnp.ndarray:
    return jnp.asarray(x, dtype=float)


class OrderedNormal(dist.Distribution):
    """``size`` iid Normal(loc, scale) variables, sorted increasingly.

    Density ``size! * prod_i N(x_i | loc, scale)`` on ``x_0 < ... < x_{size-1}``:
    Stan's ``ordered[size] x; x ~ normal(loc, scale);`` normalized (Stan
    drops the constant ``log(size!)``). Scalar ``loc`` and ``scale`` only.
    """

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.ordered_vector
    pytree_data_fields = ("loc", "scale")
    pytree_aux_fields = ("size",)

    def __init__(self, loc=0.0, scale=1.0, *, size: int = 2, validate_args=None):
        if jnp.ndim(loc) or jnp.ndim(scale):
            raise ValueError("OrderedNormal takes scalar loc and scale")
        self.loc, self.scale, self.size = loc, scale, int(size)
        super().__init__(batch_shape=(), event_shape=(self.size,), validate_args=validate_args)

    def sample(self, key, sample_shape=()):
        z = jax.random.normal(key, tuple(sample_shape) + (self.size,))
        return jnp.sort(self.loc + self.scale * z, axis=-1)

    def log_prob(self, value):
        lp = dist.Normal(self.loc, self.scale).log_prob(value).sum(-1)
        return lp + jax.scipy.special.gammaln(self.size + 1.0)


# ---------------------------------------------------------------- models


def eight_schools_noncentered(sigma, y=None):
    """eight_schools-eight_schools_noncentered.

    theta_trans ~ N(0, 1); mu ~ N(0, 5); tau ~ HalfCauchy(5);
    theta = mu + tau * theta_trans; y ~ N(theta, sigma).
    """
    J = sigma.shape[0]
    theta_trans = numpyro.sample("theta_trans", dist.Normal(0.0, 1.0).expand([J]).to_event(1))
    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
    theta = numpyro.deterministic("theta", mu + tau * theta_trans)
    with numpyro.plate("J", J):
        numpyro.sample("y", dist.Normal(theta, sigma), obs=y)


def kidscore_momhs(mom_hs, kid_score=None):
    """kidiq-kidscore_momhs.

    beta[2] flat; sigma ~ HalfCauchy(2.5);
    kid_score ~ N(beta[0] + beta[1] * mom_hs, sigma).
    """
    beta = numpyro.sample("beta", _flat(2))
    sigma = numpyro.sample("sigma", dist.HalfCauchy(2.5))
    with numpyro.plate("N", mom_hs.shape[0]):
        numpyro.sample("kid_score", dist.Normal(beta[0] + beta[1] * mom_hs, sigma), obs=kid_score)


def arK(y, K: int):
    """arK-arK: an AR(K) model, conditioned on the first K observations.

    alpha ~ N(0, 10); beta[K] ~ N(0, 10); sigma ~ HalfCauchy(2.5);
    y[t] ~ N(alpha + sum_k beta[k] y[t-k], sigma) for t = K+1..T (1-based).
    ``y`` must be given (it is also the regressor); the likelihood site is
    ``y`` with T - K entries (``y[K:]``).
    """
    T = y.shape[0]
    alpha = numpyro.sample("alpha", dist.Normal(0.0, 10.0))
    beta = numpyro.sample("beta", dist.Normal(0.0, 10.0).expand([K]).to_event(1))
    sigma = numpyro.sample("sigma", dist.HalfCauchy(2.5))
    # lags[t', k-1] = y[t - k] for t = K..T-1 (0-based), k = 1..K
    lags = jnp.stack([y[K - k : T - k] for k in range(1, K + 1)], axis=-1)
    with numpyro.plate("T", T - K):
        numpyro.sample("y", dist.Normal(alpha + lags @ beta, sigma), obs=y[K:])


def sblrc_blr(X, y=None):
    """sblrc-blr: Bayesian linear regression without intercept.

    beta[D] ~ N(0, 10); sigma ~ HalfNormal(10); y ~ N(X beta, sigma).
    """
    D = X.shape[-1]
    beta = numpyro.sample("beta", dist.Normal(0.0, 10.0).expand([D]).to_event(1))
    sigma = numpyro.sample("sigma", dist.HalfNormal(10.0))
    with numpyro.plate("N", X.shape[0]):
        numpyro.sample("y", dist.Normal(X @ beta, sigma), obs=y)


def _gauss_mix_likelihood(mu, sigma, theta, y, N):
    mixing = dist.Categorical(probs=jnp.stack([theta, 1.0 - theta]))
    with numpyro.plate("N", N if y is None else y.shape[0]):
        numpyro.sample("y", dist.MixtureSameFamily(mixing, dist.Normal(mu, sigma)), obs=y)


def low_dim_gauss_mix(y=None, N: int | None = None):
    """low_dim_gauss_mix-low_dim_gauss_mix (ordered means: unimodal).

    mu ordered (mu[0] < mu[1]) with mu ~ N(0, 2) elementwise; sigma[2] ~ HalfNormal(2);
    theta ~ Beta(5, 5); y[n] ~ theta N(mu[0], sigma[0]) + (1 - theta) N(mu[1], sigma[1]).

    Stan's ``ordered[2] mu; mu ~ normal(0, 2);`` is an ordered vector whose
    density is the product of the element normals on the ordered set. That is
    :class:`OrderedNormal` (the law of sorted iid normals, density
    ``2! * prod N``), a proper distribution on ``ordered_vector``: NumPyro
    samples it through the ordered transform, and unlike
    ``ImproperUniform(ordered_vector) + numpyro.factor`` it leaves no extra
    observed site (a factor site would show up in ``az.from_numpyro``'s
    observed_data and log_likelihood groups).
    """
    mu = numpyro.sample("mu", OrderedNormal(0.0, 2.0, size=2))
    sigma = numpyro.sample("sigma", dist.HalfNormal(2.0).expand([2]).to_event(1))
    theta = numpyro.sample("theta", dist.Beta(5.0, 5.0))
    _gauss_mix_likelihood(mu, sigma, theta, y, N)


def low_dim_gauss_mix_unordered(y=None, N: int | None = None):
    """low_dim_gauss_mix without the ordering: mu ~ N(0, 2) on R^2 (two modes).

    Same density as :func:`low_dim_gauss_mix` where mu is ordered; the
    relabelling (mu, sigma, theta) -> (mu[::-1], sigma[::-1], 1 - theta) maps
    the posterior to itself (Beta(5, 5) is symmetric), so the two modes have
    equal weight and each is the reference posterior up to that relabelling.
    """
    mu = numpyro.sample("mu", dist.Normal(0.0, 2.0).expand([2]).to_event(1))
    sigma = numpyro.sample("sigma", dist.HalfNormal(2.0).expand([2]).to_event(1))
    theta = numpyro.sample("theta", dist.Beta(5.0, 5.0))
    _gauss_mix_likelihood(mu, sigma, theta, y, N)


# ---------------------------------------------------------------- registry


class Spec(NamedTuple):
    """A posterior: its NumPyro model and how to feed it the posteriordb data.

    name: the posteriordb posterior name (or, for a variant, its own name).
    model: the NumPyro model.
    data_fn: raw data dict (as from ``loader.load_data``) -> model kwargs.
    reference_names: the parameter names of the reference draws, in the
        metadata's order; each is a sample or deterministic site of the model.
    data_posterior: the posteriordb posterior whose data (and reference draws)
        this spec uses; ``None`` means ``name`` itself.
    """

    name: str
    model: Callable[..., None]
    data_fn: Callable[[dict[str, Any]], dict[str, Any]]
    reference_names: tuple[str, ...]
    data_posterior: str | None = None

    @property
    def posteriordb_name(self) -> str:
        return self.data_posterior or self.name


def _gauss_mix_data(d):
    return {"y": _as_float(d["y"])}


POSTERIORS: dict[str, Spec] = {
    s.name: s
    for s in (
        Spec(
            "eight_schools-eight_schools_noncentered",
            eight_schools_noncentered,
            lambda d: {"sigma": _as_float(d["sigma"]), "y": _as_float(d["y"])},
            ("theta", "mu", "tau"),
        ),
        Spec(
            "kidiq-kidscore_momhs",
            kidscore_momhs,
            lambda d: {"mom_hs": _as_float(d["mom_hs"]), "kid_score": _as_float(d["kid_score"])},
            ("beta", "sigma"),
        ),
        Spec(
            "arK-arK",
            arK,
            lambda d: {"y": _as_float(d["y"]), "K": int(d["K"])},
            ("alpha", "beta", "sigma"),
        ),
        Spec(
            "sblrc-blr",
            sblrc_blr,
            lambda d: {"X": _as_float(d["X"]), "y": _as_float(d["y"])},
            ("beta", "sigma"),
        ),
        Spec(
            "low_dim_gauss_mix-low_dim_gauss_mix",
            low_dim_gauss_mix,
            _gauss_mix_data,
            ("mu", "sigma", "theta"),
        ),
    )
}
"""The five posteriordb posteriors, keyed by their exact posteriordb names."""

VARIANTS: dict[str, Spec] = {
    "low_dim_gauss_mix_unordered": Spec(
        "low_dim_gauss_mix_unordered",
        low_dim_gauss_mix_unordered,
        _gauss_mix_data,
        ("mu", "sigma", "theta"),
        data_posterior="low_dim_gauss_mix-low_dim_gauss_mix",
    ),
}
"""Modified posteriors on posteriordb data; their reference holds only up to relabelling."""


def get_spec(name: str) -> Spec:
    """The :class:`Spec` of a posterior in :data:`POSTERIORS` or :data:`VARIANTS`."""
    try:
        return POSTERIORS[name] if name in POSTERIORS else VARIANTS[name]
    except KeyError:
        known = ", ".join([*POSTERIORS, *VARIANTS])
        raise KeyError(f"unknown posterior {name!r}; known: {known}") from None


def model_kwargs(name: str) -> dict[str, Any]:
    """Model keyword arguments for ``name``, read from the shared posteriordb data."""
    from benchmarks.posteriordb.loader import load_data

    spec = get_spec(name)
    return spec.data_fn(load_data(spec.posteriordb_name))
