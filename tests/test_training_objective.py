"""Algorithm 1's sampling and Eq. 3's three terms."""

import pytest
import torch

from rap.training import ObjectiveConfig, composite_flow_matching_loss, sample_training_batch, training_loss
from conftest import tiny_transformer


def test_eq3_terms():
    target = torch.zeros(1, 2, 3, 2, 2)
    velocity = torch.zeros(1, 2, 3, 2, 2)
    velocity[:, :, 1] = 1.0  # error 1 on the middle latent frame only
    mask = torch.zeros(1, 1, 3, 2, 2)
    mask[..., 0, 0] = 1.0
    total, parts = composite_flow_matching_loss(velocity, target, mask, face_weight=2.0, temporal_weight=3.0)
    assert parts["diffusion"] == pytest.approx(1 / 3)
    assert parts["face"] == pytest.approx(1 / 12)  # 1 masked element of 12 per channel has error 1
    assert parts["temporal"] == pytest.approx(1.0)  # both adjacent differences are +-1 everywhere
    assert total == pytest.approx(1 / 3 + 2 / 12 + 3.0)
    # a temporally constant error has no temporal term
    _, parts = composite_flow_matching_loss(torch.ones(1, 2, 3, 2, 2), target, None, 1.0, 1.0)
    assert parts["temporal"] == 0 and parts["face"] == 0


def test_mouth_term_is_off_by_default_and_adds_kappa_times_the_masked_error():
    target = torch.zeros(1, 2, 3, 2, 2)
    velocity = torch.ones(1, 2, 3, 2, 2)
    mouth = torch.zeros(1, 1, 3, 2, 2)
    mouth[..., 1, 1] = 1.0  # one cell of four
    eq3, parts = composite_flow_matching_loss(velocity, target, None, 1.0, 1.0, mouth_mask=mouth)
    assert "mouth" not in parts  # kappa = 0: the paper's Eq. 3 exactly
    total, parts = composite_flow_matching_loss(velocity, target, None, 1.0, 1.0, mouth_mask=mouth, mouth_weight=4.0)
    assert parts["mouth"] == pytest.approx(1 / 4)
    assert total == pytest.approx(float(eq3) + 4.0 / 4)
    with pytest.raises(ValueError, match="mouth mask"):
        composite_flow_matching_loss(velocity, target, None, 1.0, 1.0, mouth_weight=1.0)


def test_mouth_mask_is_windowed_with_the_latents():
    latents, ref, audio = _inputs()
    mouth = latents[:, :1].clone()  # the mask carries each latent frame's index at cell (0, 0)
    config = ObjectiveConfig(window=4, audio_dropout=0.0, mouth_weight=1.0)
    batch = sample_training_batch(latents, ref, audio, config, generator=torch.Generator().manual_seed(4), mouth_mask=mouth)
    assert batch.mouth_mask.shape == (64, 1, 4, 2, 2)
    first = batch.mouth_mask[:, 0, 0, 0, 0]
    assert torch.equal(first == 0, batch.static_start) and torch.all((first == 0) | (first == 2))


def _inputs(batch=64, frames=6, k=4):
    g = torch.Generator().manual_seed(0)
    latents = torch.randn(batch, 8, frames, 2, 2, generator=g)
    latents[:, :, :, 0, 0] = torch.arange(frames).float()  # tag every latent frame with its index
    ref = torch.randn(batch, 8, k, 2, 2, generator=g)
    audio = torch.randn(batch, frames, 8, 2, 16, generator=g) + 5.0
    return latents, ref, audio


def test_algorithm1_windows_static_or_dynamic_start():
    latents, ref, audio = _inputs()
    config = ObjectiveConfig(window=4, static_probability=0.5, audio_dropout=0.0)
    batch = sample_training_batch(latents, ref, audio, config, generator=torch.Generator().manual_seed(1))
    assert batch.model_input.shape == (64, 16, 4, 2, 2)
    assert torch.equal(batch.model_input[:, 8:], ref)  # Concat(x_t, x_ref) on channels
    t = batch.timestep / 1000
    for i in range(64):
        first = 0 if batch.static_start[i] else 2  # first k of 6, or last k
        x0 = latents[i, :, first : first + 4]
        x1 = batch.target[i] + x0  # u = x1 - x0
        expected = t[i] * x1 + (1 - t[i]) * x0  # Eq. 2
        assert torch.allclose(batch.model_input[i, :8], expected, atol=1e-5)
        assert torch.equal(batch.audio_features[i], audio[i, first : first + 4])
    assert 10 < int(batch.static_start.sum()) < 54  # both kinds of start occur


def test_audio_dropout_uses_the_null_condition():
    latents, ref, audio = _inputs(batch=400)
    config = ObjectiveConfig(window=4, audio_dropout=0.1)
    batch = sample_training_batch(latents, ref, audio, config, generator=torch.Generator().manual_seed(2))
    dropped = (batch.audio_features.flatten(1).abs().sum(1) == 0)
    assert 20 < int(dropped.sum()) < 60  # ~10% of 400


def test_one_step_reduces_the_loss_on_a_fixed_batch():
    model = tiny_transformer(in_channels=16, out_channels=8).train()
    latents, ref, audio = _inputs(batch=4)
    config = ObjectiveConfig(window=4)
    batch = sample_training_batch(latents, ref, audio, config, generator=torch.Generator().manual_seed(3))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(20):
        loss, _ = training_loss(model, batch, config)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]
