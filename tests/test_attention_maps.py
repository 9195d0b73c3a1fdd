"""Recorded attention maps of the hybrid audio attention: faithful, scoped per branch, harmless."""

import torch

from rap.models.hybrid_attention import record_audio_attention
from conftest import tiny_transformer


def _inputs():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 16, 3, 4, 4, generator=g)  # 3 latent frames of 4 x 4 tokens
    audio = torch.randn(2, 3, 8, 2, 16, generator=g)  # r_f = 8, N = 2: 16 audio tokens per frame
    return x, torch.tensor([500.0, 500.0]), audio


def test_recording_leaves_outputs_unchanged_and_restores_processors():
    model = tiny_transformer()
    x, t, audio = _inputs()
    processors = [block.attn2.processor for block in model.blocks]
    with torch.no_grad():
        plain = model(x, t, audio, return_dict=False)[0]
        with record_audio_attention(model) as maps:
            recorded = model(x, t, audio, hybrid_weight=1.0, hybrid_bias=0.0, return_dict=False)[0]
    assert torch.equal(plain, recorded)
    assert [block.attn2.processor for block in model.blocks] == processors
    assert [m.layer for m in maps] == [0, 1, 2]
    assert [m.alpha for m in maps] == [0.0, 1 / 3, 2 / 3]  # Eq. 7, w = 1, delta = 0
    full, window = maps[0].full, maps[0].window
    assert full.shape == (2, 48, 48) and window.shape == (2, 3, 16, 16)
    assert torch.allclose(full.sum(-1), torch.ones(2, 48)) and torch.allclose(window.sum(-1), torch.ones(2, 3, 16))


def test_maps_reproduce_the_branches():
    """Weights x values through the output projection give the block's own full and window outputs."""
    model = tiny_transformer()
    attn = model.blocks[1].attn2
    g = torch.Generator().manual_seed(3)
    video, audio = torch.randn(1, 3 * 5, 16, generator=g), torch.randn(1, 3 * 4, 16, generator=g)
    with torch.no_grad(), record_audio_attention(model, per_head=True) as maps:
        outputs = {a: attn(video, audio, num_frames=3, alpha=a) for a in (0.0, 1.0)}
        value = attn.to_v(audio).unflatten(2, (attn.heads, -1))  # (1, A, h, d)
        full = torch.einsum("bhqk,bkhd->bqhd", maps[0].full, value).flatten(2)
        window = torch.einsum("bhfqk,bfkhd->bfqhd", maps[0].window, value.unflatten(1, (3, -1))).flatten(3).flatten(1, 2)
        project = lambda z: attn.to_out[1](attn.to_out[0](z))  # noqa: E731
        assert torch.allclose(project(full), outputs[0.0], atol=1e-5)
        assert torch.allclose(project(window), outputs[1.0], atol=1e-5)


def test_frame_mass():
    model = tiny_transformer()
    x, t, audio = _inputs()
    with torch.no_grad(), record_audio_attention(model) as maps:
        model(x, t, audio)
    full = maps[0].frame_mass("full")
    assert full.shape == (2, 3, 3) and torch.allclose(full.sum(-1), torch.ones(2, 3))
    assert torch.equal(maps[0].frame_mass("window"), torch.eye(3).expand(2, 3, 3))
