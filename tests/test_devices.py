"""More than one device: the same draws as on one device.

``tests/conftest.py`` simulates four CPU devices
(``XLA_FLAGS=--xla_force_host_platform_device_count=4``). Two ways to spread chains:

- ``chain_method="parallel"``: NumPyro ``pmap``s one chain per device;
- a vectorized run whose chains are *sharded* with ``jax.sharding``: put the per-chain
  keys (and ``init_params``) on a ``NamedSharding`` over a ``"chains"`` mesh axis;
  ``jit`` propagates the sharding through every iteration, so each device advances its
  own block of chains, and the quantities shared by all chains (the mode mixture of the
  global moves, the diagonal preconditioner) are computed with cross-device collectives
  and come back replicated. No option of ``DilationLangevin`` is involved.

Both are compared with a one-device run with the same keys, in float64. Parallel
chains ran bit for bit as sequential ones until the kernel also returned the step's
momentum (``fef6fb5``): since then XLA compiles the ``pmap``ped chain with other roundings
(measured: 1e-15 after the first iterations; a chain's dynamics amplify them, to 1e-3 and
one Metropolis decision flipped after 20 draws of 32 MALA transitions), so that test runs
draws of one transition (largest difference 2e-12) and checks at 1e-9. A sharded program
may round cross-chain reductions (the preconditioner's median, the mode finding) in
another order: differences of ~1e-12 absolute (measured: at most 4e-12), checked at 1e-9;
float64 keeps every Metropolis decision identical so that rounding is all there is. With
the population's random numbers in Threefry's original layout
(``numpyro_dilation.random_keys``, ``17483a0``; the random numbers themselves checked equal
sharded and not) the chains follow other paths, and the largest differences were 2.5e-8
(4 of 640 values; 1.5e-8 with draws of one transition), relative 7e-7: checked at relative
1e-6, absolute 1e-8. A wrong key or state would differ by O(1).
"""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from numpyro.infer import MCMC

from numpyro_dilation import DilationLangevin

NUM_DEVICES = 4


def two_site_model(y):
    m = numpyro.sample("m", dist.Normal(0.0, 2.0).expand([2]).to_event(1))
    s = numpyro.sample("s", dist.HalfNormal(1.0))
    numpyro.sample("y", dist.Normal(m.sum(), s), obs=y)


Y = jnp.array([0.4, 1.3, 0.8, 1.9, 1.1])


@pytest.fixture(autouse=True)
def four_devices():
    if jax.local_device_count() < NUM_DEVICES:
        pytest.skip("needs XLA_FLAGS=--xla_force_host_platform_device_count=4 (tests/conftest.py)")


def _mcmc(num_chains, chain_method, **kernel_kw):
    return MCMC(
        DilationLangevin(two_site_model, **kernel_kw),
        num_warmup=40,
        num_samples=20,
        num_chains=num_chains,
        chain_method=chain_method,
        progress_bar=False,
    )


def _devices_of(x) -> set:
    return set(x.sharding.device_set)


@pytest.mark.slow  # test_numpyro_kernel.py's chain-method test covers "parallel" by default
def test_parallel_chains_on_four_devices_match_one_device(x64):
    """``chain_method="parallel"`` (one chain per device) against ``"sequential"`` (all
    on one device), same key: same draws, extra fields and final state."""
    fields = ("lam", "accept_prob", "num_grad_evals")
    runs = {}
    for method in ("sequential", "parallel"):
        mcmc = _mcmc(NUM_DEVICES, method, steps_per_draw=1)  # module docstring
        mcmc.run(jax.random.key(3), Y, extra_fields=fields)
        runs[method] = mcmc
    one, four = runs["sequential"], runs["parallel"]
    assert len(_devices_of(four.last_state.z["m"])) == NUM_DEVICES
    tol = {"rtol": 1e-9, "atol": 1e-12}
    for k, v in one.get_samples(group_by_chain=True).items():
        np.testing.assert_allclose(four.get_samples(group_by_chain=True)[k], v, **tol)
    for k, v in one.get_extra_fields(group_by_chain=True).items():
        np.testing.assert_allclose(four.get_extra_fields(group_by_chain=True)[k], v, **tol)
    for a, b in zip(jax.tree.leaves(one.last_state), jax.tree.leaves(four.last_state)):
        if jnp.issubdtype(a.dtype, jax.dtypes.prng_key):
            a, b = jax.random.key_data(a), jax.random.key_data(b)
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), **tol)


@pytest.mark.slow  # two compilations of the sharded program (~1.5 min); `make test-all`
def test_vectorized_chains_sharded_over_four_devices_match_one_device(x64):
    """16 vectorized chains with global moves and the preconditioner (the defaults),
    sharded 4 per device through their keys and ``init_params``: same draws as the
    same run on one device, and the draws and state stay sharded over the devices."""
    num_chains = 16
    keys = jax.random.split(jax.random.key(5), num_chains)
    init = {
        "m": jax.random.normal(jax.random.key(6), (num_chains, 2)),
        "s": jax.random.normal(jax.random.key(7), (num_chains,)),
    }
    one = _mcmc(num_chains, "vectorized")
    one.run(keys, Y, init_params=init)

    mesh = Mesh(np.array(jax.devices()[:NUM_DEVICES]), ("chains",))
    chains = NamedSharding(mesh, P("chains"))
    four = _mcmc(num_chains, "vectorized")
    four.run(jax.device_put(keys, chains), Y, init_params=jax.device_put(init, chains))

    draws = four.get_samples(group_by_chain=True)
    assert draws["m"].sharding.is_equivalent_to(chains, draws["m"].ndim)
    assert four.last_state.z["m"].sharding.is_equivalent_to(chains, 2)
    assert len(_devices_of(four.last_state.mixture.means)) == NUM_DEVICES  # replicated
    assert int(four.last_state.mixture.num_modes) == int(one.last_state.mixture.num_modes)
    for k, v in one.get_samples(group_by_chain=True).items():
        np.testing.assert_allclose(draws[k], v, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(
        four.get_extra_fields()["potential_energy"],
        one.get_extra_fields()["potential_energy"],
        rtol=1e-6,
        atol=1e-8,
    )
