"""The mouth reader: a small CNN that reads mouth parameters from a whole (downscaled) frame.

Why whole frames: generated videos move and faces vary in size and position, so the network
finds the mouth itself; no face detector is needed in this synthetic world.
Outputs (all 0..1): opening (visible lip gap, the quantity the sync score uses), lip width,
lip rounding and lip closure; jaw opening is derived as opening / (1 - closure).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

INPUT_SIZE = 128
OUTPUTS = ("opening", "width", "round", "closure")
WEIGHTS = Path(__file__).parent / "weights" / "mouth_reader.safetensors"


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True), nn.MaxPool2d(2)
    )


class MouthReader(nn.Module):
    """128x128 RGB -> 4 mouth parameters; ~0.3 M parameters, stored in fp16 (< 1 MB).

    Kept small so it trains in minutes on a CPU and reads a 121-frame clip in about a second.
    """

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True),  # 64
            _block(16, 32), _block(32, 64), _block(64, 96), _block(96, 128),  # 4x4
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(128 * 16, 64), nn.ReLU(inplace=True), nn.Linear(64, len(OUTPUTS)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images: float (B, 3, 128, 128) in [0, 1]."""
        return torch.sigmoid(self.head(self.features((images - 0.5) / 0.25)))


def prepare_frames(frames: np.ndarray) -> torch.Tensor:
    """uint8 (T, H, W, 3) of any size -> float (T, 3, 128, 128); non-square frames are centre-cropped."""
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    t, h, w, _ = frames.shape
    side = min(h, w)
    y0, x0 = (h - side) // 2, (w - side) // 2
    small = np.stack([
        cv2.resize(f[y0 : y0 + side, x0 : x0 + side], (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA)
        for f in frames
    ])
    return torch.from_numpy(small).permute(0, 3, 1, 2).float() / 255.0


@lru_cache(maxsize=2)
def load_reader(path: str | None = None) -> MouthReader:
    from safetensors.torch import load_file

    path = Path(path) if path else WEIGHTS
    if not path.is_file():
        raise FileNotFoundError(f"mouth reader weights not found at {path}; run `python -m rap.eval train-reader`")
    state = {k: v.float() for k, v in load_file(str(path)).items()}
    model = MouthReader()
    model.load_state_dict(state)
    return model.eval()


@torch.no_grad()
def read_mouth(frames: np.ndarray, model: MouthReader | None = None, batch: int = 64) -> dict[str, np.ndarray]:
    """Per-frame readings {opening, jaw, width, round, closure} (each (T,) float32) of a video."""
    model = model or load_reader()
    outputs = []
    for start in range(0, len(frames), batch):
        outputs.append(model(prepare_frames(frames[start : start + batch])).numpy())
    values = np.concatenate(outputs) if outputs else np.zeros((0, len(OUTPUTS)), np.float32)
    readings = {name: values[:, i].astype(np.float32) for i, name in enumerate(OUTPUTS)}
    readings["jaw"] = np.clip(readings["opening"] / np.clip(1 - readings["closure"], 0.05, 1), 0, 1).astype(np.float32)
    return readings
