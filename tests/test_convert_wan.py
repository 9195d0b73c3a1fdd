"""Initialising RAP from Wan2.1 weights copies what the two share and nothing else."""

import torch
from diffusers import WanTransformer3DModel

from rap.convert_wan import convert


def test_wan_weights_initialise_the_shared_parts(tmp_path):
    torch.manual_seed(0)
    wan = WanTransformer3DModel(
        num_attention_heads=2, attention_head_dim=8, in_channels=4, out_channels=4, text_dim=12,
        freq_dim=16, ffn_dim=32, num_layers=2, rope_max_seq_len=64,
    )
    wan.save_pretrained(tmp_path / "transformer")
    rap_model, report = convert(str(tmp_path), in_channels=16, out_channels=8, audio_dim=16, num_audio_layers=2)

    assert rap_model.config.num_layers == 2 and rap_model.config.freq_dim == 16
    rap_state, wan_state = rap_model.state_dict(), wan.state_dict()
    for name in ["blocks.0.attn1.to_q.weight", "blocks.1.attn2.to_k.weight", "blocks.1.ffn.net.2.weight",
                 "blocks.0.scale_shift_table", "condition_embedder.time_proj.weight", "scale_shift_table"]:
        assert name in report.copied
        assert torch.equal(rap_state[name], wan_state[name])
    for name in ["patch_embedding.weight", "proj_out.weight", "audio_projection.mlp.0.weight"]:
        assert name in report.fresh
    assert any(name.startswith("condition_embedder.text_embedder") for name in report.unused)
