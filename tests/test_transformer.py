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
