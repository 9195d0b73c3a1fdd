"""Tiny components so that every test of the machinery runs in seconds on a CPU."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never touch the network

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKLLTXVideo, FlowMatchEulerDiscreteScheduler
from transformers import Wav2Vec2Config, Wav2Vec2Model

from rap import RAPPipeline, RAPTransformer

torch.set_num_threads(2)


def tiny_transformer(**overrides) -> RAPTransformer:
    config = dict(
        num_attention_heads=2,
        attention_head_dim=8,
        in_channels=16,
        out_channels=8,
        audio_dim=16,
        num_audio_layers=2,
        ffn_dim=32,
        num_layers=3,
        frames_per_latent=8,
    )
    config.update(overrides)
    torch.manual_seed(0)
    return RAPTransformer(**config).eval()


def tiny_pipeline(latent_frames: int = 4) -> RAPPipeline:
    torch.manual_seed(0)
    vae = AutoencoderKLLTXVideo(
        latent_channels=8,
        block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
    )
    audio_encoder = Wav2Vec2Model(
        Wav2Vec2Config(
            hidden_size=16,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=32,
            conv_dim=(8,) * 7,
            num_conv_pos_embeddings=8,
            num_conv_pos_embedding_groups=2,
        )
    ).eval()
    transformer = tiny_transformer()
    # Random weights give near-zero velocities; a larger output layer makes the audio's effect visible.
    with torch.no_grad():
        transformer.proj_out.weight.mul_(50.0)
    return RAPPipeline(
        vae.eval(),
        transformer,
        audio_encoder,
        FlowMatchEulerDiscreteScheduler(shift=3.0),
        resolution=64,
        latent_frames=latent_frames,
        audio_layers=[1, 2],
        default_steps=2,
        preset="tiny-test",
    )


def tiny_audio_guided_pipeline(resolution: int = 64, default_steps: int = 1) -> RAPPipeline:
    """The tiny pipeline with a decoder that hears each frame's sound (audio features 2 layers x 16)."""
    from rap.models.autoencoder_audio import AudioGuidedAutoencoderKLLTXVideo

    base = tiny_pipeline(latent_frames=4)
    torch.manual_seed(0)
    vae = AudioGuidedAutoencoderKLLTXVideo(
        latent_channels=8, block_out_channels=(8, 8, 8, 8), decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1, 1), audio_dim=32,
    ).eval()
    return RAPPipeline(vae, base.transformer, base.audio_encoder, base.scheduler, resolution=resolution, latent_frames=4,
                       audio_layers=[1, 2], default_steps=default_steps, preset="tiny-audio-guided")


@pytest.fixture(scope="session")
def pipe() -> RAPPipeline:
    return tiny_pipeline()


@pytest.fixture(scope="session")
def portrait() -> np.ndarray:
    rng = np.random.default_rng(0)
    return (rng.random((80, 96, 3)) * 255).astype(np.uint8)


def speech_like(seconds: float, seed: int = 0, sample_rate: int = 16000) -> np.ndarray:
    """Amplitude-modulated harmonics: deterministic audio with syllable-like loudness changes."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    pitch = 120 + 40 * rng.random()
    carrier = sum(np.sin(2 * np.pi * pitch * k * t) / k for k in range(1, 6))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * (3 + 2 * rng.random()) * t + rng.random() * 6)
    return (0.3 * carrier * envelope).astype(np.float32)
