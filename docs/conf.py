"""Sphinx configuration of the numpyro-dilation documentation (see docs/README.md).

Build with ``make docs`` (warnings are errors) or
``sphinx-build -W --keep-going -b html docs build/docs``.

Environment variables:

- ``NUMPYRO_DILATION_FULL=1``: the notebooks run with their full budgets (default: small
  budgets, seconds per notebook). The variable reaches the notebooks' kernels unchanged.
- ``NUMPYRO_DILATION_NB_EXECUTION``: ``on`` (default) executes every notebook at every build;
  ``off`` renders them without executing them (for editing prose); a comma-separated list of
  notebook names (``01_quickstart,03_blackjax_api``) executes those and renders the others
  without outputs (the default test suite does this; ``make test-all`` executes them all).
- ``JAX_COMPILATION_CACHE_DIR``: where the notebooks' kernels cache compiled XLA programs
  (default ``build/jax_cache``), so that a second build compiles less.
"""

import os
import pkgutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
# The notebooks' kernels inherit this environment: make the package importable there too
# when it is not installed (a checkout used through `pythonpath = ["."]`).
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
)
# JAX's persistent compilation cache: XLA programs compiled by one notebook (or build) are
# reused by the next. Set JAX_COMPILATION_CACHE_DIR yourself to move it.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(ROOT / "build" / "jax_cache"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
# Figures must reach the notebook outputs, whatever backend the calling process chose.
os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"

import numpyro_dilation  # noqa: E402

FULL = os.environ.get("NUMPYRO_DILATION_FULL", "0") == "1"

project = "numpyro-dilation"
author = "numpyro-dilation developers"
copyright = "the numpyro-dilation developers"
release = numpyro_dilation.__version__
version = release

extensions = [
    "myst_nb",  # Markdown pages (MyST) and executed notebooks; loads myst_parser itself
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",  # NumPy-style sections; `:param x:` fields are native Sphinx
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]

exclude_patterns = ["README.md", "_ext", "**.ipynb_checkpoints", "notebooks/README.md"]
templates_path = []
suppress_warnings = []

# -- MyST ---------------------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3  # `page.md#section-title` links resolve and are checked

# -- notebooks ----------------------------------------------------------------------------
# docs/_ext/execute_notebooks.py copies ../notebooks to docs/notebooks and executes the copies,
# several at a time; myst-nb renders the executed copies without executing them again.
sys.path.insert(0, str(DOCS / "_ext"))
extensions.append("execute_notebooks")
tutorials_source = str(ROOT / "notebooks")
tutorials_target = str(DOCS / "notebooks")
_execution = os.environ.get("NUMPYRO_DILATION_NB_EXECUTION", "on").strip()
tutorials_execute = _execution != "off"
tutorials_execute_only = (
    [] if _execution in ("on", "off") else [n.strip() for n in _execution.split(",") if n.strip()]
)
tutorials_timeout = 3600 if FULL else 600  # per cell, seconds
tutorials_timings = str(ROOT / "build" / "notebook_timings.txt")  # longest first next time
nb_execution_mode = "off"
nb_output_stderr = "warn"  # anything a notebook printed to stderr is a build warning
nb_merge_streams = True

# -- autodoc ------------------------------------------------------------------------------
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented"
autodoc_preserve_defaults = True
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False

# Modules documented on the API page in this order; any other public module of the package
# is appended to the page automatically (so a new module is never silently left out).
API_MODULES = [
    "numpyro_dilation.mcmc",
    "numpyro_dilation.run_checks",
    "numpyro_dilation.iteration_checks",
    "numpyro_dilation.inputs",
    "numpyro_dilation.starts",
    "numpyro_dilation.population",
    "numpyro_dilation.population_settings",
    "numpyro_dilation.population_modes",
    "numpyro_dilation.population_chain",
    "numpyro_dilation.population_state",
    "numpyro_dilation.random_keys",
    "numpyro_dilation.draw_length",
    "numpyro_dilation.draws",
    "numpyro_dilation.persistence",
    "numpyro_dilation.preconditioner",
    "numpyro_dilation.low_rank",
    "numpyro_dilation.annealing",
    "numpyro_dilation.kernel",
    "numpyro_dilation.path",
    "numpyro_dilation.schedules",
]


def public_modules() -> list[str]:
    """Every importable ``numpyro_dilation.*`` module whose name has no leading underscore."""
    return sorted(
        f"numpyro_dilation.{m.name}"
        for m in pkgutil.iter_modules(numpyro_dilation.__path__)
        if not m.name.startswith("_")
    )


def _append_other_modules(app, docname, source):
    if docname != "api":
        return
    others = [m for m in public_modules() if m not in API_MODULES]
    if others:
        blocks = [f"\n### `{m}`\n\n```{{eval-rst}}\n.. automodule:: {m}\n```\n" for m in others]
        source[0] += "\n## Other modules\n" + "".join(blocks)


def _skip_namedtuple_fields(app, what, name, obj, skip, options):
    # NamedTuple classes document their fields in the class docstring; drop the generated
    # "Alias for field number N" attributes.
    doc = getattr(obj, "__doc__", None) or ""
    if isinstance(doc, str) and doc.startswith("Alias for field number"):
        return True
    return None


def setup(app):
    app.connect("source-read", _append_other_modules)
    app.connect("autodoc-skip-member", _skip_namedtuple_fields)


# -- HTML ---------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = "numpyro-dilation"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_sidebars = {"**": ["sidebar-nav-bs"]}
html_static_path = []
html_show_sourcelink = False
