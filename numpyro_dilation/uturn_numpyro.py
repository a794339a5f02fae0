"""The U-turn diagnostic of a finished NumPyro run (:func:`uturn_diagnostic`).

Thin wrapper of :func:`numpyro_dilation.uturn_curves.uturn_curves`: takes the pooled
draws of an ``MCMC`` run with :class:`~numpyro_dilation.DilationLangevin`, maps
them to NumPyro's unconstrained space (where the sampler works), and U-turns a
random subset of them with the run's potential and tuned step size.
"""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from jax.flatten_util import ravel_pytree
from numpyro.infer.util import potential_energy

from numpyro_dilation.diagnostics import _unconstrained_draws
from numpyro_dilation.uturn import DEFAULT_LAMBDAS, uturn_curves

__all__ = ["uturn_diagnostic"]


def _one_chain(state, tree):
    """``tree`` (batched over chains unless the run had one chain) for the first chain."""
    if jnp.ndim(state.potential_energy) == 0:
        return tree
    return jax.tree.map(lambda x: x[0], tree)


def _flat_logdensity(mcmc, model_args, model_kwargs):
    """:math:`\\log\\gamma` on the flat unconstrained vector of one chain, and its unravel."""
    sampler, state = mcmc.sampler, mcmc.last_state
    _, unravel = ravel_pytree(_one_chain(state, state.z))
    if sampler.model is not None:
        model = getattr(sampler, "sampled_model", None) or sampler.model

        def logdensity(flat):
            return -potential_energy(model, model_args, model_kwargs, unravel(flat))

    else:
        potential_fn = sampler._potential_fn  # DilationLangevin(potential_fn=...)

        def logdensity(flat):
            return -potential_fn(unravel(flat))

    return logdensity


def uturn_diagnostic(
    mcmc,
    rng_key: jax.Array | None = None,
    lambdas: Sequence[float] = DEFAULT_LAMBDAS,
    *,
    num_draws: int = 1000,
    num_steps: int = 200,
    step_size: float | None = None,
    center: str | np.ndarray | None = None,
    use_run_modes: bool = True,
    model_args: tuple | None = None,
    model_kwargs: dict | None = None,
    **kwargs,
) -> pd.DataFrame:
    r"""Mode-switch curves, :math:`\lambda_m` and :math:`\lambda_s` of a finished run.

    Parameters
    ----------
    mcmc
        A ``numpyro.infer.MCMC`` that has run :class:`~numpyro_dilation.DilationLangevin`
        (any chain method).
    rng_key
        Key for the subsampling and the U-turns (default ``jax.random.key(0)``).
    lambdas
        Grid of U-turn levels :math:`\lambda_u \in (0, 1)`.
    num_draws
        How many pooled draws to U-turn (sampled without replacement).
    num_steps
        Re-annealing steps from :math:`\lambda_u` to 1.
    step_size
        :math:`h`; default the median of the chains' tuned step sizes (the run's
        diagonal preconditioner, ``last_state.inverse_mass_matrix``, is used too).
    center
        ``None``: the mean of the draws (unconstrained); ``"chains"``: each draw's
        own chain's annealing center; or a flat unconstrained array ``(d,)``.
    use_run_modes
        Cluster with the modes the run found (``last_state.mixture``, when global
        moves were on) instead of running mode finding on the draws.
    model_args, model_kwargs
        The model's arguments; default those of the last ``mcmc.run``.
    kwargs
        Passed to :func:`~numpyro_dilation.uturn_curves.uturn_curves` (``schedule``,
        ``metropolis``, ``global_moves``, thresholds).

    Returns
    -------
    The table of :func:`~numpyro_dilation.uturn_curves.uturn_curves`, in unconstrained space.

    Examples
    --------

    .. code-block:: python

        import jax
        import numpyro
        import numpyro.distributions as dist
        from numpyro.infer import MCMC
        from numpyro_dilation import DilationLangevin, uturn_diagnostic

        def sign_model(y=None):  # theta ~ +-2: y depends on theta only through theta^2
            theta = numpyro.sample("theta", dist.Normal(0.25, 1.0))
            numpyro.sample("y", dist.Normal(theta**2, 0.5), obs=y)

        mcmc = MCMC(DilationLangevin(sign_model), num_warmup=60, num_samples=40, num_chains=8,
                    chain_method="vectorized", progress_bar=False)
        mcmc.run(jax.random.key(0), y=4.0)
        table = uturn_diagnostic(mcmc, lambdas=(0.5, 1e-2, 1e-4), num_draws=100, num_steps=50)
        print(table[["lambda_u", "switch_fraction", "return_tv"]])  # s grows as lambda_u falls
        print(table.attrs["num_modes"], table.attrs["lambda_m"])  # 2 modes, the memorization level
    """
    state = mcmc.last_state
    if state is None:
        raise ValueError("Run `mcmc.run(...)` before the U-turn diagnostic.")
    rng_key = jax.random.key(0) if rng_key is None else rng_key
    model_args = mcmc._args if model_args is None else model_args
    model_kwargs = mcmc._kwargs if model_kwargs is None else model_kwargs
    flat = _unconstrained_draws(mcmc, mcmc.get_samples(group_by_chain=True))
    num_chains, num_samples, dim = flat.shape
    total = num_chains * num_samples
    key_sub, key_run = jax.random.split(rng_key)
    idx = np.asarray(jax.random.choice(key_sub, total, (min(num_draws, total),), replace=False))
    draws = jnp.asarray(flat.reshape(total, dim)[idx])
    if step_size is None:
        step_size = float(np.median(np.asarray(state.adapt_state.step_size)))
    if isinstance(center, str):
        if center != "chains":
            raise ValueError(f"`center` must be None, 'chains' or an array, got {center!r}.")
        if jnp.ndim(state.potential_energy) == 0:
            centers = np.asarray(ravel_pytree(state.center)[0])[None]
        else:
            centers = np.asarray(jax.vmap(lambda c: ravel_pytree(c)[0])(state.center))
        if centers.shape[0] != num_chains:
            raise ValueError("`center='chains'` needs one center per chain in `mcmc.last_state`.")
        center = jnp.asarray(centers[idx // num_samples], draws.dtype)
    mixture = getattr(state, "mixture", None)
    if not use_run_modes or mixture is None or int(mixture.num_modes) == 0:
        mixture = None
    logdensity = _flat_logdensity(mcmc, model_args, model_kwargs)
    kwargs.setdefault("inverse_mass_matrix", getattr(state, "inverse_mass_matrix", None))
    return uturn_curves(
        key_run,
        logdensity,
        draws,
        lambdas,
        step_size=step_size,
        num_steps=num_steps,
        center=center,
        mixture=mixture,
        **kwargs,
    )
