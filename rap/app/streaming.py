"""Clip files for Gradio's streaming video, the downloadable whole video, and live figures.

Gradio (>= 6.31, PR #13847) decodes each streamed chunk's audio to PCM and re-encodes the whole
stream with one AAC encoder, taking the chunk's duration from its video track. So a chunk's audio
must decode to exactly the samples of its frames: any extra lets the audio lead the video and,
past 0.1 s, Gradio freezes the picture to catch up (drift); any shortfall is padded with silence
(a gap, gradio#13844). AAC cannot do that: a chunk encoded on its own decodes rounded up to whole
1024-sample frames (81 frames at 16 kHz: 51840 samples in, 52224 out). The chunk therefore
carries lossless FLAC in its mp4, which decodes to the exact sample count, and every chunk
carries audio, so the first segment fixes an audio track in the player (gradio#11064).

Gradio's AAC encoder runs in a subprocess and each segment takes only the audio frames it has
produced by then; the rest (at least the encoder's hold-back, about 0.13 s at 16 kHz, and under
load most of a long chunk) travels with the next segment. A player at the live edge waits for it,
so a clip's tail would be heard only after the next clip is generated. Each clip is therefore
streamed as pieces of at most `PIECE_FRAMES` frames: while a piece is probed and muxed the
encoder catches up with the previous one, and only the last piece's hold-back waits for the next
clip.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from rap.media import VideoWriter

SEGMENT_CRF = 20
PIECE_FRAMES = 20  # 0.8 s at 25 fps


def write_segment(path: str | Path, frames: np.ndarray, audio: np.ndarray, fps: int, sample_rate: int) -> str:
    """One clip as a self-contained mp4: H.264 video and FLAC audio of exactly the same duration."""
    frames = np.ascontiguousarray(frames)
    samples_per_frame = sample_rate / fps
    if abs(len(audio) - len(frames) * samples_per_frame) > 0.5:
        raise ValueError(f"{len(frames)} frames need {len(frames) * samples_per_frame:.0f} samples, got {len(audio)}")
    with av.open(str(path), mode="w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.pix_fmt = "yuv420p"
        video.height, video.width = frames.shape[1] // 2 * 2, frames.shape[2] // 2 * 2
        video.options = {"crf": str(SEGMENT_CRF), "preset": "veryfast"}
        sound = container.add_stream("flac", rate=sample_rate)
        sound.layout = "mono"
        sound.format = "s16"
        for frame in frames[:, : video.height, : video.width]:
            for packet in video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        pcm = np.round(np.clip(np.asarray(audio, np.float32), -1.0, 1.0) * 32767.0).astype(np.int16)
        audio_frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        audio_frame.sample_rate = sample_rate
        audio_frame.pts = 0
        audio_frame.time_base = Fraction(1, sample_rate)
        for packet in sound.encode(audio_frame):
            container.mux(packet)
        for stream in (video, sound):
            for packet in stream.encode():
                container.mux(packet)
    return str(path)


class GenerationFiles:
    """The files of one generation, in a private temporary folder removed by `cleanup`.

    Streamed segments are deleted two clips after they were handed to Gradio (which has read
    them by then); the whole video is written clip by clip, so memory stays flat.
    """

    KEEP_SEGMENTS = 8

    def __init__(self, fps: int, sample_rate: int, root: str | Path | None = None):
        self.folder = Path(tempfile.mkdtemp(prefix="rap-app-", dir=root))
        self.fps, self.sample_rate = fps, sample_rate
        self.video_path = str(self.folder / "rap-video.mp4")
        self._whole = VideoWriter(self.video_path, fps=fps, sample_rate=sample_rate)
        self._segments: list[Path] = []

    def add_clip(self, index: int, frames: np.ndarray, audio: np.ndarray, piece_frames: int = PIECE_FRAMES) -> list[str]:
        """Append the clip to the whole video; return its streamed segments (pieces), in order."""
        self._whole.write_frames(frames)
        self._whole.write_audio(audio)
        samples_per_frame = self.sample_rate // self.fps
        num_pieces = max(1, -(-len(frames) // piece_frames))
        bounds = np.linspace(0, len(frames), num_pieces + 1).round().astype(int)
        paths = []
        for piece, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:])):
            segment = self.folder / f"clip-{index:04d}-{piece:02d}.mp4"
            write_segment(
                segment,
                frames[start:stop],
                audio[start * samples_per_frame : stop * samples_per_frame],
                self.fps,
                self.sample_rate,
            )
            self._segments.append(segment)
            paths.append(str(segment))
        while len(self._segments) > self.KEEP_SEGMENTS + len(paths):
            self._segments.pop(0).unlink(missing_ok=True)
        return paths

    def finish(self) -> str:
        self._whole.close()
        return self.video_path

    def cleanup(self) -> None:
        try:
            self._whole.close()
        except Exception:  # a half-written file is deleted anyway
            pass
        shutil.rmtree(self.folder, ignore_errors=True)


@dataclass
class LiveFigures:
    """What a visitor sees update per clip: progress, speed, latency and real-time factor."""

    fps: int
    started: float = field(default_factory=time.perf_counter)
    first_clip_s: float | None = None
    frames_done: int = 0
    clips_done: int = 0
    num_clips: int = 0
    elapsed_s: float = 0.0

    def add(self, num_frames: int, num_clips: int) -> None:
        self.elapsed_s = time.perf_counter() - self.started
        if self.first_clip_s is None:
            self.first_clip_s = self.elapsed_s
        self.frames_done += num_frames
        self.clips_done += 1
        self.num_clips = num_clips

    @property
    def video_seconds(self) -> float:
        return self.frames_done / self.fps

    @property
    def frames_per_second(self) -> float:
        return self.frames_done / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def real_time_factor(self) -> float:
        """Wall time per second of video, as `python -m rap.bench` reports it; 1 or less keeps up with playback."""
        return self.elapsed_s / self.video_seconds if self.video_seconds > 0 else 0.0

    def as_dict(self) -> dict:
        return {
            "clip": self.clips_done,
            "num_clips": self.num_clips,
            "video_seconds": round(self.video_seconds, 2),
            "frames_per_second": round(self.frames_per_second, 2),
            "time_to_first_clip_s": None if self.first_clip_s is None else round(self.first_clip_s, 2),
            "real_time_factor": round(self.real_time_factor, 3),
            "elapsed_s": round(self.elapsed_s, 2),
        }

    def markdown(self, finished: bool = False, note: str = "") -> str:
        if self.clips_done == 0:
            return "Preparing the portrait and the speech…"
        state = "Done" if finished else "Generating"
        pace = "keeps up with playback" if self.real_time_factor <= 1 else "slower than playback"
        lines = [
            f"**{state}: clip {self.clips_done} of {self.num_clips}** · {self.video_seconds:.2f} s of video",
            f"- time to first clip: **{self.first_clip_s:.1f} s**",
            f"- speed: **{self.frames_per_second:.1f} frames/s** · real-time factor **{self.real_time_factor:.2f}** ({pace})",
        ]
        if note:
            lines.append(f"- {note}")
        return "\n".join(lines)


def remove_stale_folders(root: str | Path | None = None, older_than_s: float = 6 * 3600) -> int:
    """Delete generation folders left behind by a crash; returns how many were removed."""
    root = Path(root or tempfile.gettempdir())
    removed = 0
    now = time.time()
    for folder in root.glob("rap-app-*"):
        try:
            if folder.is_dir() and now - folder.stat().st_mtime > older_than_s:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        except OSError:
            continue
    return removed
