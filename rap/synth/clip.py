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
) -> Clip:
    """Deterministic from `seed`. `frames=None` keeps the whole utterance (for `render --text`)."""
    rng = np.random.default_rng([int(seed), 0xC11F])
    identity = identity or Identity.sample(int(rng.integers(2**62)))
    voice = voice or Voice.sample(rng)
    lead_in = float(rng.uniform(0.0, 0.4)) if frames else 0.2
    if text is None:
        text = random_text(rng, (frames or 121) / fps + 0.5)
    utterance = synthesize(text, voice, seed=int(rng.integers(2**31)))
    if frames is None:
        frames = frame_count(utterance.duration + lead_in + 0.3, fps)
    audio, table = fit_to_frames(utterance.audio, utterance.phonemes, frames, lead_in, fps)
    motion = motion_from_phonemes(table, frames, MotionConfig.sample(rng), rng=rng)
    images, masks, boxes = render_frames(PortraitRenderer(identity, size), motion)
    return Clip(images, audio, motion, masks, boxes, table, identity, voice, text, fps)
