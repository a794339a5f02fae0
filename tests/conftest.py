"""Test configuration: four simulated CPU devices (for chain_method="parallel"), and, in the
default suite (``-m "not slow"``), XLA's backend optimization level 0.

Most of the default suite's time is XLA compiling the sampler (one compilation per
``MCMC.run`` or ``warmup``: NumPyro builds a new jitted loop each time), and its runs are
short. Level 0 compiles faster and runs slower: the benchmark suite's throughput grid
(``python -m benchmarks run --preset small --only-scaling``, commit 5f98bbc) gave compile
times 0.6-0.9x and times per gradient 2.2-3.8x those of the default level. On the default
suite's short runs that is a net gain (``tests/test_global_moves.py`` took 201 s with it and
284 s without; the whole suite 667 s against 1078-1109 s, same machine); the slow tests' long
runs would lose, so a run that includes them keeps the default level, as users running long
chains should. Level 0 changes floating-point rounding, not the algorithm: individual draws
differ from those of a default build (trajectories diverge), their distribution does not, so
the statistical tolerances apply unchanged. ``XLA_FLAGS`` already set in the environment is
kept as is.

JAX reads ``XLA_FLAGS`` when its backend starts (the first computation), after
``pytest_configure``; ``test_chain_methods_give_the_same_draws[parallel]`` in
``tests/test_numpyro_kernel.py`` checks that the four devices exist.
"""

import gc
import os

DEVICE_FLAGS = "--xla_force_host_platform_device_count=4"
FAST_COMPILE_FLAGS = "--xla_backend_optimization_level=0"
_USER_XLA_FLAGS = os.environ.get("XLA_FLAGS")
os.environ.setdefault("XLA_FLAGS", DEVICE_FLAGS)
os.environ.setdefault("MPLBACKEND", "Agg")

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

# Test modules that landed before their verification finished: they run with
# `make test-all` (marked slow here) until verified, so that an unverified test cannot
# block `make test`. Empty when every module has been verified.
PENDING_VERIFICATION: set[str] = set()


def is_default_suite(config) -> bool:
    """Whether this session is the default suite (``-m "not slow"``, as ``make test`` runs it)."""
    return "not slow" in (config.getoption("markexpr") or "")


def pytest_configure(config):
    if _USER_XLA_FLAGS is None and is_default_suite(config):
        os.environ["XLA_FLAGS"] = f"{DEVICE_FLAGS} {FAST_COMPILE_FLAGS}"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in PENDING_VERIFICATION:
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def x64():
    """Run a test in double precision."""
    with jax.enable_x64(True):
        yield


def mcse_z(draws: np.ndarray, truth: float) -> float:
    """|mean - truth| / MCSE, with the MCSE from ArviZ's bulk ESS.

    ``draws`` has shape (chains, draws).
    """
    import arviz as az

    draws = np.asarray(draws, dtype=float)
    ess = float(az.ess(draws[None] if draws.ndim == 1 else draws, method="bulk"))
    mcse = draws.std() / np.sqrt(ess)
    return abs(draws.mean() - truth) / mcse


def population_draws(algo, positions, num_steps: int, burn_in: int, seed: int = 2):
    """Run ``algo`` (``numpyro_dilation.population_sampler``) from ``positions`` for
    ``num_steps`` jitted steps; returns the final state and the chains' positions after
    ``burn_in`` steps, shape (chains, num_steps - burn_in, d)."""
    state = algo.init(positions, jax.random.key(1))
    step = jax.jit(algo.step)
    draws = []
    for i, key in enumerate(jax.random.split(jax.random.key(seed), num_steps)):
        state, _ = step(key, state)
        if i >= burn_in:
            draws.append(np.asarray(state.z))
    return state, np.stack(draws, axis=1)


@pytest.fixture(autouse=True, scope="module")
def _free_compiled_programs():
    """Free each test file's compiled programs when it ends: an xdist worker runs many files,
    and two clean-clone runs of the default suite (2026-12-06) had a worker die inside XLA's
    compiler late in the run (a segfault, then an abort, in different tests that pass
    alone), while it held the programs of every file before."""
    yield
    jax.clear_caches()
    gc.collect()
