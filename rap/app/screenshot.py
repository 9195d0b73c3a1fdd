"""Screenshot of the app mid-generation for the docs: `python -m rap.app.screenshot`.

Starts the app with the default pipeline (bundled small model, else random rap-small), animates a
sample portrait with a sample speech in headless Chromium, and saves a full-page screenshot once
the streamed video plays. Prints the time to first clip as the browser saw it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rap.app.browser import chromium_page, generate_and_watch
from rap.app.ui import ASSETS_DIR, AUDIO_SUFFIXES, IMAGE_SUFFIXES, REPO_ROOT, _samples, build_demo, launch


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO_ROOT / "docs" / "app_screenshot.png"))
    parser.add_argument("--image", default=None, help="portrait (default: the first sample)")
    parser.add_argument("--audio", default=None, help="speech (default: the first sample)")
    parser.add_argument("--timeout", type=float, default=400.0)
    args = parser.parse_args(argv)
    image = args.image or next(iter(_samples(ASSETS_DIR / "portraits", IMAGE_SUFFIXES)), None)
    audio = args.audio or next(iter(_samples(ASSETS_DIR / "speech", AUDIO_SUFFIXES)), None)
    if image is None or audio is None:
        raise SystemExit("no sample portrait or speech under assets/; pass --image and --audio")

    demo = build_demo()
    _, url, _ = launch(demo, server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
    try:
        with chromium_page() as page:
            report = generate_and_watch(page, url, image, audio, timeout_s=args.timeout, settle_s=2.0)
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=args.out, full_page=True)
            page.locator("#rap-stop").click()  # let the generation clean up before the server closes
            page.wait_for_timeout(3000)
    finally:
        demo.close()
    print(f"time to first clip in the browser: {report.seconds_to_first_clip:.1f} s "
          f"(playing after {report.seconds_to_playing:.1f} s); screenshot: {args.out}")  # fmt: skip


if __name__ == "__main__":
    main()
