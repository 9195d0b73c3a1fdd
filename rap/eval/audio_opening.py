"""Audio branch of the meter: log-mel -> the mouth opening the sound implies, per video frame.

Why: like SyncNet's audio stream, it lets any video with sound be scored without a transcript.
Trained on synthetic speech whose opening curve is known from its phoneme timings.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rap.eval.features import N_MELS, STEPS_PER_FRAME, log_mel, normalize_features

WEIGHTS = Path(__file__).parent / "weights" / "audio_opening.safetensors"


class AudioOpeningNet(nn.Module):
    """Dilated 1-D convolutions over log-mel (receptive field ~±0.3 s), pooled to 25 fps."""

    def __init__(self, channels: int = 64):
        super().__init__()
        layers, cin = [], N_MELS
        for dilation in (1, 2, 4, 8):
            layers += [nn.Conv1d(cin, channels, 5, padding=2 * dilation, dilation=dilation), nn.BatchNorm1d(channels), nn.ReLU()]
            cin = channels
        self.body = nn.Sequential(*layers)
        self.pool = nn.AvgPool1d(STEPS_PER_FRAME)
        self.out = nn.Sequential(nn.Conv1d(channels, channels, 3, padding=1), nn.ReLU(), nn.Conv1d(channels, 1, 1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """features (B, N_MELS, 4T) -> opening (B, T) in [0, 1]."""
        return torch.sigmoid(self.out(self.pool(self.body(features)))[:, 0])


def audio_features(audio: np.ndarray, frames: int) -> np.ndarray:
    return normalize_features(log_mel(audio, frames))


@lru_cache(maxsize=2)
def load_audio_net(path: str | None = None) -> AudioOpeningNet:
    from safetensors.torch import load_file

    path = Path(path) if path else WEIGHTS
    if not path.is_file():
        raise FileNotFoundError(f"audio branch weights not found at {path}; run `python -m rap.eval train-audio`")
    model = AudioOpeningNet()
    model.load_state_dict({k: v.float() for k, v in load_file(str(path)).items()})
    return model.eval()


@torch.no_grad()
def opening_from_audio(audio: np.ndarray, frames: int | None = None, model: AudioOpeningNet | None = None) -> np.ndarray:
    """(T,) opening implied by 16 kHz mono audio; T defaults to the audio's length in frames."""
    frames = frames if frames is not None else int(np.ceil(len(audio) / 640))
    model = model or load_audio_net()
    features = torch.from_numpy(audio_features(audio, frames))[None]
    return model(features)[0].numpy().astype(np.float32)
