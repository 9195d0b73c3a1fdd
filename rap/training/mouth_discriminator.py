"""An adversarial loss on the mouth, for training the decoder (`train_vae --gan-weight`).

Why (measured on rap-small's audio-guided decoder, `docs/training_log.md`): trained with L1 alone,
the decoder draws the mouth as a blurred smudge (teeth become a dark gap, lips lose their edge),
although its sound says exactly which shape to draw (a linear read-out of the per-frame audio
features predicts the mouth opening with a sync score of 0.87). L1 pays for the mean of the shapes
a latent allows; a discriminator pays for a shape that looks real. This is the usual remedy for a
VAE's blur (the LTX-Video and Stable Diffusion VAEs train with a patch discriminator); here it
looks only at the mouth, where lip sync lives, and, as a projection discriminator, it also hears the
frame's audio features, so a sharp mouth that does not fit the sound is still told apart.

Choices where the sources are silent: hinge loss; the generator's weight set adaptively as in
VQGAN (the ratio of the reconstruction and adversarial gradients at the decoder's last layer,
times `gan_weight`); the discriminator trains alone for `gan_start_step` steps before the decoder
hears it; one optimiser step updates both (`discriminator_loss` sees detached pictures, and the
decoder's term runs the discriminator with detached weights, so neither reaches the other).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

MOUTH_WINDOW = (48, 96)  # (height, width) in pixels of the 256-pixel picture: a wide-open mouth fits


class MouthDiscriminator(nn.Module):
    """Patch logits (B, 1, h, w) for mouth windows (B, 3, H, W) in [-1, 1], given each window's
    audio features (B, audio_dim): an unconditional patch score plus the projection
    <features(x), embed(audio)> (Miyato & Koyama's projection discriminator)."""

    def __init__(self, audio_dim: int = 256, width: int = 32):
        super().__init__()
        layers, channels = [], 3
        for out in (width, 2 * width, 4 * width):  # three stride-2 stages: 48 x 96 -> 6 x 12 patches
            layers += [nn.Conv2d(channels, out, 4, stride=2, padding=1), nn.GroupNorm(8, out) if channels != 3 else nn.Identity(), nn.LeakyReLU(0.2)]
            channels = out
        self.features = nn.Sequential(*layers, nn.Conv2d(channels, channels, 3, padding=1), nn.LeakyReLU(0.2))
        self.score = nn.Conv2d(channels, 1, 1)
        self.audio_embedding = nn.Linear(audio_dim, channels)

    def forward(self, windows: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        hidden = self.features(windows)
        projection = (hidden * self.audio_embedding(audio)[..., None, None]).sum(1, keepdim=True)
        return self.score(hidden) + projection / hidden.shape[1] ** 0.5


def mouth_windows(video: torch.Tensor, centres: torch.Tensor, size: tuple[int, int] = MOUTH_WINDOW) -> torch.Tensor:
    """video (B, 3, T, H, W), centres (B, 2) as grid coordinates (x, y) in [-1, 1] -> (B, T, 3, h, w):
    the window of every frame around the clip's mouth, moved inside the picture where it would cross an edge."""
    height, width = video.shape[-2:]
    h, w = min(size[0], height), min(size[1], width)
    out = []
    for sample, (x, y) in zip(video, centres.tolist()):
        cx, cy = (x + 1) / 2 * width, (y + 1) / 2 * height
        y0 = int(round(min(max(cy - h / 2, 0), height - h)))
        x0 = int(round(min(max(cx - w / 2, 0), width - w)))
        out.append(sample[:, :, y0 : y0 + h, x0 : x0 + w].transpose(0, 1))
    return torch.stack(out)


def discriminator_loss(discriminator: MouthDiscriminator, real: torch.Tensor, fake: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
    """Hinge loss; real/fake (M, 3, h, w) windows, audio (M, D). The fakes are detached here."""
    return F.relu(1 - discriminator(real, audio)).mean() + F.relu(1 + discriminator(fake.detach(), audio)).mean()


def generator_loss(discriminator: MouthDiscriminator, fake: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
    """-D(fake), with the discriminator's weights detached: this term trains the decoder only."""
    frozen = {name: p.detach() for name, p in discriminator.named_parameters()}
    return -functional_call(discriminator, frozen, (fake, audio)).mean()


def adaptive_weight(reconstruction: torch.Tensor, adversarial: torch.Tensor, last_layer: torch.Tensor, limit: float = 1e4) -> torch.Tensor:
    """|grad of the reconstruction loss| / |grad of the adversarial loss| at `last_layer` (VQGAN's
    balance): the adversarial term then pulls the decoder's output as hard as `gan_weight` says,
    whatever the two losses' scales."""
    (grad_reconstruction,) = torch.autograd.grad(reconstruction, last_layer, retain_graph=True)
    (grad_adversarial,) = torch.autograd.grad(adversarial, last_layer, retain_graph=True)
    return (grad_reconstruction.norm() / (grad_adversarial.norm() + 1e-4)).clamp(0.0, limit).detach()


__all__ = ["MOUTH_WINDOW", "MouthDiscriminator", "adaptive_weight", "discriminator_loss", "generator_loss", "mouth_windows"]
