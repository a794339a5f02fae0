"""The dilation path and the schedules: exact identities."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate

from numpyro_dilation import path
from numpyro_dilation.schedules import (
    cosine_schedule,
    geometric_schedule,
    linear_schedule,
    make_schedule,
    validate_schedule,
)


def logdensity(theta):
    a, b = theta["a"], theta["b"]
    return (
        -0.5 * jnp.sum((a - 1.0) ** 2 / 0.3) - jnp.sum(jnp.cosh(b - 0.5)) + jnp.sin(a[0] * b[1, 0])
    )


THETA = {"a": jnp.array([0.3, -1.2]), "b": jnp.array([[0.4, 2.0], [-0.7, 0.1]])}
CENTER = {"a": jnp.array([1.0, 0.5]), "b": jnp.array([[0.0, -1.0], [0.2, 0.3]])}


@pytest.mark.parametrize("lam", [1e-4, 0.01, 0.5, 1.0])
def test_score_is_gradient_of_dilated_logdensity(x64, lam):
    theta = jax.tree.map(lambda v: jnp.asarray(v, jnp.float64), THETA)
    center = jax.tree.map(lambda v: jnp.asarray(v, jnp.float64), CENTER)
    autodiff = jax.grad(path.dilated_logdensity(logdensity, center, lam))(theta)
    closed_form = path.dilated_score(logdensity, center, lam)(theta)
    for k in THETA:
        np.testing.assert_allclose(closed_form[k], autodiff[k], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("lam", [0.01, 0.3, 1.0])
def test_every_level_has_the_target_normalizing_constant(lam):
    # Unnormalized 1-D target with a known constant: Z = sqrt(2 pi) * 0.7 * 5.
    def log_gamma(x):
        return jnp.log(5.0) - 0.5 * ((x - 2.0) / 0.7) ** 2

    dilated = path.dilated_logdensity(log_gamma, jnp.asarray(-1.0), lam)
    z, _ = integrate.quad(
        lambda x: float(jnp.exp(dilated(jnp.asarray(x)))), -30, 30, points=[-1, 2]
    )
    assert z == pytest.approx(np.sqrt(2 * np.pi) * 0.7 * 5.0, rel=1e-6)


def test_dilated_level_is_the_pushforward():
    # X ~ N(m, s^2) => X_lam = c + sqrt(lam)(X - c) ~ N(c + sqrt(lam)(m - c), lam s^2).
    m, s, c, lam = 2.0, 0.7, -1.0, 0.2
    dilated = path.dilated_logdensity(lambda x: -0.5 * ((x - m) / s) ** 2, jnp.asarray(c), lam)
    xs = jnp.linspace(-3, 3, 7)
    mean, sd = c + np.sqrt(lam) * (m - c), np.sqrt(lam) * s
    expected = -0.5 * ((xs - mean) / sd) ** 2 - 0.5 * np.log(lam)
    np.testing.assert_allclose(jax.vmap(dilated)(xs), expected, rtol=1e-5)


def test_coordinates_round_trip_and_level_change():
    y = path.to_target(path.to_dilated(THETA, CENTER, 0.04), CENTER, 0.04)
    for k in THETA:
        np.testing.assert_allclose(y[k], THETA[k], rtol=1e-5)
    # Changing level with x fixed == going to x at the old level, back at the new one.
    moved = path.change_level(THETA, CENTER, 0.1, 0.4)
    via_x = path.to_target(path.to_dilated(THETA, CENTER, 0.1), CENTER, 0.4)
    for k in THETA:
        np.testing.assert_allclose(moved[k], via_x[k], rtol=1e-5)


@pytest.mark.parametrize("fn", [linear_schedule, geometric_schedule, cosine_schedule])
def test_named_schedules(fn):
    levels = fn(50, 1e-3)
    assert levels.shape == (50,)
    assert levels[0] == pytest.approx(1e-3)
    assert levels[-1] == 1.0
    assert np.all(np.diff(levels) > 0)


@pytest.mark.parametrize(
    "bad, match",
    [
        ([0.5, 0.4, 1.0], "strictly increasing"),
        ([0.1, 0.5, 0.9], "end at 1"),
        ([0.0, 0.5, 1.0], r"\(0, 1\]"),
        ([0.5, 1.0, 1.5], r"\(0, 1\]"),
        ([[0.5, 1.0]], "1-D"),
        ([], "1-D"),
        ([0.1, np.nan, 1.0], "finite"),
    ],
)
def test_invalid_schedules_are_rejected(bad, match):
    with pytest.raises(ValueError, match=match):
        validate_schedule(bad)


def test_make_schedule_errors():
    with pytest.raises(ValueError, match="lambda_min"):
        make_schedule("linear", 10, 1.5)
    with pytest.raises(ValueError, match="schedule"):
        make_schedule("quadratic", 10, 0.01)
    with pytest.raises(ValueError, match="3 levels but 10"):
        make_schedule([0.1, 0.5, 1.0], 10, 0.01)
    custom = make_schedule(lambda n, lm: np.linspace(lm, 1.0, n) ** 2, 5, 0.1)
    assert custom[-1] == 1.0 and custom.shape == (5,)
