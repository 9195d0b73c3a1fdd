"""One ground-truth talking clip: identity + speech + motion -> frames with exact mouth labels.

Why one function: the data set writer, the `render` command, the meter's training and the tests
all need the same thing, a video whose every frame's mouth shape is known.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rap.media.audio import SAMPLE_RATE
from rap.synth.identity import Identity
from rap.synth.motion import Motion, MotionConfig, frame_count, motion_from_phonemes
from rap.synth.phonemes import PhonemeTable
from rap.synth.portrait import PortraitRenderer
from rap.synth.sentences import random_text
from rap.synth.speech import Voice, synthesize


@dataclass
class Clip:
    frames: np.ndarray  # uint8 (T, H, W, 3)
    audio: np.ndarray  # float32 (S,) at 16 kHz, S = T * 640
    motion: Motion
    face_mask: np.ndarray  # float32 (T, m, m)
    mouth_boxes: np.ndarray  # float32 (T, 4) x0, y0, x1, y1 image fractions
    phonemes: PhonemeTable
    identity: Identity
    voice: Voice
    text: str
    fps: int = 25
    meta: dict = field(default_factory=dict)


def fit_to_frames(audio: np.ndarray, table: PhonemeTable, frames: int, lead_in: float, fps: int = 25):
    """Place speech after `lead_in` seconds of silence and cut/pad it to exactly `frames` frames."""
    total = frames * SAMPLE_RATE // fps
    lead = int(round(lead_in * SAMPLE_RATE))
    out = np.zeros(total, np.float32)
    part = audio[: max(total - lead, 0)]
    out[lead : lead + len(part)] = part
    end = total / SAMPLE_RATE
    rows = [(s + lead / SAMPLE_RATE, min(e + lead / SAMPLE_RATE, end), p) for s, e, p in table.rows]
    rows = [(s, e, p) for s, e, p in rows if s < end and e > s]
    return out, PhonemeTable(rows, table.alphabet)


def speech_with_pause(utterances, gap: float, first_seconds: float | None = None) -> tuple[np.ndarray, PhonemeTable]:
    """Two utterances joined by `gap` seconds of silence; the phoneme table leaves the gap empty.

    first_seconds cuts the first utterance there (mid-word if need be: speakers get interrupted)."""
    first, second = utterances
    cut = min(first.duration, first_seconds) if first_seconds is not None else first.duration
    head = first.audio[: int(round(cut * SAMPLE_RATE))]
    offset = len(head) / SAMPLE_RATE + gap
    audio = np.concatenate([head, np.zeros(int(round(gap * SAMPLE_RATE)), np.float32), second.audio])
    rows = [(s, min(e, cut), p) for s, e, p in first.phonemes.rows if s < cut]
    rows += [(s + offset, e + offset, p) for s, e, p in second.phonemes.rows]
    return audio, PhonemeTable(rows, first.phonemes.alphabet)


def render_frames(renderer: PortraitRenderer, motion: Motion):
    images, masks, boxes = [], [], []
    for k in range(len(motion)):
        frame = renderer.render(motion.frame(k))
        images.append(frame.image)
        masks.append(frame.face_mask)
        boxes.append(frame.mouth_box)
    return np.stack(images), np.stack(masks).astype(np.float32), np.stack(boxes).astype(np.float32)


def make_clip(
    seed: int,
    size: int = 256,
    frames: int | None = 121,
    text: str | None = None,
    voice: Voice | None = None,
    identity: Identity | None = None,
    fps: int = 25,
    pause: bool = False,
) -> Clip:
    """Deterministic from `seed`. `frames=None` keeps the whole utterance (for `render --text`).

    pause: speak a short phrase, stay silent 0.6-2 s with the mouth closed, then speak again, all
    over room noise (-80 to -50 dBFS). Without it the clip is speech from a short lead-in to the
    last frame, so a model never sees the mouth rest through a pause or a microphone's hiss. The
    pause's draws come from a second stream, so clips without a pause are the same bytes as before.
    """
    rng = np.random.default_rng([int(seed), 0xC11F])
    identity = identity or Identity.sample(int(rng.integers(2**62)))
    voice = voice or Voice.sample(rng)
    lead_in = float(rng.uniform(0.0, 0.4)) if frames else 0.2
    if pause:
        if frames is None:
            raise ValueError("a clip with a pause needs a frame count")
        audio, table, text = _paused_speech(np.random.default_rng([int(seed), 0x9A05E]), voice, frames, fps)
        motion = motion_from_phonemes(table, frames, MotionConfig.sample(rng), rng=rng)
        images, masks, boxes = render_frames(PortraitRenderer(identity, size), motion)
        return Clip(images, audio, motion, masks, boxes, table, identity, voice, text, fps, meta={"pause": True})
    if text is None:
        text = random_text(rng, (frames or 121) / fps + 0.5)
    utterance = synthesize(text, voice, seed=int(rng.integers(2**31)))
    if frames is None:
        frames = frame_count(utterance.duration + lead_in + 0.3, fps)
    audio, table = fit_to_frames(utterance.audio, utterance.phonemes, frames, lead_in, fps)
    motion = motion_from_phonemes(table, frames, MotionConfig.sample(rng), rng=rng)
    images, masks, boxes = render_frames(PortraitRenderer(identity, size), motion)
    return Clip(images, audio, motion, masks, boxes, table, identity, voice, text, fps)


def _paused_speech(rng: np.random.Generator, voice: Voice, frames: int, fps: int):
    """Phrase, pause, phrase over room noise, cut to `frames` frames (see `make_clip`)."""
    seconds = frames / fps
    gap = min(float(rng.uniform(0.6, 2.0)), seconds / 2)  # short clips keep room for the first phrase
    first_seconds = float(rng.uniform(0.2, 0.6)) * (seconds - gap)
    texts = [random_text(rng, first_seconds), random_text(rng, seconds)]
    utterances = [synthesize(t, voice, seed=int(rng.integers(2**31))) for t in texts]
    speech, table = speech_with_pause(utterances, gap, first_seconds)
    audio, table = fit_to_frames(speech, table, frames, float(rng.uniform(0.0, 0.8)), fps)
    noise_level = 10 ** float(rng.uniform(-4, -2.5))  # RMS, -80 to -50 dBFS
    audio = (audio + noise_level * rng.standard_normal(len(audio))).astype(np.float32)
    return audio, table, " ... ".join(texts)
