"""Video files in and out, through PyAV (FFmpeg's libraries, no ffmpeg binary needed).

`VideoWriter` takes frames and audio clip by clip, so a video of any length is written with
flat memory; `read_video` loads a whole (short) file for evaluation and tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


class VideoWriter:
    """H.264 + AAC mp4 writer that accepts frames and audio samples in any chunk sizes.

    Audio is written as mono float samples at `sample_rate`; the container is closed (and every
    buffered packet flushed) by `close()` or by leaving a `with` block.
    """

    def __init__(
        self,
        path: str | Path,
        fps: int = 25,
        sample_rate: int | None = 16000,
        crf: int = 18,
        preset: str = "veryfast",
    ):
        self.path = str(path)
        self.fps = fps
        self.sample_rate = sample_rate
        self._container = av.open(self.path, mode="w")
        self._video = self._container.add_stream("libx264", rate=fps)
        self._video.pix_fmt = "yuv420p"
        self._video.options = {"crf": str(crf), "preset": preset}
        self._audio = None
        if sample_rate is not None:
            self._audio = self._container.add_stream("aac", rate=sample_rate)
            self._audio.layout = "mono"
        self._audio_pts = 0
        self.frames_written = 0
        self.samples_written = 0
        self._closed = False

    def write_frames(self, frames: np.ndarray) -> None:
        """frames: uint8 array (T, H, W, 3)."""
        frames = np.ascontiguousarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"expected uint8 frames of shape (T, H, W, 3), got {frames.dtype} {frames.shape}")
        if self.frames_written == 0:
            # libx264 with yuv420p needs even sizes; the stream takes the first clip's size.
            self._video.height, self._video.width = frames.shape[1] // 2 * 2, frames.shape[2] // 2 * 2
        frames = frames[:, : self._video.height, : self._video.width]
        for frame in frames:
            video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
            for packet in self._video.encode(video_frame):
                self._container.mux(packet)
        self.frames_written += len(frames)

    def write_audio(self, samples: np.ndarray) -> None:
        """samples: float mono array (S,) in [-1, 1] at the writer's sample rate."""
        if self._audio is None:
            raise RuntimeError("this writer was opened without an audio stream")
        samples = np.clip(np.asarray(samples, dtype=np.float32).reshape(1, -1), -1.0, 1.0)
        if samples.shape[1] == 0:
            return
        audio_frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples), format="fltp", layout="mono")
        audio_frame.sample_rate = self.sample_rate
        audio_frame.pts = self._audio_pts
        audio_frame.time_base = Fraction(1, self.sample_rate)
        self._audio_pts += samples.shape[1]
        for packet in self._audio.encode(audio_frame):
            self._container.mux(packet)
        self.samples_written += samples.shape[1]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for packet in self._video.encode():
            self._container.mux(packet)
        if self._audio is not None:
            for packet in self._audio.encode():
                self._container.mux(packet)
        self._container.close()

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_video(
    path: str | Path,
    frames: np.ndarray,
    fps: int = 25,
    audio: np.ndarray | None = None,
    sample_rate: int = 16000,
) -> str:
    """Write a whole video (uint8 (T, H, W, 3)) with optional mono audio to an mp4."""
    with VideoWriter(path, fps=fps, sample_rate=sample_rate if audio is not None else None) as writer:
        writer.write_frames(frames)
        if audio is not None:
            writer.write_audio(audio)
    return str(path)


@dataclass
class VideoData:
    frames: np.ndarray  # uint8 (T, H, W, 3)
    fps: float
    audio: np.ndarray | None  # float32 mono (S,)
    sample_rate: int | None

    @property
    def duration(self) -> float:
        return len(self.frames) / self.fps


def read_video(path: str | Path, sample_rate: int | None = 16000) -> VideoData:
    """Decode all frames (RGB) and the first audio track (mono, resampled to `sample_rate`)."""
    path = str(path)
    try:
        container = av.open(path)
    except (av.error.FFmpegError, OSError) as error:
        raise ValueError(f"cannot read video {path!r}: {error}") from error
    with container:
        if not container.streams.video:
            raise ValueError(f"{path!r} has no video stream")
        video_stream = container.streams.video[0]
        fps = float(video_stream.average_rate or video_stream.guessed_rate or 25)
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video_stream)]
    audio, rate = None, None
    with av.open(path) as container:
        if container.streams.audio:
            from rap.media.audio import decode_audio_stream

            audio, rate = decode_audio_stream(container, sample_rate)
    if not frames:
        raise ValueError(f"{path!r} contains no video frames")
    return VideoData(np.stack(frames), fps, audio, rate)
