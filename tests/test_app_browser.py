"""The app in a real browser: headless Chromium loads the page, uploads a portrait and speech,
presses Generate, and the streamed video must actually play (time advancing, not paused, with
data buffered). Skipped when Chromium or Playwright's Python package is missing."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

pytest.importorskip("playwright.sync_api", reason="pip install playwright (Chromium comes from apt, not playwright install)")

from conftest import tiny_pipeline  # noqa: E402
from test_app import steady_speech, write_wav  # noqa: E402

from rap.app.browser import find_chromium  # noqa: E402

pytestmark = [
    pytest.mark.skipif(find_chromium() is None, reason="chromium is not installed (apt-get install -y chromium)"),
    pytest.mark.skipif(shutil.which("ffprobe") is None, reason="streaming video needs ffmpeg and ffprobe"),
]


def test_streamed_video_plays_in_chromium(tmp_path):
    from PIL import Image

    from rap.app import build_demo, launch
    from rap.app.browser import chromium_page, generate_and_watch

    image = tmp_path / "portrait.png"
    Image.fromarray((np.random.default_rng(1).random((120, 100, 3)) * 255).astype(np.uint8)).save(image)
    audio = write_wav(tmp_path / "speech.wav", steady_speech(6.0))
    demo = build_demo(tiny_pipeline())
    _, url, _ = launch(demo, server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
    try:
        with chromium_page() as page:
            report = generate_and_watch(page, url, str(image), audio, timeout_s=120)
            figures = page.locator("#rap-figures").inner_text()
    finally:
        demo.close()
    assert not report.paused
    assert report.ready_state >= 2  # HAVE_CURRENT_DATA or better
    assert report.current_time > 0.2
    assert not report.muted
    assert "clip" in figures and "time to first clip" in figures
