"""A reference-guided LTX video VAE: the decoder sees the portrait, so the latent need only carry motion.

Why (the reference-guided VAE of the related streaming system, `shared/seeds/002`): a small VAE
spends its latent on what never changes (hair, clothes, background) and blurs what does (the
lips), and a DiT cannot learn lip sync from latents without lips. Here the decoder also receives
the reference portrait, once per stream:

- a 2D pyramid of reference features is added after the decoder's finest blocks
  (`reference_levels`; zero-initialised projections, so a plain LTX VAE's weights load unchanged
  and start as the same model);
- the output blends the decoded frame with the reference's pixels through a learned per-pixel gate
  (`sigmoid`, started near 0), so static regions come back at full resolution.

The encoder is diffusers' LTX encoder, unchanged: the DiT's latent space keeps its shape. What the
paper's VAE (LTX-Video) does not have, and so the `rap-1.3b` preset does not use, is this
guidance; it is the small preset's choice, made where the code says so (`rap/presets.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKLLTXVideo
from diffusers.configuration_utils import register_to_config
from diffusers.models.autoencoders.vae import DecoderOutput
from diffusers.models.modeling_utils import ModelMixin  # noqa: F401  pipelines find a custom component's loader here
from diffusers.utils.accelerate_utils import apply_forward_hook
from torch import nn

from rap.models.ltx_decoder_steps import decoder_output, unpatchify


@dataclass
class ReferenceFeatures:
    """What the decoder needs from the reference, computed once per stream."""

    levels: list[torch.Tensor]  # (B, C_i, H_i, W_i), coarse to fine, added after the finest decoder blocks
    pixels: torch.Tensor  # (B, 3, H, W) in [-1, 1], blended in through the output gate


class ReferenceEncoder2d(nn.Module):
    """Pixel-unshuffled reference -> one feature map per decoder level, coarse to fine."""

    def __init__(self, in_channels: int, patch_size: int, level_channels: list[int], level_upsamples: list[bool]):
        super().__init__()
        self.patch_size = patch_size
        finest = level_channels[-1]
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels * patch_size**2, finest, 3, padding=1), nn.SiLU(), nn.Conv2d(finest, finest, 3, padding=1)
        )
        # walk from the finest level to the coarsest: halve the size where the decoder doubled it
        self.stages = nn.ModuleList()
        for i in range(len(level_channels) - 1, 0, -1):
            stride = 2 if level_upsamples[i] else 1
            self.stages.append(
                nn.Sequential(
                    nn.SiLU(),
                    nn.Conv2d(level_channels[i], level_channels[i - 1], 3, stride=stride, padding=1),
                    nn.SiLU(),
                    nn.Conv2d(level_channels[i - 1], level_channels[i - 1], 3, padding=1),
                )
            )
        self.projections = nn.ModuleList(nn.Conv2d(c, c, 1) for c in level_channels)
        for projection in self.projections:  # start as the unguided VAE
            nn.init.zeros_(projection.weight)
            nn.init.zeros_(projection.bias)

    def forward(self, pixels: torch.Tensor) -> list[torch.Tensor]:
        feature = self.stem(F.pixel_unshuffle(pixels, self.patch_size))
        features = [feature]
        for stage in self.stages:
            feature = stage(feature)
            features.append(feature)
        features.reverse()  # coarse to fine, as the decoder runs
        return [projection(f) for projection, f in zip(self.projections, features)]


class ReferenceGuidedAutoencoderKLLTXVideo(AutoencoderKLLTXVideo):
    """`AutoencoderKLLTXVideo` whose `decode` takes `reference=` (pixels or `ReferenceFeatures`)."""

    @register_to_config
    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        latent_channels: int = 128,
        block_out_channels: tuple[int, ...] = (128, 256, 512, 512),
        down_block_types: tuple[str, ...] = ("LTXVideoDownBlock3D",) * 4,
        decoder_block_out_channels: tuple[int, ...] = (128, 256, 512, 512),
        layers_per_block: tuple[int, ...] = (4, 3, 3, 3, 4),
        decoder_layers_per_block: tuple[int, ...] = (4, 3, 3, 3, 4),
        spatio_temporal_scaling: tuple[bool, ...] = (True, True, True, False),
        decoder_spatio_temporal_scaling: tuple[bool, ...] = (True, True, True, False),
        decoder_inject_noise: tuple[bool, ...] = (False, False, False, False, False),
        downsample_type: tuple[str, ...] = ("conv", "conv", "conv", "conv"),
        upsample_residual: tuple[bool, ...] = (False, False, False, False),
        upsample_factor: tuple[int, ...] = (1, 1, 1, 1),
        timestep_conditioning: bool = False,
        patch_size: int = 4,
        patch_size_t: int = 1,
        resnet_norm_eps: float = 1e-6,
        scaling_factor: float = 1.0,
        encoder_causal: bool = True,
        decoder_causal: bool = False,
        spatial_compression_ratio: int = None,
        temporal_compression_ratio: int = None,
        reference_gate_bias: float = -4.0,  # the output gate starts at sigmoid(-4) ~ 2 % reference
        # how many of the finest decoder levels get reference features. The coarse ones would see
        # the whole face at once, and a VAE trained on small crops sees mostly padding there.
        reference_levels: int = 2,
    ) -> None:
        super().__init__(
            in_channels, out_channels, latent_channels, block_out_channels, down_block_types,
            decoder_block_out_channels, layers_per_block, decoder_layers_per_block, spatio_temporal_scaling,
            decoder_spatio_temporal_scaling, decoder_inject_noise, downsample_type, upsample_residual,
            upsample_factor, timestep_conditioning, patch_size, patch_size_t, resnet_norm_eps, scaling_factor,
            encoder_causal, decoder_causal, spatial_compression_ratio, temporal_compression_ratio,
        )
        decoder = self.decoder
        level_channels = [decoder.mid_block.resnets[-1].conv2.conv.out_channels]
        level_upsamples = [False]
        for block in decoder.up_blocks:
            level_channels.append(block.resnets[-1].conv2.conv.out_channels)
            level_upsamples.append(block.upsamplers is not None)
        if not 1 <= reference_levels <= len(level_channels):
            raise ValueError(f"reference_levels must be between 1 and {len(level_channels)}, got {reference_levels}")
        self.reference_encoder = ReferenceEncoder2d(
            in_channels, patch_size, level_channels[-reference_levels:], level_upsamples[-reference_levels:]
        )
        # one gate per output pixel, patchified like the decoder's output
        self.reference_gate = nn.Conv3d(level_channels[-1], patch_size_t * patch_size**2, 3, padding=1)
        nn.init.zeros_(self.reference_gate.weight)
        nn.init.constant_(self.reference_gate.bias, reference_gate_bias)

    @classmethod
    def from_unguided(cls, vae: AutoencoderKLLTXVideo, **kwargs) -> "ReferenceGuidedAutoencoderKLLTXVideo":
        """Wrap trained LTX VAE weights; the guidance starts switched off (zero projections)."""
        config = {k: v for k, v in vae.config.items() if not k.startswith("_")}
        guided = cls(**config, **kwargs)
        missing, unexpected = guided.load_state_dict(vae.state_dict(), strict=False)
        foreign = list(unexpected) + [k for k in missing if not k.startswith(("reference_encoder.", "reference_gate."))]
        if foreign:
            raise ValueError(f"the VAE's weights do not fit this configuration: {foreign[:5]}")
        return guided

    def encode_reference(self, pixels: torch.Tensor) -> ReferenceFeatures:
        """(B, 3, H, W) or (B, 3, 1, H, W) in [-1, 1] -> features for every later `decode`."""
        if pixels.ndim == 5:
            pixels = pixels[:, :, 0]
        return ReferenceFeatures(self.reference_encoder(pixels), pixels)

    @apply_forward_hook  # like the parent's: model offloading moves the VAE to its device here
    def decode(self, z, temb=None, return_dict: bool = True, reference=None):
        if reference is None:
            raise ValueError("this VAE is reference-guided: pass reference= (pixels or encode_reference's output)")
        if not isinstance(reference, ReferenceFeatures):
            reference = self.encode_reference(reference)
        video = self._decode_guided(z, temb, reference)
        return DecoderOutput(sample=video) if return_dict else (video,)

    def forward(self, sample, temb=None, sample_posterior: bool = False, return_dict: bool = True, generator=None, reference=None):
        posterior = self.encode(sample).latent_dist
        z = posterior.sample(generator=generator) if sample_posterior else posterior.mode()
        return self.decode(z, temb, return_dict=return_dict, reference=sample[:, :, 0] if reference is None else reference)

    def _decode_guided(self, z: torch.Tensor, temb: torch.Tensor | None, reference: ReferenceFeatures) -> torch.Tensor:
        """`LTXVideoDecoder3d.forward` with the reference added at every level and gated into the output."""
        decoder = self.decoder
        blocks = [decoder.mid_block, *decoder.up_blocks]
        first_guided = len(blocks) - len(reference.levels)
        hidden = decoder.conv_in(z)
        if decoder.timestep_scale_multiplier is not None:
            temb = temb * decoder.timestep_scale_multiplier
        for index, block in enumerate(blocks):
            hidden = block(hidden, temb)
            if index >= first_guided:
                hidden = hidden + reference.levels[index - first_guided].unsqueeze(2).to(hidden.dtype)
        gate_logits = self.reference_gate(hidden)
        decoded = decoder_output(decoder, hidden, temb)
        gate = torch.sigmoid(unpatchify(decoder, gate_logits))
        return decoded + gate * (reference.pixels.unsqueeze(2).to(decoded.dtype) - decoded)
