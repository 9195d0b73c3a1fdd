"""Rendering speed, measured the way data generation uses the renderer (one clip per identity)."""

from __future__ import annotations

import time

import numpy as np

from rap.synth.identity import Identity
from rap.synth.motion import MotionConfig, motion_from_phonemes
from rap.synth.phonemes import PhonemeTable
from rap.synth.portrait import PortraitRenderer


def bench_render(size: int = 256, frames: int = 200, identities: int = 5) -> dict:
    table = PhonemeTable([(0.1 + 0.2 * i, 0.3 + 0.2 * i, p) for i, p in enumerate("mɑpiuoæbsɑ" * 3)])
    motion = motion_from_phonemes(table, frames, MotionConfig(), np.random.default_rng(0))
    static, per_frame = 0.0, 0.0
    for seed in range(identities):
        start = time.perf_counter()
        renderer = PortraitRenderer(Identity.sample(seed), size)
        static += time.perf_counter() - start
        start = time.perf_counter()
        for k in range(frames):
            renderer.render(motion.frame(k))
        per_frame += time.perf_counter() - start
    total_frames = frames * identities
    return {
        "size": size,
        "static_layers_seconds_per_identity": round(static / identities, 4),
        "frames_per_second": round(total_frames / per_frame, 1),
        "frames_per_second_with_static_for_121_frame_clips": round(121 / (121 * per_frame / total_frames + static / identities), 1),
    }
