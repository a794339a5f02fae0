"""Imports stay light: the BlackJAX layer imports no NumPyro, pandas, matplotlib or ArviZ, and
``import numpyro_dilation`` does not start JAX's backend (so NumPyro's
``set_host_device_count`` still works after it). Each check runs in a fresh interpreter."""

import subprocess
import sys
import textwrap


def _run(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_the_kernel_layer_imports_no_numpyro_pandas_or_plotting():
    out = _run(
        """
        import sys
        import numpyro_dilation.annealing, numpyro_dilation.kernel, numpyro_dilation.modes
        import numpyro_dilation.global_moves, numpyro_dilation.uturn, numpyro_dilation.path
        import numpyro_dilation.preconditioner, numpyro_dilation.population
        import numpyro_dilation.population_chain, numpyro_dilation.population_settings
        import numpyro_dilation as nd
        nd.dilation_langevin, nd.population_sampler, nd.UTurn, nd.GlobalMoves  # that layer
        print(sorted(m for m in ("numpyro", "pandas", "matplotlib", "arviz") if m in sys.modules))
        """
    )
    assert out.strip() == "[]"


def test_set_host_device_count_works_after_importing_the_package():
    out = _run(
        """
        import numpyro_dilation
        import numpyro

        numpyro.set_host_device_count(3)
        from numpyro_dilation import DilationLangevin
        import jax

        print(jax.local_device_count())
        """
    )
    assert out.strip() == "3"
