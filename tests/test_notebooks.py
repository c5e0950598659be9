"""The tutorial notebooks (notebooks/*.ipynb) run, in their quick form, and are committed clean.

Each notebook is executed with nbclient in a Jupyter kernel of this very Python (the test
checks that first: the kernel named 'python3' is the ipykernel of the running environment), in
notebooks/ as its working folder, with ``NOTEBOOK_QUICK=1`` so that it trains on less data for
fewer epochs. A cell that raises fails the test with the cell's error.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import nbclient
import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TIMEOUT_PER_CELL = 120  # seconds; a quick cell takes well under one


def test_there_are_notebooks():
    # Guards the parametrized tests below against passing because the glob found nothing.
    assert len(NOTEBOOKS) >= 5, [path.name for path in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path):
    """Outputs and execution counts stay out of git: they bloat diffs and go stale."""
    notebook = json.loads(path.read_text())
    assert notebook.get("nbformat") == 4, f"{path.name}: not an nbformat 4 notebook"
    dirty = [k for k, cell in enumerate(notebook["cells"]) if cell["cell_type"] == "code" and (
        cell.get("outputs") or cell.get("execution_count") is not None)]
    assert not dirty, (f"{path.name}: code cells {dirty} have outputs or execution counts; "
                       "clear them before committing (Jupyter: Edit > Clear All Outputs, or "
                       "jupyter nbconvert --clear-output --inplace notebooks/*.ipynb)")


# Run first in every notebook: the kernel must be this Python, or the notebook would be testing
# whatever else the kernel named 'python3' happens to start.
_SAME_PYTHON = f"""
import os, sys
assert os.path.realpath(sys.prefix) == {os.path.realpath(sys.prefix)!r}, (
    f"the kernel 'python3' runs the Python of {{sys.prefix}}, not this environment's "
    "({sys.prefix}): install ipykernel here (pip install -e '.[notebooks]') and remove the "
    "other 'python3' kernel spec (jupyter kernelspec list)")
assert os.environ.get("NOTEBOOK_QUICK") == "1"
"""


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_runs_in_quick_form(path, monkeypatch):
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.insert(0, nbformat.v4.new_code_cell(_SAME_PYTHON))
    # The kernel inherits this environment: quick form, plots to memory, one BLAS thread (the
    # suite may run tests in parallel), and no stray output from a repository-wide setting.
    monkeypatch.setenv("NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    client = nbclient.NotebookClient(notebook, kernel_name="python3", timeout=TIMEOUT_PER_CELL,
                                     resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as error:
        pytest.fail(f"{path.name}: a cell raised:\n{error}", pytrace=False)
