"""Model presets: the paper's RAP-1.3B and the small CPU model, built by one code path.

A preset names the configuration of every component. `rap-1.3b` is the paper's (Appendix,
Experimental Setup Details): LTX-Video 0.9.1 VAE (128 latent channels, 32x32 spatial and 8x
temporal compression, timestep-conditioned decoder), Wav2Vec2-base, a 30-layer Wan2.1-1.3B-shaped
DiT with a (1,1,1) patch, 512x512 at 25 fps, clips of 11 latent frames (81 video frames).
`rap-small` keeps that structure (same classes, 32x/8x compression, 11-latent clips) at a size
that runs in real time on a 2-core CPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RAPPreset:
    name: str
    resolution: int
    fps: int
    latent_frames: int  # F: latent frames per clip (81 video frames at 8x temporal compression)
    vae: dict[str, Any]
    transformer: dict[str, Any]
    audio_encoder: dict[str, Any]  # transformers.Wav2Vec2Config kwargs (random init) ...
    audio_layers: tuple[int, ...]  # which Wav2Vec2 hidden states form the N audio tokens per frame
    # ... or a pretrained checkpoint, loaded when available
    # the small preset's choice (seed 002's reference-guided VAE; `rap.models.autoencoder_reference`)
    reference_guided_vae: bool = False
    # options of an audio-guided decoder (`rap.models.autoencoder_audio`), or None for the plain one
    audio_guided_vae: dict[str, Any] | None = None
    vae_pretrained: str | None = None
    audio_encoder_pretrained: str | None = None
    wan_pretrained: str | None = None
    scheduler: dict[str, Any] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)

    @property
    def frames_per_latent(self) -> int:
        return self.transformer["frames_per_latent"]

    @property
    def clip_frames(self) -> int:
        return 1 + self.frames_per_latent * (self.latent_frames - 1)

    @property
    def audio_feature_dim(self) -> int:
        """N * C: what an audio-guided decoder hears per frame (the DiT's audio tokens, flattened)."""
        return self.transformer["audio_dim"] * len(self.audio_layers)


# Sampling defaults from the paper: audio CFG 5, overlap n = 3, w = 1, delta = 0.
PAPER_DEFAULTS = {"guidance_scale": 5.0, "overlap": 3, "hybrid_weight": 1.0, "hybrid_bias": 0.0}

RAP_1_3B = RAPPreset(
    name="rap-1.3b",
    resolution=512,
    fps=25,
    latent_frames=11,
    vae=dict(
        in_channels=3,
        out_channels=3,
        latent_channels=128,
        block_out_channels=(128, 256, 512, 512),
        decoder_block_out_channels=(256, 512, 1024),
        layers_per_block=(4, 3, 3, 3, 4),
        decoder_layers_per_block=(5, 6, 7, 8),
        spatio_temporal_scaling=(True, True, True, False),
        decoder_spatio_temporal_scaling=(True, True, True),
        decoder_inject_noise=(False, True, True, True),
        upsample_residual=(True, True, True),
        upsample_factor=(2, 2, 2),
        timestep_conditioning=True,
        patch_size=4,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
    ),
    transformer=dict(
        patch_size=(1, 1, 1),
        num_attention_heads=12,
        attention_head_dim=128,
        in_channels=256,
        out_channels=128,
        audio_dim=768,
        num_audio_layers=12,
        frames_per_latent=8,
        ffn_dim=8960,
        num_layers=30,
        audio_frame_positions=True,
    ),
    audio_encoder=dict(),  # Wav2Vec2-base: always pretrained
    audio_layers=tuple(range(1, 13)),  # the 12 transformer layers' outputs
    vae_pretrained="diffusers/LTX-Video-0.9.1",
    audio_encoder_pretrained="facebook/wav2vec2-base-960h",
    wan_pretrained="Wan-AI/Wan2.1-T2V-1.3B-Diffusers",
    scheduler=dict(shift=5.0),
    defaults=dict(PAPER_DEFAULTS, num_inference_steps=25),
)

RAP_SMALL = RAPPreset(
    name="rap-small",
    resolution=256,
    fps=25,
    latent_frames=11,
    # LTX-0.9.5-style blocks: the down- and upsamplers carry parameter-free space-to-depth
    # residuals. With the 0.9.1-style plain blocks this small VAE collapsed to the mean colour in
    # training: its RMS norms (no mean subtraction) let a constant feature drown the latent signal.
    vae=dict(
        in_channels=3,
        out_channels=3,
        latent_channels=64,
        block_out_channels=(32, 64, 128, 128),
        down_block_types=("LTXVideo095DownBlock3D",) * 3,
        downsample_type=("spatiotemporal",) * 3,
        layers_per_block=(1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, True),
        decoder_block_out_channels=(32, 64, 128),  # a light decoder: it runs on every clip
        decoder_layers_per_block=(1, 1, 1, 1),
        decoder_spatio_temporal_scaling=(True, True, True),
        decoder_inject_noise=(False, False, False, False),
        upsample_residual=(True, True, True),
        upsample_factor=(2, 2, 2),
        timestep_conditioning=False,
        patch_size=4,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
    ),
    transformer=dict(
        patch_size=(1, 1, 1),
        num_attention_heads=4,
        attention_head_dim=64,
        in_channels=128,
        out_channels=64,
        audio_dim=128,
        num_audio_layers=2,
        frames_per_latent=8,
        ffn_dim=768,
        num_layers=6,
        audio_frame_positions=True,
    ),
    audio_encoder=dict(
        hidden_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=256,
        conv_dim=(64, 64, 64, 64, 64, 64, 64),
        num_conv_pos_embeddings=32,
        num_conv_pos_embedding_groups=4,
        do_stable_layer_norm=True,
        feat_extract_norm="layer",
    ),
    audio_layers=(1, 2),
    # the decoder hears every frame's sound: the mouth's motion inside a latent frame, which the
    # latent and the DiT's window lose, comes back (`rap.models.autoencoder_audio`; the paper's
    # LTX-VAE has no such input, so rap-1.3b keeps the plain decoder)
    audio_guided_vae=dict(audio_levels=3),
    scheduler=dict(shift=3.0),
    defaults=dict(PAPER_DEFAULTS, num_inference_steps=6),
)

PRESETS: dict[str, RAPPreset] = {p.name: p for p in (RAP_1_3B, RAP_SMALL)}


def get_preset(name: str) -> RAPPreset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}") from None
