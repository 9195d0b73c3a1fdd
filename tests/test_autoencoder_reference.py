"""The reference-guided VAE: its decoder is diffusers' LTX decoder plus reference guidance, nothing else."""

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKLLTXVideo

from rap.models.autoencoder_reference import ReferenceFeatures, ReferenceGuidedAutoencoderKLLTXVideo

TINY = dict(
    latent_channels=8,
    block_out_channels=(8, 16, 32, 32),
    decoder_block_out_channels=(8, 16, 32),
    down_block_types=("LTXVideo095DownBlock3D",) * 3,
    downsample_type=("spatiotemporal",) * 3,
    layers_per_block=(1, 1, 1, 1),
    spatio_temporal_scaling=(True, True, True),
    decoder_layers_per_block=(1, 1, 1, 1),
    decoder_spatio_temporal_scaling=(True, True, True),
    decoder_inject_noise=(False, False, False, False),
    upsample_residual=(True, True, True),
    upsample_factor=(2, 2, 2),
    patch_size=2,
)


def _plain() -> AutoencoderKLLTXVideo:
    torch.manual_seed(0)
    return AutoencoderKLLTXVideo(**TINY).eval()


def _video(frames: int = 9, size: int = 32) -> torch.Tensor:
    return torch.rand(1, 3, frames, size, size, generator=torch.Generator().manual_seed(1)) * 2 - 1


@torch.no_grad()
def test_closed_gate_decodes_exactly_like_the_plain_ltx_decoder():
    """The guided decode re-runs LTXVideoDecoder3d's steps; with the guidance switched off (zero
    projections, as wrapped, and the gate shut) it must give diffusers' output."""
    plain = _plain()
    guided = ReferenceGuidedAutoencoderKLLTXVideo.from_unguided(plain, reference_gate_bias=-60.0).eval()
    video = _video()
    latents = plain.encode(video).latent_dist.mode()
    assert torch.equal(guided.encode(video).latent_dist.mode(), latents)
    expected = plain.decode(latents).sample
    got = guided.decode(latents, reference=video[:, :, 0]).sample
    assert got.shape == expected.shape == video.shape
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


@torch.no_grad()
def test_open_gate_returns_the_reference_and_the_projections_reach_every_level():
    guided = ReferenceGuidedAutoencoderKLLTXVideo(**TINY, reference_gate_bias=60.0, reference_levels=4).eval()
    video = _video()
    reference = torch.rand(1, 3, 32, 32) * 2 - 1
    latents = guided.encode(video).latent_dist.mode()
    out = guided.decode(latents, reference=reference).sample
    torch.testing.assert_close(out, reference[:, :, None].expand_as(out), atol=1e-5, rtol=0)

    features = guided.encode_reference(reference)
    assert isinstance(features, ReferenceFeatures)
    # one map per decoder level (mid block, then each up block), coarse to fine, zero at start
    sizes = [f.shape[-1] for f in features.levels]
    assert sizes == sorted(sizes) and sizes[-1] == 32 // TINY["patch_size"]
    assert all(float(f.abs().max()) == 0.0 for f in features.levels)


@torch.no_grad()
def test_reference_changes_the_decode_once_guidance_is_trained():
    guided = ReferenceGuidedAutoencoderKLLTXVideo(**TINY).eval()
    for projection in guided.reference_encoder.projections:
        torch.nn.init.normal_(projection.weight, std=0.5)
    latents = torch.randn(1, 8, 2, 2, 2)
    a, b = (torch.rand(1, 3, 32, 32) * 2 - 1 for _ in range(2))
    out_a = guided.decode(latents, reference=a).sample
    assert not torch.allclose(out_a, guided.decode(latents, reference=b).sample, atol=1e-3)
    # precomputed features (once per stream) decode the same as pixels
    torch.testing.assert_close(guided.decode(latents, reference=guided.encode_reference(a)).sample, out_a)
    with pytest.raises(ValueError, match="reference"):
        guided.decode(latents)


def test_guided_vae_saves_and_loads_with_its_class(tmp_path):
    guided = ReferenceGuidedAutoencoderKLLTXVideo(**TINY)
    guided.save_pretrained(tmp_path)
    loaded = ReferenceGuidedAutoencoderKLLTXVideo.from_pretrained(tmp_path)
    assert loaded.config.reference_gate_bias == guided.config.reference_gate_bias
    for (name, a), (_, b) in zip(guided.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name


def test_guided_pipeline_streams_and_asks_for_the_reference(portrait, tmp_path):
    from rap import RAPPipeline
    from tests.conftest import tiny_pipeline

    base = tiny_pipeline(latent_frames=4)
    torch.manual_seed(0)
    vae = ReferenceGuidedAutoencoderKLLTXVideo(
        latent_channels=8, block_out_channels=(8, 8, 8, 8), decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1, 1),
    ).eval()
    pipe = RAPPipeline(vae, base.transformer, base.audio_encoder, base.scheduler, resolution=64, latent_frames=4,
                       audio_layers=[1, 2], default_steps=1, preset="tiny-guided")
    assert pipe.reference_guided_decoder
    audio = np.zeros(16000, np.float32)
    frames = np.concatenate([c.frames for c in pipe.stream(portrait, audio, crop="center")])
    assert frames.shape == (25, 64, 64, 3)
    with pytest.raises(ValueError, match="encode_decoder_reference"):
        pipe.decode_latents(torch.zeros(1, 8, 3, 2, 2))
    pipe.save_pretrained(tmp_path)
    reloaded = RAPPipeline.from_pretrained(tmp_path)
    assert isinstance(reloaded.vae, ReferenceGuidedAutoencoderKLLTXVideo)


def test_only_the_finest_levels_are_guided_by_default():
    """Small training crops leave the coarse levels mostly padding, so by default only the two
    finest decoder levels take reference features; a bad count is refused."""
    guided = ReferenceGuidedAutoencoderKLLTXVideo(**TINY)
    levels = guided.encode_reference(torch.zeros(1, 3, 32, 32)).levels
    assert [tuple(f.shape[-3:]) for f in levels] == [(8, 8, 8), (4, 16, 16)]  # the last two up blocks
    with pytest.raises(ValueError, match="reference_levels"):
        ReferenceGuidedAutoencoderKLLTXVideo(**TINY, reference_levels=5)
