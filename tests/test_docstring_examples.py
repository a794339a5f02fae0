"""Every ``.. code-block:: python`` example in the package's docstrings runs.

The examples are collected from every public module (``pkgutil.iter_modules``, names without
a leading underscore) and the package itself: the module docstrings and the docstrings of
every name in each module's ``__all__`` (``inspect.getdoc`` for classes and functions; for
data, e.g. ``DilationLangevinState`` or ``SCHEDULES``, the string literal that follows the
assignment, which is what Sphinx's autodoc shows). A name re-exported by several modules is
run once, under the id of the module that defines it (``modes.GlobalMoves``).

Each block is de-indented and executed with ``exec`` in a fresh namespace, in a temporary
working directory, with matplotlib's Agg backend: one test per block, ids like
``modes.mixture_sample``. They sample, so they are ``slow`` (``make test-all``); select some
with ``-m slow -k modes``. ``test_every_public_name_has_an_example`` (fast, static: nothing
is executed) checks that every public name has a code block in its own docstring.
"""

import ast
import importlib
import inspect
import pkgutil
import re
import sys
import textwrap

import matplotlib
import pytest

import numpyro_dilation

PACKAGE = numpyro_dilation.__name__
_DIRECTIVE = re.compile(r"^(?P<indent>[ \t]*)\.\. code-block::[ \t]*python[ \t]*$")
_OPTION = re.compile(r"^[ \t]*:[\w-]+:")


def _public_modules() -> list:
    """The package and its public modules, in name order."""
    found = pkgutil.iter_modules(numpyro_dilation.__path__)
    names = sorted(m.name for m in found if not m.name.startswith("_"))
    return [numpyro_dilation] + [importlib.import_module(f"{PACKAGE}.{n}") for n in names]


def _short(module_name: str) -> str:
    return module_name.removeprefix(PACKAGE + ".")


def _attribute_docstrings(module) -> dict[str, str]:
    """Docstrings of module-level assignments: the string literal right after ``NAME = ...``."""
    tree = ast.parse(inspect.getsource(module))
    docs = {}
    for node, after in zip(tree.body, tree.body[1:]):
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        else:
            continue
        if (
            isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            for target in targets:
                if isinstance(target, ast.Name):
                    docs[target.id] = inspect.cleandoc(after.value.value)
    return docs


def _home(module, obj):
    """The package module that defines ``obj`` (``module`` itself for data)."""
    name = getattr(obj, "__module__", None) if (inspect.isclass(obj) or callable(obj)) else None
    if isinstance(name, str) and (name == PACKAGE or name.startswith(PACKAGE + ".")):
        return sys.modules[name]
    return module


def _own_doc(obj) -> str:
    """``inspect.getdoc`` of a class or function, if it has a docstring of its own."""
    if inspect.isclass(obj):
        own = obj.__dict__.get("__doc__")
    elif inspect.isroutine(obj):
        own = obj.__doc__
    else:
        return ""  # data: the docstring is the attribute's (see _attribute_docstrings)
    return inspect.getdoc(obj) if own else ""


def _docstrings() -> dict[str, str]:
    """``{id: docstring}`` of every module and every public name, each object once."""
    docs = {}
    for module in _public_modules():
        docs.setdefault(_short(module.__name__), inspect.getdoc(module) or "")
        for name in module.__all__:
            obj = getattr(module, name)
            home = _home(module, obj)
            attribute = _attribute_docstrings(home).get(name, "")
            text = "\n\n".join(part for part in (attribute, _own_doc(obj)) if part)
            docs.setdefault(f"{_short(home.__name__)}.{name}", text)
    return docs


def code_blocks(doc: str) -> list[str]:
    """The de-indented bodies of the ``.. code-block:: python`` directives in ``doc``."""
    lines = doc.expandtabs().splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        match = _DIRECTIVE.match(lines[i])
        i += 1
        if not match:
            continue
        indent = len(match["indent"])
        while i < len(lines) and _OPTION.match(lines[i]):
            i += 1
        body = []
        while i < len(lines) and (
            not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent
        ):
            body.append(lines[i])
            i += 1
        code = textwrap.dedent("\n".join(body)).strip("\n")
        if code:
            blocks.append(code + "\n")
    return blocks


def examples() -> list[tuple[str, str]]:
    """``(id, code)`` of every code block; the id gets ``[k]`` from a docstring's second on."""
    out = []
    for key, doc in _docstrings().items():
        for k, code in enumerate(code_blocks(doc)):
            out.append((key if k == 0 else f"{key}[{k}]", code))
    return out


def _public_names() -> list[str]:
    """Ids of the public names (module docstrings excluded)."""
    names = []
    for module in _public_modules():
        for name in module.__all__:
            home = _home(module, getattr(module, name))
            names.append(f"{_short(home.__name__)}.{name}")
    return sorted(set(names))


def test_every_public_name_has_an_example():
    """Static check, nothing is executed: every public name has its own code block."""
    docs = _docstrings()
    missing = [key for key in _public_names() if not code_blocks(docs[key])]
    assert not missing, (
        "public names without a `.. code-block:: python` example in their own docstring: "
        + ", ".join(missing)
    )
    ids = [key for key, _ in examples()]  # the slow tests' parametrization
    assert len(ids) == len(set(ids)) and set(_public_names()) <= set(ids)


_EXAMPLES = examples()


@pytest.mark.slow
@pytest.mark.parametrize("code", [c for _, c in _EXAMPLES], ids=[k for k, _ in _EXAMPLES])
def test_docstring_example_runs(code, tmp_path, monkeypatch):
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)  # examples may write files (figures)
    try:
        exec(compile(code, "<docstring example>", "exec"), {"__name__": "__docstring_example__"})
    finally:
        plt.close("all")
