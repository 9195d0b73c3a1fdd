"""A training-only probe that makes the small VAE's latent carry the mouth.

Why: trained on reconstruction alone, the small VAE's latent held no mouth at all (a ridge probe
from the latent cells around the mouth to the per-frame lip opening scored R^2 <= 0 on held-out
clips), so the DiT had no lip shape to learn. The synthetic world knows every frame's mouth
(jaw, width, round, closure) and eyelids; a 1x1 convolution reads them from the latent at the
mouth's position, and its error is added to the VAE loss. The probe is dropped after training:
the saved VAE is a plain (or reference-guided) LTX VAE. It asks the latent to carry exactly what
the DiT must later produce from audio, in a form a small DiT can reach (linear).

`python -m rap.training.control_probe --vae DIR --data HELD_OUT` measures the result: a ridge
regression's cross-validated R^2 from the latent around the mouth to the lip opening.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

CONTROL_KEYS = ("jaw", "width", "round", "closure", "blink")


class LatentControlProbe(nn.Module):
    def __init__(self, latent_channels: int, frames_per_latent: int, num_controls: int = len(CONTROL_KEYS)):
        super().__init__()
        self.frames_per_latent = frames_per_latent
        self.num_controls = num_controls
        self.head = nn.Conv3d(latent_channels, frames_per_latent * num_controls, 1)

    def forward(self, latents: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
        """latents (B, C, F, h, w), centres (B, 2) as (x, y) in [-1, 1] -> controls (B, 1 + r(F-1), K).

        Latent frame j > 0 predicts its r frames; latent 0 (the causal VAE's static frame) only frame 0.
        """
        batch, _, latent_frames = latents.shape[:3]
        maps = self.head(latents).flatten(1, 2)  # (B, r*K*F, h, w)
        sampled = F.grid_sample(maps, centres.view(batch, 1, 1, 2).to(maps), align_corners=False)
        r, k = self.frames_per_latent, self.num_controls
        per_latent = sampled.view(batch, r, k, latent_frames).permute(0, 3, 1, 2)  # (B, F, r, K)
        return per_latent.flatten(1, 2)[:, r - 1 :]  # drop latent 0's r-1 frames before frame 0


def control_loss(probe: LatentControlProbe, latents: torch.Tensor, centres: torch.Tensor, controls: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean squared error of the probe's controls, over the samples whose mouth lies in the crop."""
    predicted = probe(latents, centres)
    error = (predicted - controls.to(predicted)).pow(2).mean(dim=(1, 2))
    weight = valid.to(error)
    return (error * weight).sum() / weight.sum().clamp_min(1.0)


def ridge_r2(features: np.ndarray, targets: np.ndarray, ridge: float = 10.0, folds: int = 5, seed: int = 0) -> float:
    """Cross-validated R^2 of a ridge regression (features standardised on each training fold)."""
    order = np.random.default_rng(seed).permutation(len(features))
    predicted = np.zeros_like(targets, dtype=np.float64)
    for held in np.array_split(order, folds):
        train = np.setdiff1d(order, held)
        mean, std = features[train].mean(0), features[train].std(0) + 1e-6
        x = (features[train] - mean) / std
        offset = targets[train].mean(0)
        weights = np.linalg.solve(x.T @ x + ridge * np.eye(x.shape[1]), x.T @ (targets[train] - offset))
        predicted[held] = ((features[held] - mean) / std) @ weights + offset
    return float(1 - ((predicted - targets) ** 2).sum() / ((targets - targets.mean(0)) ** 2).sum())


@torch.no_grad()
def mouth_in_latent(vae, dataset, resolution: int, ridge: float = 10.0) -> dict:
    """Does a VAE's latent carry the mouth? Ridge R^2 from the 3x3 latent cells around the mouth to
    the per-frame lip opening of each latent frame's frames, cross-validated over held-out clips."""
    from rap.training.framing import frame_clip

    features, targets = [], []
    r = vae.temporal_compression_ratio
    for clip in dataset:
        frames = 1 + r * ((clip["frames"].shape[0] - 1) // r)
        part = frame_clip({k: clip[k][:frames] for k in ("frames", "face_mask", "mouth_boxes")}, resolution)
        video = part["frames"].permute(3, 0, 1, 2)[None].float() / 127.5 - 1.0
        latents = vae.encode(video).latent_dist.mode()[0]  # (C, F, h, w)
        height, width = latents.shape[-2:]
        for j in range(1, latents.shape[1]):
            box = part["mouth_boxes"][r * j]
            x = min(max(int((box[0] + box[2]) / 2 * width), 1), width - 2)
            y = min(max(int((box[1] + box[3]) / 2 * height), 1), height - 2)
            features.append(latents[:, j, y - 1 : y + 2, x - 1 : x + 2].flatten().numpy())
            targets.append(clip["opening"][r * j - r + 1 : r * j + 1].numpy())
    return {"ridge_r2": round(ridge_r2(np.array(features), np.array(targets), ridge), 3), "latent_frames": len(features)}


def main(argv=None) -> int:
    import argparse
    import json

    from rap.loading import load_vae
    from rap.synth.dataset import SynthClipDataset

    parser = argparse.ArgumentParser(prog="python -m rap.training.control_probe", description=mouth_in_latent.__doc__)
    parser.add_argument("--vae", required=True, help="a VAE folder")
    parser.add_argument("--data", required=True, help="held-out synthetic shards")
    parser.add_argument("--resolution", type=int, default=256)
    args = parser.parse_args(argv)
    report = mouth_in_latent(load_vae(args.vae).eval(), SynthClipDataset(args.data, with_meta=False), args.resolution)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
