"""A training-only probe that makes the small VAE's latent carry the mouth.

Why: trained on reconstruction alone, the small VAE's latent held no mouth at all (a ridge probe
from the latent cells around the mouth to the per-frame lip opening scored R^2 <= 0 on held-out
clips), so the DiT had no lip shape to learn. The synthetic world knows every frame's mouth
(jaw, width, round, closure) and eyelids; a 1x1 convolution reads them from the latent at the
mouth's position, and its error is added to the VAE loss. The probe is dropped after training:
the saved VAE is a plain (or reference-guided) LTX VAE. It asks the latent to carry exactly what
the DiT must later produce from audio, in a form a small DiT can reach (linear).
"""

from __future__ import annotations

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
