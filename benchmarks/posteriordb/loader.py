"""Read posteriordb metadata, data and reference draws from the shared folder.

Layout (see ``shared/posteriordb/README.md``), for posterior ``P`` with data ``D``:

- ``posteriors/P.json``: metadata (``data_name``, ``dimensions``, ...);
- ``data/D.json.zip``: one JSON file, a dict of scalars and (nested) lists;
- ``draws/P.json.zip``: one JSON file, a list of chains, each a dict mapping
  parameter names with 1-based indices (``beta[1]``) to lists of draws.

The folder is looked up, in order, at ``$NUMPYRO_DILATION_POSTERIORDB`` (if
set, it is the only place looked at), ``<repo root>/../shared/posteriordb`` and
``<repo root>/shared/posteriordb``.
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

ENV_VAR = "NUMPYRO_DILATION_POSTERIORDB"

_REPO_ROOT = Path(__file__).resolve().parents[2]
_DEFAULT_CANDIDATES = (
    _REPO_ROOT.parent / "shared" / "posteriordb",
    _REPO_ROOT / "shared" / "posteriordb",
)
_INDEXED = re.compile(r"^(?P<base>[^\[\]]+)\[(?P<idx>[0-9,\s]+)\]$")


def _candidates() -> list[Path]:
    env = os.environ.get(ENV_VAR)
    if env:
        return [Path(env).expanduser()]
    return list(_DEFAULT_CANDIDATES)


def checkout_env(tree: str, env: dict | None = None) -> dict[str, str]:
    """The environment of a child process that runs the code of another checkout ``tree``
    (``PYTHONPATH``) with this checkout's posteriordb (``tree/../shared`` may not exist),
    on top of ``env`` (default: this process's)."""
    env = {**(os.environ if env is None else env), "PYTHONPATH": tree}
    env.setdefault(ENV_VAR, str(posteriordb_path() or ""))
    return env


def posteriordb_path() -> Path | None:
    """The posteriordb folder in use, or ``None`` if none of the candidates exists."""
    for path in _candidates():
        if (path / "posteriors").is_dir():
            return path.resolve()
    return None


def available() -> bool:
    """Whether the shared posteriordb files can be found."""
    return posteriordb_path() is not None


def _root() -> Path:
    path = posteriordb_path()
    if path is None:
        looked = ", ".join(str(p) for p in _candidates())
        raise FileNotFoundError(
            f"posteriordb reference files not found (looked in: {looked}); "
            f"set {ENV_VAR} to the folder holding posteriors/, data/ and draws/"
        )
    return path


def posterior_names() -> list[str]:
    """Names of the posteriors whose metadata is present, sorted."""
    return sorted(p.stem for p in (_root() / "posteriors").glob("*.json"))


def load_info(posterior_name: str) -> dict[str, Any]:
    """The metadata dict of ``posteriors/<posterior_name>.json``."""
    root = _root()
    path = root / "posteriors" / f"{posterior_name}.json"
    if not path.is_file():
        known = ", ".join(posterior_names()) or "none"
        raise FileNotFoundError(
            f"no posteriordb metadata for {posterior_name!r} at {path} (available: {known})"
        )
    return json.loads(path.read_text())


def _read_zipped_json(path: Path, what: str) -> Any:
    if not path.is_file():
        raise FileNotFoundError(f"posteriordb {what} file not found: {path}")
    with zipfile.ZipFile(path) as zf:
        members = [n for n in zf.namelist() if n.endswith(".json")]
        if len(members) != 1:
            raise ValueError(f"{path}: expected exactly one .json member, found {zf.namelist()}")
        return json.loads(zf.read(members[0]))


def load_data(posterior_name: str) -> dict[str, Any]:
    """The data dict of a posterior (scalars stay Python scalars, lists become arrays).

    Lists are converted with ``np.asarray`` (integers stay integer arrays);
    convert them to model inputs with the posterior's ``Spec.data_fn``.
    """
    data_name = load_info(posterior_name)["data_name"]
    raw = _read_zipped_json(_root() / "data" / f"{data_name}.json.zip", "data")
    return {k: np.asarray(v) if isinstance(v, list) else v for k, v in raw.items()}


def _parse_name(name: str) -> tuple[str, tuple[int, ...]]:
    m = _INDEXED.match(name)
    if m is None:
        return name, ()
    idx = tuple(int(i) - 1 for i in m.group("idx").split(","))
    if any(i < 0 for i in idx):
        raise ValueError(f"reference parameter {name!r}: indices must be 1-based")
    return m.group("base"), idx


def load_reference_draws(posterior_name: str) -> dict[str, np.ndarray]:
    """Reference draws as ``{name: array}``, arrays of shape ``(chains, draws, *event)``.

    Scalars (``sigma``) give ``(10, 1000)``; indexed names ``beta[1]``,
    ``beta[2]`` are grouped into ``beta`` of shape ``(10, 1000, 2)`` (1-based
    indices become 0-based; ``a[i,j]`` gives two event axes). Keys keep the
    order in which the file first names them.
    """
    chains = _read_zipped_json(_root() / "draws" / f"{posterior_name}.json.zip", "reference draws")
    if not isinstance(chains, list) or not chains:
        raise ValueError(f"{posterior_name}: reference draws must be a non-empty list of chains")
    names = list(chains[0])
    for c, chain in enumerate(chains):
        if list(chain) != names:
            raise ValueError(f"{posterior_name}: chain {c} names differ from chain 0")
    flat = {n: np.asarray([chain[n] for chain in chains], dtype=float) for n in names}

    groups: dict[str, dict[tuple[int, ...], np.ndarray]] = {}
    for n in names:
        base, idx = _parse_name(n)
        group = groups.setdefault(base, {})
        if idx in group or (group and len(next(iter(group))) != len(idx)):
            raise ValueError(f"{posterior_name}: inconsistent reference name {n!r}")
        group[idx] = flat[n]

    out: dict[str, np.ndarray] = {}
    for base, group in groups.items():
        if list(group) == [()]:
            out[base] = group[()]
            continue
        shape = tuple(max(i[a] for i in group) + 1 for a in range(len(next(iter(group)))))
        if len(group) != int(np.prod(shape)):
            raise ValueError(f"{posterior_name}: {base!r} has missing indices for shape {shape}")
        arr = np.empty(group[next(iter(group))].shape + shape)
        for idx, values in group.items():
            arr[(..., *idx)] = values
        out[base] = arr
    return out
