"""Sphinx extension: copy the tutorial notebooks into the docs and execute them in parallel.

At ``builder-inited`` every ``*.ipynb`` of ``tutorials_source`` (the repository's
``notebooks/``) is copied to ``tutorials_target`` (``docs/notebooks/``, git-ignored) and, unless
``tutorials_execute`` is false, executed top to bottom there (only those named in
``tutorials_execute_only``, by file stem, when that list is not empty; the others are rendered
without outputs) with nbclient, several notebooks at
a time (one kernel each, ``tutorials_workers`` at once, the longest-running of the previous
build first, as recorded in ``tutorials_timings``, or else the largest file first). myst-nb
then renders the executed copies with its own execution turned off.

Why not myst-nb's execution: it runs one notebook after the other, and the notebooks spend most
of their time compiling JAX programs on one core each; two at a time halve the build on a
two-core machine. Why a copy: Sphinx only reads sources inside its source directory and
resolves symbolic links, so a link to ``notebooks/`` would break the cross-references.

A cell that raises fails the build with the cell's traceback. What a cell prints to stderr is
a build warning that quotes it (:func:`_stderr_messages`; myst-nb's own warning,
``nb_output_stderr = "warn"``, names only the cell): a warning the sampler raises in a tutorial
is a defect of the tutorial, and a message the environment prints (a library's first-run
notice, a kernel's) must be readable in the CI log to be dealt with.
"""

import os
import shutil
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)


def _execute(path: Path, timeout: int, kernel_name: str) -> tuple[float, list[str]]:
    """Execute the notebook at ``path`` in place; return its seconds and its stderr messages."""
    import nbformat
    from nbclient import NotebookClient

    start = time.perf_counter()
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=kernel_name,
        allow_errors=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    nbformat.write(nb, path)
    return time.perf_counter() - start, _stderr_messages(nb, path)


def _stderr_messages(nb, path: Path) -> list[str]:
    """One message per code cell with stderr output, quoting it (at most 2000 characters);
    cells tagged ``remove-stderr`` are skipped, as myst-nb skips them."""
    messages = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or "remove-stderr" in cell.metadata.get("tags", []):
            continue
        text = "".join(
            o.get("text", "")
            for o in cell.get("outputs", [])
            if o.get("output_type") == "stream" and o.get("name") == "stderr"
        )
        if text:
            messages.append(f"{path.name}, cell {index + 1}, printed to stderr:\n{text[:2000]}")
    return messages


def _stamp_daily_notices() -> None:
    """Import ArviZ here, once, before any kernel starts, its notice silenced.

    ArviZ 0.23 warns (a ``FutureWarning`` about its refactor) at its first import of each day
    for each user, then writes a stamp file in the user's cache. The kernels of a build on a
    fresh machine, or of one that runs past midnight, would print that notice in their
    first cell, a build warning (``-W``: an error); the stamp written here keeps them quiet.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import arviz  # noqa: F401  (the stamp file is the import's effect)
        except ImportError:  # the notebooks that need ArviZ will say so
            pass


def _order_longest_first(paths: list[Path], previous: dict[str, float]) -> list[Path]:
    """Longest previous run first; notebooks not timed yet before them, the largest first."""
    return sorted(paths, key=lambda p: (-previous.get(p.name, float("inf")), -p.stat().st_size))


def copy_and_execute(app: Sphinx) -> None:
    config = app.config
    source = Path(config.tutorials_source)
    target = Path(config.tutorials_target)
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    notebooks = sorted(target.glob("*.ipynb"))
    only = set(config.tutorials_execute_only)
    unknown = only - {nb.stem for nb in notebooks}
    if unknown:
        raise ExtensionError(f"tutorials_execute_only names no notebook: {sorted(unknown)}")
    if only:
        notebooks = [nb for nb in notebooks if nb.stem in only]
    if not config.tutorials_execute or not notebooks:
        logger.info("tutorial notebooks copied, not executed")
        return

    timings_file = Path(config.tutorials_timings)
    previous = {}
    if timings_file.exists():
        for line in timings_file.read_text().splitlines():
            name, _, seconds = line.partition(" ")
            previous[name] = float(seconds)
    notebooks = _order_longest_first(notebooks, previous)
    _stamp_daily_notices()
    workers = max(1, min(len(notebooks), config.tutorials_workers))
    logger.info(f"executing {len(notebooks)} notebooks, {workers} at a time")

    failures, timings = [], {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {
            pool.submit(_execute, nb, config.tutorials_timeout, config.tutorials_kernel): nb
            for nb in notebooks
        }
        for future, nb in futures.items():
            try:
                timings[nb.name], messages = future.result()
                logger.info(f"executed {nb.name} in {timings[nb.name]:.1f} s")
                for message in messages:  # -W: the build fails, quoting what was printed
                    logger.warning(message, location=str(nb))
            except Exception as err:  # reported below: the build fails
                failures.append(f"{nb.name}: {type(err).__name__}: {err}")
    timings_file.parent.mkdir(parents=True, exist_ok=True)
    timings = {**previous, **timings}  # notebooks not executed this time keep their timing
    timings_file.write_text("".join(f"{k} {v:.1f}\n" for k, v in sorted(timings.items())))
    if failures:
        raise ExtensionError("notebook execution failed:\n\n" + "\n\n".join(failures))


def setup(app: Sphinx) -> dict:
    app.add_config_value("tutorials_source", "", "env")
    app.add_config_value("tutorials_target", "", "env")
    app.add_config_value("tutorials_execute", True, "env")
    app.add_config_value("tutorials_execute_only", [], "env")
    app.add_config_value("tutorials_timeout", 600, "env")
    app.add_config_value("tutorials_workers", os.cpu_count() or 1, "env")
    app.add_config_value("tutorials_kernel", "python3", "env")
    app.add_config_value("tutorials_timings", "notebook_timings.txt", "env")
    app.connect("builder-inited", copy_and_execute)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
