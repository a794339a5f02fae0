"""The population's random numbers: Threefry-2x32 in JAX's counter layout before 0.5."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from numpyro_dilation.population import init, population_step
from numpyro_dilation.population_settings import make_settings
from numpyro_dilation.random_keys import (
    THREEFRY_ORIGINAL,
    as_given,
    original_layout,
    with_original_layout,
)


def _draws(key):
    return [
        jax.random.normal(key, (5, 3)),
        jax.random.uniform(key, (7,)),
        jax.random.bits(key, (9,), dtype=jnp.uint8),
        jax.random.bits(key, (5,), dtype=jnp.uint16),
        jax.random.bits(key, (6,), dtype=jnp.uint32),
        jax.random.key_data(jax.random.split(key, 5)),
        jax.random.key_data(jax.random.fold_in(key, 7)),
        jax.random.gamma(key, 2.5, (6,)),
        jax.vmap(lambda k: jax.random.normal(k, (3,)))(jax.random.split(key, 4)),
    ]


def test_the_original_layout_draws_what_jax_drew_before_its_partitionable_layout():
    """JAX's own non-partitionable Threefry (its default before 0.5) with the same key:
    every primitive (split, fold_in, bits of each width) bit for bit, derived draws to
    float rounding (a wrong layout gives other numbers altogether); and not the current
    default's draws (else the rewrap would change nothing)."""
    key = jax.random.key(42)
    ours = jax.jit(_draws)(original_layout(key))
    with jax.threefry_partitionable(False):
        reference = jax.jit(_draws)(key)
    current = jax.jit(_draws)(key)
    for a, b in zip(ours, reference, strict=True):  # floats: XLA may fuse them otherwise
        np.testing.assert_allclose(a, b, rtol=1e-5) if a.dtype.kind == "f" else (
            np.testing.assert_array_equal(a, b)
        )
    assert not np.array_equal(ours[0], current[0])


def test_64_bit_draws_match_the_original_layout():
    key = jax.random.key(3)
    with jax.enable_x64(True):
        ours = jax.random.bits(original_layout(key), (5,), dtype=jnp.uint64)
        with jax.threefry_partitionable(False):
            reference = jax.random.bits(key, (5,), dtype=jnp.uint64)
    np.testing.assert_array_equal(ours, reference)


@pytest.mark.parametrize("form", ["typed", "raw"])
def test_keys_go_back_in_the_callers_form_with_the_same_data(form):
    key = jax.random.key(0) if form == "typed" else jax.random.PRNGKey(0)
    keys = jax.random.split(key, 4)
    fast = original_layout(keys)
    assert jax.random.key_impl(fast) == jax.random.key_impl(
        jax.random.wrap_key_data(np.zeros(2, np.uint32), impl=THREEFRY_ORIGINAL)
    )
    back = as_given(fast, keys)
    assert back.dtype == keys.dtype and back.shape == keys.shape
    data = lambda k: jax.random.key_data(k) if form == "typed" else k  # noqa: E731
    np.testing.assert_array_equal(data(back), data(keys))
    assert original_layout(fast) is fast  # already rewrapped: unchanged


def test_keys_of_another_generator_are_used_as_they_are():
    key = jax.random.key(0, impl="rbg")
    assert original_layout(key) is key
    assert as_given(key, key) is key


@pytest.mark.parametrize("form", ["typed", "raw"])
def test_the_population_keeps_the_callers_keys_and_draws_with_the_original_layout(form):
    """``population_step`` gives back keys in the caller's form, and its draws are those of
    the same step run on keys already rewrapped (so the rewrap is what it draws with)."""
    logdensity = lambda x: -0.5 * jnp.sum((x - 1.0) ** 2)  # noqa: E731
    settings = make_settings(20, 2, global_moves=None, uturn=None)
    key = jax.random.key(1) if form == "typed" else jax.random.PRNGKey(1)
    state = init(jnp.zeros((8, 2)), logdensity, jax.random.split(key, 8), settings)
    step = jax.jit(lambda s: population_step(s, logdensity, settings))
    new = step(state)
    assert new.rng_key.dtype == state.rng_key.dtype and new.rng_key.shape == (8, *key.shape)
    fast = state._replace(rng_key=original_layout(state.rng_key))
    again = jax.jit(lambda s: population_step.__wrapped__(s, logdensity, settings))(fast)
    np.testing.assert_array_equal(new.z, again.z)


def test_with_original_layout_leaves_a_state_without_keys_alone():
    from typing import NamedTuple

    class State(NamedTuple):
        x: jax.Array
        rng_key: jax.Array | None

    state = State(jnp.ones(()), None)
    assert with_original_layout(lambda s: s._replace(x=s.x + 1))(state).x == 2.0
