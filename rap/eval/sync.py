"""SyncNet-like lip-sync score: Pearson correlation between the mouth opening read from the
video and the opening implied by the audio (audio branch) or by a phoneme table, at the best
offset within ±max_offset frames.

Offset convention: `offset = k > 0` means the video lags the audio by k frames, i.e. frame t
of the video matches the sound of frame t - k.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from rap.synth.phonemes import PhonemeTable, read_table


@dataclass
class SyncResult:
    score: float  # Pearson correlation at the best offset
    offset: int  # frames; > 0: video lags audio
    per_offset: dict[int, float] = field(default_factory=dict)
    reference: str = "audio"  # "audio" or "phonemes"
    frames: int = 0
    video_opening: np.ndarray | None = None
    reference_opening: np.ndarray | None = None

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("video_opening")
        data.pop("reference_opening")
        data["per_offset"] = {str(k): round(v, 4) for k, v in self.per_offset.items()}
        data["score"] = round(self.score, 4)
        return data


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = np.asarray(a, np.float64) - np.mean(a)
    b = np.asarray(b, np.float64) - np.mean(b)
    denominator = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denominator) if denominator > 1e-12 else 0.0


def correlation_by_offset(video: np.ndarray, reference: np.ndarray, max_offset: int = 5) -> dict[int, float]:
    """Pearson of video[t] against reference[t - k] over the overlap, for k in [-max, max]."""
    n = min(len(video), len(reference))
    video, reference = np.asarray(video[:n]), np.asarray(reference[:n])
    out = {}
    for k in range(-max_offset, max_offset + 1):
        if n - abs(k) < 3:
            continue
        if k >= 0:
            out[k] = pearson(video[k:], reference[: n - k])
        else:
            out[k] = pearson(video[: n + k], reference[-k:])
    return out


def reference_opening(frames: int, audio: np.ndarray | None = None, phonemes=None, fps: int = 25) -> tuple[np.ndarray, str]:
    """The opening implied by a phoneme table (preferred when given) or by the audio branch."""
    if phonemes is not None:
        from rap.synth.motion import opening_from_phonemes

        table = phonemes if isinstance(phonemes, PhonemeTable) else read_table(phonemes)
        return opening_from_phonemes(table, frames, fps), "phonemes"
    if audio is None:
        raise ValueError("sync needs audio or a phoneme table")
    from rap.eval.audio_opening import opening_from_audio

    return opening_from_audio(np.asarray(audio, np.float32), frames), "audio"


def sync_score(
    video_frames: np.ndarray,
    audio: np.ndarray | None = None,
    phonemes: "PhonemeTable | str | Path | None" = None,
    max_offset: int = 5,
    fps: int = 25,
    video_opening: np.ndarray | None = None,
) -> SyncResult:
    """Score frames (uint8 T,H,W,3; 25 fps) against 16 kHz audio or a phoneme table.

    `video_opening` skips the mouth reader (e.g. when the true opening is known).
    """
    if fps != 25:
        raise ValueError("the meter works at 25 fps; resample the video first")
    if video_opening is None:
        from rap.eval.mouth_reader import read_mouth

        video_opening = read_mouth(video_frames)["opening"]
    frames = len(video_opening)
    reference, kind = reference_opening(frames, audio, phonemes, fps)
    per_offset = correlation_by_offset(video_opening, reference, max_offset)
    best = max(per_offset, key=lambda k: (per_offset[k], -abs(k)))
    return SyncResult(per_offset[best], best, per_offset, kind, frames, video_opening, reference)


def sync_score_file(video_path, phonemes=None, audio=None, max_offset: int = 5) -> SyncResult:
    from rap.media import load_audio, read_video

    video = read_video(video_path)
    if abs(video.fps - 25) > 0.01:
        raise ValueError(f"{video_path} is {video.fps:g} fps; the meter expects 25 fps")
    sound = load_audio(audio) if audio is not None else video.audio
    return sync_score(video.frames, audio=sound, phonemes=phonemes, max_offset=max_offset)
