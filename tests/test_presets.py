"""Every preset's components fit together: channels, audio width and layers, compression."""

import pytest
import torch
from diffusers import AutoencoderKLLTXVideo
from transformers import Wav2Vec2Config

from rap import PRESETS, get_preset


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_components_agree(name):
    preset = get_preset(name)
    with torch.device("meta"):
        vae = AutoencoderKLLTXVideo(**preset.vae)
    audio = Wav2Vec2Config(**preset.audio_encoder)
    dit = preset.transformer
    assert vae.spatial_compression_ratio == 32 and vae.temporal_compression_ratio == 8  # as LTX-VAE
    assert dit["in_channels"] == 2 * preset.vae["latent_channels"]  # Concat(x_t, x_ref)
    assert dit["out_channels"] == preset.vae["latent_channels"]
    assert dit["frames_per_latent"] == vae.temporal_compression_ratio
    assert dit["audio_dim"] == audio.hidden_size
    assert dit["num_audio_layers"] == len(preset.audio_layers)
    assert max(preset.audio_layers) <= audio.num_hidden_layers
    assert preset.clip_frames == 81 and preset.resolution % 32 == 0
    assert preset.defaults["guidance_scale"] == 5.0 and preset.defaults["overlap"] == 3
    assert preset.defaults["hybrid_weight"] == 1.0 and preset.defaults["hybrid_bias"] == 0.0


def test_unknown_preset():
    with pytest.raises(ValueError, match="unknown preset"):
        get_preset("rap-70b")


def test_the_small_decoder_hears_what_the_pipeline_hands_it_and_the_paper_s_does_not():
    """rap-small's VAE is audio-guided (its decoder takes N * C features per frame, the width of the
    pipeline's `AudioFeatureWindows` output); rap-1.3b keeps the paper's plain LTX decoder."""
    from rap import RAPPipeline
    from rap.models.autoencoder_audio import AudioGuidedAutoencoderKLLTXVideo

    small = RAPPipeline.from_preset("rap-small")
    assert isinstance(small.vae, AudioGuidedAutoencoderKLLTXVideo) and small.audio_guided_decoder
    hidden = small.audio_encoder.config.hidden_size
    assert small.vae.config.audio_dim == hidden * len(small.config.audio_layers) == get_preset("rap-small").audio_feature_dim
    assert get_preset("rap-1.3b").audio_guided_vae is None
