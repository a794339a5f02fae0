"""Nothing lost: stop, save with pickle, resume in a new process, same draws.

One uninterrupted run (``num_samples = 2S``) is the reference (one chain in the
default suite; eight vectorized chains with global moves in the slow one). The interrupted
version, in this process, runs ``warmup()`` and pickles ``post_warmup_state`` and the
whole ``MCMC`` object, then runs ``S`` draws and pickles ``last_state``. A *new Python
process* loads the pickles and

1. runs ``S`` draws from the saved ``post_warmup_state`` with a fresh ``MCMC``;
2. runs ``S`` more draws from the saved ``last_state`` (continuation);
3. unpickles the ``MCMC`` object saved after ``warmup()`` (its warm-up state intact).

(1) must equal the reference's first ``S`` draws and (2) its last ``S``, bit for bit
(float32): NumPyro's keys are carried in the state (``state.rng_key``), and the
sampler's compiled step is a pure function of the state. Pickling follows NumPyro's
own rules (``MCMC.__getstate__`` drops compiled caches, the kernel drops its sampling
closure): the model must be importable by the new process, as for any pickle.
"""

import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer import MCMC

from numpyro_dilation import DilationLangevin

NUM_WARMUP, NUM_SAMPLES = 40, 15
Y = jnp.array([0.4, 1.3, 0.8, 1.9, 1.1])


def resume_model(y):
    m = numpyro.sample("m", dist.Normal(0.0, 2.0))
    s = numpyro.sample("s", dist.HalfNormal(1.0))
    numpyro.sample("y", dist.Normal(m, s), obs=y)


def make_mcmc(num_chains: int, num_samples: int = NUM_SAMPLES) -> MCMC:
    """The run of these tests: default kernel; with several chains, vectorized (then
    the state also holds the global moves' mode mixture and the preconditioner)."""
    return MCMC(
        DilationLangevin(resume_model),
        num_warmup=NUM_WARMUP,
        num_samples=num_samples,
        num_chains=num_chains,
        chain_method="vectorized",
        progress_bar=False,
    )


_RESUME = textwrap.dedent(
    """
    import pickle, sys
    import jax
    import numpy as np
    from test_resume import Y, make_mcmc

    folder, num_chains = sys.argv[1], int(sys.argv[2])
    def load(name):
        with open(f"{folder}/{name}.pkl", "rb") as f:
            return pickle.load(f)

    out = {}
    fresh = make_mcmc(num_chains)
    for name in ("post_warmup_state", "last_state"):
        state = load(name)
        fresh.post_warmup_state = state
        fresh.run(state.rng_key, Y)
        for site, v in fresh.get_samples(group_by_chain=True).items():
            out[f"{name}/{site}"] = np.asarray(v)
    # the whole MCMC object, pickled after warmup(), unpickled here: same warm-up state
    mcmc = load("mcmc_after_warmup")
    for i, leaf in enumerate(jax.tree.leaves(mcmc.post_warmup_state.z)):
        out[f"mcmc_after_warmup/z{i}"] = np.asarray(leaf)
    np.savez(f"{folder}/resumed.npz", **out)
    """
)


def _dump(obj, path: Path) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f)


def _load(path: Path):
    with open(path, "rb") as f:
        return pickle.load(f)


def _assert_same_states(a, b) -> None:
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _stop_and_resume_in_a_new_process(tmp_path, num_chains: int) -> None:
    reference = make_mcmc(num_chains, 2 * NUM_SAMPLES)
    reference.run(jax.random.key(0), Y)
    ref = {k: np.asarray(v) for k, v in reference.get_samples(group_by_chain=True).items()}

    mcmc = make_mcmc(num_chains)
    mcmc.warmup(jax.random.key(0), Y)
    _dump(mcmc.post_warmup_state, tmp_path / "post_warmup_state.pkl")
    _dump(mcmc, tmp_path / "mcmc_after_warmup.pkl")
    warm_z = [np.asarray(x) for x in jax.tree.leaves(mcmc.post_warmup_state.z)]
    mcmc.run(mcmc.post_warmup_state.rng_key, Y)
    _dump(mcmc.last_state, tmp_path / "last_state.pkl")
    for k, v in mcmc.get_samples(group_by_chain=True).items():  # same process, same draws
        np.testing.assert_array_equal(v, ref[k][:, :NUM_SAMPLES])

    # the NumPyro way (its test_pickle.py): a pickled MCMC keeps its draws and state
    clone = pickle.loads(pickle.dumps(reference))
    assert isinstance(pickle.loads(pickle.dumps(reference.sampler)), DilationLangevin)
    for k, v in ref.items():
        np.testing.assert_array_equal(clone.get_samples(group_by_chain=True)[k], v)
    _assert_same_states(clone.last_state, reference.last_state)

    here = Path(__file__).resolve().parent
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(here), str(here.parent), env.get("PYTHONPATH", "")])
    env["JAX_PLATFORMS"] = "cpu"
    done = subprocess.run(
        [sys.executable, "-c", _RESUME, str(tmp_path), str(num_chains)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    resumed = np.load(tmp_path / "resumed.npz")
    first, second = slice(0, NUM_SAMPLES), slice(NUM_SAMPLES, 2 * NUM_SAMPLES)
    for site, draws in ref.items():
        np.testing.assert_array_equal(resumed[f"post_warmup_state/{site}"], draws[:, first])
        np.testing.assert_array_equal(resumed[f"last_state/{site}"], draws[:, second])
    for i, z in enumerate(warm_z):
        np.testing.assert_array_equal(resumed[f"mcmc_after_warmup/z{i}"], z)


def test_resume_one_chain_in_a_new_process(tmp_path):
    _stop_and_resume_in_a_new_process(tmp_path, num_chains=1)


@pytest.mark.slow
def test_resume_vectorized_chains_with_global_moves_in_a_new_process(tmp_path):
    """Eight vectorized chains: the pickled state also carries the mode mixture (found
    when sampling starts, shared by all chains) and the diagonal preconditioner."""
    _stop_and_resume_in_a_new_process(tmp_path, num_chains=8)
    state = _load(tmp_path / "last_state.pkl")
    assert state.mixture is not None and int(state.mixture.num_modes) >= 1
