"""Log-mel features aligned to 25 fps video: 4 feature frames (10 ms hop) per video frame.

Why its own file: the audio branch of the meter and its training must compute exactly the same
features; numpy only, so no audio library is needed.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

SAMPLE_RATE = 16000
HOP = 160  # 10 ms
WINDOW = 400  # 25 ms
N_FFT = 512
N_MELS = 40
STEPS_PER_FRAME = 4  # 40 ms video frame / 10 ms hop


@lru_cache(maxsize=2)
def mel_filterbank(n_mels: int = N_MELS, n_fft: int = N_FFT, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    def hz_to_mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def mel_to_hz(m):
        return 700.0 * (10 ** (m / 2595.0) - 1.0)

    edges = mel_to_hz(np.linspace(hz_to_mel(60.0), hz_to_mel(7600.0), n_mels + 2))
    bins = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    bank = np.zeros((n_mels, len(bins)), np.float32)
    for i in range(n_mels):
        lo, mid, hi = edges[i : i + 3]
        rising = (bins - lo) / (mid - lo)
        falling = (hi - bins) / (hi - mid)
        bank[i] = np.clip(np.minimum(rising, falling), 0, None)
    return bank


def log_mel(audio: np.ndarray, frames: int) -> np.ndarray:
    """(N_MELS, frames * 4) log-mel energies; step j is centred at j * 10 ms + 5 ms."""
    steps = frames * STEPS_PER_FRAME
    audio = np.asarray(audio, np.float32)
    needed = steps * HOP + WINDOW
    pad_left = (WINDOW - HOP) // 2
    padded = np.zeros(needed, np.float32)
    part = audio[: needed - pad_left]
    padded[pad_left : pad_left + len(part)] = part
    index = np.arange(steps)[:, None] * HOP + np.arange(WINDOW)[None, :]
    windowed = padded[index] * np.hanning(WINDOW).astype(np.float32)
    power = np.abs(np.fft.rfft(windowed, n=N_FFT, axis=1)) ** 2
    mel = power @ mel_filterbank().T
    return np.log(mel + 1e-6).T.astype(np.float32)


def normalize_features(features: np.ndarray) -> np.ndarray:
    """Per-utterance normalisation: loudness and microphone gain do not matter, silence does."""
    peak = np.percentile(features, 95)
    return np.clip((features - peak) / 6.0, -4.0, 1.0).astype(np.float32)
