"""Algorithm 2: clip layout, trimming, latent inheritance and the motion-frame baseline."""

import pytest
import torch

from rap.pipelines.long_video import ClipPlan, LatentInheritance, MotionFrameConditioning
from conftest import speech_like


@pytest.mark.parametrize("total", [1, 80, 81, 82, 145, 146, 1000])
@pytest.mark.parametrize("overlap", [1, 3, 4])
def test_clips_tile_the_timeline_exactly_once(total, overlap):
    plan = ClipPlan(total, latent_frames=11, frames_per_latent=8, overlap=overlap)
    spans = plan.spans()
    covered = [f for s in spans for f in range(s.global_start, s.global_end)]
    assert covered == list(range(total))
    assert plan.clip_frames == 81
    for span in spans[1:]:
        assert span.keep_from == 8 * (overlap - 1) + 1  # line 13: drop r_f * (n - 1) + 1 frames
        assert span.clip_start == span.index * 8 * (11 - overlap)
    # clip i's first n latents stand for the same frames as clip i-1's last n
    if len(spans) > 1:
        last_latent_of_prev = spans[0].clip_start + 8 * (11 - overlap)
        assert spans[1].clip_start == last_latent_of_prev


def test_paper_numbers():
    plan = ClipPlan(10_000, overlap=3)
    assert plan.dropped_frames == 17 and plan.stride == 64


def test_bad_overlap():
    with pytest.raises(ValueError, match="overlap"):
        ClipPlan(100, latent_frames=11, overlap=0)
    with pytest.raises(ValueError, match="overlap"):
        ClipPlan(100, latent_frames=11, overlap=11)


def _fake_clip(strategy, clip_index, steps, frames=6, seed=0):
    """A denoising loop stand-in: records what the 'model' sees at every step."""
    g = torch.Generator().manual_seed(seed)
    latents = torch.randn(1, 2, frames, 2, 2, generator=g)
    seen = []
    for step in range(steps):
        t = torch.tensor(1000.0 * (1 - step / steps))
        latents, model_t = strategy.prepare_step(clip_index, step, latents, t)
        seen.append((latents.clone(), model_t))
        latents = latents * 0.9 + torch.randn(latents.shape, generator=g) * 0.1  # some update
    return strategy.finish_clip(clip_index, latents), seen


def test_latent_inheritance_replaces_first_n_with_previous_last_n_at_same_step():
    strategy = LatentInheritance(overlap=2)
    _, first = _fake_clip(strategy, 0, steps=4, seed=1)
    _, second = _fake_clip(strategy, 1, steps=4, seed=2)
    _, third = _fake_clip(strategy, 2, steps=4, seed=3)
    for step in range(4):
        assert torch.equal(second[step][0][:, :, :2], first[step][0][:, :, -2:])
        assert torch.equal(third[step][0][:, :, :2], second[step][0][:, :, -2:])
        assert second[step][1].ndim == 0  # one time for the whole clip
    # the rest of the clip is its own noise
    assert not torch.equal(second[0][0][:, :, 2:], first[0][0][:, :, 2:])


def test_motion_frames_are_clean_hard_conditions():
    strategy = MotionFrameConditioning(overlap=2)
    final, _ = _fake_clip(strategy, 0, steps=3, seed=1)
    decoded, seen = _fake_clip(strategy, 1, steps=3, seed=2)
    for latents, model_t in seen:
        assert torch.equal(latents[:, :, :2], final[:, :, -2:])
        assert model_t.shape == (6,) and torch.all(model_t[:2] == 0) and torch.all(model_t[2:] > 0)
    assert torch.equal(decoded[:, :, :2], final[:, :, -2:])


def test_pipeline_inherits_latents_between_clips(pipe, portrait):
    """Inside the real pipeline, clip 1's model input starts with clip 0's tail at every step."""
    inputs = []
    hook = pipe.transformer.register_forward_pre_hook(
        lambda module, args, kwargs: inputs.append((args[0][:1, :8].clone(), args[1].clone())), with_kwargs=True
    )
    try:
        steps, n = 3, 2
        pipe(portrait, speech_like(2.0), num_inference_steps=steps, overlap=n, crop="center", guidance_scale=1.0)
    finally:
        hook.remove()
    assert len(inputs) >= 2 * steps
    for step in range(steps):
        clip0, clip1 = inputs[step][0], inputs[steps + step][0]
        assert torch.allclose(clip1[:, :, :n], clip0[:, :, -n:])
        assert torch.equal(inputs[step][1], inputs[steps + step][1])  # same time t


def test_pipeline_motion_frame_baseline_runs(pipe, portrait):
    out = pipe(portrait, speech_like(2.0), num_inference_steps=2, overlap=2, crop="center", long_video="motion_frames")
    assert out.frames.shape[0] == 50


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def test_memory_stays_flat_over_many_clips(pipe, portrait):
    """Dozens of clips: what the strategy keeps is n latents per step, and resident memory does not climb."""
    audio = speech_like(24.0)
    readings = []
    for clip in pipe.stream(portrait, audio, num_inference_steps=1, overlap=3, crop="center", guidance_scale=1.0):
        readings.append(_rss_mb())
    assert len(readings) > 60
    early, late = max(readings[10:20]), max(readings[-10:])
    assert late - early < 25, f"resident memory grew from {early:.0f} MiB to {late:.0f} MiB"
