"""How the sampler's compiled programs run on CPU: compiled once, and no deadlock.

* The state that ``init`` returns is strongly typed throughout: a weakly typed leaf
  (BlackJAX's dual-averaging ``init`` fills three fields with Python scalars) differs in
  type from the same leaf after one step, so the jitted step compiled twice (measured on
  the GP model: 37 s for the first step and 27 s again for the second).
* A model that calls LAPACK is sampled one chain at a time on CPU, and sampled right.
* Mode finding on a model whose log-density calls LAPACK (a Gaussian process: Cholesky
  and triangular solves) finishes. With the starts vmapped it deadlocked in jaxlib
  0.10.2's batched LAPACK kernels (3 of 3 runs of the script below past 60 s, against
  15 s per run with one start at a time; see :func:`numpyro_dilation.modes.map_starts`).
  The script runs in a subprocess so that a deadlock fails this test instead of hanging
  the suite.
* A second ``run`` of the same ``MCMC`` object on the same data compiles none of the
  kernel's programs (NumPyro's loop and the kernel's initialization are reused), and new
  data still gets its own exact answer.
* With NumPyro's progress bar, JAX's persistent compilation cache stores the run's
  iteration (it holds no host callback: the run checks itself between iterations), so a
  second process finds it compiled.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from conftest import mcse_z
from numpyro.infer import MCMC

from numpyro_dilation import DilationLangevin
from numpyro_dilation.batching import calls_lapack

ROOT = Path(__file__).resolve().parents[1]


def _model(y=None):
    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    sigma = numpyro.sample("sigma", dist.HalfNormal(2.0))
    numpyro.sample("y", dist.Normal(mu, sigma), obs=y)


def test_initial_state_has_no_weakly_typed_leaf():
    y = jnp.array([0.3, -1.2, 0.8, 2.1])
    kernel = DilationLangevin(_model)
    keys = jax.random.split(jax.random.key(0), 4)
    state = kernel.init(keys, 30, None, (), {"y": y})
    leaves = jax.tree_util.tree_leaves_with_path(state)
    weak = [jax.tree_util.keystr(p) for p, x in leaves if getattr(x, "weak_type", False)]
    assert not weak, f"weakly typed leaves in the initial state: {weak}"


SCRIPT = textwrap.dedent(
    """
    import jax, jax.numpy as jnp
    from jax.flatten_util import ravel_pytree
    from numpyro.infer.util import initialize_model
    from benchmarks.models import gp_data, gp_hyperparameters
    from numpyro_dilation.modes import GlobalMoves, find_modes

    info = initialize_model(jax.random.key(0), gp_hyperparameters, model_kwargs=gp_data())
    _, unravel = ravel_pytree(info.param_info.z)
    logdensity = lambda u: -info.potential_fn(unravel(u))
    starts = jax.random.normal(jax.random.key(1), (48, 3)) * 2.0
    find = jax.jit(lambda y: find_modes(y, logdensity, 0.5, GlobalMoves()))
    mixture, _ = find(starts)
    m = int(jnp.argmax(mixture.log_weights))
    print(int(mixture.num_modes), *map(float, mixture.means[m]))
    """
)


def test_mode_finding_on_a_gaussian_process_finishes():
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    num_modes, *mean = out.stdout.split()
    # the posterior mode of the three log-hyperparameters (log kernel variance, log
    # noise, log length scale), as the unbatched ascent and Newton steps find it
    assert int(num_modes) >= 1
    np.testing.assert_allclose(np.asarray(mean, float), [-0.514, -2.965, 0.078], atol=0.02)


COV = np.array([[1.0, 0.8, 0.0], [0.8, 1.0, -0.3], [0.0, -0.3, 0.5]])
MEAN = np.array([1.0, -2.0, 0.5])


def _full_covariance_model():
    # MultivariateNormal's log-density: a Cholesky factor and a triangular solve
    numpyro.sample("x", dist.MultivariateNormal(jnp.asarray(MEAN), covariance_matrix=COV))


def test_a_lapack_model_runs_one_chain_at_a_time_and_matches_its_moments():
    """3-d Gaussian with a full covariance (LAPACK in the log-density): the kernel maps the
    chains one at a time on CPU, and every mean and variance is within 4.5 Monte Carlo
    standard errors of the exact ones."""
    x0 = jnp.zeros(3)
    assert calls_lapack(lambda x: dist.MultivariateNormal(x0, COV).log_prob(x), x0)
    assert not calls_lapack(lambda x: dist.Normal(0.0, 1.0).log_prob(x).sum(), x0)
    kernel = DilationLangevin(_full_covariance_model)
    mcmc = MCMC(
        kernel,
        num_warmup=300,
        num_samples=200,
        num_chains=32,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(jax.random.key(3))
    assert kernel.settings.one_chain_at_a_time == (jax.default_backend() == "cpu")
    x = np.asarray(mcmc.get_samples(group_by_chain=True)["x"])
    for j in range(3):
        assert mcse_z(x[..., j], MEAN[j]) < 4.5
        assert mcse_z((x[..., j] - MEAN[j]) ** 2, COV[j, j]) < 4.5


def _beta_bernoulli(data):
    p = numpyro.sample("p", dist.Beta(1.5, 2.0))
    numpyro.sample("obs", dist.Bernoulli(p), obs=data)


def test_a_second_run_on_the_same_data_compiles_none_of_our_programs(caplog, monkeypatch):
    """NumPyro's ``MCMC`` reuses its compiled loop when ``run`` gets the same argument
    objects again (with its default progress bar; NUTS compiles nothing then); the kernel's
    initialization must be reused too (it was compiled again: 1.2 s on eight schools). New
    data must still give its own exact posterior (Beta-Bernoulli, mean and variance)."""
    for name in ("CI", "PYTEST_XDIST_WORKER"):  # NumPyro turns its progress bar off there
        monkeypatch.delenv(name, raising=False)
    mcmc = MCMC(
        DilationLangevin(_beta_bernoulli),
        num_warmup=150,
        num_samples=150,
        num_chains=32,
        chain_method="vectorized",
        progress_bar=True,
    )
    data = (jnp.arange(15) < 12).astype(jnp.int32)
    mcmc.run(jax.random.key(0), data)
    with jax.log_compiles(), caplog.at_level("WARNING"):
        mcmc.run(jax.random.key(1), data)
    compiled = [r.getMessage() for r in caplog.records]
    names = ("_body_fn", "init_all", "_assemble")  # the loop, the chains' and the state's init
    ours = [m for m in compiled if "Finished XLA" in m and any(n in m for n in names)]
    assert not ours, f"compiled again on the second run: {ours}"
    for seed, ones in ((1, 12), (2, 3)):  # the second run's draws, then new data
        if ones == 3:
            mcmc.run(jax.random.key(seed), (jnp.arange(15) < ones).astype(jnp.int32))
        p = np.asarray(mcmc.get_samples(group_by_chain=True)["p"])
        a, b = 1.5 + ones, 2.0 + 15 - ones
        mean, var = a / (a + b), a * b / ((a + b) ** 2 * (a + b + 1))
        assert mcse_z(p, mean) < 4.5
        assert mcse_z((p - mean) ** 2, var) < 4.5


CACHE_SCRIPT = textwrap.dedent(
    """
    import os, sys, jax
    jax.config.update("jax_compilation_cache_dir", sys.argv[1])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    import numpyro, numpyro.distributions as dist
    from numpyro.infer import MCMC
    from numpyro_dilation import DilationLangevin

    def model():
        numpyro.sample("x", dist.Normal(0.0, 1.0).expand([2]))

    mcmc = MCMC(DilationLangevin(model), num_warmup=60, num_samples=20, num_chains=16,
                chain_method="vectorized")
    mcmc.run(jax.random.key(0))
    jax.block_until_ready(mcmc.last_state)
    print(" ".join(sorted({name.split("-")[0] for name in os.listdir(sys.argv[1])})))
    """
)


def test_with_the_progress_bar_the_persistent_cache_stores_the_iteration(tmp_path):
    """The README's way (NumPyro's default progress bar, defaults): JAX's persistent
    cache writes the iteration NumPyro calls from Python (``_body_fn``), so a second
    process running the same model skips its compilation. JAX writes no program that
    holds a host callback (the run's checks were such callbacks, and nothing was stored)."""
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_XDIST_WORKER")}
    out = subprocess.run(
        [sys.executable, "-c", CACHE_SCRIPT, str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    stored = out.stdout.split()
    assert "jit__body_fn" in stored, stored
    assert "acc. prob=" in out.stderr  # the progress bar ran, with the kernel's text
