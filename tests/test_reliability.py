"""Reliability: bad input, numerical faults, float32 at tiny λ, memory options.

- **Bad input.** ``BAD_INPUTS`` lists invalid arguments of every public entry point;
  each must raise a ``ValueError`` naming the argument before anything is sampled.
  Hypothesis then tries arbitrary values for the scalar arguments: a value is
  accepted exactly when it lies in the documented domain, else it is rejected with
  a ``ValueError`` naming the argument. ``python tests/test_reliability.py`` prints
  the table of ``docs/reliability.md`` from the same cases (with the real messages).
- **Properties** (hypothesis) of the path, the schedules and the kernel on arbitrary
  pytrees (zero-size leaves included), float32 and float64, λ down to 1e-30 and
  parameter scales from 1e-6 to 1e6: coordinate round trips, closed-form score =
  autodiff score, schedule invariants, and the kernel's exact equivariance under
  affine maps of the target (scale s, step s²h).
- **Faults.** A model whose log-density is -inf, NaN or +inf beyond x = 1, or whose
  gradient is NaN there, or overflows: proposals there are rejected and counted as
  divergences, chains go on, and the draws follow the truncated target exactly
  (mean within Monte Carlo error of the closed form). A run in which no chain can
  move fails (non-finite start) or warns (nothing accepted in warm-up).
- **float32 at λ_min = 1e-8**: exact moments, no divergence while annealing.
- **Memory**: ``thinning`` and ``"~z.site"`` exclusion keep exactly the expected draws.
"""

import math
import re
import sys
import warnings
from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from conftest import mcse_z
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpyro.infer import MCMC
from scipy import stats

import numpyro_dilation as nd
from numpyro_dilation import DilationLangevin
from numpyro_dilation import kernel as dk
from numpyro_dilation import path as dpath
from numpyro_dilation import schedules as sch

PROPERTY = settings(
    deadline=None,
    derandomize=True,  # the same examples in CI on every run
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)


def prop(max_examples: int) -> settings:
    """Hypothesis settings of this module with ``max_examples`` examples."""
    return settings(PROPERTY, max_examples=max_examples)


def simple_model(y=None):
    m = numpyro.sample("m", dist.Normal(0.0, 1.0))
    s = numpyro.sample("s", dist.HalfNormal(1.0))
    numpyro.sample("y", dist.Normal(m, s), obs=y)


def _quadratic(x):
    return -0.5 * jnp.sum(x**2)


def _mcmc(kernel, num_warmup=20, num_samples=2, num_chains=1, **kw):
    return MCMC(
        kernel,
        num_warmup=num_warmup,
        num_samples=num_samples,
        num_chains=num_chains,
        progress_bar=False,
        **kw,
    )


# -- bad input: an explicit table ------------------------------------------------------


class BadInput(NamedTuple):
    api: str
    argument: str
    value: str
    call: Callable[[], object]


def _run_model(**kernel_kw):
    def call():
        mcmc = _mcmc(DilationLangevin(simple_model, **kernel_kw))
        mcmc.run(jax.random.key(0), 1.0)
        return mcmc

    return call


def _run_model_with(init_params, num_chains=1, **mcmc_kw):
    def call():
        chain_method = "vectorized" if num_chains > 1 else "sequential"
        mcmc = _mcmc(
            DilationLangevin(simple_model),
            num_chains=num_chains,
            chain_method=chain_method,
            **mcmc_kw,
        )
        mcmc.run(jax.random.key(0), 1.0, init_params=init_params)
        return mcmc

    return call


def _run_potential(init_params, potential=lambda z: 0.5 * jnp.sum(z**2), **kernel_kw):
    def call():
        mcmc = _mcmc(DilationLangevin(potential_fn=potential, **kernel_kw))
        mcmc.run(jax.random.key(0), init_params=init_params)
        return mcmc

    return call


def _algo(**kw):
    args = dict(logdensity_fn=_quadratic, num_annealing_steps=20, step_size=0.1) | kw
    return lambda: nd.dilation_langevin(**args)


def _algo_init(position, **kw):
    def call():
        return nd.dilation_langevin(_quadratic, 0.1, num_annealing_steps=20, **kw).init(position)

    return call


def _kernel_step(lam=0.5, step_size=0.1):
    def call():
        state = dk.init(jnp.zeros(2), _quadratic, lam=0.5)
        return dk.build_kernel()(jax.random.key(0), state, _quadratic, lam, step_size)

    return call


_DL = "DilationLangevin"
_RUN = "DilationLangevin + MCMC.run"
_BJ = "dilation_langevin"
NAN, INF = float("nan"), float("inf")

BAD_INPUTS = [
    # constructor (raised by DilationLangevin(...))
    BadInput(_DL, "model", "neither model nor potential_fn", lambda: DilationLangevin()),
    BadInput(
        _DL,
        "model",
        "both model and potential_fn",
        lambda: DilationLangevin(simple_model, potential_fn=_quadratic),
    ),
    BadInput(_DL, "model", "'abc' (not callable)", lambda: DilationLangevin("abc")),
    BadInput(_DL, "potential_fn", "3 (not callable)", lambda: DilationLangevin(potential_fn=3)),
    BadInput(
        _DL,
        "init_strategy",
        "3 (not callable)",
        lambda: DilationLangevin(simple_model, init_strategy=3),
    ),
    *[
        BadInput(_DL, "step_size", repr(v), lambda v=v: DilationLangevin(simple_model, step_size=v))
        for v in (0.0, -1.0, NAN, INF, "a")
    ],
    *[
        BadInput(
            _DL,
            "target_accept_prob",
            repr(v),
            lambda v=v: DilationLangevin(simple_model, target_accept_prob=v),
        )
        for v in (0.0, 1.0, 1.5, NAN, True)
    ],
    *[
        BadInput(
            _DL, "lambda_min", repr(v), lambda v=v: DilationLangevin(simple_model, lambda_min=v)
        )
        for v in (0.0, 1.0, -1e-3, NAN, "a")
    ],
    *[
        BadInput(_DL, "schedule", repr(v), lambda v=v: DilationLangevin(simple_model, schedule=v))
        for v in (
            "quadratic",
            [],
            [0.1, 0.05, 1.0],
            [0.1, 0.5, 0.9],
            [0.0, 1.0],
            [0.5, 1.5],
            [[0.5, 1.0]],
            [0.1, NAN, 1.0],
        )
    ],
    *[
        BadInput(
            _DL,
            "num_annealing_steps",
            repr(v),
            lambda v=v: DilationLangevin(simple_model, num_annealing_steps=v),
        )
        for v in (3, 0, -5, 12.5, True)
    ],
    BadInput(
        _DL,
        "num_annealing_steps",
        "12 with a 20-level schedule array",
        lambda: DilationLangevin(
            simple_model, schedule=np.linspace(0.05, 1, 20), num_annealing_steps=12
        ),
    ),
    *[
        BadInput(
            _DL,
            "annealing_fraction",
            repr(v),
            lambda v=v: DilationLangevin(simple_model, annealing_fraction=v),
        )
        for v in (0.0, 1.5, -0.5, NAN, True)
    ],
    *[
        BadInput(
            _DL, "global_moves", repr(v), lambda v=v: DilationLangevin(simple_model, global_moves=v)
        )
        for v in ("always", 3)
    ],
    BadInput(
        _DL,
        "dense_mass",
        "[('x',)] (NUTS's block structure)",
        lambda: DilationLangevin(simple_model, dense_mass=[("x",)]),
    ),
    *[
        BadInput(
            _DL,
            "GlobalMoves",
            f"{field}={v!r}",
            lambda f=field, v=v: DilationLangevin(
                simple_model, global_moves=nd.GlobalMoves(**{f: v})
            ),
        )
        for field, v in (
            ("max_modes", 0),
            ("merge_distance", 0.0),
            ("inflation", -1.0),
            ("uniform_weight", 0.0),
            ("eig_floor", 1.0),
            ("every", 0),
            ("num_ascent_steps", -1),
        )
    ],
    # raised by MCMC.run, before the first iteration
    BadInput(
        _RUN,
        "num_warmup",
        "-1",
        lambda: _mcmc(DilationLangevin(simple_model), num_warmup=-1).run(jax.random.key(0), 1.0),
    ),
    BadInput(
        _RUN,
        "num_warmup",
        "20 with a 50-level schedule",
        lambda: _mcmc(DilationLangevin(simple_model, schedule=np.linspace(0.1, 1, 50))).run(
            jax.random.key(0), 1.0
        ),
    ),
    BadInput(
        _RUN,
        "num_warmup",
        "-1",
        lambda: _mcmc(DilationLangevin(simple_model), num_warmup=-1).run(jax.random.key(0), 1.0),
    ),
    BadInput(
        _RUN,
        "schedule",
        "callable returning constant levels",
        _run_model(schedule=lambda n, lam: np.ones(n)),
    ),
    BadInput(
        _RUN,
        "schedule",
        "callable returning the wrong length",
        _run_model(schedule=lambda n, lam: np.linspace(lam, 1, n + 1)),
    ),
    BadInput(_RUN, "init_params", "missing with potential_fn", _run_potential(None)),
    BadInput(_RUN, "init_params", "site 's' missing", _run_model_with({"m": 0.0})),
    BadInput(
        _RUN, "init_params", "unknown site 't'", _run_model_with({"m": 0.0, "s": 0.0, "t": 1.0})
    ),
    BadInput(
        _RUN,
        "init_params",
        "site 'm' of shape (3,) instead of ()",
        _run_model_with({"m": jnp.zeros(3), "s": 0.0}),
    ),
    BadInput(
        _RUN,
        "init_params",
        "leading dimension 3 with num_chains=2",
        _run_model_with({"m": jnp.zeros(3), "s": jnp.zeros(3)}, num_chains=2),
    ),
    BadInput(_RUN, "init_params", "NaN (non-finite log-density)", _run_potential(jnp.array([NAN]))),
    BadInput(
        _RUN,
        "init_params",
        "non-finite gradient at the start",
        _run_potential(jnp.array([0.0]), potential=lambda z: jnp.sum(jnp.sqrt(jnp.abs(z)))),
    ),
    BadInput(
        _RUN,
        "init_params",
        "outside the support (log-density -inf)",
        _run_potential(
            jnp.array([2.0]), potential=lambda z: jnp.sum(jnp.where(z < 1, 0.5 * z**2, jnp.inf))
        ),
    ),
    BadInput(_RUN, "center", "missing site", _run_model(center={"m": 0.0})),
    BadInput(_RUN, "center", "unknown site", _run_model(center={"m": 0.0, "s": 1.0, "t": 0.0})),
    BadInput(
        _RUN, "center", "site of the wrong shape", _run_model(center={"m": jnp.zeros(3), "s": 1.0})
    ),
    BadInput(_RUN, "center", "flat array of the wrong length", _run_model(center=jnp.zeros(5))),
    BadInput(_RUN, "center", "a string", _run_model(center="middle")),
    BadInput(
        _RUN, "center", "outside the support (s = -1)", _run_model(center={"m": 0.0, "s": -1.0})
    ),
    BadInput(_RUN, "center", "NaN", _run_model(center={"m": NAN, "s": 1.0})),
    BadInput(
        _RUN,
        "center",
        "structure unlike init_params",
        _run_potential(
            {"a": jnp.zeros(2)},
            potential=lambda z: jnp.sum(z["a"] ** 2),
            center={"b": jnp.zeros(2)},
        ),
    ),
    # BlackJAX level
    BadInput(_BJ, "logdensity_fn", "3 (not callable)", _algo(logdensity_fn=3)),
    *[
        BadInput(_BJ, "num_annealing_steps", repr(v), _algo(num_annealing_steps=v))
        for v in (-1, 2.5, True)
    ],
    BadInput(
        _BJ, "inverse_mass_matrix", "a 2 x 3 array", _algo(inverse_mass_matrix=jnp.ones((2, 3)))
    ),
    *[BadInput(_BJ, "step_size", repr(v), _algo(step_size=v)) for v in (0.0, NAN, -1.0)],
    BadInput(_BJ, "lambda_min", "1.0", _algo(lambda_min=1.0)),
    BadInput(_BJ, "target_accept_prob", "1.2", _algo(target_accept_prob=1.2)),
    BadInput(
        _BJ, "schedule", "[0.5, 0.2, 1.0]", _algo(num_annealing_steps=3, schedule=[0.5, 0.2, 1.0])
    ),
    BadInput(_BJ, "schedule", "3 levels for 20 steps", _algo(schedule=[0.1, 0.5, 1.0])),
    BadInput(_BJ, "num_adaptation_steps", "-1", _algo(num_adaptation_steps=-1)),
    BadInput(
        _BJ + ".init",
        "center",
        "structure unlike the position",
        _algo_init(jnp.zeros(2), center={"a": 1.0}),
    ),
    BadInput(
        _BJ + ".init",
        "center",
        "shape (3,) for a position of shape (2,)",
        _algo_init(jnp.zeros(2), center=jnp.zeros(3)),
    ),
    BadInput("kernel.init", "lam", "0.0", lambda: dk.init(jnp.zeros(2), _quadratic, lam=0.0)),
    BadInput("kernel.init", "lam", "1.5", lambda: dk.init(jnp.zeros(2), _quadratic, lam=1.5)),
    BadInput("kernel step", "lam", "0.0", _kernel_step(lam=0.0)),
    BadInput("kernel step", "step_size", "0.0", _kernel_step(step_size=0.0)),
    BadInput("kernel step", "step_size", "inf", _kernel_step(step_size=INF)),
    # schedules
    *[
        BadInput(f"{name}_schedule", arg, repr(v), lambda f=f, k=k, lam=lam: f(k, lam))
        for name, f in sch.SCHEDULES.items()
        for arg, k, lam, v in (
            ("num_steps", 0, 0.1, 0),
            ("lambda_min", 10, 0.0, 0.0),
            ("lambda_min", 10, 1.0, 1.0),
        )
    ],
    BadInput(
        "make_schedule", "schedule", "'quadratic'", lambda: sch.make_schedule("quadratic", 10, 0.1)
    ),
    BadInput(
        "validate_schedule", "schedule", "[1.0, 1.0]", lambda: sch.validate_schedule([1.0, 1.0])
    ),
]


def _case_id(case: BadInput) -> str:
    return f"{case.api}:{case.argument}={case.value}"


@pytest.mark.parametrize("case", BAD_INPUTS, ids=_case_id)
def test_bad_input_raises_a_value_error_naming_the_argument(case):
    """Every invalid argument: ``ValueError`` whose message names the argument, raised
    before sampling (a failed ``MCMC.run`` leaves no state behind)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=re.escape(case.argument)):
            case.call()


def test_no_state_is_left_after_a_rejected_run():
    mcmc = _mcmc(DilationLangevin(potential_fn=lambda z: 0.5 * jnp.sum(z**2)))
    with pytest.raises(ValueError, match="init_params"):
        mcmc.run(jax.random.key(0), init_params=jnp.array([NAN]))
    assert mcmc.last_state is None


# -- bad input: arbitrary values for the scalar arguments --------------------------------


def _real(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


DOMAINS = {
    "step_size": lambda v: v is None or (_real(v) and math.isfinite(v) and v > 0),
    "target_accept_prob": lambda v: _real(v) and 0 < v < 1,
    "lambda_min": lambda v: _real(v) and 0 < v < 1,
    "annealing_fraction": lambda v: _real(v) and 0 < v <= 1,
    "num_annealing_steps": lambda v: (
        v is None or (isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 10)
    ),
}

TRIED: list[tuple[str, bool]] = []  # (argument, valid) of every value tried, for the docs

ANY_VALUE = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-2.0, 2.0),
    st.integers(-(2**40), 2**40),
    st.integers(-3, 30),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
    st.lists(st.floats(0, 1), max_size=2),
    st.floats(0, 1).map(np.float32),
    st.integers(0, 30).map(np.int64),
)


@prop(150)
@given(argument=st.sampled_from(sorted(DOMAINS)), value=ANY_VALUE)
def test_constructor_accepts_exactly_the_documented_domain(argument, value):
    valid = DOMAINS[argument](value)
    TRIED.append((argument, valid))
    if valid:
        DilationLangevin(simple_model, **{argument: value})
    else:
        with pytest.raises(ValueError, match=argument):
            DilationLangevin(simple_model, **{argument: value})


# -- properties: path, schedules, kernel -----------------------------------------------

SHAPE = st.sampled_from([(), (0,), (3,), (2, 0), (2, 3)])  # few shapes: compilations are reused
TREE_SHAPES = st.dictionaries(
    st.sampled_from(["a", "b"]),
    st.one_of(SHAPE, st.tuples(SHAPE, SHAPE)),
    min_size=1,
    max_size=2,
)
LOG10_SCALE = st.floats(-6.0, 6.0)


def _tree(shapes, rng, dtype, scale=1.0):
    def leaf(shape):
        return jnp.asarray(scale * rng.standard_normal(shape), dtype=dtype)

    return {
        k: tuple(leaf(s) for s in v) if isinstance(v[0] if v else None, tuple) else leaf(v)
        for k, v in shapes.items()
    }


def _dtype_ctx(dtype):
    return jax.enable_x64(dtype == np.float64)


@prop(25)
@given(
    shapes=TREE_SHAPES,
    seed=st.integers(0, 2**31),
    dtype=st.sampled_from([np.float32, np.float64]),
    log10_scale=LOG10_SCALE,
    log10_lam=st.floats(-30.0, 0.0),
)
def test_dilated_coordinates_round_trip(shapes, seed, dtype, log10_scale, log10_lam):
    """x -> y = c + (x - c)/sqrt(λ) -> c + sqrt(λ)(y - c) = x up to rounding, for any
    pytree, dtype, scale and λ down to 1e-30; leaves keep their dtype and shape, and
    y stays finite. (The reverse trip loses y's digits in dilated coordinates at tiny λ,
    which is why the kernel stores y.)"""
    rng = np.random.default_rng(seed)
    lam, scale = 10.0**log10_lam, 10.0**log10_scale
    with _dtype_ctx(dtype):
        c = _tree(shapes, rng, dtype, scale)
        x = jax.tree.map(lambda ci: ci + jnp.asarray(scale * 1e-3, dtype), c)
        x = jax.tree.map(lambda xi: xi * (1 + 0.5 * jnp.tanh(xi)), x)
        y = dpath.to_target(x, c, lam)
        back = dpath.to_dilated(y, c, lam)
        eps = np.finfo(dtype).eps
        for xi, yi, bi, ci in zip(*(jax.tree.leaves(t) for t in (x, y, back, c))):
            assert yi.dtype == xi.dtype == bi.dtype and yi.shape == xi.shape == bi.shape
            assert np.all(np.isfinite(yi))
            tol = 16 * eps * (np.abs(np.asarray(xi)) + np.abs(np.asarray(ci)))
            assert np.all(np.abs(np.asarray(bi) - np.asarray(xi)) <= tol)


@prop(10)
@given(
    shapes=TREE_SHAPES,
    seed=st.integers(0, 2**31),
    log10_scale=LOG10_SCALE,
    log10_lam=st.floats(-12.0, 0.0),
)
def test_closed_form_score_is_the_gradient_of_the_dilated_density(
    shapes, seed, log10_scale, log10_lam
):
    """∇ log π_λ by autodiff of ``dilated_logdensity`` = ``dilated_score`` (float64)."""
    rng = np.random.default_rng(seed)
    lam, scale = 10.0**log10_lam, 10.0**log10_scale
    with jax.enable_x64(True):
        mean = _tree(shapes, rng, np.float64, scale)
        c = _tree(shapes, rng, np.float64, scale)
        x = jax.tree.map(
            lambda ci, z: ci + np.sqrt(lam) * z, c, _tree(shapes, rng, np.float64, scale)
        )

        def logdensity(y):
            return -0.5 * sum(
                jnp.sum(((a - b) / scale) ** 2)
                for a, b in zip(jax.tree.leaves(y), jax.tree.leaves(mean))
            )

        auto = jax.grad(dpath.dilated_logdensity(logdensity, c, lam))(x)
        closed = dpath.dilated_score(logdensity, c, lam)(x)
        for a, b in zip(jax.tree.leaves(auto), jax.tree.leaves(closed)):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10 * np.max(np.abs(b), initial=0))


@prop(200)
@given(
    name=st.sampled_from(sorted(sch.SCHEDULES)),
    num_steps=st.integers(1, 5000),
    lambda_min=st.one_of(
        st.floats(-300.0, -1e-9).map(lambda e: 10.0**e),
        st.floats(0.0, 1.0, exclude_min=True, exclude_max=True),
    ),
)
def test_named_schedules_are_valid_or_refused_clearly(name, num_steps, lambda_min):
    """Any K >= 1 and λ_min in (0, 1), through ``make_schedule`` (what both samplers
    call): a strictly increasing schedule in (0, 1] that starts at λ_min and ends at
    exactly 1, or, only when λ_min is so close to 1 that float64 cannot resolve K
    levels, a ValueError naming ``schedule``. (The bare constructors do not validate:
    ``cosine_schedule(4, 1 - 2e-16)`` returns [1, 1, 1, 1].)"""
    try:
        levels = sch.make_schedule(name, num_steps, lambda_min)
    except ValueError as err:
        assert "`schedule` must be strictly increasing" in str(err)
        assert num_steps > 1 and 1 - lambda_min < 1e-6
        return
    assert levels.shape == (num_steps,) and levels.dtype == np.float64
    assert levels[-1] == 1.0 and np.all(levels > 0) and np.all(levels <= 1)
    assert np.all(np.diff(levels) > 0)
    if num_steps > 1:
        np.testing.assert_allclose(levels[0], lambda_min, rtol=1e-9)


def _gaussian(mean, scale):
    def logdensity(y):
        return -0.5 * sum(
            jnp.sum(((a - b) / scale) ** 2)
            for a, b in zip(jax.tree.leaves(y), jax.tree.leaves(mean))
        )

    return logdensity


def _affine(tree, mean, scale):
    return jax.tree.map(lambda u, m: m + scale * u, tree, mean)


_KERNEL = dk.build_kernel()


@partial(jax.jit, static_argnames="metropolis")
def _unit_and_scaled_steps(key, u, c, mean, scale, lam0, lam1, h, metropolis):
    """One kernel step on γ = N(0, I) from u (center c) and on γ_s(y) = γ((y - m)/s) from
    m + s·u (center m + s·c) with step s²h, same key."""
    zero = jax.tree.map(jnp.zeros_like, mean)
    unit_target, scaled_target = _gaussian(zero, 1.0), _gaussian(mean, scale)
    unit = dk.init(u, unit_target, center=c, lam=lam0)
    scaled = dk.init(
        _affine(u, mean, scale), scaled_target, center=_affine(c, mean, scale), lam=lam0
    )
    return (
        _KERNEL(key, unit, unit_target, lam1, h, metropolis),
        _KERNEL(key, scaled, scaled_target, lam1, scale**2 * h, metropolis),
    )


@prop(8)
@given(
    shapes=TREE_SHAPES,
    seed=st.integers(0, 2**31),
    log10_scale=LOG10_SCALE,
    log10_lam=st.floats(-12.0, 0.0),
    log10_ratio=st.floats(-3.0, 0.0),
    log10_h=st.floats(-3.0, 0.5),
    metropolis=st.booleans(),
)
def test_kernel_is_equivariant_under_affine_maps(
    shapes, seed, log10_scale, log10_lam, log10_ratio, log10_h, metropolis
):
    """Target γ_s(y) = γ((y - m)/s) with step s²h, from m + s·y, center m + s·c, gives
    m + s·(the step on γ with step h): level change, proposal and MH decision are all
    equivariant (float64, same key). So parameter scales 1e-6..1e6 cost nothing but
    the step size, which the adaptation finds."""
    rng = np.random.default_rng(seed)
    scale, lam1 = 10.0**log10_scale, 10.0**log10_lam
    lam0, h = lam1 * 10.0**log10_ratio, 10.0**log10_h
    with jax.enable_x64(True):
        mean = _tree(shapes, rng, np.float64, 3 * scale)
        u, c = _tree(shapes, rng, np.float64), _tree(shapes, rng, np.float64)
        (s1, i1), (s2, i2) = _unit_and_scaled_steps(
            jax.random.key(seed % 1000), u, c, mean, scale, lam0, lam1, h, metropolis
        )
        assert bool(i1.is_accepted) == bool(i2.is_accepted)
        assert not bool(i1.is_divergent) and not bool(i2.is_divergent)
        np.testing.assert_allclose(i1.acceptance_rate, i2.acceptance_rate, rtol=1e-7, atol=1e-12)
        for a, b, m in zip(*(jax.tree.leaves(t) for t in (s1.position, s2.position, mean))):
            assert b.dtype == jnp.float64 and a.shape == b.shape
            np.testing.assert_allclose(
                (np.asarray(b) - np.asarray(m)) / scale, a, rtol=1e-7, atol=1e-7
            )


@jax.jit
def _ten_annealing_steps(key, c, mean, scale, lam):
    """Ten unadjusted steps at levels λ·1.5^k (k = 1..10) from the Dirac at c, step 0.3 s²."""
    target = _gaussian(mean, scale)

    def step(state, k_and_key):
        k, key = k_and_key
        state, info = _KERNEL(key, state, target, lam * 1.5**k, 0.3 * scale**2, False)
        return state, info.is_divergent

    state = dk.init(c, target, lam=lam)
    ks = jnp.arange(1, 11, dtype=state.lam.dtype)
    return jax.lax.scan(step, state, (ks, jax.random.split(key, 10)))


@prop(8)
@given(
    shapes=TREE_SHAPES,
    seed=st.integers(0, 2**31),
    log10_scale=LOG10_SCALE,
    log10_lam=st.floats(-30.0, -4.0),
)
def test_kernel_keeps_float32_chains_at_tiny_lambda(shapes, seed, log10_scale, log10_lam):
    """float32, λ from 1e-30: ten annealing steps of the kernel stay finite, float32 and
    on the target's scale, without divergence (the kernel never forms y/sqrt(λ))."""
    rng = np.random.default_rng(seed)
    scale, lam = np.float32(10.0**log10_scale), np.float32(10.0**log10_lam)
    mean = _tree(shapes, rng, np.float32, 3 * scale)
    c = _tree(shapes, rng, np.float32, scale)
    state, divergent = _ten_annealing_steps(jax.random.key(seed % 1000), c, mean, scale, lam)
    assert not np.any(divergent)
    assert state.lam.dtype == jnp.float32 and state.logdensity.dtype == jnp.float32
    np.testing.assert_allclose(state.lam, lam * 1.5**10, rtol=1e-5)
    for y, m in zip(jax.tree.leaves(state.position), jax.tree.leaves(mean)):
        assert y.dtype == jnp.float32
        assert np.all(np.isfinite(y)) and np.all(np.abs(y - m) < 100 * scale)


# -- zero-size sites and parameter scales 1e-6..1e6 (NumPyro) --------------------------


def scales_model():
    numpyro.sample("tiny", dist.Normal(1e-6, 1e-6))
    numpyro.sample("huge", dist.Normal(-1e6, 1e6).expand([2]).to_event(1))
    numpyro.sample("unit", dist.Normal(0.0, 1.0).expand([2, 3]).to_event(2))
    numpyro.sample("empty", dist.Normal(0.0, 1.0).expand([0]).to_event(1))
    numpyro.sample("empty2", dist.Normal(0.0, 1.0).expand([3, 0]).to_event(2))


def _check_scales_run(mcmc, dtype):
    s = mcmc.get_samples(group_by_chain=True)
    assert s["empty"].shape == (mcmc.num_chains, mcmc.num_samples, 0)
    assert s["empty2"].shape == (mcmc.num_chains, mcmc.num_samples, 3, 0)
    for name, loc, sd in (("tiny", 1e-6, 1e-6), ("huge", -1e6, 1e6), ("unit", 0.0, 1.0)):
        x = np.asarray(s[name], dtype=np.float64)
        assert s[name].dtype == dtype and np.all(np.isfinite(x))
        x = x.reshape(x.shape[0], x.shape[1], -1)
        for j in range(x.shape[-1]):
            z = (x[..., j] - loc) / sd
            assert mcse_z(z, 0.0) < 4.5, (name, j)
            assert mcse_z(z**2, 1.0) < 4.5, (name, j)


@pytest.mark.slow
def test_zero_size_sites_and_scales_from_1e_minus_6_to_1e6_float32():
    """Sites of scale 1e-6, 1 and 1e6 in one model, plus sites of size 0: every mean and
    variance within 4.5 MCSE (the step size and the diagonal preconditioner absorb the
    scales; zero-size sites come back with shape (chains, draws, 0))."""
    mcmc = _mcmc(DilationLangevin(scales_model), 200, 200, 32, chain_method="vectorized")
    mcmc.run(jax.random.key(11))
    _check_scales_run(mcmc, jnp.float32)


@pytest.mark.slow
def test_zero_size_sites_and_scales_float64(x64):
    mcmc = _mcmc(DilationLangevin(scales_model), 300, 300, 64, chain_method="vectorized")
    mcmc.run(jax.random.key(12))
    _check_scales_run(mcmc, jnp.float64)


# -- numerical faults ------------------------------------------------------------------

FAULTS = ["-inf", "nan", "+inf", "nan gradient", "overflow"]


@jax.custom_jvp
def _nan_gradient_beyond_one(x):
    return jnp.zeros_like(x)


@_nan_gradient_beyond_one.defjvp
def _nan_gradient_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return jnp.zeros_like(x), jnp.where(x > 1, jnp.nan, 0.0) * t


def _overflow_beyond_one(x):
    beyond = x > 1.0
    # exp(100 x) overflows float32 (to inf) beyond 1; the inner where keeps x <= 1 clean
    return jnp.where(beyond, -jnp.exp(100.0 * jnp.where(beyond, x, 0.0)), 0.0)


FAULT_TERMS = [
    lambda x: jnp.where(x > 1.0, -jnp.inf, 0.0),
    lambda x: jnp.where(x > 1.0, jnp.nan, 0.0),
    lambda x: jnp.where(x > 1.0, jnp.inf, 0.0),
    _nan_gradient_beyond_one,
    _overflow_beyond_one,
]


def faulty_model(kind):
    """N(0, 1) with a fault beyond x = 1 selected by ``kind`` (an index into FAULTS):
    log-density -inf, NaN or +inf there; a finite value with a NaN gradient; or a term
    -exp(100 x) that overflows float32 there. Every proposal beyond 1 is rejected, so
    the chains target N(0, 1) truncated to x <= 1."""
    x = numpyro.sample("x", dist.Normal(0.0, 1.0))
    numpyro.factor("fault", jax.lax.switch(kind, FAULT_TERMS, x))


TRUNCATED_MEAN = -stats.norm.pdf(1.0) / stats.norm.cdf(1.0)
TRUNCATED_VAR = 1.0 - stats.norm.pdf(1.0) / stats.norm.cdf(1.0) - TRUNCATED_MEAN**2


def run_faults(**kernel_kw) -> dict:
    """One compiled sampler (``jit_model_args``), one run per fault: 32 vectorized
    chains, 300 warm-up iterations, 400 draws. Returns ``{fault: (draws, extra fields)}``."""
    mcmc = _mcmc(
        DilationLangevin(faulty_model, **kernel_kw),
        300,
        400,
        32,
        chain_method="vectorized",
        jit_model_args=True,
    )
    runs = {}
    for kind, name in enumerate(FAULTS):
        mcmc.run(jax.random.key(kind), jnp.asarray(kind), extra_fields=("global_accept_prob",))
        extra = {k: np.asarray(v) for k, v in mcmc.get_extra_fields(group_by_chain=True).items()}
        extra["steps_per_draw"] = int(np.max(mcmc.last_state.adapt_state.steps_per_draw))
        runs[name] = (np.asarray(mcmc.get_samples(group_by_chain=True)["x"]), extra)
    return runs


@pytest.fixture(scope="module")
def faulty_runs():
    return run_faults()


@pytest.mark.slow  # five 32-chain runs (~2 min); `make test-all`
@pytest.mark.parametrize("fault", FAULTS)
def test_faults_are_rejected_counted_and_the_draws_stay_exact(faulty_runs, fault):
    x, extra = faulty_runs[fault]
    assert np.all(np.isfinite(x)) and np.all(x <= 1.0)
    assert extra["diverging"].sum() > 0  # reported
    # and the chains go on moving. Most divergences are global-move proposals of the
    # mode mixture beyond x = 1 (about 42% of transitions, docs/reliability.md), so the
    # bound is loose. A draw of k transitions is flagged if any of them diverged: its rate
    # f gives about 1 - (1 - f)^(1/k) per transition (measured: k = 1, f 0.41-0.48; k = 4,
    # f up to 0.87, about 0.40 per transition; the draw length varies with the key).
    per_transition = 1 - (1 - extra["diverging"].mean(1)) ** (1 / extra["steps_per_draw"])
    assert np.all(per_transition < 0.6)
    assert np.all(np.mean(np.diff(x, axis=1) != 0, axis=1) > 0.2)
    assert np.all(extra["accept_prob"].mean(1) > 0.2)
    assert np.all(np.isfinite(extra["potential_energy"]))
    assert mcse_z(x, TRUNCATED_MEAN) < 4.5
    assert mcse_z((x - TRUNCATED_MEAN) ** 2, TRUNCATED_VAR) < 4.5


def test_every_start_non_finite_fails_before_sampling():
    """Chains that start where the log-density is NaN can never move: refused, with
    the number of such chains and what to change."""
    kernel = DilationLangevin(potential_fn=lambda z: jnp.where(z > 0, 0.5 * z**2, jnp.nan).sum())
    mcmc = _mcmc(kernel, num_chains=4, chain_method="vectorized")
    with pytest.raises(ValueError, match=r"^`init_params`: .* 1 of 4 chain\(s\) \(first: \[2\]\)"):
        mcmc.run(jax.random.key(0), init_params=jnp.array([[1.0], [2.0], [-1.0], [0.5]]))
    with pytest.raises(ValueError, match=r"4 of 4 chain\(s\)"):
        mcmc.run(jax.random.key(0), init_params=-jnp.ones((4, 1)))


@pytest.mark.parametrize("progress_bar", [False, True])
@pytest.mark.parametrize("chain_method, num_chains", [("vectorized", 4), ("sequential", 2)])
def test_a_run_where_no_proposal_is_ever_accepted_warns_loudly(
    chain_method, num_chains, progress_bar, monkeypatch
):
    """Fixed step size 1e8 on N(0, 1) (adaptation off): every proposal of every chain is
    rejected (its acceptance probability underflows to 0, or it overflows and diverges).
    The run finishes, its draws are returned, none is NaN, the chains stay where they
    started, and a RuntimeWarning at the end of warm-up says what to change: from a host
    callback inside the compiled loop without a progress bar, from between iterations
    with NumPyro's progress bar (where the loop holds no callback)."""
    from numpyro_dilation import iteration_checks

    if progress_bar:
        for name in ("CI", "PYTEST_XDIST_WORKER"):  # NumPyro turns its progress bar off there
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setattr(iteration_checks, "on_host", None)  # a callback would fail
    kernel = DilationLangevin(
        potential_fn=lambda z: 0.5 * jnp.sum(z**2),
        step_size=1e8,
        adapt_step_size=False,
        anneal_metropolis=True,
        global_moves=None,  # independence proposals do not depend on the step size
    )
    mcmc = _mcmc(kernel, 20, 5, num_chains, chain_method=chain_method)
    mcmc.progress_bar = progress_bar
    with pytest.warns(RuntimeWarning, match=r"every proposal of every chain.*`step_size`"):
        mcmc.run(jax.random.key(0), init_params=jnp.ones((num_chains, 2)))
        draws = np.asarray(jax.block_until_ready(mcmc.get_samples()))
        jax.effects_barrier()  # the warning is issued by a host callback
    assert np.all(draws == 1.0)


# -- float32 at tiny λ -----------------------------------------------------------------


def test_float32_annealing_from_lambda_1e_minus_8():
    """Geometric schedule from λ = 1e-8 in float32: nothing becomes non-finite,
    every level is recorded in float32, and the draws have the exact moments of
    N((3, -2), diag(4, 0.25)) (within 4.5 MCSE)."""
    mean, sd = jnp.array([3.0, -2.0]), jnp.array([2.0, 0.5])
    kernel = DilationLangevin(
        potential_fn=lambda z: 0.5 * jnp.sum(((z - mean) / sd) ** 2),
        schedule="geometric",
        lambda_min=1e-8,
        global_moves=None,  # the annealing is what is tested; cheaper to compile
    )
    mcmc = _mcmc(kernel, 200, 200, 32, chain_method="vectorized")
    init = jax.random.uniform(jax.random.key(1), (32, 2), minval=-5.0, maxval=5.0)
    mcmc.warmup(jax.random.key(0), init_params=init, collect_warmup=True, extra_fields=("lam",))
    warm = mcmc.get_extra_fields(group_by_chain=True)
    assert warm["lam"].dtype == jnp.float32
    np.testing.assert_allclose(warm["lam"][0, 0], 1e-8, rtol=1e-6)
    # no non-finite value (the samples below); the warm-up's divergences are energy errors
    # above 1000 of the adaptation's trial steps after each step-size search (rejected by
    # the Metropolis step): measured 1.6% of the warm-up iterations
    assert warm["diverging"].mean() < 0.03
    assert np.all(np.isfinite(mcmc.get_samples(group_by_chain=True)))
    mcmc.run(mcmc.post_warmup_state.rng_key)
    x = mcmc.get_samples(group_by_chain=True)
    assert x.dtype == jnp.float32 and np.all(np.isfinite(x))
    x = np.asarray(x, dtype=np.float64)
    for j in range(2):
        assert mcse_z(x[..., j], float(mean[j])) < 4.5
        assert mcse_z((x[..., j] - float(mean[j])) ** 2, float(sd[j]) ** 2) < 4.5


# -- memory: thinning and excluded sites -------------------------------------------------


def two_site_model():
    numpyro.sample("a", dist.Normal(0.0, 1.0).expand([3]).to_event(1))
    numpyro.sample("b", dist.Normal(0.0, 1.0).expand([50]).to_event(1))
    numpyro.sample("empty", dist.Normal(0.0, 1.0).expand([2, 0]).to_event(2))


def test_thinning_and_excluded_sites_keep_exactly_the_expected_draws():
    """``thinning=k`` keeps draws k-1, 2k-1, ... of the unthinned run; ``"~z.b"`` drops
    site b from the collection and leaves the rest (and the final state) unchanged. A
    zero-size site comes back with shape (chains, draws, 2, 0). (One chain: collection is
    the same for vectorized chains, and cheaper to compile.)"""

    def run(thinning, extra_fields=()):
        mcmc = _mcmc(DilationLangevin(two_site_model), 20, 12, thinning=thinning)
        mcmc.run(jax.random.key(3), extra_fields=extra_fields)
        return mcmc

    full = run(1)
    thin = run(3, extra_fields=("~z.b",))
    a_full = np.asarray(full.get_samples(group_by_chain=True)["a"])
    got = thin.get_samples(group_by_chain=True)
    assert full.get_samples(group_by_chain=True)["empty"].shape == (1, 12, 2, 0)
    assert set(got) == {"a", "empty"} and got["a"].shape == (1, 4, 3)
    np.testing.assert_array_equal(got["a"], a_full[:, 2::3])
    assert thin.get_extra_fields(group_by_chain=True)["diverging"].shape == (1, 4)
    np.testing.assert_array_equal(thin.last_state.z["b"], full.last_state.z["b"])


# -- the table of docs/reliability.md ----------------------------------------------------


def bad_input_table() -> str:
    """Markdown rows ``| # | entry point | argument | bad value | error |`` from the cases."""
    rows = ["| # | entry point | argument | bad value | error raised |", "|---|---|---|---|---|"]
    for i, case in enumerate(BAD_INPUTS, 1):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                case.call()
            message = "**no error**"
        except Exception as err:  # noqa: BLE001 - the table shows whatever is raised
            text = str(err).replace("|", "\\|").replace("\n", " ")
            message = f"`{type(err).__name__}`: {text[:160]}{'…' if len(text) > 160 else ''}"
        value = case.value.replace("|", "\\|")
        rows.append(f"| {i} | `{case.api}` | `{case.argument}` | {value} | {message} |")
    return "\n".join(rows)


def fault_table(runs: dict) -> str:
    """Markdown rows: per fault, divergences, acceptance, NaN draws, max x and the
    posterior mean and variance against the truncated normal (z in MCSE units)."""
    rows = [
        "| fault beyond x = 1 | divergent iterations | mean MALA acceptance | NaN draws "
        f"| max draw | mean (exact {TRUNCATED_MEAN:.3f}): \\|z\\| | variance (exact "
        f"{TRUNCATED_VAR:.3f}): \\|z\\| |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, (x, extra) in runs.items():
        div = extra["diverging"]
        z_mean = mcse_z(x, TRUNCATED_MEAN)
        z_var = mcse_z((x - TRUNCATED_MEAN) ** 2, TRUNCATED_VAR)
        rows.append(
            f"| {name} | {int(div.sum())} of {div.size} ({div.mean():.1%}) "
            f"| {extra['accept_prob'].mean():.2f} | {int(np.isnan(x).sum())} | {x.max():.3f} "
            f"| {x.mean():.3f}: {z_mean:.2f} | {x.var():.3f}: {z_var:.2f} |"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    # python tests/test_reliability.py [--faults]: the tables of docs/reliability.md
    print(bad_input_table())
    test_constructor_accepts_exactly_the_documented_domain()
    print(f"\nhypothesis: {len(TRIED)} values tried, {sum(not v for _, v in TRIED)} invalid")
    for name in sorted(DOMAINS):
        tried = [v for a, v in TRIED if a == name]
        print(f"| `{name}` | {len(tried)} | {sum(not v for v in tried)} |")
    if "--faults" in sys.argv:
        print()
        print(fault_table(run_faults()))
