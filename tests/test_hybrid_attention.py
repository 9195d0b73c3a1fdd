"""Eq. 4-7: the alpha schedule and the scopes of the two audio branches."""

import pytest
import torch

from rap.models.hybrid_attention import hybrid_alpha, hybrid_alphas
from conftest import tiny_transformer


def test_alpha_schedule_matches_eq7():
    assert hybrid_alphas(4, weight=1.0, bias=0.0) == [0.0, 0.25, 0.5, 0.75]
    assert hybrid_alphas(3, weight=0.0, bias=0.5) == [0.5, 0.5, 0.5]
    assert hybrid_alpha(10, 30, weight=-1.0, bias=1.0) == pytest.approx(1.0 - 10 / 30)
    # Table 4's w=0 rows: delta=0 is full-only, delta=1 window-only
    assert set(hybrid_alphas(30, 0.0, 0.0)) == {0.0}
    assert set(hybrid_alphas(30, 0.0, 1.0)) == {1.0}


def _attn_outputs(alpha, audio):
    torch.manual_seed(0)
    block = tiny_transformer().blocks[0]
    frames, tokens_per_frame = 4, 6
    video = torch.randn(1, frames * tokens_per_frame, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = block.attn2(video, audio, num_frames=frames, alpha=alpha)
    return out.reshape(frames, tokens_per_frame, -1)


@pytest.fixture
def audio_pair():
    g = torch.Generator().manual_seed(2)
    audio = torch.randn(1, 4 * 5, 16, generator=g)  # 4 latent frames x 5 audio tokens
    changed = audio.clone()
    changed[:, 2 * 5 : 3 * 5] = torch.randn(1, 5, 16, generator=g)  # new audio for frame k = 2
    return audio, changed


def test_window_branch_is_blind_to_other_frames_audio(audio_pair):
    audio, changed = audio_pair
    before, after = _attn_outputs(1.0, audio), _attn_outputs(1.0, changed)
    moved = (before - after).abs().amax(dim=(1, 2))
    assert moved[2] > 1e-3
    assert torch.all(moved[[0, 1, 3]] == 0)


def test_full_branch_sees_all_audio(audio_pair):
    audio, changed = audio_pair
    moved = (_attn_outputs(0.0, audio) - _attn_outputs(0.0, changed)).abs().amax(dim=(1, 2))
    assert torch.all(moved > 1e-4)


def test_hybrid_is_the_eq6_blend(audio_pair):
    audio, _ = audio_pair
    full, window, hybrid = _attn_outputs(0.0, audio), _attn_outputs(1.0, audio), _attn_outputs(0.3, audio)
    # the output projection is affine, so blending its outputs equals blending its inputs
    assert torch.allclose(hybrid, 0.3 * window + 0.7 * full, atol=1e-5)


def test_per_call_w_delta_override_config():
    model = tiny_transformer()
    x = torch.randn(1, 16, 2, 4, 4)
    audio = torch.randn(1, 2, 8, 2, 16)
    t = torch.tensor([500.0])
    with torch.no_grad():
        default = model(x, t, audio, return_dict=False)[0]
        same = model(x, t, audio, hybrid_weight=1.0, hybrid_bias=0.0, return_dict=False)[0]
        other = model(x, t, audio, hybrid_weight=0.0, hybrid_bias=1.0, return_dict=False)[0]
    assert torch.equal(default, same)
    assert not torch.allclose(default, other)
