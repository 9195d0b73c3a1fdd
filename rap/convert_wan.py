"""Initialise a RAP transformer from Wan2.1-T2V-1.3B weights, as the paper did.

`python -m rap.convert_wan --wan Wan-AI/Wan2.1-T2V-1.3B-Diffusers --out rap-1.3b-init/transformer`

RAPTransformer keeps diffusers' Wan parameter names, so every tensor whose name and shape agree is
copied: self-attention, the cross-attention projections (text -> audio: the hybrid audio attention
starts from Wan's text cross-attention), FFNs, adaLN tables, time embedding. What RAP changes starts
fresh and is listed: the (1,1,1) patch embedding over 256 channels (Wan: (1,2,2) over 16), the
output projection (128 channels, Wan: 16x4), and the audio MLP (Wan has a text projection instead).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field

import torch


@dataclass
class ConversionReport:
    copied: list[str] = field(default_factory=list)
    fresh: list[str] = field(default_factory=list)  # RAP parameters with no Wan counterpart of that shape
    unused: list[str] = field(default_factory=list)  # Wan parameters RAP does not have

    def summary(self) -> str:
        return f"copied {len(self.copied)} tensors, {len(self.fresh)} start fresh, {len(self.unused)} Wan tensors unused"


def init_from_wan_state_dict(rap_model, wan_state: dict[str, torch.Tensor]) -> ConversionReport:
    report = ConversionReport()
    target = rap_model.state_dict()
    update = {}
    for name, tensor in target.items():
        source = wan_state.get(name)
        if source is not None and source.shape == tensor.shape:
            update[name] = source.to(tensor.dtype)
            report.copied.append(name)
        else:
            report.fresh.append(name)
    report.unused = sorted(set(wan_state) - set(update))
    rap_model.load_state_dict(update, strict=False)
    return report


def rap_config_from_wan(wan_config) -> dict:
    """The RAP transformer that matches a Wan2.1 transformer's width and depth."""
    from rap.presets import get_preset

    config = dict(get_preset("rap-1.3b").transformer)
    config.update(
        num_attention_heads=wan_config.num_attention_heads,
        attention_head_dim=wan_config.attention_head_dim,
        ffn_dim=wan_config.ffn_dim,
        num_layers=wan_config.num_layers,
        freq_dim=wan_config.freq_dim,
        cross_attn_norm=wan_config.cross_attn_norm,
        eps=wan_config.eps,
    )
    return config


def convert(wan_source: str, local_files_only: bool = True, **overrides):
    from diffusers import WanTransformer3DModel

    from rap.models.transformer_rap import RAPTransformer

    subfolder = "transformer" if not str(wan_source).rstrip("/").endswith("transformer") else None
    wan = WanTransformer3DModel.from_pretrained(wan_source, subfolder=subfolder, local_files_only=local_files_only)
    rap_model = RAPTransformer(**{**rap_config_from_wan(wan.config), **overrides})
    report = init_from_wan_state_dict(rap_model, wan.state_dict())
    return rap_model, report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rap.convert_wan", description=__doc__)
    parser.add_argument("--wan", required=True, help="Wan2.1 diffusers folder or hub id")
    parser.add_argument("--out", required=True, help="where to save the RAP transformer")
    parser.add_argument("--online", action="store_true", help="allow downloading from the hub")
    args = parser.parse_args(argv)
    try:
        model, report = convert(args.wan, local_files_only=not args.online)
    except OSError as error:
        print(f"error: cannot load Wan weights from {args.wan!r}: {error}", file=sys.stderr)
        return 2
    model.save_pretrained(args.out)
    print(report.summary())
    print("fresh:", ", ".join(report.fresh))
    return 0


if __name__ == "__main__":
    sys.exit(main())
