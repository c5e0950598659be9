"""The documentation runs: every ```python block of README.md and every docstring example of
autograd_core and nn.

- README blocks run one by one, each in a fresh namespace (so each must define what it uses), in
  a temporary folder (so files they write land there). A block that defines a hypothesis
  ``@given`` test has that test called too. Shell commands go in ```bash blocks, which are not run.
- ``>>>`` examples run with doctest, module by module, in a temporary folder, in the namespace
  of ``doctest_namespace`` (the module's globals, ``np``, ``ag``, ``nn`` and what they export, and
  the placeholders ``model``, ``x``, ``y`` that an example may take as given).
- Literal ``::`` blocks in docstrings are code too, unless their docstring is listed in
  ``NOT_PYTHON`` (formulas, file layouts): each block runs in that namespace, and the hypothesis
  tests it defines are called.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil
import re
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

import autograd_core
import nn

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.M | re.S)


def readme_blocks(language: str) -> list[tuple[int, str]]:
    """(line number, source) of every fenced block of README.md in ``language``."""
    text = README.read_text()
    return [(text.count("\n", 0, m.start()) + 1, m.group(2))
            for m in _FENCE.finditer(text) if m.group(1) == language]


def test_readme_has_python_blocks():
    # The extraction itself must see the blocks (a fence written differently would skip them).
    assert len(readme_blocks("python")) >= 5
    fenced = {m.group(1) for m in _FENCE.finditer(README.read_text())}
    assert fenced <= {"python", "bash", ""}, f"README.md: unexpected code fences {fenced}"


@pytest.mark.parametrize("line, source", readme_blocks("python"),
                         ids=[f"line{line}" for line, _ in readme_blocks("python")])
def test_readme_block_runs(line, source, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": f"readme_line{line}"}
    exec(compile(source, f"README.md:{line}", "exec"), namespace)
    call_given_tests(namespace)


# ---- docstrings -------------------------------------------------------------------------------

def package_modules() -> list[str]:
    names = []
    for package in (autograd_core, nn):
        names.append(package.__name__)
        names += [info.name for info in pkgutil.walk_packages(package.__path__,
                                                              package.__name__ + ".")]
    # ``python -m autograd_core`` runs the command line as soon as it is imported.
    return [name for name in names if not name.endswith(".__main__")]


def doctest_namespace(module) -> dict:
    """What an example of ``module`` may use without defining it: ``np``, ``ag``, ``nn`` and what
    they export (as after ``from autograd_core import *; from nn import *``), the module's own
    globals, and placeholders: a small ``model`` and a batch ``x``, ``y`` for it. Made afresh
    for every docstring, so that an example that trains ``model`` changes no other."""
    import autograd_core as ag

    namespace = {name: getattr(package, name) for package in (ag, nn) for name in package.__all__}
    namespace.update(vars(module))
    namespace.update(
        np=np, ag=ag, nn=nn,
        model=nn.Sequential(nn.Dense(2, 3, rng=0), nn.Tanh(), nn.Dense(3, 1, rng=1)),
        x=np.linspace(-1.0, 1.0, 8, dtype=np.float32).reshape(4, 2),
        y=np.array([[0.5], [-0.5], [1.0], [0.0]], dtype=np.float32),
    )
    return namespace


_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def test_docstring_examples_are_found():
    # Guards the tests below against passing because the finder saw nothing.
    found = sum(len(test.examples) for name in package_modules()
                for test in doctest.DocTestFinder().find(importlib.import_module(name), name))
    assert found >= 40, f"only {found} docstring examples found in autograd_core and nn"


@pytest.mark.parametrize("module_name", package_modules())
def test_docstring_examples(module_name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(module_name)
    runner = doctest.DocTestRunner(optionflags=_FLAGS)
    report = []
    with warnings.catch_warnings():
        for message in EXPECTED_WARNINGS.get(module_name, ()):
            warnings.filterwarnings("ignore", message, RuntimeWarning)
        for test in doctest.DocTestFinder(exclude_empty=True).find(module, module_name):
            test.globs = doctest_namespace(module)
            runner.run(test, out=report.append)
    assert runner.failures == 0, f"{module_name}: docstring examples fail\n" + "".join(report)


# Examples that show a numpy floating-point warning on purpose (what a user sees there too).
EXPECTED_WARNINGS = {
    "autograd_core.anomaly": ("divide by zero encountered in log",),  # log(0) -> AnomalyError
}


def call_given_tests(namespace: dict) -> None:
    """Call the hypothesis tests (``@given``) that a code example defined, as pytest would."""
    for name, value in list(namespace.items()):
        if name.startswith("test_") and hasattr(value, "hypothesis"):
            value()


# Docstrings whose literal blocks (after ``::``) are not Python: formulas and file layouts.
# Every other literal block in autograd_core and nn is run as code.
NOT_PYTHON = {
    "nn.optim.SGD": "update rule",
    "nn.optim.Adam": "update rule",
    "nn.optim.RMSProp": "update rule",
    "nn.optim.Adagrad": "update rule",
    "nn.serialization": "file layout",
}


def literal_blocks(module) -> list[tuple[str, str]]:
    """(qualified name of the owner, dedented source) of every ``::`` block in the docstrings of
    ``module`` and of the classes and functions it defines."""
    owners = [(module.__name__, module)]
    for name, value in vars(module).items():
        if getattr(value, "__module__", None) == module.__name__ and (
                inspect.isclass(value) or inspect.isfunction(value)):
            owners.append((f"{module.__name__}.{name}", value))
            if inspect.isclass(value):
                owners += [(f"{module.__name__}.{name}.{attr}", member)
                           for attr, member in vars(value).items()
                           if inspect.isfunction(member) and member.__doc__]
    blocks = []
    for qualname, owner in owners:
        # getdoc would give a class without a docstring its base class's: only its own counts.
        doc = inspect.cleandoc(owner.__doc__ or "")
        lines = doc.splitlines()
        for i, line in enumerate(lines):
            if not line.rstrip().endswith("::"):
                continue
            body = []
            for following in lines[i + 1:]:
                if following.strip() and not following.startswith(" "):
                    break
                body.append(following)
            blocks.append((qualname, textwrap.dedent("\n".join(body)).strip("\n")))
    return blocks


@pytest.mark.parametrize("module_name", package_modules())
def test_docstring_literal_blocks(module_name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(module_name)
    for qualname, source in literal_blocks(module):
        if qualname in NOT_PYTHON:
            continue
        namespace = doctest_namespace(module)
        try:
            exec(compile(source, f"<docstring of {qualname}>", "exec"), namespace)
            call_given_tests(namespace)
        except Exception as error:
            raise AssertionError(f"the example in the docstring of {qualname} fails "
                                 f"({type(error).__name__}: {error}):\n{source}") from error
