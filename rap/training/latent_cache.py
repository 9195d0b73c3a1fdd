"""Encode the synthetic clips once, so that DiT training never runs the VAE or the audio encoder.

`python -m rap.training.latent_cache --data data/synth --vae runs/vae/vae --audio runs/audio/audio_encoder --out data/latents`

Per clip (121 frames -> 16 latent frames), framed as inference frames portraits (`framing`): E(V) normalised as the pipeline normalises; x_ref, the
encoding of one frame of the clip repeated over a whole 81-frame clip (the frame is drawn per clip,
so the model cannot learn to copy the first frame); the audio features per latent frame, laid out
exactly as `AudioFeatureWindows` lays them out at inference; and the face mask averaged over each
latent frame's video frames and pooled to the latent grid (for Eq. 3's face term); the mouth mask
the same way (for the optional mouth term, `objective`). Stored in fp16 safetensors chunks.

Caches written before the mouth mask existed get it from the framed clips of the same data set,
without encoding anything again (the face masks are compared to check that the clips line up):
`python -m rap.training.latent_cache --add-mouth-masks data/framed --first-framed-clip 0 --out data/latents`
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file


def _mean_per_latent_frame(per_frame: torch.Tensor, latent_frames: int, frames_per_latent: int) -> torch.Tensor:
    """(T, ...) -> (F, ...): latent j averages frames r*j-r+1 .. r*j (frame 0 for j=0), as the causal VAE groups them."""
    r = frames_per_latent
    groups = [per_frame[:1]] + [per_frame[r * j - r + 1 : r * j + 1] for j in range(1, latent_frames)]
    return torch.stack([g.mean(0) for g in groups])


def latent_face_mask(face_mask: torch.Tensor, latent_frames: int, frames_per_latent: int, grid: tuple[int, int]):
    """(T, h, w) per-frame mask -> (1, F, H, W), averaged per latent frame and pooled to the latent grid."""
    per_latent = _mean_per_latent_frame(face_mask, latent_frames, frames_per_latent)
    return F.adaptive_avg_pool2d(per_latent[:, None], grid)[:, 0][None]


def latent_mouth_mask(mouth_boxes: torch.Tensor, latent_frames: int, frames_per_latent: int, grid: tuple[int, int]):
    """(T, 4) mouth boxes (x0, y0, x1, y1 as fractions of the picture) -> (1, F, H, W) mask.

    Each box is grown by half its height above and below and a tenth of its width on each side, where
    the lips and jaw move; a cell's value is the share of it the grown box covers, divided by the best
    covered cell's, so the mouth's own cells weigh 1. Latent frames group video frames like the VAE.
    """
    boxes = torch.as_tensor(mouth_boxes, dtype=torch.float32)
    width, height = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    x0, x1 = boxes[:, 0] - 0.1 * width, boxes[:, 2] + 0.1 * width
    y0, y1 = boxes[:, 1] - 0.5 * height, boxes[:, 3] + 0.5 * height

    def overlap(lo, hi, cells):  # (T, cells): the length of [lo, hi] inside each cell, in cell units
        edges = torch.linspace(0, 1, cells + 1)
        return (torch.minimum(hi[:, None], edges[None, 1:]) - torch.maximum(lo[:, None], edges[None, :-1])).clamp_min(0) * cells

    coverage = overlap(y0, y1, grid[0])[:, :, None] * overlap(x0, x1, grid[1])[:, None, :]  # (T, H, W)
    coverage = coverage / coverage.flatten(1).amax(1).clamp_min(1e-6)[:, None, None]
    return _mean_per_latent_frame(coverage, latent_frames, frames_per_latent)[None]


@torch.no_grad()
def encode_clip(pipe, clip: dict, generator: torch.Generator) -> dict[str, torch.Tensor]:
    from rap.pipelines.audio_features import AudioFeatureWindows
    from rap.training.framing import frame_clip

    clip = frame_clip(clip, pipe.config.resolution)
    frames = clip["frames"]  # (T, H, W, 3) uint8
    total = frames.shape[0]
    r = pipe.frames_per_latent
    latent_frames = 1 + (total - 1) // r
    video = frames[: 1 + r * (latent_frames - 1)].permute(3, 0, 1, 2)[None].float() / 127.5 - 1.0
    latents = pipe._normalize_latents(pipe.vae.encode(video).latent_dist.mode())
    ref_index = int(torch.randint(0, total, (1,), generator=generator))
    reference = pipe.encode_reference(frames[ref_index].numpy())
    windows = AudioFeatureWindows(pipe.audio_encoder, tuple(pipe.config.audio_layers), pipe.config.fps, r)
    audio = clip["audio"].numpy()
    windows.set_utterance(audio)
    features = windows.for_clip(audio, 0, latent_frames)
    grid = tuple(latents.shape[-2:])
    mask = latent_face_mask(clip["face_mask"].float(), latent_frames, r, grid)
    return {
        "latents": latents[0].half(),
        "reference": reference[0].half(),
        "audio": features[0].half(),
        "face_mask": mask.half(),
        "mouth_mask": latent_mouth_mask(clip["mouth_boxes"], latent_frames, r, grid).half(),
    }


def add_mouth_masks(cache: Path, framed: Path, first_framed_clip: int = 0, frames_per_latent: int = 8) -> int:
    """Add `mouth_mask` to an older cache from framed clips (`framed_clips`) of the same clips, in order."""
    written = 0
    for chunk in sorted(Path(cache).glob("chunk-*.safetensors")):
        tensors = load_file(str(chunk))
        face = tensors["face_mask"].float()
        latent_frames, grid = face.shape[2], tuple(face.shape[-2:])
        masks = []
        for i in range(len(face)):
            labels = np.load(Path(framed) / f"clip-{first_framed_clip + written + i:05d}.npz")
            check = latent_face_mask(torch.from_numpy(labels["face_mask"]).float(), latent_frames, frames_per_latent, grid)
            if (check - face[i]).abs().max() > 0.02:
                raise ValueError(f"framed clip {first_framed_clip + written + i} is not clip {written + i} of {cache}: face masks differ")
            masks.append(latent_mouth_mask(torch.from_numpy(labels["mouth_boxes"]), latent_frames, frames_per_latent, grid))
        tensors["mouth_mask"] = torch.stack(masks).half()
        save_file(tensors, str(chunk))
        written += len(face)
    return written


def write_cache(pipe, dataset, out: Path, chunk: int = 100, limit: int | None = None) -> int:
    from tqdm.auto import tqdm

    out.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(0)
    buffer: dict[str, list[torch.Tensor]] = {}
    written = chunks = 0

    def flush():
        nonlocal chunks
        if buffer:
            save_file({k: torch.stack(v) for k, v in buffer.items()}, str(out / f"chunk-{chunks:05d}.safetensors"))
            chunks += 1
            buffer.clear()

    for clip in tqdm(dataset, desc="encoding", unit="clip", total=limit):
        for key, value in encode_clip(pipe, clip, generator).items():
            buffer.setdefault(key, []).append(value)
        written += 1
        if written % chunk == 0:
            flush()
        if limit and written >= limit:
            break
    flush()
    return written


class LatentCache:
    """All cached clips in memory (small at the CPU preset's size), sampled in random batches."""

    def __init__(self, root: str | Path | list[str | Path]):
        roots = [root] if isinstance(root, (str, Path)) else list(root)
        files = [f for r in roots for f in sorted(Path(r).glob("chunk-*.safetensors"))]
        missing = [str(r) for r in roots if not any(Path(r).glob("chunk-*.safetensors"))]
        if missing:
            raise FileNotFoundError(f"no chunk-*.safetensors in {', '.join(missing)}")
        parts = [load_file(str(f)) for f in files]
        self.tensors = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}

    def __len__(self) -> int:
        return len(self.tensors["latents"])

    def batches(self, batch_size: int, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        while True:
            index = torch.randint(0, len(self), (batch_size,), generator=g)
            yield {k: v[index].float() for k, v in self.tensors.items()}


def main(argv=None) -> int:
    from rap.synth.dataset import SynthClipDataset
    from rap.training.bundle import assemble_pipeline

    parser = argparse.ArgumentParser(prog="python -m rap.training.latent_cache", description=__doc__)
    parser.add_argument("--data")
    parser.add_argument("--vae")
    parser.add_argument("--audio")
    parser.add_argument("--out", default="data/latents")
    parser.add_argument("--preset", default="rap-small")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--add-mouth-masks", metavar="FRAMED_CLIPS", help="add mouth masks to the cache --out instead")
    parser.add_argument("--first-framed-clip", type=int, default=0, help="the framed clip that is the cache's first")
    args = parser.parse_args(argv)
    if args.add_mouth_masks:
        count = add_mouth_masks(Path(args.out), Path(args.add_mouth_masks), args.first_framed_clip)
        print(f"added mouth masks for {count} clips to {args.out}")
        return 0
    if not (args.data and args.vae and args.audio):
        parser.error("--data, --vae and --audio are required to write a cache")
    pipe = assemble_pipeline(args.preset, vae=args.vae, audio_encoder=args.audio)
    count = write_cache(pipe, SynthClipDataset(args.data, with_meta=False), Path(args.out), limit=args.limit)
    print(f"encoded {count} clips into {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
