"""Phoneme timings -> per-frame face controls: mouth, blinks and head motion at 25 fps.

Frame k shows time [k / fps, (k + 1) / fps): each control is the mean of a 1 kHz curve over that
interval (lip closure takes the max, so a short /p/ still closes the lips in its frame). The 1 kHz
curve holds each viseme's target for its phoneme's duration and is smoothed with a per-control
Gaussian (coarticulation: rounding spreads further than closure). Silence closes the mouth.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from rap.synth.phonemes import PhonemeTable

MOUTH_KEYS = ("jaw", "width", "round", "closure")
INTERNAL_RATE = 1000  # Hz of the continuous curves


@dataclass(frozen=True)
class FaceControls:
    """What the renderer needs for one frame (angles in degrees, shifts in face widths)."""

    jaw: float = 0.0  # 0 closed .. 1 wide open
    width: float = 0.45  # lip spread, 0 narrow .. 1 wide
    round: float = 0.05  # lip rounding / protrusion
    closure: float = 0.35  # lips pressed together (p, b, m)
    blink: float = 0.0  # 0 open .. 1 eyelids closed
    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0
    shift_x: float = 0.0
    shift_y: float = 0.0

    @property
    def opening(self) -> float:
        """Visible gap between the lips, the quantity a lip-sync meter compares with audio."""
        return mouth_opening(self.jaw, self.closure)


def mouth_opening(jaw, closure):
    return np.clip(jaw, 0, 1) * (1.0 - np.clip(closure, 0, 1))


@dataclass
class MotionConfig:
    fps: int = 25
    jaw_sigma_ms: float = 28.0
    width_sigma_ms: float = 40.0
    round_sigma_ms: float = 55.0
    closure_sigma_ms: float = 12.0
    lead_ms: float = 15.0  # lips move slightly before the sound
    articulation: float = 1.0  # speaker's jaw amplitude
    blinks_per_second: float = 0.3
    head_motion: float = 1.0  # amplitude of idle sway and nods
    nod_degrees: float = 2.0

    @staticmethod
    def sample(rng: np.random.Generator) -> "MotionConfig":
        return MotionConfig(
            articulation=float(rng.uniform(0.7, 1.15)),
            blinks_per_second=float(rng.uniform(0.15, 0.45)),
            head_motion=float(rng.uniform(0.3, 1.3)),
            nod_degrees=float(rng.uniform(0.5, 3.0)),
            lead_ms=float(rng.uniform(5, 25)),
        )


@dataclass
class Motion:
    """Per-frame controls as arrays of length T (one per FaceControls field)."""

    jaw: np.ndarray
    width: np.ndarray
    round: np.ndarray
    closure: np.ndarray
    blink: np.ndarray
    yaw: np.ndarray
    pitch: np.ndarray
    roll: np.ndarray
    shift_x: np.ndarray
    shift_y: np.ndarray
    fps: int = 25

    def __len__(self) -> int:
        return len(self.jaw)

    def frame(self, k: int) -> FaceControls:
        return FaceControls(**{f.name: float(getattr(self, f.name)[k]) for f in fields(FaceControls)})

    @property
    def mouth(self) -> np.ndarray:
        """(T, 4) float32: jaw, width, round, closure."""
        return np.stack([getattr(self, key) for key in MOUTH_KEYS], 1).astype(np.float32)

    @property
    def opening(self) -> np.ndarray:
        return mouth_opening(self.jaw, self.closure).astype(np.float32)

    @property
    def pose(self) -> np.ndarray:
        """(T, 5) float32: yaw, pitch, roll, shift_x, shift_y."""
        return np.stack([self.yaw, self.pitch, self.roll, self.shift_x, self.shift_y], 1).astype(np.float32)


def frame_count(duration: float, fps: int = 25) -> int:
    return int(np.ceil(duration * fps - 1e-9))


def _gaussian_smooth(curve: np.ndarray, sigma_samples: float) -> np.ndarray:
    radius = int(3 * sigma_samples) + 1
    x = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (x / max(sigma_samples, 1e-3)) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(curve, radius, mode="edge")
    return np.convolve(padded, kernel, mode="valid")


def _per_frame(curve: np.ndarray, frames: int, fps: int, reduce=np.mean) -> np.ndarray:
    """Reduce a 1 kHz curve over each frame's interval [k/fps, (k+1)/fps)."""
    edges = np.round(np.arange(frames + 1) * INTERNAL_RATE / fps).astype(int)
    return np.array([reduce(curve[edges[k] : max(edges[k + 1], edges[k] + 1)]) for k in range(frames)])


def mouth_curves(table: PhonemeTable, samples: int, config: MotionConfig) -> dict[str, np.ndarray]:
    """Continuous (1 kHz) mouth controls from a phoneme table."""
    silence = PhonemeTable([(0, 0, "sil")]).visemes()[0][2]
    targets = {key: np.full(samples, getattr(silence, key), np.float64) for key in MOUTH_KEYS}
    lead = config.lead_ms / 1000.0
    for start, end, viseme in table.visemes():
        a = int(round(max(start - lead, 0) * INTERNAL_RATE))
        b = int(round(max(end - lead, 0) * INTERNAL_RATE))
        if b <= a:
            continue
        for key in MOUTH_KEYS:
            targets[key][a:b] = getattr(viseme, key)
    targets["jaw"] = np.clip(targets["jaw"] * config.articulation, 0, 1)
    sigmas = {
        "jaw": config.jaw_sigma_ms, "width": config.width_sigma_ms,
        "round": config.round_sigma_ms, "closure": config.closure_sigma_ms,
    }
    return {key: np.clip(_gaussian_smooth(targets[key], sigmas[key]), 0, 1) for key in MOUTH_KEYS}


def blink_curve(samples: int, rng: np.random.Generator, per_second: float) -> np.ndarray:
    """Blinks as a Poisson process; each closes fast (~70 ms) and reopens slower (~130 ms)."""
    curve = np.zeros(samples)
    t = rng.exponential(1.0 / per_second) * 0.6
    while t * INTERNAL_RATE < samples:
        close_ms, open_ms, hold_ms = rng.uniform(50, 90), rng.uniform(100, 180), rng.uniform(0, 40)
        shape = np.concatenate([
            np.sin(np.linspace(0, np.pi / 2, int(close_ms))) ** 2,
            np.ones(int(hold_ms)),
            np.cos(np.linspace(0, np.pi / 2, int(open_ms))) ** 2,
        ])
        a = int(t * INTERNAL_RATE)
        part = shape[: samples - a]
        curve[a : a + len(part)] = np.maximum(curve[a : a + len(part)], part)
        t += (len(shape) / INTERNAL_RATE) + rng.exponential(1.0 / per_second) + 0.3
    return curve


def _smooth_noise(samples: int, rng: np.random.Generator, period_s: float) -> np.ndarray:
    """Band-limited noise with unit standard deviation (idle sway)."""
    step = max(int(period_s * INTERNAL_RATE / 4), 1)
    # at least a few periods, so that a very short clip is not normalised by the spread of two knots
    total = max(samples, 4 * step)
    knots = rng.standard_normal(total // step + 3)
    curve = np.interp(np.arange(total), np.arange(len(knots)) * step, knots)
    curve = _gaussian_smooth(curve, step)
    return (curve / (curve.std() + 1e-6))[:samples]


def head_curves(table: PhonemeTable, samples: int, rng: np.random.Generator, config: MotionConfig):
    """Idle sway plus a small nod (pitch down-up) at each stressed vowel."""
    amp = config.head_motion
    yaw = 2.5 * amp * _smooth_noise(samples, rng, 3.0)
    pitch = 1.5 * amp * _smooth_noise(samples, rng, 2.5)
    roll = 1.5 * amp * _smooth_noise(samples, rng, 4.0)
    shift_x = 0.02 * amp * _smooth_noise(samples, rng, 3.5)
    shift_y = 0.012 * amp * _smooth_noise(samples, rng, 3.0)
    nod_shape = np.sin(np.linspace(0, np.pi, 300)) ** 2
    for start, end, symbol in table.rows:
        stressed = "ˈ" in symbol or symbol[-1:] == "1"
        if stressed:
            a = int(start * INTERNAL_RATE)
            part = nod_shape[: max(samples - a, 0)]
            pitch[a : a + len(part)] += config.nod_degrees * amp * part * rng.uniform(0.5, 1.0)
    return dict(yaw=yaw, pitch=pitch, roll=roll, shift_x=shift_x, shift_y=shift_y)


def motion_from_phonemes(
    table: PhonemeTable,
    frames: int,
    config: MotionConfig = MotionConfig(),
    rng: np.random.Generator | None = None,
    still: bool = False,
) -> Motion:
    """All per-frame controls for `frames` frames; `still` turns off blinks and head motion."""
    rng = rng if rng is not None else np.random.default_rng(0)
    samples = int(np.ceil(frames * INTERNAL_RATE / config.fps)) + 1
    mouth = mouth_curves(table, samples, config)
    per_frame = {key: _per_frame(mouth[key], frames, config.fps) for key in ("jaw", "width", "round")}
    per_frame["closure"] = _per_frame(mouth["closure"], frames, config.fps, reduce=np.max)
    if still:
        zeros = np.zeros(frames)
        rest = dict(blink=zeros, yaw=zeros, pitch=zeros, roll=zeros, shift_x=zeros, shift_y=zeros)
    else:
        blink = blink_curve(samples, rng, config.blinks_per_second)
        head = head_curves(table, samples, rng, config)
        rest = {"blink": _per_frame(blink, frames, config.fps)}
        rest.update({key: _per_frame(curve, frames, config.fps) for key, curve in head.items()})
    arrays = {key: np.asarray(value, np.float32) for key, value in {**per_frame, **rest}.items()}
    return Motion(**arrays, fps=config.fps)


def opening_from_phonemes(table: PhonemeTable, frames: int, fps: int = 25) -> np.ndarray:
    """The mouth opening a phoneme table implies (neutral speaker): the sync meter's reference."""
    motion = motion_from_phonemes(table, frames, MotionConfig(fps=fps), still=True)
    return motion.opening
