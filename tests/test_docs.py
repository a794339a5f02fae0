"""The documentation builds with zero warnings and the tutorial notebooks execute.

One Sphinx build (session fixture) executes the notebooks in ``notebooks/`` top to bottom
with the small budgets (a failing cell fails the build; anything a notebook writes to stderr
is a warning, and warnings are errors), renders the user guide, the API reference from the
docstrings and the benchmarks page. The tests below then check what the build produced.

Which notebooks execute: all of them when the session runs the slow tests (``make
test-all``); in the default suite (``-m "not slow"``) only :data:`QUICK_NOTEBOOKS`, and the
others are rendered without outputs. The other three spend about 10 CPU-minutes, most of it
compiling samplers, which alone would take the default suite past its 15-minute budget on
two cores; the code they run is tested in the default suite by the sampler's own tests.

Needs the ``docs`` and ``notebooks`` extras. Without them these tests are skipped, except
under CI (``CI`` set), where they fail.
"""

import html
import importlib.util
import json
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FAST_COMPILE_FLAGS, is_default_suite

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
QUICK_NOTEBOOKS = ("01_quickstart", "03_blackjax_api")  # executed by the default suite too
BUILD_TIMEOUT_S = 1200

_MISSING = [m for m in ("sphinx", "myst_nb", "pydata_sphinx_theme", "ipykernel")
            if importlib.util.find_spec(m) is None]
if _MISSING:
    _reason = (f"docs/notebook dependencies missing ({', '.join(_MISSING)}): "
               "pip install -e '.[docs,notebooks]'")
    if os.environ.get("CI"):
        raise ImportError(_reason)
    pytest.skip(_reason, allow_module_level=True)


@pytest.fixture(scope="session")
def site(tmp_path_factory, request) -> Path:
    """Build the HTML site once, executing the notebooks (all of them, or in the default
    suite :data:`QUICK_NOTEBOOKS`); fail with the build log if it fails."""
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ)
    # Notebook kernels inherit this environment: give them a user's, not the test suite's
    # (one CPU device, small budgets), except XLA's optimization level 0 when this run has
    # it (the default suite, tests/conftest.py): compilation dominates the notebooks' time.
    fast_compile = FAST_COMPILE_FLAGS in env.get("XLA_FLAGS", "")
    for name in ("XLA_FLAGS", "MPLBACKEND", "NUMPYRO_DILATION_FULL",
                 "NUMPYRO_DILATION_NB_EXECUTION"):
        env.pop(name, None)
    if fast_compile:
        env["XLA_FLAGS"] = FAST_COMPILE_FLAGS
    if is_default_suite(request.config):
        env["NUMPYRO_DILATION_NB_EXECUTION"] = ",".join(QUICK_NOTEBOOKS)
    cmd = [sys.executable, "-m", "sphinx", "-E", "-W", "--keep-going", "-q",
           "-b", "html", str(ROOT / "docs"), str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=BUILD_TIMEOUT_S)
    if proc.returncode != 0:
        log = (proc.stdout + proc.stderr)[-20_000:]
        pytest.fail(f"`{' '.join(cmd)}` failed (warnings are errors):\n{log}", pytrace=False)
    return out


# One Sphinx build per test session: under pytest-xdist every test of this module must run
# on the same worker, since concurrent builds would share docs/notebooks/, where the
# notebooks are copied and executed. The Makefile's ``--dist loadfile`` does that (a file's
# tests go to one worker). ``--dist loadgroup`` with an ``xdist_group`` mark does not work
# with pytest 9.2 and pytest-xdist 3.8: xdist tags the group onto ``item._nodeid``, which
# pytest 9.2 no longer reads, so the tests were spread and the site was built twice.


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def test_notebooks_found():
    """Smoke test: the tutorial notebooks are where the docs expect them."""
    names = [nb.stem for nb in NOTEBOOKS]
    assert names[:4] == ["01_quickstart", "02_multimodal", "03_blackjax_api",
                         "04_tuning_and_diagnostics"], names


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_committed_clean(notebook):
    """Notebooks are committed without outputs, read the budget switch and are in the docs."""
    nb = json.loads(_text(notebook))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [] and cell.get("execution_count") is None, (
                f"{notebook.name}: clear the outputs before committing "
                "(Jupyter: Edit > Clear Outputs of All Cells)")
    source = "".join("".join(c["source"]) for c in nb["cells"])
    assert "NUMPYRO_DILATION_FULL" in source, f"{notebook.name} ignores the budget switch"
    assert f"notebooks/{notebook.stem}" in _text(ROOT / "docs" / "tutorials.md"), (
        f"{notebook.name} is not in the toctree of docs/tutorials.md")


@pytest.mark.parametrize(
    "notebook",
    [nb if nb.stem in QUICK_NOTEBOOKS else pytest.param(nb, marks=pytest.mark.slow)
     for nb in NOTEBOOKS],
    ids=lambda p: p.stem,
)
def test_notebook_executed_and_rendered(site, notebook):
    """The build executed the notebook top to bottom and its page shows outputs and figures
    (the notebooks not in :data:`QUICK_NOTEBOOKS` are checked by ``make test-all``)."""
    page = site / "notebooks" / f"{notebook.stem}.html"
    assert page.exists(), f"no page for {notebook.name}"
    body = _text(page)
    num_code_cells = sum(c["cell_type"] == "code" for c in json.loads(_text(notebook))["cells"])
    assert body.count('class="cell_output') >= num_code_cells // 2, "outputs missing"
    assert re.search(r'<img[^>]+src="[^"]*\.png"', body), "no figure rendered"
    assert "Traceback" not in html.unescape(body)


def test_api_reference_documents_every_public_name(site):
    """Every name in ``numpyro_dilation.__all__`` and every public module has an entry."""
    import numpyro_dilation

    body = _text(site / "api.html")
    missing = []
    for name in numpyro_dilation.__all__:
        obj = getattr(numpyro_dilation, name)
        anchor = f'id="{obj.__module__}.{name}"'
        if anchor not in body:
            missing.append(f"{obj.__module__}.{name}")
    for mod in pkgutil.iter_modules(numpyro_dilation.__path__):
        if not mod.name.startswith("_") and f'id="module-numpyro_dilation.{mod.name}"' not in body:
            missing.append(f"module numpyro_dilation.{mod.name}")
    assert not missing, f"not in the API reference: {missing}"


def test_benchmarks_page_includes_benchmarks_md(site):
    """docs/benchmarks.md includes the repository's BENCHMARKS.md (not a copy)."""
    source = ROOT / "BENCHMARKS.md"
    assert source.exists()
    headings = re.findall(r"^#{1,3} +(.+?) *$", _text(source), flags=re.M)
    assert headings, "BENCHMARKS.md has no heading"
    body = html.unescape(re.sub(r"<[^>]+>", "", _text(site / "benchmarks.html")))
    body = body.replace("\u2019", "'")  # Sphinx's smart quotes: Neal's -> Neal’s
    for heading in headings:
        plain = re.sub(r"`|\*\*", "", heading)
        assert plain in body, f"BENCHMARKS.md heading {heading!r} missing from benchmarks.html"


def _execute_notebooks_module():
    sys.path.insert(0, str(ROOT / "docs" / "_ext"))
    try:
        import execute_notebooks
    finally:
        sys.path.pop(0)
    return execute_notebooks


def test_a_cells_stderr_is_quoted_in_the_build_warning():
    """What a cell printed to stderr reaches the build log (myst-nb's warning names only the
    cell); a ``remove-stderr`` cell and stdout are not reported."""
    import nbformat

    module = _execute_notebooks_module()
    stream = nbformat.v4.new_output
    cells = [nbformat.v4.new_code_cell("print(1)") for _ in range(3)]
    cells[0].outputs = [stream("stream", name="stdout", text="fine\n")]
    cells[1].outputs = [stream("stream", name="stderr", text="UserWarning: something\n")]
    cells[2].outputs = [stream("stream", name="stderr", text="hidden\n")]
    cells[2].metadata["tags"] = ["remove-stderr"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# t"), *cells])
    messages = module._stderr_messages(nb, Path("t.ipynb"))
    assert messages == ["t.ipynb, cell 3, printed to stderr:\nUserWarning: something\n"]


def test_the_build_keeps_arviz_daily_notice_out_of_the_notebooks(tmp_path):
    """ArviZ 0.23 warns at its first import of each day per user (a stamp in the user's
    cache); the build imports it first, silenced, so a kernel's import prints nothing. A
    fresh home stands for a fresh CI machine: the CI run of 93b0a30 failed on that notice."""
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env["PYTHONWARNINGS"] = "default"
    ext = str(ROOT / "docs" / "_ext")
    stamp = f"import sys; sys.path.insert(0, {ext!r}); import execute_notebooks as e; " \
            "e._stamp_daily_notices()"
    first = subprocess.run([sys.executable, "-c", stamp], env=env, capture_output=True,
                           text=True, timeout=300)
    assert first.returncode == 0 and "ArviZ" not in first.stderr, first.stderr
    kernel = subprocess.run([sys.executable, "-c", "import arviz"], env=env,
                            capture_output=True, text=True, timeout=300)
    assert kernel.returncode == 0 and kernel.stderr == "", kernel.stderr
