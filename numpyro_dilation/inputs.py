r"""The NumPyro kernel's inputs, checked before any expensive work: ``init_params``
against the model's sites, the initial points' log-density, the ``center`` (resolved to
unconstrained space), the ``start`` and the ``GlobalMoves`` settings. Each error names the
argument and what was expected.
"""

import numbers
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from numpyro.infer.util import unconstrain_fn
from numpyro.util import not_jax_tracer

from numpyro_dilation.annealing import check_probability, check_step_size
from numpyro_dilation.blocks import check_blocks
from numpyro_dilation.kernel import DilationState, _check_center
from numpyro_dilation.label_swaps import check_exchangeable
from numpyro_dilation.modes import GlobalMoves
from numpyro_dilation.persistence import check_persistence
from numpyro_dilation.population_settings import (
    MIN_ANNEALING_STEPS,
    check_mass_rank,
    check_steps_per_draw,
)
from numpyro_dilation.run_plan import KernelOptions
from numpyro_dilation.schedules import SCHEDULES, validate_schedule
from numpyro_dilation.starts import Pilot, check_pilot
from numpyro_dilation.uturn import UTurn, check_uturn

__all__: list[str] = []


def is_array(x) -> bool:
    return isinstance(x, (np.ndarray, jax.Array))


def check_init_params(init_params, reference) -> None:
    """``init_params`` for a model must have the structure and shapes of NumPyro's
    unconstrained latent values ``reference`` (chain dimension included)."""
    if isinstance(init_params, dict) and isinstance(reference, dict):
        missing = sorted(set(reference) - set(init_params))
        unknown = sorted(set(init_params) - set(reference))
        if missing or unknown:
            raise ValueError(
                "`init_params` must give an unconstrained value for every latent site: "
                f"missing {missing}, unknown {unknown}."
            )
        for name in sorted(reference):
            if jnp.shape(init_params[name]) != jnp.shape(reference[name]):
                raise ValueError(
                    f"`init_params[{name!r}]` has shape {jnp.shape(init_params[name])}, "
                    f"expected {jnp.shape(reference[name])} (the site's unconstrained shape, "
                    "after the chain dimension in a vectorized run)."
                )
    elif jax.tree.structure(init_params) != jax.tree.structure(reference):
        raise ValueError(
            "`init_params` must have the structure of the model's latent sites "
            f"({jax.tree.structure(reference)}), got {jax.tree.structure(init_params)}."
        )


def check_initial_points(dilation: DilationState, center) -> None:
    """Fail before sampling if a chain starts where the log-density or its gradient is
    not finite (NumPyro's rule for valid initial parameters: from such a point every
    proposal diverges, so the chain would never move), or if the center is not finite.
    Skipped when the values are traced (``chain_method="parallel"``)."""
    if center is not None:
        ok = jnp.all(jnp.asarray([jnp.all(jnp.isfinite(c)) for c in jax.tree.leaves(center)]))
        if not_jax_tracer(ok) and not bool(ok):
            raise ValueError(
                "`center` is not finite in unconstrained space: give a center inside the "
                "support of every site (e.g. a positive value for a positive site)."
            )
    if not not_jax_tracer(dilation.logdensity):
        return
    arrays = (dilation.logdensity, dilation.logdensity_grad)
    if all(getattr(a, "is_fully_addressable", True) for a in jax.tree.leaves(arrays)):
        num_bad, first = _not_finite(*jax.tree.map(np.asarray, arrays), xp=np)  # no compiling
    else:  # chains sharded over several processes: reduced where they are, then read
        num_bad, first = jax.jit(_not_finite)(*arrays)
    num_bad = int(num_bad)
    if num_bad:
        first = [i for i in np.asarray(first).tolist() if i >= 0]
        raise ValueError(
            f"`init_params`: the log-density or its gradient is not finite at the initial "
            f"point of {num_bad} of {np.size(dilation.logdensity)} chain(s) (first: {first}); "
            "from such a point every proposal diverges and the chain never moves. Give "
            "`init_params` where the model's log-density and gradient are finite, or use "
            "another `init_strategy` (NumPyro's `init_to_uniform`/`init_to_median` retry "
            "until they find such points)."
        )


def _not_finite(logdensity, grads, xp=jnp) -> tuple:
    """How many chains start where the log-density or its gradient is not finite, and the
    first five of them (-1 where fewer); ``xp``: NumPy (arrays on the host) or
    ``jax.numpy`` (compiled, for arrays this process cannot address whole)."""
    finite = xp.isfinite(logdensity)
    batch = finite.ndim
    for g in jax.tree.leaves(grads):
        finite = finite & xp.all(xp.isfinite(g), axis=tuple(range(batch, xp.ndim(g))))
    bad = ~finite.reshape(-1)
    if xp is np:
        return bad.sum(), np.flatnonzero(bad)[:5]
    return jnp.sum(bad), jnp.nonzero(bad, size=5, fill_value=-1)[0]


def check_global_moves(gm: GlobalMoves) -> None:
    checks = {
        "max_modes": isinstance(gm.max_modes, int) and gm.max_modes >= 1,
        "num_ascent_steps": isinstance(gm.num_ascent_steps, int) and gm.num_ascent_steps >= 0,
        "num_newton_steps": isinstance(gm.num_newton_steps, int) and gm.num_newton_steps >= 0,
        "merge_distance": gm.merge_distance > 0,
        "inflation": gm.inflation == "auto"
        if isinstance(gm.inflation, str)
        else isinstance(gm.inflation, numbers.Real) and gm.inflation > 0,
        "uniform_weight": 0 < gm.uniform_weight <= 1,
        "eig_floor": 0 < gm.eig_floor < 1,
        "every": isinstance(gm.every, int) and gm.every >= 1,
        "stationarity_tol": gm.stationarity_tol > 0,
        "tail_weight": 0 <= gm.tail_weight < 1,
        "tail_dof": gm.tail_dof > 0,
        "covariance": gm.covariance in ("auto", "dense", "diagonal"),
        "num_start_chains": gm.num_start_chains == "auto"
        if isinstance(gm.num_start_chains, str)
        else isinstance(gm.num_start_chains, int) and gm.num_start_chains >= 1,
        "num_wide_starts": gm.num_wide_starts == "auto"
        if isinstance(gm.num_wide_starts, str)
        else isinstance(gm.num_wide_starts, int) and gm.num_wide_starts >= 0,
        "wide_scale": isinstance(gm.wide_scale, numbers.Real) and gm.wide_scale > 0,
        "center_contractions": isinstance(gm.center_contractions, tuple)
        and all(
            isinstance(r, numbers.Real) and not isinstance(r, bool) and 0 <= r <= 1
            for r in gm.center_contractions
        ),
    }
    for name, ok in checks.items():
        if not ok:
            raise ValueError(
                f"`GlobalMoves.{name}` is invalid: {getattr(gm, name)!r} "
                "(see the GlobalMoves docstring for the allowed range)."
            )
    check_blocks(gm.blocks, sites=True)
    check_exchangeable(gm.exchangeable, sites=True)


def resolve_center(
    center, model, postprocess_fn, init_params, vectorized, model_args, model_kwargs
):
    """The dilation center in unconstrained space, with the structure of one chain's
    ``init_params``; ``None`` for per-chain centers (``center`` ``None``, a ``Pilot`` or
    ``"auto"``). For a model, ``center`` is a dict of constrained site values or the flat
    unconstrained vector; for a ``potential_fn``, a pytree like one chain's position.
    ``ValueError`` naming the site when it does not fit."""
    given_center = center
    if center is None or isinstance(center, (Pilot, str)):
        return None  # per-chain centers
    one_chain = jax.tree.map(lambda x: x[0], init_params) if vectorized else init_params
    flat_ref, unravel = ravel_pytree(one_chain)
    if model is not None and isinstance(center, dict):
        sites = set(one_chain)
        given = set(center)
        if given != sites:
            missing, unknown = sorted(sites - given), sorted(given - sites)
            raise ValueError(
                "`center` must give a constrained value for every latent site of the "
                f"model: missing {missing}, unknown {unknown}."
            )
        constrained = postprocess_fn(*model_args, **model_kwargs)(one_chain)
        for name in sorted(sites):
            if jnp.shape(center[name]) != jnp.shape(constrained[name]):
                raise ValueError(
                    f"`center[{name!r}]` has shape {jnp.shape(center[name])}, but site "
                    f"{name!r} has shape {jnp.shape(constrained[name])}."
                )
        try:
            center = unconstrain_fn(
                model,
                model_args,
                model_kwargs,
                {k: jnp.asarray(v) for k, v in center.items()},
            )
        except Exception as err:  # shape/support errors surface from the model
            raise ValueError(
                f"`center` values do not fit the model's sites ({err}); give one "
                "constrained value per latent site, with the site's shape."
            ) from err
        for name in sites:
            if jnp.shape(center[name]) != jnp.shape(one_chain[name]):
                raise ValueError(
                    f"`center[{name!r}]` has shape {jnp.shape(given_center[name])}, which "
                    f"does not match site {name!r} (unconstrained shape "
                    f"{jnp.shape(one_chain[name])})."
                )
        return jax.tree.map(lambda c, r: jnp.asarray(c, dtype=r.dtype), center, one_chain)
    if model is not None and is_array(center):
        flat = jnp.asarray(center, dtype=flat_ref.dtype)
        if flat.shape != flat_ref.shape:
            raise ValueError(
                f"`center` as an array must be the flat unconstrained vector of shape "
                f"{flat_ref.shape}, got shape {flat.shape}."
            )
        return unravel(flat)
    if model is not None:
        raise ValueError(
            "`center` must be None, a dict of constrained site values or a flat "
            f"unconstrained array, got {type(center).__name__}."
        )
    _check_center(center, one_chain, "`init_params`", "the `init_params`", " (one chain)")
    return jax.tree.map(lambda c, r: jnp.asarray(c, dtype=r.dtype), center, one_chain)


def check_arguments(
    options: KernelOptions, *, model, potential_fn, init_strategy, reparam
) -> KernelOptions:
    """Check :class:`~numpyro_dilation.mcmc.DilationLangevin`'s arguments when it is built
    (``ValueError`` naming the argument and what was expected); return the options
    normalized (an array of levels validated, ``"pilot"`` as ``Pilot()``, ``center="auto"``
    as ``None``, a ``Pilot`` given as ``center`` moved to ``start``)."""
    o = options
    step_size, target_accept_prob, schedule = o.step_size, o.target_accept_prob, o.schedule
    lambda_min, num_annealing_steps = o.lambda_min, o.num_annealing_steps
    annealing_fraction, global_moves, uturn = o.annealing_fraction, o.global_moves, o.uturn
    if not (model is None) ^ (potential_fn is None):
        raise ValueError("Exactly one of `model` or `potential_fn` must be specified.")
    for name, fn in (
        ("model", model),
        ("potential_fn", potential_fn),
        ("init_strategy", init_strategy),
    ):
        if fn is not None and not callable(fn):
            raise ValueError(f"`{name}` must be callable, got {type(fn).__name__}.")
    if step_size is not None:
        check_step_size(step_size)
    check_probability("target_accept_prob", target_accept_prob)
    center, start = resolve_start(o.center, o.start)
    if isinstance(schedule, str):
        if schedule not in SCHEDULES:
            raise ValueError(
                f"`schedule` must be one of {sorted(SCHEDULES)}, a callable or an "
                f"array of levels, got {schedule!r}."
            )
        check_probability("lambda_min", lambda_min)
    elif callable(schedule):
        check_probability("lambda_min", lambda_min)
    else:
        schedule = validate_schedule(schedule)
        if num_annealing_steps is not None and num_annealing_steps != len(schedule):
            raise ValueError(
                f"`num_annealing_steps` ({num_annealing_steps}) must equal the "
                f"length of the `schedule` array ({len(schedule)})."
            )
    if num_annealing_steps is not None and (
        not isinstance(num_annealing_steps, (int, np.integer))
        or num_annealing_steps < MIN_ANNEALING_STEPS
    ):
        raise ValueError(
            f"`num_annealing_steps` must be an integer >= {MIN_ANNEALING_STEPS}, "
            f"got {num_annealing_steps!r}."
        )
    if not (
        isinstance(annealing_fraction, numbers.Real)
        and not isinstance(annealing_fraction, bool)
        and 0 < annealing_fraction <= 1
    ):
        raise ValueError(f"`annealing_fraction` must lie in (0, 1], got {annealing_fraction!r}.")
    if isinstance(global_moves, str) and global_moves != "auto":
        raise ValueError(
            f"`global_moves` must be 'auto', None or a GlobalMoves, got {global_moves!r}."
        )
    if isinstance(global_moves, GlobalMoves):
        check_global_moves(global_moves)
    elif global_moves is not None and not isinstance(global_moves, str):
        raise ValueError(
            f"`global_moves` must be 'auto', None or a GlobalMoves, got {global_moves!r}."
        )
    if not (uturn is None or uturn == "auto" or isinstance(uturn, UTurn)):
        raise ValueError(f"`uturn` must be 'auto', None or a UTurn, got {uturn!r}.")
    if isinstance(uturn, UTurn):
        check_uturn(uturn)
    if reparam not in ("auto", None):
        raise ValueError(f"`reparam` must be 'auto' or None, got {reparam!r}.")
    if not isinstance(o.dense_mass, (bool, np.bool_)):
        raise ValueError(
            "`dense_mass` must be True or False, got "
            f"{o.dense_mass!r}: block-structured mass matrices (NUTS's list of site "
            "tuples) are not supported; True gives one dense matrix over all sites."
        )
    check_mass_rank(o.mass_rank, 2)  # "auto" or an integer >= 0; resolved with the dimension
    traced = isinstance(target_accept_prob, jax.core.Tracer)
    return o._replace(
        schedule=schedule,
        center=center,
        start=start,
        target_accept_prob=target_accept_prob if traced else float(target_accept_prob),
        lambda_min=float(lambda_min),
        annealing_fraction=float(annealing_fraction),
        adapt_step_size=bool(o.adapt_step_size),
        metropolis=bool(o.metropolis),
        anneal_metropolis=bool(o.anneal_metropolis),
        adapt_mass_matrix=bool(o.adapt_mass_matrix),
        dense_mass=bool(o.dense_mass),
        steps_per_draw=check_steps_per_draw(o.steps_per_draw) or "auto",
        momentum_persistence=check_persistence(o.momentum_persistence),
    )


def resolve_start(center, start) -> tuple:
    """``(center, start)`` checked and separated: ``center`` ``None`` or a point, ``start``
    ``"auto"``, a checked ``Pilot`` or ``None``. ``center="auto"`` (the former default) is
    ``None``; a ``Pilot`` or ``"pilot"`` given as ``center`` (its former home) is read as
    ``start``, with a ``FutureWarning``."""
    if isinstance(center, str) and center not in ("auto", "pilot"):
        raise ValueError(f"`center` as a string must be None or a point, got {center!r}.")
    if isinstance(center, Pilot) or (isinstance(center, str) and center == "pilot"):
        if not (isinstance(start, str) and start == "auto"):
            raise ValueError("Give the pilot-box start as `start=Pilot(...)` only.")
        warnings.warn(
            "`center=Pilot(...)` / `center='pilot'` is now `start=Pilot(...)` / "
            "`start='pilot'` (the pilot box decides where chains start; each chain's "
            "center is then its start point).",
            FutureWarning,
            stacklevel=4,
        )
        center, start = None, center
    elif isinstance(center, str):  # "auto"
        center = None
    if isinstance(start, str):
        if start not in ("auto", "pilot"):
            raise ValueError(f"`start` must be 'auto', 'pilot', a Pilot or None, got {start!r}.")
        start = Pilot() if start == "pilot" else start
    elif start is not None and not isinstance(start, Pilot):
        raise ValueError(f"`start` must be 'auto', 'pilot', a Pilot or None, got {start!r}.")
    if isinstance(start, Pilot):
        check_pilot(start)
        if center is not None:
            raise ValueError(
                "`start=Pilot(...)` gives each chain its own center (its start point); it "
                "cannot be combined with a fixed `center`: pass `center=None`."
            )
    return center, start
