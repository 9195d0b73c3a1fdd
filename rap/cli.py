"""`python -m rap generate`: a portrait and speech in, an mp4 with the speech muxed in out."""

from __future__ import annotations

import argparse
import sys
import time

from rap.pipelines.guidance import GUIDANCE_MODES
from rap.presets import PAPER_DEFAULTS


def add_generation_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", default=None, help="pipeline folder, hub id, or preset name (default: bundled model)")
    parser.add_argument("--allow-random", action="store_true", help="accept untrained weights (preset names, missing bundle)")
    parser.add_argument("--steps", type=int, default=None, help="denoising steps (default: the model's)")
    parser.add_argument("--cfg", type=float, default=PAPER_DEFAULTS["guidance_scale"], help="audio CFG scale")
    parser.add_argument("--guidance", default="cfg", choices=GUIDANCE_MODES, help="audio guidance: cfg (the paper's) or tangential")
    parser.add_argument("--guidance-stop", type=float, default=1.0,
                        help="fraction of the steps, from the first, that are guided (1: all, the paper's; 0.5 runs faster)")
    parser.add_argument("--overlap", type=int, default=PAPER_DEFAULTS["overlap"], help="n of Algorithm 2")
    parser.add_argument("--w", type=float, default=None, help="w of Eq. 7 (default: the model's; the paper's 1)")
    parser.add_argument("--delta", type=float, default=None, help="delta of Eq. 7 (default: the model's; the paper's 0)")
    parser.add_argument("--shift", type=float, default=None, help="flow-matching time shift (default: the model's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--long-video", default="inheritance", choices=["inheritance", "motion_frames"])
    parser.add_argument("--crop", default="auto", choices=["face", "auto", "center", "none"])
    parser.add_argument("--max-seconds", type=float, default=None, help="refuse longer audio")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: accelerate's choice)")


def pick_device_and_dtype(device: str | None):
    import torch
    from accelerate import PartialState

    device = torch.device(device) if device else PartialState().device
    # fp32 on CPUs (bf16 matmuls are far slower there), bf16 on GPUs
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    return device, dtype


def load_for_cli(weights, allow_random, device):
    from rap import RAPPipeline

    device, dtype = pick_device_and_dtype(device)
    pipe = RAPPipeline.load(weights, torch_dtype=dtype, allow_random=allow_random)
    return pipe.to(device)


def generation_kwargs(args) -> dict:
    return dict(
        num_inference_steps=args.steps,
        guidance_scale=args.cfg,
        guidance=args.guidance,
        guidance_stop=args.guidance_stop,
        overlap=args.overlap,
        hybrid_weight=args.w,
        hybrid_bias=args.delta,
        shift=args.shift,
        seed=args.seed,
        long_video=args.long_video,
        crop=args.crop,
        max_seconds=args.max_seconds,
    )


def generate(args) -> int:
    from tqdm.auto import tqdm

    from rap.media import VideoWriter

    pipe = load_for_cli(args.weights, args.allow_random, args.device)
    print(f"weights: {pipe.weights_source}", file=sys.stderr)
    started = time.perf_counter()
    frames = 0
    progress = None
    with VideoWriter(args.out, fps=pipe.config.fps, sample_rate=pipe.sample_rate) as writer:
        for clip in pipe.stream(args.image, args.audio, **generation_kwargs(args)):
            if progress is None:
                progress = tqdm(total=clip.num_clips, unit="clip", desc="generating")
            writer.write_frames(clip.frames)
            writer.write_audio(clip.audio)
            frames += len(clip.frames)
            progress.update(1)
            progress.set_postfix(fps=f"{frames / (time.perf_counter() - started):.1f}")
    if progress is not None:
        progress.close()
    seconds = time.perf_counter() - started
    print(f"wrote {args.out}: {frames} frames ({frames / pipe.config.fps:.2f} s) in {seconds:.1f} s", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    from rap.loading import WeightsNotFoundError
    from rap.media.audio import AudioError
    from rap.media.image import ImageError

    parser = argparse.ArgumentParser(prog="python -m rap", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate", help="animate a portrait with speech")
    gen.add_argument("--image", required=True, help="portrait image")
    gen.add_argument("--audio", required=True, help="speech audio (wav, mp3, flac, ogg, m4a, ...)")
    gen.add_argument("--out", default="rap.mp4", help="output mp4")
    add_generation_args(gen)
    args = parser.parse_args(argv)
    try:
        return generate(args)
    except (AudioError, ImageError, WeightsNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
