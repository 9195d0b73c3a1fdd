"""The command line: generate an mp4 with audio; benchmark JSON; clear errors."""

import json
import subprocess
import sys

import numpy as np
import soundfile as sf
from PIL import Image

from rap.media import read_video
from conftest import speech_like, tiny_pipeline


def _run(*args):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300)


def test_generate_writes_a_video_with_its_audio(tmp_path):
    tiny_pipeline().save_pretrained(tmp_path / "model")
    sf.write(tmp_path / "speech.wav", speech_like(2.2), 16000)
    Image.fromarray((np.random.default_rng(0).random((90, 70, 3)) * 255).astype(np.uint8)).save(tmp_path / "me.png")
    result = _run("-m", "rap", "generate", "--image", str(tmp_path / "me.png"), "--audio", str(tmp_path / "speech.wav"),
                  "--out", str(tmp_path / "out.mp4"), "--weights", str(tmp_path / "model"), "--crop", "center", "--steps", "1")
    assert result.returncode == 0, result.stderr
    video = read_video(tmp_path / "out.mp4")
    assert len(video.frames) == 55  # 2.2 s at 25 fps
    assert abs(len(video.audio) / 16000 - 2.2) < 0.07


def test_generate_reports_bad_input_without_traceback(tmp_path):
    tiny_pipeline().save_pretrained(tmp_path / "model")
    (tmp_path / "speech.wav").write_bytes(b"RIFF garbage")
    Image.new("RGB", (64, 64)).save(tmp_path / "me.png")
    result = _run("-m", "rap", "generate", "--image", str(tmp_path / "me.png"), "--audio", str(tmp_path / "speech.wav"),
                  "--weights", str(tmp_path / "model"), "--out", str(tmp_path / "o.mp4"))
    assert result.returncode == 2
    assert "error:" in result.stderr and "Traceback" not in result.stderr


def test_bench_json(tmp_path):
    tiny_pipeline().save_pretrained(tmp_path / "model")
    result = _run("-m", "rap.bench", "--weights", str(tmp_path / "model"), "--seconds", "1.5", "--steps", "1", "--json", "--no-warmup",
                  "--guidance", "tangential", "--guidance-stop", "0.5")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("fps", "first_clip_s", "rtf", "peak_mem_mb", "preset", "weights", "device", "steps", "resolution"):
        assert key in report
    assert report["frames"] == 38 and report["fps"] > 0 and report["first_clip_s"] <= report["wall_s"]
    assert report["weights"] == str(tmp_path / "model") and (report["guidance"], report["guidance_stop"]) == ("tangential", 0.5)
