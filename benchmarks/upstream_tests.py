"""NumPyro's own MCMC tests, run with ``DilationLangevin`` in place of the kernels they test.

    python -m benchmarks.upstream_tests PATH/TO/numpyro/test/infer/test_mcmc.py [--out DIR]
        [-- extra pytest arguments]

NumPyro's ``test/infer/test_mcmc.py`` (from a NumPyro source checkout; it is not in the
wheel) parameterizes several tests over kernel classes (``HMC``, ``NUTS``, ``SA``,
``BarkerMH``, ``AIES``, ``ESS``). This script writes a copy in which every such list holds
one kernel, ``DilationLangevin``, in the place of ``BarkerMH`` (NumPyro's other
gradient-based kernel that is not HMC: those tests already build it with the arguments a
non-HMC kernel takes, and read its ``adapt_state`` as ours is laid out), removes the
HMC-only keyword arguments (:data:`HMC_ONLY`) when the tests pass them, and runs the
kernel-parameterized tests (:data:`KERNEL_TESTS`) with NumPyro's own pytest settings:
warnings are errors, with NumPyro's exceptions. Three exceptions are added
(:data:`ALLOWED_WARNINGS`), for our warnings about situations the tests create on
purpose and that NUTS does not warn about: one or two chains (not a population), a
warm-up of 10 iterations (too short to anneal), and a fixed step size of 10 at which no
proposal is ever accepted. Every other warning of ours, the end-of-run checks included,
stays an error; ``--strict`` makes those three errors too.

Nothing of NumPyro's test file is stored in this repository: it is read from the path
given and rewritten in ``DIR`` (default: a temporary directory).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HMC_ONLY = (
    "trajectory_length",
    "find_heuristic_step_size",
    "max_tree_depth",
    "num_steps",
    "regularize_mass_matrix",
)
"""Keyword arguments that only NumPyro's HMC/NUTS take; dropped when a test passes them."""

KERNEL_TESTS = (
    "test_unnormalized_normal_x64",
    "test_logistic_regression_x64",
    "test_beta_bernoulli_x64",
    "test_dirichlet_categorical_x64",
    "test_dense_mass",
    "test_diverging",
    "test_chain_inside_jit",
    "test_remove_sites",
)
"""The tests of ``test_mcmc.py`` parameterized over kernel classes."""

KERNEL_LISTS = re.compile(r'(parametrize\("kernel_cls", )\[[A-Za-z, ]+\]')

SHIM = """
# --- added by numpyro-dilation's benchmarks/upstream_tests.py ----------------------------
from numpyro_dilation import DilationLangevin as _DilationLangevin

_HMC_ONLY = {hmc_only!r}


class BarkerMH(_DilationLangevin):  # every kernel list below holds this class only
    def __init__(self, model=None, potential_fn=None, **kwargs):
        kwargs = {{k: v for k, v in kwargs.items() if k not in _HMC_ONLY}}
        super().__init__(model, potential_fn, **kwargs)
# ------------------------------------------------------------------------------------------
"""

PYTEST_INI = """[pytest]
filterwarnings =
    error
    ignore:.*Attempting to hash a tracer:FutureWarning
    ignore:numpy.ufunc size changed,:RuntimeWarning
    ignore:Using a non-tuple sequence:FutureWarning
    ignore:jax.tree_structure is deprecated:FutureWarning
    ignore:numpy.linalg support is experimental:UserWarning
    ignore:scipy.linalg support is experimental:UserWarning
    once:No GPU:UserWarning
    once::DeprecationWarning
"""

ALLOWED_WARNINGS = (
    # a single chain, or two, cannot be a population (the tests run them on purpose)
    "ignore:DilationLangevin.*(runs alone|runs each chain on its own|is too few for global moves)",
    # num_warmup=10: too short to anneal, so the chains start at lambda = 1
    "ignore:DilationLangevin. num_warmup=.* is too short to anneal",
    # step_size=10 without adaptation: no proposal is ever accepted (the test's purpose)
    "ignore:DilationLangevin. every proposal of every chain was rejected",
)
"""Our warnings that the tests trigger on purpose; ``--strict`` keeps them as errors."""

CONFTEST = """import jax
from numpyro.util import set_rng_seed

jax.config.update("jax_platform_name", "cpu")


def pytest_runtest_setup(item):
    set_rng_seed(0)
"""


def rewrite(source: str) -> str:
    """NumPyro's test file with ``DilationLangevin`` as the only kernel of every list."""
    anchor = "from numpyro.util import fori_collect, is_prng_key\n"
    if anchor not in source:
        raise ValueError("not NumPyro's test/infer/test_mcmc.py (its imports changed?)")
    source = source.replace(anchor, anchor + SHIM.format(hmc_only=HMC_ONLY), 1)
    # the import of NumPyro's BarkerMH would shadow ours: drop it from the import line
    source = source.replace(", BarkerMH, init_to_value", ", init_to_value", 1)
    source, count = KERNEL_LISTS.subn(r"\1[BarkerMH]", source)
    if count == 0:
        raise ValueError("no kernel_cls parametrization found in the test file")
    return source


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    extra: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, extra = argv[:at], argv[at + 1 :]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("test_file", type=Path, help="NumPyro's test/infer/test_mcmc.py")
    parser.add_argument("--out", type=Path, default=None, help="where to write the copy")
    parser.add_argument("--strict", action="store_true", help="no warning of ours allowed")
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="numpyro_upstream_"))
    out.mkdir(parents=True, exist_ok=True)
    (out / "test_mcmc_dilation.py").write_text(rewrite(args.test_file.read_text()))
    allowed = "" if args.strict else "".join(f"    {w}\n" for w in ALLOWED_WARNINGS)
    (out / "pytest.ini").write_text(PYTEST_INI + allowed)
    (out / "conftest.py").write_text(CONFTEST)
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-rA",
        "-k",
        " or ".join(KERNEL_TESTS),
        str(out / "test_mcmc_dilation.py"),
        *extra,
    ]
    print("running:", " ".join(cmd), flush=True)
    return subprocess.run(cmd, cwd=out).returncode


if __name__ == "__main__":
    raise SystemExit(main())
