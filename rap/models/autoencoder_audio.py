"""An audio-guided LTX video VAE: the decoder hears the sound of every frame it draws.

Why (measured on rap-small, `docs/training_log.md`): one latent frame stands for 8 video frames,
and the mouth's motion inside those 8 frames is what both the latent and the DiT lose. The DiT
reads a latent frame's sound through the window attention of Eq. 5, and the plain VAE's round
trip of the ground truth scores only 0.54 on the lip-sync meter (0.975 sharp). The decoder is the
one part that works at the video frame rate, so here it also receives, for every frame it outputs,
that frame's audio features (the same Wav2Vec2 features the DiT gets, `AudioFeatureWindows`):

- after the upsampler of each of the finest `audio_levels` up blocks, a per-frame projection of
  the sound is added to the decoder's features through a gate computed from those features, so
  the decoder itself decides where (the mouth) and how much the sound matters;
- a level that runs at a coarser frame rate than the output gets the mean of the frames it covers;
- the projections start at zero, so a plain LTX VAE's weights load unchanged and start as the
  same model.

The encoder is diffusers' LTX encoder, unchanged, and so are the latent space and its statistics:
a DiT trained on the plain VAE's latents samples for this decoder as it is
(`train_vae --init PLAIN --decoder-only --audio-guided`). The paper's VAE (LTX-Video) has no such
input and the `rap-1.3b` preset does not use it; it is the small model's choice, beyond the paper.
"""

from __future__ import annotations

import torch
from diffusers import AutoencoderKLLTXVideo
from diffusers.configuration_utils import register_to_config
from diffusers.models.autoencoders.vae import DecoderOutput
from diffusers.models.modeling_utils import ModelMixin  # noqa: F401  pipelines find a custom component's loader here
from diffusers.utils.accelerate_utils import apply_forward_hook
from torch import nn

from rap.models.ltx_decoder_steps import decoder_output


class AudioInjection(nn.Module):
    """hidden + sigmoid(gate(hidden)) * value(audio of the frame), per frame and channel."""

    def __init__(self, channels: int, audio_dim: int):
        super().__init__()
        self.value = nn.Sequential(nn.Linear(audio_dim, channels), nn.SiLU(), nn.Linear(channels, channels))
        nn.init.zeros_(self.value[-1].weight)  # start as the unguided decoder
        nn.init.zeros_(self.value[-1].bias)
        self.gate = nn.Conv3d(channels, channels, 1)

    def forward(self, hidden: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        value = self.value(audio.to(hidden.dtype)).transpose(1, 2)[..., None, None]  # (B, C, T, 1, 1)
        return hidden + torch.sigmoid(self.gate(hidden)) * value


def audio_at_frame_rate(audio: torch.Tensor, frames: int) -> torch.Tensor:
    """(B, T_out, D) per output frame -> (B, frames, D) for a decoder level with fewer frames.

    The causal LTX layout: frame 0 stands alone, and each later level frame covers an equal run of
    the output frames after it (T_out - 1 = stride * (frames - 1)); a run gets its mean."""
    total = audio.shape[1]
    if frames == total:
        return audio
    if frames == 1:
        return audio[:, :1]
    stride, rest = divmod(total - 1, frames - 1)
    if rest:
        raise ValueError(f"{total} audio frames do not fold onto {frames} decoder frames")
    later = audio[:, 1:].unflatten(1, (frames - 1, stride)).mean(2)
    return torch.cat([audio[:, :1], later], dim=1)


class AudioGuidedAutoencoderKLLTXVideo(AutoencoderKLLTXVideo):
    """`AutoencoderKLLTXVideo` whose `decode` takes `audio=` (B, T_out, N, C): the features of every
    output frame (T_out = 1 + temporal_compression_ratio * (latent frames - 1))."""

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
        audio_dim: int = 256,  # N * C of the pipeline's features: rap-small has 2 layers x 128
        # how many of the finest up blocks hear the sound; the coarse ones run at a fraction of
        # the frame rate, where the sound's timing is averaged away
        audio_levels: int = 2,
    ) -> None:
        super().__init__(
            in_channels, out_channels, latent_channels, block_out_channels, down_block_types,
            decoder_block_out_channels, layers_per_block, decoder_layers_per_block, spatio_temporal_scaling,
            decoder_spatio_temporal_scaling, decoder_inject_noise, downsample_type, upsample_residual,
            upsample_factor, timestep_conditioning, patch_size, patch_size_t, resnet_norm_eps, scaling_factor,
            encoder_causal, decoder_causal, spatial_compression_ratio, temporal_compression_ratio,
        )
        up_blocks = self.decoder.up_blocks
        if not 1 <= audio_levels <= len(up_blocks):
            raise ValueError(f"audio_levels must be between 1 and {len(up_blocks)}, got {audio_levels}")
        # the channels the block's resnets take, i.e. what its upsampler hands them
        self.audio_injections = nn.ModuleList(
            AudioInjection(block.resnets[0].conv1.conv.in_channels, audio_dim) for block in up_blocks[-audio_levels:]
        )

    @classmethod
    def from_unguided(cls, vae: AutoencoderKLLTXVideo, **kwargs) -> "AudioGuidedAutoencoderKLLTXVideo":
        """Wrap trained LTX VAE weights (latent statistics included); the sound starts switched off."""
        config = {k: v for k, v in vae.config.items() if not k.startswith("_")}
        guided = cls(**config, **kwargs)
        missing, unexpected = guided.load_state_dict(vae.state_dict(), strict=False)
        foreign = list(unexpected) + [k for k in missing if not k.startswith("audio_injections.")]
        if foreign:
            raise ValueError(f"the VAE's weights do not fit this configuration: {foreign[:5]}")
        return guided

    @apply_forward_hook  # like the parent's: model offloading moves the VAE to its device here
    def decode(self, z, temb=None, return_dict: bool = True, audio=None):
        if audio is None:
            raise ValueError("this VAE is audio-guided: pass audio= (B, frames, N, C), the features of every output frame")
        video = self._decode_with_audio(z, temb, audio.flatten(2))
        return DecoderOutput(sample=video) if return_dict else (video,)

    def forward(self, sample, temb=None, sample_posterior: bool = False, return_dict: bool = True, generator=None, audio=None):
        posterior = self.encode(sample).latent_dist
        z = posterior.sample(generator=generator) if sample_posterior else posterior.mode()
        return self.decode(z, temb, return_dict=return_dict, audio=audio)

    def _decode_with_audio(self, z: torch.Tensor, temb: torch.Tensor | None, audio: torch.Tensor) -> torch.Tensor:
        """`LTXVideoDecoder3d.forward`, with the sound injected after the finest blocks' upsamplers."""
        decoder = self.decoder
        frames_out = 1 + self.temporal_compression_ratio * (z.shape[2] - 1)
        if audio.shape[1] != frames_out:
            raise ValueError(f"{z.shape[2]} latent frames decode to {frames_out} frames, but audio has {audio.shape[1]}")
        first_guided = len(decoder.up_blocks) - len(self.audio_injections)
        hidden = decoder.conv_in(z)
        if decoder.timestep_scale_multiplier is not None:
            temb = temb * decoder.timestep_scale_multiplier
        hidden = decoder.mid_block(hidden, temb)
        for index, block in enumerate(decoder.up_blocks):
            injection = self.audio_injections[index - first_guided] if index >= first_guided else None
            hidden = _up_block_forward(block, hidden, temb, injection, audio)
        return decoder_output(decoder, hidden, temb)


def _up_block_forward(block, hidden, temb, injection: AudioInjection | None, audio: torch.Tensor) -> torch.Tensor:
    """`LTXVideoUpBlock3d.forward` with `injection` between its upsampler and its resnets."""
    if block.conv_in is not None:
        hidden = block.conv_in(hidden, temb)
    if block.time_embedder is not None:
        temb = block.time_embedder(timestep=temb.flatten(), resolution=None, aspect_ratio=None, batch_size=hidden.size(0), hidden_dtype=hidden.dtype)
        temb = temb.view(hidden.size(0), -1, 1, 1, 1)
    if block.upsamplers is not None:
        for upsampler in block.upsamplers:
            hidden = upsampler(hidden)
    if injection is not None:
        hidden = injection(hidden, audio_at_frame_rate(audio, hidden.shape[2]))
    for resnet in block.resnets:
        hidden = resnet(hidden, temb)
    return hidden


__all__ = ["AudioGuidedAutoencoderKLLTXVideo", "AudioInjection", "audio_at_frame_rate"]
