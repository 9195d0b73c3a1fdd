#!/usr/bin/env bash
# Fresh-machine set-up: system media tools, a virtual environment, torch first, then the rest.
# usage: bash scripts/setup.sh [dev]
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v ffmpeg >/dev/null || ! command -v ffprobe >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null
  fi
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
