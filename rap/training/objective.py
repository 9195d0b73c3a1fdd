"""Algorithm 1 (one training step's sampling) and the composite flow-matching loss of Eq. 3.

Given the encoded training video E(V) (paper: 16 latent frames from 121 video frames), one step
samples a time t and noise, builds x'_t by Eq. 2, picks a window of k latent frames -- with
probability beta the first k (static latent + dynamic latents, as the first clip at inference),
otherwise the last k (purely dynamic, as every later clip under latent inheritance) -- concatenates
x_ref on channels, drops the audio to the null condition with probability 0.1 (for CFG), and
scores the predicted velocity with Eq. 3.

Choices where the paper is silent: t is drawn from the scheduler-free uniform U(0, 1) and passed to
the model as 1000*t (the scale of the sampler's timesteps); the face mask and the audio features
are windowed with the latents; Eq. 3's temporal term differences adjacent latent frames.

Beyond the paper (off by default, so the defaults are Eq. 3 exactly): an optional mouth term
kappa * ||m_mouth * (v - u)||^2 with the same form as the face term. At the small preset's 8x8 latent
grid the lips cover two or three cells of 64, so Eq. 3 spends almost none of its gradient on them;
the term lets a small model's training attend to the one part of the picture that the audio moves.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rap.pipelines.audio_features import null_audio_features


@dataclass(frozen=True)
class ObjectiveConfig:
    window: int = 11  # k: latent frames the model sees (paper: 11 of 16)
    static_probability: float = 0.5  # beta (paper: 1:1)
    audio_dropout: float = 0.1  # paper: 10%
    face_weight: float = 1.0  # lambda of Eq. 3 (not given in the paper)
    temporal_weight: float = 1.0  # mu of Eq. 3 (not given in the paper)
    mouth_weight: float = 0.0  # kappa of the optional mouth term (not in the paper; 0 = Eq. 3)
    num_train_timesteps: int = 1000


def composite_flow_matching_loss(
    velocity: torch.Tensor,
    target: torch.Tensor,
    face_mask: torch.Tensor | None,
    face_weight: float,
    temporal_weight: float,
    mouth_mask: torch.Tensor | None = None,
    mouth_weight: float = 0.0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Eq. 3: ||v - u||^2 + lambda ||m * (v - u)||^2 + mu ||dv - du||^2, with d along latent frames,
    plus kappa ||m_mouth * (v - u)||^2 when a mouth mask and mouth_weight > 0 are given.

    velocity, target: (B, C, F, H, W); masks broadcastable to them (1 on the face / mouth).
    Each term is a mean over elements, so the weights are comparable across resolutions.
    """
    error = velocity.float() - target.float()
    diffusion = error.pow(2).mean()
    face = (face_mask * error).pow(2).mean() if face_mask is not None else torch.zeros_like(diffusion)
    if velocity.shape[2] > 1:
        temporal = (error[:, :, 1:] - error[:, :, :-1]).pow(2).mean()  # dv - du = d(v - u)
    else:
        temporal = torch.zeros_like(diffusion)
    total = diffusion + face_weight * face + temporal_weight * temporal
    parts = {"diffusion": diffusion.detach(), "face": face.detach(), "temporal": temporal.detach()}
    if mouth_weight > 0:
        if mouth_mask is None:
            raise ValueError("mouth_weight > 0 needs a mouth mask (latent caches written before it have none)")
        mouth = (mouth_mask * error).pow(2).mean()
        total = total + mouth_weight * mouth
        parts["mouth"] = mouth.detach()
    return total, parts


@dataclass
class TrainingBatch:
    """What the model sees in one step of Algorithm 1, and what it should predict."""

    model_input: torch.Tensor  # x~_t = Concat(x_t, x_ref): (B, 2C, k, H, W)
    timestep: torch.Tensor  # (B,), 1000 * t
    audio_features: torch.Tensor  # (B, k, r_f, N, C_a), nulled where dropped
    target: torch.Tensor  # u_t = x_1 - x_0 on the window
    face_mask: torch.Tensor | None  # (B, 1, k, H, W) or None
    static_start: torch.Tensor  # (B,) bool: y of Algorithm 1
    mouth_mask: torch.Tensor | None = None  # (B, 1, k, H, W) or None, for the optional mouth term


def sample_training_batch(
    video_latents: torch.Tensor,
    reference_latents: torch.Tensor,
    audio_features: torch.Tensor,
    config: ObjectiveConfig,
    face_mask: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    mouth_mask: torch.Tensor | None = None,
) -> TrainingBatch:
    """Algorithm 1, lines 2-6.

    video_latents: E(V), (B, C, F_all, H, W); reference_latents: x_ref for a k-frame clip,
    (B, C, k, H, W); audio_features: (B, F_all, r_f, N, C_a) aligned with video_latents' frames;
    face_mask, mouth_mask: (B, 1, F_all, H, W) at latent resolution, optional.
    """
    batch, _, total_frames, _, _ = video_latents.shape
    k = config.window
    if total_frames < k:
        raise ValueError(f"the training video has {total_frames} latent frames, fewer than the window {k}")
    device = video_latents.device
    # line 2: t ~ U(0, 1) (continuous form of Uniform({1..T}))
    t = torch.rand(batch, generator=generator, device=device)
    # line 3: x'_t = t * x_1 + (1 - t) * x_0 (Eq. 2)
    noise = torch.randn(video_latents.shape, generator=generator, device=device, dtype=video_latents.dtype)
    t_ = t.view(-1, 1, 1, 1, 1).to(video_latents.dtype)
    noisy = t_ * noise + (1 - t_) * video_latents
    velocity_target = noise - video_latents  # u_t = dx_t/dt
    # lines 4-5: y ~ Bernoulli(beta); first k latents if y else last k
    static = torch.rand(batch, generator=generator, device=device) < config.static_probability
    starts = torch.where(static, 0, total_frames - k).tolist()

    def window(x):
        return torch.stack([x[i, :, s : s + k] for i, s in enumerate(starts)]) if x is not None else None

    audio = torch.stack([audio_features[i, s : s + k] for i, s in enumerate(starts)])
    dropped = torch.rand(batch, generator=generator, device=device) < config.audio_dropout
    audio = torch.where(dropped.view(-1, 1, 1, 1, 1), null_audio_features(audio), audio)
    # line 6: x~_t = Concat(x_t, x_ref)
    model_input = torch.cat([window(noisy), reference_latents], dim=1)
    return TrainingBatch(
        model_input=model_input,
        timestep=t * config.num_train_timesteps,
        audio_features=audio,
        target=window(velocity_target),
        face_mask=window(face_mask),
        static_start=static,
        mouth_mask=window(mouth_mask),
    )


def training_loss(model, batch: TrainingBatch, config: ObjectiveConfig):
    """Algorithm 1, lines 7-8: v_t = M(x~_t, t, c_a) and Eq. 3."""
    velocity = model(batch.model_input, batch.timestep, batch.audio_features, return_dict=False)[0]
    return composite_flow_matching_loss(
        velocity, batch.target, batch.face_mask, config.face_weight, config.temporal_weight,
        mouth_mask=batch.mouth_mask, mouth_weight=config.mouth_weight,
    )
