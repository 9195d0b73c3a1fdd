"""The teaching notebooks run from top to bottom, offline, with small settings.

Every notebook reads RAP_NOTEBOOK_FAST in its first (parameters) cell and shrinks its sizes (audio
length, grids, training steps) when it is set; all five together run in a few minutes on a 2-core
CPU. Widgets are executed too: ipywidgets' `interact` runs its function once, and an exception
there lands in the widget's output instead of failing the cell, so those outputs are checked.
"""

import asyncio
import queue
import time
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


def _poll_in_slices(channel, slice_s: float = 1.0):
    """Make a kernel-client channel's `get_msg(timeout)` poll in short slices up to the same timeout.

    With widget cells a reply can sit in the shell socket while pyzmq's asyncio poller misses its
    wake-up; the poller only finds it when its timeout fires, so nbclient waits out the whole cell
    timeout and then goes on (nbclient issue #312; seen here as a 600 s pause after notebook 03's
    second `interact` cell). Each slice that ends empty re-checks the socket, so such a reply is
    read within a second and a notebook that really hangs still fails at the cell timeout.
    """
    get_msg = channel.get_msg

    async def sliced(timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = slice_s if deadline is None else min(slice_s, deadline - time.monotonic())
            try:
                return await get_msg(timeout=max(left, 0.0))
            except queue.Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    channel.get_msg = sliced


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
    client.on_notebook_start = lambda notebook: [
        _poll_in_slices(channel) for channel in (client.kc.shell_channel, client.kc.iopub_channel)
    ]
    client.execute()  # raises CellExecutionError on the first failing cell
    assert not _widget_errors(notebook), _widget_errors(notebook)


class _MissedWakeupChannel:
    """A channel whose message is already there but whose poll only sees it when its timeout ends."""

    def __init__(self, has_message: bool):
        self.has_message = has_message
        self.timeouts = []

    async def get_msg(self, timeout=None):
        self.timeouts.append(timeout)
        await asyncio.sleep(timeout)
        if self.has_message:
            return {"msg_type": "execute_reply"}
        raise queue.Empty


def test_sliced_polling_reads_a_reply_the_poller_missed_within_a_slice():
    channel = _MissedWakeupChannel(has_message=True)
    _poll_in_slices(channel, slice_s=0.05)
    started = time.monotonic()
    assert asyncio.run(channel.get_msg(timeout=600))["msg_type"] == "execute_reply"
    assert time.monotonic() - started < 1.0 and channel.timeouts == [0.05]


def test_sliced_polling_still_times_out_when_nothing_comes():
    channel = _MissedWakeupChannel(has_message=False)
    _poll_in_slices(channel, slice_s=0.05)
    started = time.monotonic()
    with pytest.raises(queue.Empty):
        asyncio.run(channel.get_msg(timeout=0.2))
    assert 0.2 <= time.monotonic() - started < 0.5 and 4 <= len(channel.timeouts) <= 6
