"""Layering: the core (autograd_core) imports nothing from the network library (nn) built on it.

nn may import autograd_core; the reverse would make the lower layer depend on the upper one (and
importing the core would drag nn in). Checked on the source, so an import hidden inside a
function, which no import-time check would see, is caught too.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "autograd_core"
UPPER = "nn"


def _is_upper(name: str | None) -> bool:
    return name is not None and (name == UPPER or name.startswith(UPPER + "."))


def upper_imports(source: str, package: str) -> list[tuple[int, str]]:
    """(line, statement) of every import of nn in ``source``, a module of ``package``: import
    statements anywhere (module level, functions, classes, branches), relative imports resolved
    against the package, and importlib.import_module / __import__ calls with a literal name."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: `from .. import nn` from a top-level module means nn
                parts = package.split(".")
                base = parts[:len(parts) - node.level + 1] if node.level <= len(parts) else []
                base = ".".join(base + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names = [base] if base else []
            names += [f"{base}.{alias.name}" if base else alias.name for alias in node.names]
        elif (isinstance(node, ast.Call) and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and (getattr(node.func, "id", None) == "__import__"
                   or getattr(node.func, "attr", None) == "import_module")):
            names = [node.args[0].value]
        else:
            continue
        if any(_is_upper(name) for name in names):
            found.append((node.lineno, ast.get_source_segment(source, node)))
    return found


def core_modules():
    paths = sorted(CORE.rglob("*.py"))
    assert CORE / "viz.py" in paths and CORE / "ops" / "elementwise.py" in paths  # walks subfolders
    return paths


def test_no_module_of_the_core_imports_nn():
    offenders = []
    for path in core_modules():
        relative = path.relative_to(ROOT)
        package = ".".join(relative.parent.parts)
        offenders += [f"{relative}:{line}: {statement}"
                      for line, statement in upper_imports(path.read_text(), package)]
    assert not offenders, ("autograd_core must not import nn (nn is built on it; code that needs "
                           "both belongs in nn):\n" + "\n".join(offenders))


@pytest.mark.parametrize("statement", [
    "import nn",
    "import nn.viz as nv",
    "import os, nn.serialization",
    "from nn import viz",
    "from nn.viz import draw_network",
    "def f():\n    if True:\n        import nn\n    return nn",
    "class C:\n    def m(self):\n        from nn import save",
    "from .. import nn",          # from autograd_core/x.py: the top-level package nn
    "import importlib\nimportlib.import_module('nn.viz')",
    "__import__('nn')",
])
def test_the_check_sees_every_way_of_importing_nn(statement):
    assert len(upper_imports(statement, "autograd_core")) == 1


@pytest.mark.parametrize("statement", [
    "import numpy as nn",             # a name, not the package
    "from . import nn_helpers",
    "from .ops import nn",           # autograd_core.ops.nn is the core's own
    "import nnx",
    "from autograd_core import nn_like",
    "x = 'import nn'",
])
def test_the_check_does_not_flag_other_imports(statement):
    assert upper_imports(statement, "autograd_core") == []


def test_importing_and_running_the_core_loads_no_nn(tmp_path):
    """Importing the core, and its command line on each of its examples and on a saved model (which
    it refuses, pointing to python -m nn), leave nn unimported."""
    model = tmp_path / "model.npz"
    model.write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip archive
    code = ("import autograd_core, autograd_core.viz, sys\n"
            "assert 'nn' not in sys.modules\n"
            "from autograd_core.viz import EXAMPLES, main\n"
            "for name in EXAMPLES:\n"
            "    assert main(['--example', name, '--dot']) == 0\n"
            "try:\n"
            f"    main([{str(model)!r}, '--dot'])\n"
            "except SystemExit as exited:\n"
            "    assert exited.code == 2\n"
            "loaded = sorted(m for m in sys.modules if m == 'nn' or m.startswith('nn.'))\n"
            "assert not loaded, loaded\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "python -m nn" in done.stderr
    plain = subprocess.run([sys.executable, "-c", "import autograd_core, autograd_core.viz, sys; "
                            "assert 'nn' not in sys.modules"], cwd=ROOT, capture_output=True,
                           text=True, timeout=60)
    assert plain.returncode == 0, plain.stderr
