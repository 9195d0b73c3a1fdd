"""Speech in: any common audio file or array becomes mono float32 at 16 kHz.

PyAV decodes and resamples (wav, mp3, flac, ogg, m4a, the audio track of a video, any rate, any
channel layout); arrays arrive from Gradio as `(sample_rate, samples)` and are resampled with
the same FFmpeg resampler, so every path sees one conversion.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

SAMPLE_RATE = 16000


class AudioError(ValueError):
    """Audio that cannot be used, with a message meant for the person who gave it."""


def decode_audio_stream(container, sample_rate: int | None = SAMPLE_RATE) -> tuple[np.ndarray, int]:
    stream = container.streams.audio[0]
    rate = sample_rate or stream.rate
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
    chunks = []
    for frame in container.decode(stream):
        for out in resampler.resample(frame):
            chunks.append(out.to_ndarray().reshape(-1))
    for out in resampler.resample(None):
        chunks.append(out.to_ndarray().reshape(-1))
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    return samples.astype(np.float32, copy=False), rate


def resample(samples: np.ndarray, source_rate: int, target_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Resample a mono or (S, C) / (C, S) array with FFmpeg's resampler; returns mono float32."""
    samples = np.asarray(samples)
    if samples.ndim == 2:
        # Gradio gives (S, C); treat the shorter axis as channels.
        channel_axis = 1 if samples.shape[1] <= samples.shape[0] else 0
        samples = samples.mean(axis=channel_axis)
    if np.issubdtype(samples.dtype, np.integer):
        samples = samples.astype(np.float32) / float(np.iinfo(samples.dtype).max)
    samples = samples.astype(np.float32).reshape(-1)
    if source_rate == target_rate or samples.size == 0:
        return samples
    frame = av.AudioFrame.from_ndarray(samples[None], format="flt", layout="mono")
    frame.sample_rate = int(source_rate)
    resampler = av.AudioResampler(format="flt", layout="mono", rate=target_rate)
    out = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    out += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)


def load_audio(audio, sample_rate: int = SAMPLE_RATE, min_seconds: float = 0.0) -> np.ndarray:
    """Return mono float32 samples at `sample_rate`; raise `AudioError` with a clear reason otherwise.

    `audio` is a path, a `(rate, samples)` tuple (Gradio's format) or an array already at `sample_rate`.
    """
    if isinstance(audio, (str, Path)):
        path = Path(audio)
        if not path.is_file():
            raise AudioError(f"audio file not found: {path}")
        if path.stat().st_size == 0:
            raise AudioError(f"audio file is empty: {path}")
        try:
            with av.open(str(path)) as container:
                if not container.streams.audio:
                    raise AudioError(f"{path.name} has no audio track")
                samples, _ = decode_audio_stream(container, sample_rate)
        except AudioError:
            raise
        except (av.error.FFmpegError, OSError, ValueError) as error:
            raise AudioError(f"cannot decode audio file {path.name}: it is corrupt or not an audio format") from error
    elif isinstance(audio, tuple) and len(audio) == 2:
        rate, samples = audio
        samples = resample(np.asarray(samples), int(rate), sample_rate)
    elif isinstance(audio, np.ndarray):
        samples = resample(audio, sample_rate, sample_rate)
    else:
        raise AudioError(f"unsupported audio input of type {type(audio).__name__}")

    if samples.size == 0:
        raise AudioError("the audio contains no samples")
    if not np.all(np.isfinite(samples)):
        raise AudioError("the audio contains non-finite samples (NaN or infinity)")
    if samples.size < min_seconds * sample_rate:
        raise AudioError(
            f"the audio lasts {samples.size / sample_rate * 1000:.0f} ms, shorter than one video frame "
            f"({min_seconds * 1000:.0f} ms)"
        )
    peak = float(np.abs(samples).max())
    if peak > 1.0:
        samples = samples / peak
    return samples
