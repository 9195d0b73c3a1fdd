"""Assemble trained parts into a pipeline folder (diffusers layout, fp16 safetensors).

`python -m rap.training.bundle --vae runs/vae/vae --audio runs/audio/audio_encoder --transformer runs/dit/transformer --out models/rap-small`
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch


def assemble_pipeline(preset: str = "rap-small", vae=None, audio_encoder=None, transformer=None):
    """A preset's pipeline with any of its parts replaced by trained folders."""
    from transformers import Wav2Vec2Model

    from rap import RAPPipeline, RAPTransformer
    from rap.loading import load_vae

    pipe = RAPPipeline.from_preset(preset)
    if vae is not None:
        pipe.vae = load_vae(vae).eval()
    if audio_encoder is not None:
        pipe.audio_encoder = Wav2Vec2Model.from_pretrained(audio_encoder).eval()
    if transformer is not None:
        pipe.transformer = RAPTransformer.from_pretrained(transformer).eval()
    pipe.register_modules(vae=pipe.vae, audio_encoder=pipe.audio_encoder, transformer=pipe.transformer)
    pipe.weights_source = "assembled"
    return pipe


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rap.training.bundle", description=__doc__)
    parser.add_argument("--vae", required=True)
    parser.add_argument("--audio", required=True)
    parser.add_argument("--transformer", required=True)
    parser.add_argument("--out", default="models/rap-small")
    parser.add_argument("--preset", default="rap-small")
    args = parser.parse_args(argv)
    pipe = assemble_pipeline(args.preset, args.vae, args.audio, args.transformer)
    pipe.to(torch.float16).save_pretrained(args.out, safe_serialization=True)
    size = sum(f.stat().st_size for f in Path(args.out).rglob("*") if f.is_file()) / 2**20
    print(f"saved {args.out} ({size:.1f} MiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
