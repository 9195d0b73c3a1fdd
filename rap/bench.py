"""`python -m rap.bench`: throughput of the whole pipeline (audio features, DiT, VAE decode).

Reports frames per second of wall time, time to the first decoded clip, the real-time factor
(wall time / audio duration; below 1 is faster than real time) and peak memory (GPU allocator
peak on CUDA, peak resident set size on CPU). Throughput does not depend on what the weights have
learned, so untrained presets measure the paper-scale cost too; the output names the weights.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import numpy as np

from rap.pipelines.guidance import GUIDANCE_MODES


def synthetic_inputs(seconds: float, resolution: int, seed: int = 0):
    """A textured portrait-sized image and speech-like audio (no files needed)."""
    rng = np.random.default_rng(seed)
    image = (rng.random((resolution, resolution, 3)) * 255).astype(np.uint8)
    t = np.arange(int(seconds * 16000)) / 16000
    carrier = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 6))
    audio = (0.3 * carrier * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t))).astype(np.float32)
    return image, audio


def peak_memory_mb(device) -> float:
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run(args) -> dict:
    import torch

    from rap.cli import load_for_cli

    if args.threads:
        torch.set_num_threads(args.threads)
    pipe = load_for_cli(args.weights or None, True, args.device)
    if args.resolution:
        pipe.register_to_config(resolution=args.resolution)
    device = pipe._execution_device
    image, audio = synthetic_inputs(args.seconds, pipe.config.resolution)
    kwargs = dict(
        num_inference_steps=args.steps, guidance_scale=args.cfg, guidance=args.guidance,
        guidance_stop=args.guidance_stop, overlap=args.overlap,
        crop="center", seed=0,
    )
    if args.warmup:
        for _ in pipe.stream(image, audio[: 16000 // 2], **kwargs):
            pass
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)

    started = time.perf_counter()
    first_clip_s, frames, clips = None, 0, 0
    for clip in pipe.stream(image, audio, **kwargs):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        first_clip_s = first_clip_s or time.perf_counter() - started
        frames += len(clip.frames)
        clips += 1
    wall = time.perf_counter() - started
    return {
        "fps": frames / wall,
        "first_clip_s": first_clip_s,
        "rtf": wall / (len(audio) / 16000),
        "peak_mem_mb": peak_memory_mb(device),
        "preset": pipe.config.preset,
        "weights": pipe.weights_source,
        "device": str(device) + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else f" ({torch.get_num_threads()} threads)"),
        "dtype": str(pipe.transformer.dtype).replace("torch.", ""),
        "steps": args.steps or pipe.config.default_steps,
        "cfg": args.cfg,
        "guidance": args.guidance,
        "guidance_stop": args.guidance_stop,
        "overlap": args.overlap,
        "resolution": pipe.config.resolution,
        "frames": frames,
        "clips": clips,
        "audio_s": len(audio) / 16000,
        "wall_s": wall,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rap.bench", description=__doc__)
    parser.add_argument("--preset", default=None, help="benchmark an untrained preset (rap-small, rap-1.3b)")
    parser.add_argument("--weights", default=None, help="pipeline folder or hub id (default: the bundled model)")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--cfg", type=float, default=5.0)
    parser.add_argument("--guidance", default="cfg", choices=GUIDANCE_MODES, help="cfg (the paper's) or tangential")
    parser.add_argument("--guidance-stop", type=float, default=1.0, help="fraction of the steps that are guided")
    parser.add_argument("--overlap", type=int, default=3)
    parser.add_argument("--resolution", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=10.0, help="audio length to generate")
    parser.add_argument("--device", default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--no-warmup", dest="warmup", action="store_false")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.preset:
        args.weights = args.preset
    result = run(args)
    if args.json:
        print(json.dumps(result))
        return 0
    rows = [
        ("preset", result["preset"]),
        ("weights", result["weights"]),
        ("device", result["device"]),
        ("dtype", result["dtype"]),
        ("resolution", f"{result['resolution']}x{result['resolution']}"),
        ("steps / cfg / n", f"{result['steps']} / {result['cfg']} ({result['guidance']}, first {result['guidance_stop']:g} of the steps) / {result['overlap']}"),
        ("frames", f"{result['frames']} in {result['clips']} clips ({result['audio_s']:.1f} s of audio)"),
        ("fps", f"{result['fps']:.1f}"),
        ("time to first clip", f"{result['first_clip_s']:.2f} s"),
        ("real-time factor", f"{result['rtf']:.2f}"),
        ("peak memory", f"{result['peak_mem_mb']:.0f} MiB"),
    ]
    width = max(len(k) for k, _ in rows)
    print("\n".join(f"{k:<{width}}  {v}" for k, v in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
