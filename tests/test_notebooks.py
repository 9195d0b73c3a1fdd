"""The teaching notebooks run from top to bottom, offline, with small settings.

Every notebook reads RAP_NOTEBOOK_FAST in its first (parameters) cell and shrinks its sizes (audio
length, grids, training steps) when it is set; all five together run in a few minutes on a 2-core
CPU. Widgets are executed too: ipywidgets' `interact` runs its function once, and an exception
there lands in the widget's output instead of failing the cell, so those outputs are checked.
"""

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))


def test_the_five_notebooks_are_there():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name} carries outputs; strip them"
    assert "widgets" not in notebook.metadata, f"{path.name} carries widget state; strip it"
    assert path.stat().st_size < 60_000
    first_code = next(c for c in notebook.cells if c.cell_type == "code")
    assert "RAP_NOTEBOOK_FAST" in first_code.source and "parameters" in first_code.metadata.get("tags", [])


def _widget_errors(notebook) -> list[str]:
    state = notebook.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    errors = []
    for model in state.values():
        for output in model.get("state", {}).get("outputs", []) or []:
            if output.get("output_type") == "error":
                errors.append(f"{output.get('ename')}: {output.get('evalue')}")
    return errors


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, monkeypatch):
    monkeypatch.setenv("RAP_NOTEBOOK_FAST", "1")  # the kernel inherits this environment
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TQDM_DISABLE", "1")
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    assert not _widget_errors(notebook), _widget_errors(notebook)
