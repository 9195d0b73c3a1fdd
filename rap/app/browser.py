"""Drive the app in headless Chromium (Debian's `chromium`, through Playwright's Python package).

Shared by the browser test and the screenshot script, so both check the same thing a visitor
does: upload a portrait and speech, press Generate, and watch the streamed video play.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def chromium_page(width: int = 1500, height: int = 1000):
    """A fresh Chromium profile, removed afterwards; yields a Playwright page."""
    from playwright.sync_api import sync_playwright

    executable = find_chromium()
    if executable is None:
        raise RuntimeError("chromium is not installed (apt-get install -y chromium)")
    profile = tempfile.mkdtemp(prefix="rap-chromium-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=executable,
                headless=True,
                args=CHROMIUM_FLAGS,
                viewport={"width": width, "height": height},
            )
            try:
                yield context.pages[0] if context.pages else context.new_page()
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@dataclass
class PlaybackReport:
    seconds_to_first_clip: float  # Generate pressed -> the video element has a playable frame
    seconds_to_playing: float  # Generate pressed -> currentTime advancing
    current_time: float
    paused: bool
    ready_state: int
    muted: bool


VIDEO_STATE = """() => {
  const v = document.querySelector('#rap-video video');
  if (!v) return null;
  return {t: v.currentTime, paused: v.paused, ready: v.readyState, muted: v.muted};
}"""


def generate_and_watch(page, url: str, image: str, audio: str, timeout_s: float = 300.0, settle_s: float = 1.5):
    """Open the app, upload the inputs, press Generate and wait until the video really plays."""
    page.goto(url, wait_until="networkidle")
    page.locator("#rap-image input[type=file]").set_input_files(image)
    page.locator("#rap-audio input[type=file]").set_input_files(audio)
    page.locator("#rap-audio audio, #rap-audio .waveform-container, #rap-audio button").first.wait_for(timeout=30_000)
    page.locator("#rap-image img").first.wait_for(timeout=30_000)
    page.locator("#rap-generate").click()
    pressed = time.perf_counter()
    first_clip = playing = None
    state, start_t = None, None
    while time.perf_counter() - pressed < timeout_s:
        state = page.evaluate(VIDEO_STATE)
        now = time.perf_counter() - pressed
        if state and state["ready"] >= 2 and first_clip is None:
            first_clip = now
        if state and state["t"] > 0 and not state["paused"]:
            if start_t is None:
                start_t, playing = state["t"], now
            elif state["t"] > start_t + 0.2:
                break
        page.wait_for_timeout(100)
    else:
        raise TimeoutError(f"the video did not play within {timeout_s:.0f} s; last state {state}")
    page.wait_for_timeout(int(settle_s * 1000))
    state = page.evaluate(VIDEO_STATE)
    return PlaybackReport(first_clip or playing, playing, state["t"], state["paused"], state["ready"], state["muted"])
