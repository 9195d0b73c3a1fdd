"""RAPTransformer: the paper-scale size, shapes, per-frame time, save/load."""

import torch

from rap import RAPTransformer, get_preset
from conftest import tiny_transformer


def test_paper_preset_is_in_the_1_3b_class():
    with torch.device("meta"):
        model = RAPTransformer(**get_preset("rap-1.3b").transformer)
    count = sum(p.numel() for p in model.parameters())
    print(f"rap-1.3b transformer parameters: {count:,}")
    assert 1.2e9 < count < 1.6e9
    config = model.config
    assert (config.num_layers, config.num_attention_heads * config.attention_head_dim, config.ffn_dim) == (30, 1536, 8960)
    assert (config.in_channels, config.out_channels, tuple(config.patch_size)) == (256, 128, (1, 1, 1))


def test_output_shape_and_per_frame_timesteps():
    model = tiny_transformer()
    x = torch.randn(2, 16, 3, 4, 6)
    audio = torch.randn(2, 3, 8, 2, 16)
    with torch.no_grad():
        scalar = model(x, torch.tensor([300.0, 300.0]), audio).sample
        per_frame_same = model(x, torch.full((2, 3), 300.0), audio).sample
        per_frame_diff = model(x, torch.tensor([[0.0, 300.0, 300.0]] * 2), audio).sample
    assert scalar.shape == (2, 8, 3, 4, 6)
    assert torch.allclose(scalar, per_frame_same, atol=1e-5)
    assert not torch.allclose(scalar, per_frame_diff, atol=1e-4)


def test_precomputed_audio_tokens_match(tmp_path):
    model = tiny_transformer()
    x, audio, t = torch.randn(1, 16, 2, 4, 4), torch.randn(1, 2, 8, 2, 16), torch.tensor([10.0])
    with torch.no_grad():
        direct = model(x, t, audio).sample
        cached = model(x, t, audio_tokens=model.encode_audio(audio)).sample
    assert torch.equal(direct, cached)


def test_save_load_round_trip(tmp_path):
    model = tiny_transformer()
    model.save_pretrained(tmp_path)
    loaded = RAPTransformer.from_pretrained(tmp_path).eval()
    x, audio, t = torch.randn(1, 16, 2, 4, 4), torch.randn(1, 2, 8, 2, 16), torch.tensor([10.0])
    saved, restored = model.state_dict(), loaded.state_dict()
    assert saved.keys() == restored.keys() and all(torch.equal(saved[k], restored[k]) for k in saved)
    with torch.no_grad():  # same weights; kernels may sum in another order (seen: 3e-7 apart)
        torch.testing.assert_close(model(x, t, audio).sample, loaded(x, t, audio).sample, atol=1e-6, rtol=1e-6)
    assert loaded.config.hybrid_weight == 1.0 and loaded.config.hybrid_bias == 0.0


def _swap_frames_within_latent(audio: torch.Tensor, a: int, b: int) -> torch.Tensor:
    swapped = audio.clone()
    swapped[:, :, [a, b]] = audio[:, :, [b, a]]
    return swapped


def test_without_frame_positions_a_latent_frame_hears_its_sound_as_an_unordered_set():
    """Cross-attention ignores the order of its keys: reversing the sound within every latent frame
    changes nothing unless the audio tokens carry their frame's position (`audio_frame_positions`)."""
    x, t = torch.randn(1, 16, 3, 2, 2), torch.tensor([400.0])
    audio = torch.randn(1, 3, 8, 2, 16)
    reversed_within = audio.flip(2)
    blind = tiny_transformer()
    with torch.no_grad():
        torch.testing.assert_close(blind(x, t, audio).sample, blind(x, t, reversed_within).sample, atol=1e-5, rtol=1e-5)

    ordered = tiny_transformer(audio_frame_positions=True)
    assert ordered.audio_projection.frame_embedding.shape == (8, 1, 16)
    with torch.no_grad():  # zero-initialised: the same model as the blind one until trained
        torch.testing.assert_close(ordered(x, t, audio).sample, blind(x, t, audio).sample)
        ordered.audio_projection.frame_embedding.normal_(0, 0.5)
        forward, backward = ordered(x, t, audio).sample, ordered(x, t, reversed_within).sample
        one_pair = ordered(x, t, _swap_frames_within_latent(audio, 0, 7)).sample
    assert (forward - backward).abs().max() > 1e-3
    assert (forward - one_pair).abs().max() > 1e-3


def test_frame_positions_survive_save_and_load_and_older_configs_load_without_them(tmp_path):
    import json

    model = tiny_transformer(audio_frame_positions=True)
    with torch.no_grad():
        model.audio_projection.frame_embedding.normal_()
    model.save_pretrained(tmp_path / "ordered")
    loaded = RAPTransformer.from_pretrained(tmp_path / "ordered")
    assert loaded.config.audio_frame_positions
    assert torch.equal(loaded.audio_projection.frame_embedding, model.audio_projection.frame_embedding)

    tiny_transformer().save_pretrained(tmp_path / "older")
    config_path = tmp_path / "older" / "config.json"
    config = json.loads(config_path.read_text())
    config.pop("audio_frame_positions")  # as written before the option existed
    config_path.write_text(json.dumps(config))
    older = RAPTransformer.from_pretrained(tmp_path / "older")
    assert not older.config.audio_frame_positions and older.audio_projection.frame_embedding is None
