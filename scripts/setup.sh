#!/usr/bin/env bash
# Fresh-machine set-up: system media tools, a virtual environment, torch first, then the rest.
# usage: bash scripts/setup.sh        # to run the app and the command line
#        bash scripts/setup.sh dev    # also the test tools (pytest, Chromium for the browser test)
set -euo pipefail
cd "$(dirname "$0")/.."
apt_packages=()
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || apt_packages+=(ffmpeg)  # Gradio's streaming video
if [ "${1:-}" = dev ]; then
  command -v chromium >/dev/null || apt_packages+=(chromium)  # the real-browser app test
fi
if [ ${#apt_packages[@]} -gt 0 ]; then
  sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${apt_packages[@]}" >/dev/null
fi
[ -d .venv ] || python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q torch==2.13.0  # first, so that nothing else pulls a CUDA build
if [ "${1:-}" = dev ]; then
  python -m pip install -q -r requirements-dev.txt
else
  python -m pip install -q -r requirements.txt
fi
