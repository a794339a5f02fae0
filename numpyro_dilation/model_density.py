r"""From a NumPyro model to the log-density the population algorithm samples.

A model's latent sites are mapped to unconstrained space by NumPyro's
``initialize_model`` (with ``dynamic_args=True``, so that one potential-energy generator
serves every ``(model_args, model_kwargs)``); the log-density is
:math:`\log\gamma(z) = -U(z)`, :math:`U` NumPyro's potential energy, which includes the
log-Jacobians of the transforms. With ``reparam="auto"``, funnel sites (a latent ``Normal``
whose scale is latent) are sampled non-centered first (:mod:`numpyro_dilation.reparam`).
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np
from numpyro.distributions.transforms import biject_to
from numpyro.infer.util import initialize_model
from numpyro.util import is_prng_key

from numpyro_dilation.forward_mode import forward_mode_logdensity
from numpyro_dilation.inputs import check_init_params
from numpyro_dilation.reparam import funnel_sites, noncentered

__all__: list[str] = []


class ModelSetup(NamedTuple):
    """What :func:`setup_model` returns: the chains' initial unconstrained values
    (``init_params`` if given, checked, else the init strategy's), NumPyro's potential-energy
    generator and postprocessing, the model as sampled, its non-centered sites and its
    latent sites' bijections from unconstrained to constrained values."""

    init_params: Any
    potential_fn_gen: Callable
    postprocess_fn: Callable
    sampled_model: Callable
    noncentered_sites: tuple[str, ...]
    transforms: dict[str, Any]


def setup_model(
    model: Callable,
    rng_key,
    model_args: tuple,
    model_kwargs: dict,
    init_params,
    *,
    init_strategy: Callable,
    reparam: str | None,
    fixed_center: bool,
    forward_mode_differentiation: bool,
) -> ModelSetup:
    """Initialize ``model`` (``rng_key``: one key, or one per chain), non-centering its
    funnel sites when ``reparam="auto"`` and neither ``init_params`` nor a fixed center
    is given (both are values of the model as written)."""
    sampled_model, sites = model, ()
    if reparam == "auto" and init_params is None and not fixed_center:
        key = rng_key if is_prng_key(rng_key) else rng_key[0]
        found = funnel_sites(model, model_args, model_kwargs, key)  # its points: split(key)
        if found:
            sampled_model, sites = noncentered(model, found), tuple(found)
    param_info, potential_fn_gen, postprocess_fn, trace = initialize_model(
        rng_key,
        sampled_model,
        dynamic_args=True,
        init_strategy=init_strategy,
        model_args=model_args,
        model_kwargs=model_kwargs,
        forward_mode_differentiation=forward_mode_differentiation,
    )
    if init_params is None:
        init_params = param_info.z
    else:
        check_init_params(init_params, param_info.z)
    transforms = {
        name: biject_to(site["fn"].support) for name, site in trace.items() if name in param_info.z
    }
    return ModelSetup(
        init_params, potential_fn_gen, postprocess_fn, sampled_model, sites, transforms
    )


def logdensity_from_potential(potential_fn: Callable, forward_mode: bool) -> Callable:
    """:math:`z \\mapsto -U(z)`; differentiated in forward mode when ``forward_mode``
    (:func:`~numpyro_dilation.forward_mode.forward_mode_logdensity`). Returned under
    ``jax.jit``, so that the model is traced once however many places of the sampler's
    programs call it (each call then reuses its traced program; tracing a NumPyro model
    runs its effect handlers in Python): on radon (13 call sites in one iteration's
    program) that took tracing and lowering from 2.3 to 1.6 s (the draws equal up to float32
    rounding: XLA inlines the calls)."""

    def logdensity_fn(z):
        return -potential_fn(z)

    fn = forward_mode_logdensity(logdensity_fn) if forward_mode else logdensity_fn
    return jax.jit(fn)


def same_arguments(first: tuple, second: tuple) -> bool:
    """Whether two ``(model_args, model_kwargs)`` are the same arguments: one tree, its
    arrays the same objects (``is``: NumPyro's ``MCMC`` reuses its compiled loop for the
    same array objects, keyed by ``id``) and its other leaves equal."""
    leaves_a, tree_a = jax.tree.flatten(first)
    leaves_b, tree_b = jax.tree.flatten(second)
    if tree_a != tree_b:
        return False
    for a, b in zip(leaves_a, leaves_b):
        if a is b:
            continue
        if isinstance(a, (np.ndarray, jax.Array)) or isinstance(b, (np.ndarray, jax.Array)):
            return False
        try:
            if type(a) is not type(b) or not bool(a == b):
                return False
        except Exception:  # a leaf without a truth value for ==: not known to be equal
            return False
    return True
