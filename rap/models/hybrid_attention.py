"""Hybrid audio attention (RAP, Eq. 4-7).

Video tokens attend to audio tokens at two temporal scales and the two results are blended per
layer:

* full-sequence fusion (Eq. 4): every video token attends to every audio token of the clip;
* window fusion (Eq. 5): the H*W tokens of latent frame j attend only to the r_f*N audio tokens of
  latent frame j;
* hybrid fusion (Eq. 6): ``z_hybrid = alpha(i) * z_window + (1 - alpha(i)) * z_full`` with
  ``alpha(i) = w * i / L + delta`` (Eq. 7).

Choices where the paper is silent, made here:

* One set of projections (q, k, v, out) serves both branches. The paper writes ``CrossAttn`` in
  Eq. 4 and Eq. 5 without telling them apart; sharing keeps the block the size of a Wan2.1 block
  (so Wan's text cross-attention initialises it) and lets both scopes reuse one q/k/v computation.
  Because the output projection is linear, blending before it is exactly Eq. 6.
* Layers are indexed from 0, following the paper's ``z_0`` as the input of the first block, so
  ``alpha(0) = delta``. alpha is not clipped: the paper's Table 4 explores values in [0, 1] and so
  do the app's ranges.
* A branch whose weight is exactly zero is skipped; its contribution would be zero anyway.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import torch
from diffusers.models.attention_dispatch import dispatch_attention_fn


def hybrid_alpha(layer_index: int, num_layers: int, weight: float = 1.0, bias: float = 0.0) -> float:
    """Eq. 7: the window branch's share in layer `layer_index` (0-based) of `num_layers`."""
    return weight * layer_index / num_layers + bias


def hybrid_alphas(num_layers: int, weight: float = 1.0, bias: float = 0.0) -> list[float]:
    return [hybrid_alpha(i, num_layers, weight, bias) for i in range(num_layers)]


class HybridAudioAttnProcessor:
    """Attention processor for a `WanAttention` whose keys and values come from audio tokens.

    Called as ``attn(hidden_states, audio_tokens, num_frames=F, alpha=a)``; `hidden_states` holds
    F latent frames of equal token count and `audio_tokens` F groups of equal token count, in
    frame order.
    """

    _attention_backend = None
    _parallel_config = None

    def _attend(self, query, key, value):
        out = dispatch_attention_fn(
            query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, backend=self._attention_backend
        )
        return out.flatten(2, 3)

    def __call__(
        self,
        attn,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        rotary_emb=None,
        num_frames: int = 1,
        alpha: float = 0.0,
    ) -> torch.Tensor:
        batch, video_len, _ = hidden_states.shape
        audio_len = encoder_hidden_states.shape[1]
        if video_len % num_frames or audio_len % num_frames:
            raise ValueError(
                f"{video_len} video tokens and {audio_len} audio tokens do not split into {num_frames} frames"
            )

        query = attn.norm_q(attn.to_q(hidden_states)).unflatten(2, (attn.heads, -1))
        key = attn.norm_k(attn.to_k(encoder_hidden_states)).unflatten(2, (attn.heads, -1))
        value = attn.to_v(encoder_hidden_states).unflatten(2, (attn.heads, -1))

        mixed = 0.0
        if alpha != 1.0:  # Eq. 4: all video tokens x all audio tokens
            mixed = (1.0 - alpha) * self._attend(query, key, value)
        if alpha != 0.0:  # Eq. 5: tokens of latent frame j x audio tokens of latent frame j
            per_frame = lambda x: x.reshape(batch * num_frames, x.shape[1] // num_frames, *x.shape[2:])  # noqa: E731
            window = self._attend(per_frame(query), per_frame(key), per_frame(value))
            mixed = mixed + alpha * window.reshape(batch, video_len, -1)
        # Eq. 6 (the residual z_i is added by the block)
        out = attn.to_out[0](mixed.type_as(hidden_states))
        return attn.to_out[1](out)


# ---------------------------------------------------------------------------- attention maps
# Why: the weights of the two branches are never materialised in a normal run (the attention kernel
# fuses softmax and product), yet they are what tells the branches apart. Teaching material and
# analyses (notebooks/03_hybrid_attention.ipynb) read them through `record_audio_attention`.


@dataclass
class AudioAttentionMaps:
    """Softmax weights of both branches in one block for one forward pass (mean over heads unless
    recorded `per_head`, which adds a heads axis after the batch axis)."""

    layer: int
    alpha: float
    num_frames: int
    full: torch.Tensor  # Eq. 4: (B, [heads,] video_tokens, audio_tokens)
    window: torch.Tensor  # Eq. 5: (B, [heads,] F, video_tokens_per_frame, audio_tokens_per_frame)
    per_head: bool = False

    def frame_mass(self, branch: str = "full") -> torch.Tensor:
        """(B, F, F): the share of latent frame j's attention that lands on latent frame k's audio.

        The full branch may spread it over the clip; the window branch is the identity by design.
        """
        frames = self.num_frames
        if branch == "window":
            batch = self.window.shape[0]
            return torch.eye(frames).expand(batch, frames, frames).clone()
        if branch != "full":
            raise ValueError(f"branch must be 'full' or 'window', got {branch!r}")
        probs = self.full.mean(1) if self.per_head else self.full
        batch, video_len, audio_len = probs.shape
        grouped = probs.reshape(batch, frames, video_len // frames, frames, audio_len // frames)
        return grouped.sum(-1).mean(2)


class _RecordingProcessor:
    def __init__(self, inner, layer: int, records: list, per_head: bool):
        self.inner, self.layer, self.records, self.per_head = inner, layer, records, per_head

    def __call__(self, attn, hidden_states, encoder_hidden_states, attention_mask=None, rotary_emb=None, num_frames=1, alpha=0.0):
        with torch.no_grad():
            batch, video_len, _ = hidden_states.shape
            query = attn.norm_q(attn.to_q(hidden_states)).unflatten(2, (attn.heads, -1)).float()
            key = attn.norm_k(attn.to_k(encoder_hidden_states)).unflatten(2, (attn.heads, -1)).float()
            scale = query.shape[-1] ** -0.5
            full = torch.softmax(torch.einsum("bqhd,bkhd->bhqk", query, key) * scale, dim=-1)
            q_frames = query.unflatten(1, (num_frames, -1))  # (B, F, Vf, h, d)
            k_frames = key.unflatten(1, (num_frames, -1))  # (B, F, Af, h, d)
            window = torch.softmax(torch.einsum("bfqhd,bfkhd->bhfqk", q_frames, k_frames) * scale, dim=-1)
            if not self.per_head:
                full, window = full.mean(1), window.mean(1)
        self.records.append(AudioAttentionMaps(self.layer, float(alpha), num_frames, full, window, self.per_head))
        return self.inner(attn, hidden_states, encoder_hidden_states, attention_mask, rotary_emb, num_frames=num_frames, alpha=alpha)


@contextmanager
def record_audio_attention(transformer, per_head: bool = False):
    """While open, every forward pass of `transformer` (a `RAPTransformer`) appends one
    `AudioAttentionMaps` per block, in block order, to the yielded list. Outputs are unchanged:
    the blocks' own processors still compute them. Both branches are recorded whatever alpha is.
    Memory grows with every call (B x video x audio tokens per block), so record few passes."""
    records: list[AudioAttentionMaps] = []
    blocks = list(transformer.blocks)
    originals = [block.attn2.processor for block in blocks]
    try:
        for index, (block, inner) in enumerate(zip(blocks, originals)):
            block.attn2.processor = _RecordingProcessor(inner, index, records, per_head)
        yield records
    finally:
        for block, inner in zip(blocks, originals):
            block.attn2.processor = inner
