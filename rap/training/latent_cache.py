"""Encode the synthetic clips once, so that DiT training never runs the VAE or the audio encoder.

`python -m rap.training.latent_cache --data data/synth --vae runs/vae/vae --audio runs/audio/audio_encoder --out data/latents`

Per clip (121 frames -> 16 latent frames), framed as inference frames portraits (`framing`): E(V) normalised as the pipeline normalises; x_ref, the
encoding of one frame of the clip repeated over a whole 81-frame clip (the frame is drawn per clip,
so the model cannot learn to copy the first frame); the audio features per latent frame, laid out
exactly as `AudioFeatureWindows` lays them out at inference; and the face mask averaged over each
latent frame's video frames and pooled to the latent grid (for Eq. 3's face term). Stored in fp16
safetensors chunks.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file


def latent_face_mask(face_mask: torch.Tensor, latent_frames: int, frames_per_latent: int, grid: tuple[int, int]):
    """(T, h, w) per-frame mask -> (1, F, H, W): latent j averages frames r*j-r+1 .. r*j (frame 0 for j=0)."""
    groups = [face_mask[:1]] + [
        face_mask[frames_per_latent * j - frames_per_latent + 1 : frames_per_latent * j + 1] for j in range(1, latent_frames)
    ]
    per_latent = torch.stack([g.mean(0) for g in groups])
    return F.adaptive_avg_pool2d(per_latent[:, None], grid)[:, 0][None]


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
    mask = latent_face_mask(clip["face_mask"].float(), latent_frames, r, tuple(latents.shape[-2:]))
    return {
        "latents": latents[0].half(),
        "reference": reference[0].half(),
        "audio": features[0].half(),
        "face_mask": mask.half(),
    }


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
    parser.add_argument("--data", required=True)
    parser.add_argument("--vae", required=True)
    parser.add_argument("--audio", required=True)
    parser.add_argument("--out", default="data/latents")
    parser.add_argument("--preset", default="rap-small")
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args(argv)
    pipe = assemble_pipeline(args.preset, vae=args.vae, audio_encoder=args.audio)
    count = write_cache(pipe, SynthClipDataset(args.data, with_meta=False), Path(args.out), limit=args.limit)
    print(f"encoded {count} clips into {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
