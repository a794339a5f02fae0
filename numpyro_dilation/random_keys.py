r"""The random numbers inside the population's iteration: Threefry-2x32 with its counters
laid out as JAX did before version 0.5.

A key of JAX's default generator (``threefry2x32``, typed or a raw ``uint32[2]``) holds
two 32-bit words; Threefry-2x32 maps the key and a pair of 32-bit counters to two 32-bit
words. JAX now lays its counters out so that a sharded array draws the same bits
(``jax_threefry_partitionable``): each 32-bit output hashes its own counter pair and
keeps the XOR of the two words, **one hash per 32-bit word**. The layout before (the
same function, the same keys; JAX's default until 0.5) hashes the pairs
:math:`(i, i + n/2)` of the counters :math:`0, \dots, n - 1` and keeps both words,
**one hash per two words**: half the arithmetic, and an iteration's program that XLA
compiles a little faster. Measured on the radon-like model (one iteration's program, 64
chains, 2-core CPU; ``BENCHMARKS.md``, section "Random numbers with half the hashing"):
compilation 12.4 / 12.8 s against 11.7 / 12.3 s (two fresh processes each), 50 draws of
23 transitions after the warm-up 1.5-2.1 s against 1.1 s; a first ``mcmc.run`` 2-7%
shorter on five models.

:func:`original_layout` rewraps keys of JAX's default generator (the same key data, so
nothing is drawn or lost) as keys of :data:`THREEFRY_ORIGINAL`, whose ``split``,
``fold_in`` and ``random_bits`` follow that layout; :func:`as_given` gives them back in
the caller's form. Keys of any other generator (``rbg``, a user's own) are used as they
are. The streams are those of JAX's default before 0.5 with the same key; the draws of a
run differ from those that the caller's generator would give, not their distribution.
"""

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend.random import define_prng_impl, threefry_2x32, threefry_prng_impl

__all__ = ["THREEFRY_ORIGINAL", "as_given", "original_layout", "with_original_layout"]


def _counters(n: int) -> jax.Array:
    return lax.iota(np.uint32, n)


def _split(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    num = int(np.prod(shape, dtype=np.int64))
    return lax.reshape(threefry_2x32(key, _counters(2 * num)), (*shape, 2))


def _random_bits(key: jax.Array, bit_width: int, shape: tuple[int, ...]) -> jax.Array:
    size = int(np.prod(shape, dtype=np.int64))
    words = -(-bit_width * size // 32)  # 32-bit words needed, rounded up
    if words >= 2**32 - 1:
        raise NotImplementedError(f"random bits of {words} 32-bit words (at most 2**32 - 2)")
    bits = threefry_2x32(key, _counters(words))
    dtype = {8: np.uint8, 16: np.uint16, 32: np.uint32, 64: np.uint64}[bit_width]
    if bit_width == 64:
        high, low = (lax.convert_element_type(b, dtype) for b in jnp.split(bits, 2))
        bits = lax.shift_left(high, jnp.asarray(32, dtype)) | low
    elif bit_width < 32:  # each word cut into 32 / bit_width values, low bits first
        shifts = np.arange(0, 32, bit_width, dtype=np.uint32)
        parts = lax.shift_right_logical(bits[:, None], jnp.asarray(shifts)[None, :])
        bits = lax.convert_element_type(parts & np.uint32(2**bit_width - 1), dtype)
        bits = bits.reshape(-1)[:size]
    return lax.reshape(bits, shape)


THREEFRY_ORIGINAL = define_prng_impl(
    key_shape=(2,),
    seed=threefry_prng_impl.seed,
    split=_split,
    random_bits=_random_bits,
    fold_in=threefry_prng_impl.fold_in,
    name="threefry2x32_original_layout",
    tag="fro",
)
"""Threefry-2x32 with JAX's counter layout before 0.5 (module docstring): the PRNG
implementation that :func:`original_layout` gives keys of.

**Example**

.. code-block:: python

    import jax
    from numpyro_dilation.random_keys import THREEFRY_ORIGINAL

    key = jax.random.wrap_key_data(jax.random.key_data(jax.random.key(0)), impl=THREEFRY_ORIGINAL)
    print(jax.random.normal(key, (3,)))  # JAX's draws before 0.5 for key 0
"""


def _form(keys: jax.Array) -> str | None:
    """``"typed"`` or ``"raw"`` for keys of JAX's default Threefry generator (typed keys,
    or raw ``uint32[..., 2]`` arrays), ``"original"`` for keys of
    :data:`THREEFRY_ORIGINAL`, else ``None``."""
    if jnp.issubdtype(keys.dtype, jax.dtypes.prng_key):
        impl = jax.random.key_impl(keys)
        if impl == THREEFRY_ORIGINAL:
            return "original"
        return "typed" if impl == "threefry2x32" else None
    return "raw" if keys.dtype == jnp.uint32 and keys.shape[-1:] == (2,) else None


def original_layout(keys: jax.Array) -> jax.Array:
    """``keys`` (any shape; typed keys or raw ``uint32[..., 2]``) as typed keys of
    :data:`THREEFRY_ORIGINAL` where they are of JAX's default Threefry generator (the same
    key data); keys of another generator, and keys already rewrapped, unchanged.

    **Example**

    .. code-block:: python

        import jax
        from numpyro_dilation.random_keys import as_given, original_layout

        keys = jax.random.split(jax.random.key(0), 4)
        fast = original_layout(keys)
        print(jax.random.key_impl(fast))  # the original layout's implementation
        print(bool((jax.random.key_data(as_given(fast, keys)) == jax.random.key_data(keys)).all()))
    """
    form = _form(keys)
    if form not in ("typed", "raw"):
        return keys
    data = jax.random.key_data(keys) if form == "typed" else keys
    return jax.random.wrap_key_data(data, impl=THREEFRY_ORIGINAL)


def as_given(keys: jax.Array, given: jax.Array) -> jax.Array:
    """``keys`` in the form of ``given`` (the keys :func:`original_layout` was called on):
    rewrapped as the default Threefry's typed keys, or their raw data, where ``given`` was
    such; else ``keys`` unchanged.

    **Example**

    .. code-block:: python

        import jax
        from numpyro_dilation.random_keys import as_given, original_layout

        raw = jax.random.PRNGKey(0)  # NumPyro's raw uint32[2] key
        fast = jax.random.split(original_layout(raw))[0]
        print(as_given(fast, raw).dtype)  # uint32, as given
    """
    form = _form(given)
    if form not in ("typed", "raw") or _form(keys) != "original":
        return keys
    data = jax.random.key_data(keys)
    return jax.random.wrap_key_data(data, impl="threefry2x32") if form == "typed" else data


def with_original_layout(step: Callable) -> Callable:
    """``step(state, *args, **kwargs) -> state`` run with ``state.rng_key`` in
    :func:`original_layout` and the new state's keys given back in the caller's form
    (:func:`as_given`): the population's iterations draw with half the hashing, and the
    state's keys stay the caller's (NumPyro's checks, a later run, the caller's own
    draws). A ``state.rng_key`` of ``None`` is left alone.

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from numpyro_dilation.random_keys import with_original_layout

        def step(state):  # a NamedTuple with an rng_key field
            key, sub = jax.random.split(state.rng_key)
            return state._replace(x=state.x + jax.random.normal(sub), rng_key=key)

        from typing import NamedTuple

        class State(NamedTuple):
            x: jax.Array
            rng_key: jax.Array

        state = with_original_layout(step)(State(jnp.zeros(()), jax.random.key(0)))
        print(state.rng_key.dtype)  # key<fry>: the caller's generator
    """

    @functools.wraps(step)
    def wrapped(state, *args, **kwargs):
        given = state.rng_key
        if given is None:
            return step(state, *args, **kwargs)
        new = step(state._replace(rng_key=original_layout(given)), *args, **kwargs)
        return new._replace(rng_key=as_given(new.rng_key, given))

    return wrapped
