"""RAPTransformer: the RAP denoiser M(x~_t, t, c_a) -> v_t.

A Wan2.1-style diffusion transformer (3D RoPE self-attention, adaLN timestep modulation, FFN) in
which the text cross-attention is replaced by the hybrid audio attention of Eq. 4-7. Parameter
names follow diffusers' `WanTransformer3DModel`, so Wan2.1-T2V weights initialise every part they
share (`rap.convert_wan`).

Inputs are the fused latent x~_t = Concat(x_t, x_ref) on channels (paper: 2 x 128 = 256), the
flow-matching time t, and per-latent-frame audio features of shape (B, F, r_f, N, C): r_f video
frames per latent frame, N audio-encoder layers per video frame. The audio MLP maps them to
(F * r_f * N) tokens of the model width (c_a = MLP(Wav2Vec2(A))).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.attention import FeedForward
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.modeling_outputs import Transformer2DModelOutput
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.normalization import FP32LayerNorm
from diffusers.models.transformers.transformer_wan import WanAttention, WanAttnProcessor, WanRotaryPosEmbed

from rap.models.hybrid_attention import HybridAudioAttnProcessor, hybrid_alphas


class RAPAudioProjection(nn.Module):
    """c_a = MLP(Wav2Vec2(A)): per-layer audio features -> audio tokens of the model width.

    A learned embedding per encoder layer tells the tokens of one video frame apart (the paper
    keeps N layer tokens per frame but does not say how they are distinguished).

    With `frames_per_latent` given, a learned embedding per video frame within the latent frame
    (r_f of them) tells the window's frames apart too. Cross-attention is blind to the order of its
    keys, so without it a latent frame's tokens see the r_f frames of sound as an unordered set: the
    visemes of the window but not which came first, while the latent must also hold the mouth's
    motion within its r_f frames. The paper is silent here; zero init leaves a model trained
    without it unchanged until fine-tuning moves it.
    """

    def __init__(self, audio_dim: int, num_audio_layers: int, dim: int, frames_per_latent: int | None = None):
        super().__init__()
        self.layer_embedding = nn.Parameter(torch.zeros(num_audio_layers, dim))
        self.frame_embedding = nn.Parameter(torch.zeros(frames_per_latent, 1, dim)) if frames_per_latent else None
        self.mlp = nn.Sequential(nn.Linear(audio_dim, dim), nn.GELU(approximate="tanh"), nn.Linear(dim, dim))

    def forward(self, audio_features: torch.Tensor) -> torch.Tensor:
        # (B, F, r_f, N, C) -> (B, F * r_f * N, D), frame-major so that frame j's tokens are contiguous
        tokens = self.mlp(audio_features) + self.layer_embedding
        if self.frame_embedding is not None:
            tokens = tokens + self.frame_embedding
        return tokens.flatten(1, 3)


class RAPTimestepEmbedding(nn.Module):
    """Sinusoidal time -> (temb, six adaLN modulation vectors), as in Wan2.1."""

    def __init__(self, dim: int, freq_dim: int):
        super().__init__()
        self.timesteps_proj = Timesteps(num_channels=freq_dim, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embedder = TimestepEmbedding(in_channels=freq_dim, time_embed_dim=dim)
        self.act_fn = nn.SiLU()
        self.time_proj = nn.Linear(dim, dim * 6)

    def forward(self, timestep: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        # timestep: (B, T_m) with T_m = 1 (one time for the clip) or F (one per latent frame)
        batch, steps = timestep.shape
        freqs = self.timesteps_proj(timestep.flatten()).to(self.time_embedder.linear_1.weight.dtype)
        temb = self.time_embedder(freqs).to(dtype)
        modulation = self.time_proj(self.act_fn(temb))
        return temb.unflatten(0, (batch, steps)), modulation.unflatten(0, (batch, steps)).unflatten(2, (6, -1))


def _modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """adaLN with one (shift, scale) per group of frames: x (B, S, D), shift/scale (B, T_m, D)."""
    groups = shift.shape[1]
    x = x.unflatten(1, (groups, -1))
    return (x * (1 + scale.unsqueeze(2)) + shift.unsqueeze(2)).flatten(1, 2)


def _gate(x: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
    return (x.unflatten(1, (gate.shape[1], -1)) * gate.unsqueeze(2)).flatten(1, 2)


class RAPTransformerBlock(nn.Module):
    """Self-attention (3D RoPE) -> hybrid audio cross-attention (Eq. 4-7) -> FFN, adaLN-modulated."""

    def __init__(self, dim: int, ffn_dim: int, num_heads: int, cross_attn_norm: bool = True, eps: float = 1e-6):
        super().__init__()
        self.norm1 = FP32LayerNorm(dim, eps, elementwise_affine=False)
        self.attn1 = WanAttention(dim=dim, heads=num_heads, dim_head=dim // num_heads, eps=eps, processor=WanAttnProcessor())
        self.attn2 = WanAttention(
            dim=dim,
            heads=num_heads,
            dim_head=dim // num_heads,
            eps=eps,
            cross_attention_dim_head=dim // num_heads,
            processor=HybridAudioAttnProcessor(),
        )
        self.norm2 = FP32LayerNorm(dim, eps, elementwise_affine=True) if cross_attn_norm else nn.Identity()
        self.ffn = FeedForward(dim, inner_dim=ffn_dim, activation_fn="gelu-approximate")
        self.norm3 = FP32LayerNorm(dim, eps, elementwise_affine=False)
        self.scale_shift_table = nn.Parameter(torch.randn(1, 6, dim) / dim**0.5)

    def forward(
        self,
        hidden_states: torch.Tensor,
        audio_tokens: torch.Tensor,
        modulation: torch.Tensor,
        rotary_emb: tuple[torch.Tensor, torch.Tensor],
        num_frames: int,
        alpha: float,
    ) -> torch.Tensor:
        # modulation: (B, T_m, 6, D)
        shift_msa, scale_msa, gate_msa, c_shift, c_scale, c_gate = (
            (self.scale_shift_table.unsqueeze(0) + modulation.float()).unbind(2)
        )
        dtype = hidden_states.dtype

        norm = _modulate(self.norm1(hidden_states.float()), shift_msa, scale_msa).to(dtype)
        hidden_states = (hidden_states.float() + _gate(self.attn1(norm, None, None, rotary_emb).float(), gate_msa)).to(dtype)

        norm = self.norm2(hidden_states.float()).to(dtype)
        hidden_states = hidden_states + self.attn2(norm, audio_tokens, num_frames=num_frames, alpha=alpha)

        norm = _modulate(self.norm3(hidden_states.float()), c_shift, c_scale).to(dtype)
        hidden_states = (hidden_states.float() + _gate(self.ffn(norm).float(), c_gate)).to(dtype)
        return hidden_states


class RAPTransformer(ModelMixin, ConfigMixin):
    """The RAP diffusion transformer. Defaults are the paper's 1.3B configuration.

    Args:
        in_channels: channels of x~_t = Concat(x_t, x_ref) (2 x latent channels).
        out_channels: latent channels of the predicted velocity.
        audio_dim / num_audio_layers: width and count (N) of the audio encoder's hidden states.
        frames_per_latent: r_f, video frames per latent frame (the VAE's temporal compression).
        hybrid_weight / hybrid_bias: default w and delta of Eq. 7 (overridable per call).
        audio_frame_positions: give the audio tokens an embedding of their video frame within the
            latent frame (`RAPAudioProjection`); off for models trained before it existed.
    """

    _supports_gradient_checkpointing = True
    _no_split_modules = ["RAPTransformerBlock"]
    _keep_in_fp32_modules = ["time_embedder", "scale_shift_table", "norm1", "norm2", "norm3"]
    _repeated_blocks = ["RAPTransformerBlock"]

    @register_to_config
    def __init__(
        self,
        patch_size: tuple[int, int, int] = (1, 1, 1),
        num_attention_heads: int = 12,
        attention_head_dim: int = 128,
        in_channels: int = 256,
        out_channels: int = 128,
        audio_dim: int = 768,
        num_audio_layers: int = 12,
        frames_per_latent: int = 8,
        freq_dim: int = 256,
        ffn_dim: int = 8960,
        num_layers: int = 30,
        cross_attn_norm: bool = True,
        eps: float = 1e-6,
        rope_max_seq_len: int = 1024,
        hybrid_weight: float = 1.0,
        hybrid_bias: float = 0.0,
        audio_frame_positions: bool = False,
    ):
        super().__init__()
        dim = num_attention_heads * attention_head_dim

        self.rope = WanRotaryPosEmbed(attention_head_dim, patch_size, rope_max_seq_len)
        self.patch_embedding = nn.Conv3d(in_channels, dim, kernel_size=patch_size, stride=patch_size)
        self.condition_embedder = RAPTimestepEmbedding(dim, freq_dim)
        self.audio_projection = RAPAudioProjection(
            audio_dim, num_audio_layers, dim, frames_per_latent if audio_frame_positions else None
        )
        self.blocks = nn.ModuleList(
            [RAPTransformerBlock(dim, ffn_dim, num_attention_heads, cross_attn_norm, eps) for _ in range(num_layers)]
        )
        self.norm_out = FP32LayerNorm(dim, eps, elementwise_affine=False)
        self.proj_out = nn.Linear(dim, out_channels * math.prod(patch_size))
        self.scale_shift_table = nn.Parameter(torch.randn(1, 2, dim) / dim**0.5)
        self.gradient_checkpointing = False
        self._rope_cache: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def encode_audio(self, audio_features: torch.Tensor) -> torch.Tensor:
        """(B, F, r_f, N, C) audio features -> (B, F*r_f*N, D) tokens. Constant over denoising steps,
        so the pipeline calls it once per clip."""
        return self.audio_projection(audio_features.to(self.dtype))

    def _rotary(self, latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        key = (tuple(latents.shape[2:]), latents.device)
        if key not in self._rope_cache:
            self._rope_cache = {key: self.rope(latents)}
        return self._rope_cache[key]

    def forward(
        self,
        hidden_states: torch.Tensor,
        timestep: torch.Tensor,
        audio_features: torch.Tensor | None = None,
        audio_tokens: torch.Tensor | None = None,
        hybrid_weight: float | None = None,
        hybrid_bias: float | None = None,
        return_dict: bool = True,
    ):
        """
        hidden_states: (B, in_channels, F, H, W), the fused latent x~_t.
        timestep: (B,) one time per sample, or (B, F) one per latent frame (motion-frame baseline).
        audio_features: (B, F, r_f, N, audio_dim), or precomputed `audio_tokens` from `encode_audio`.
        hybrid_weight / hybrid_bias: w and delta of Eq. 7 for this call (config defaults otherwise).
        """
        batch, _, num_frames, height, width = hidden_states.shape
        p_t, p_h, p_w = self.config.patch_size
        frames, rows, cols = num_frames // p_t, height // p_h, width // p_w
        if audio_tokens is None:
            if audio_features is None:
                raise ValueError("pass audio_features or audio_tokens")
            if audio_features.shape[1] != num_frames:
                raise ValueError(f"audio has {audio_features.shape[1]} latent frames, video {num_frames}")
            audio_tokens = self.encode_audio(audio_features)
        w = self.config.hybrid_weight if hybrid_weight is None else hybrid_weight
        delta = self.config.hybrid_bias if hybrid_bias is None else hybrid_bias
        alphas = hybrid_alphas(len(self.blocks), w, delta)

        rotary_emb = self._rotary(hidden_states)
        hidden_states = self.patch_embedding(hidden_states).flatten(2).transpose(1, 2).contiguous()

        timestep = timestep.reshape(batch, -1) if timestep.ndim else timestep.expand(batch).reshape(batch, 1)
        if timestep.shape[1] not in (1, frames):
            raise ValueError(f"timestep must have 1 or {frames} entries per sample, got {timestep.shape[1]}")
        temb, modulation = self.condition_embedder(timestep, hidden_states.dtype)

        for block, alpha in zip(self.blocks, alphas):
            if torch.is_grad_enabled() and self.gradient_checkpointing:
                hidden_states = self._gradient_checkpointing_func(
                    block, hidden_states, audio_tokens, modulation, rotary_emb, frames, alpha
                )
            else:
                hidden_states = block(hidden_states, audio_tokens, modulation, rotary_emb, frames, alpha)

        shift, scale = (self.scale_shift_table.unsqueeze(0) + temb.unsqueeze(2).float()).unbind(2)
        hidden_states = _modulate(self.norm_out(hidden_states.float()), shift, scale).to(hidden_states.dtype)
        hidden_states = self.proj_out(hidden_states)

        hidden_states = hidden_states.reshape(batch, frames, rows, cols, p_t, p_h, p_w, -1)
        output = hidden_states.permute(0, 7, 1, 4, 2, 5, 3, 6).flatten(6, 7).flatten(4, 5).flatten(2, 3)
        if not return_dict:
            return (output,)
        return Transformer2DModelOutput(sample=output)
