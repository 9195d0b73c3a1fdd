"""The last steps of diffusers' `LTXVideoDecoder3d.forward`, for the guided VAEs that re-run it.

Both guided decoders (`autoencoder_reference`, `autoencoder_audio`) add their input between the
decoder's blocks, so they run its blocks themselves; what follows the blocks is the decoder's own
and lives here once.
"""

from __future__ import annotations

import torch


def decoder_output(decoder, hidden: torch.Tensor, temb: torch.Tensor | None) -> torch.Tensor:
    """Hidden states after the last up block -> pixels (B, 3, T, H, W): norm, timestep shift and
    scale (LTX-0.9.1-style decoders), activation, output conv, unpatchify."""
    hidden = decoder.norm_out(hidden.movedim(1, -1)).movedim(-1, 1)
    if decoder.time_embedder is not None:
        batch = hidden.size(0)
        temb = decoder.time_embedder(timestep=temb.flatten(), resolution=None, aspect_ratio=None, batch_size=batch, hidden_dtype=hidden.dtype)
        shift, scale = (temb.view(batch, -1, 1, 1, 1).unflatten(1, (2, -1)) + decoder.scale_shift_table[None, ..., None, None, None]).unbind(dim=1)
        hidden = hidden * (1 + scale) + shift
    return unpatchify(decoder, decoder.conv_out(decoder.conv_act(hidden)))


def unpatchify(decoder, hidden: torch.Tensor) -> torch.Tensor:
    """The decoder's own (channels x p_t x p x p) -> pixels rearrangement."""
    p, p_t = decoder.patch_size, decoder.patch_size_t
    batch, _, frames, height, width = hidden.shape
    hidden = hidden.reshape(batch, -1, p_t, p, p, frames, height, width)
    return hidden.permute(0, 1, 5, 2, 6, 4, 7, 3).flatten(6, 7).flatten(4, 5).flatten(2, 3)
