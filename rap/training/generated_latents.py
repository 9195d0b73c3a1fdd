"""The DiT's own latents of training clips, cached with what a decoder needs to learn from them
(`rap.training.train_decoder_generated`).

`python -m rap.training.generated_latents --data data/synth --out data/generated --weights models/rap-small`

Why: the decoder is trained on the encoder's latents of real frames, but at inference it reads the
DiT's, whose mouth is the least reliable part of them (on rap-small the generated lip sync is about
four fifths of the round trip's). No pixel-aligned target exists for a generated clip (the DiT moves
the head its own way), but the synthetic world knows which mouth every frame of the clip should
show, and a lip reader can score the decoded mouth against it wherever the mouth is. So the pipeline
generates each training clip from its first frame and its speech, exactly as at inference, and
every latent clip the decoder reads is kept with:
- `latents` (C, F, h, w): what `vae.decode` received (denormalised);
- `audio` (T, N, C): the per-frame audio features the audio-guided decoder heard;
- `centres` (T, 2): the mouth's centre (x, y) in pixels in each decoded frame, tracked on the
  generated video (`track_mouth`), NaN where the frame lies past the end of the speech;
- `labels` (T, 4): the world's mouth controls for each decoded frame's moment.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

# the tracked patch: nose tip to chin and cheek to cheek around the mouth, mostly rigid while the mouth moves
TRACK_PATCH = (64, 112)


def track_mouth(frames: np.ndarray, start: tuple[float, float], patch: tuple[int, int] = TRACK_PATCH, search: int = 10) -> np.ndarray:
    """The mouth's centre (x, y) in pixels in every frame (T, H, W, 3) uint8, given its centre in
    frame 0: normalised cross-correlation of frame 0's patch around the mouth, searched within
    `search` pixels of the previous frame's position. Always matched against frame 0, so errors
    do not accumulate."""
    gray = torch.from_numpy(np.array(frames)).float().mean(-1)  # (T, H, W)
    ph, pw = patch
    pad = max(ph, pw) // 2 + search + 1
    gray = F.pad(gray[:, None], (pad, pad, pad, pad), mode="replicate")[:, 0]
    x, y = start[0] + pad, start[1] + pad
    y0, x0 = int(round(y - ph / 2)), int(round(x - pw / 2))
    template = gray[0, y0 : y0 + ph, x0 : x0 + pw]
    template = template - template.mean()
    template = (template / template.norm().clamp_min(1e-6))[None, None]
    ones = torch.ones(1, 1, ph, pw)
    positions = [(x, y)]
    for t in range(1, len(gray)):
        px, py = positions[-1]
        top, left = int(round(py - ph / 2)) - search, int(round(px - pw / 2)) - search
        region = gray[t, top : top + ph + 2 * search, left : left + pw + 2 * search][None, None]
        correlation = F.conv2d(region, template)[0, 0]
        sums, squares = F.conv2d(region, ones)[0, 0], F.conv2d(region * region, ones)[0, 0]
        spread = (squares - sums * sums / (ph * pw)).clamp_min(1e-6).sqrt()
        best = int(torch.argmax(correlation / spread))
        dy, dx = divmod(best, correlation.shape[1])
        positions.append((left + dx + pw / 2, top + dy + ph / 2))
    return np.asarray(positions, np.float32) - pad


class DecodeRecorder:
    """Wraps a VAE's `decode` to keep every input it is given (latents and audio), for one stream."""

    def __init__(self, vae):
        self.vae, self.records = vae, []

    def __enter__(self):
        original = self.vae.decode

        def decode(latents, *args, **kwargs):
            audio = kwargs.get("audio")
            self.records.append((latents.detach().cpu().clone(), None if audio is None else audio.detach().cpu().clone()))
            return original(latents, *args, **kwargs)

        self.vae.decode = decode
        return self

    def __exit__(self, *exc):
        del self.vae.decode  # the class's method again


def cache_clip(pipe, clip: dict, seed: int, guidance_scale: float = 5.0, overlap: int = 3) -> list[dict]:
    """Generate one framed clip (frames (T, R, R, 3) uint8, mouth_boxes, audio, mouth) from its first
    frame and its speech, as the pipeline does at inference; its latent clips as cache entries."""
    from rap.pipelines.long_video import ClipPlan

    if not pipe.audio_guided_decoder:
        raise ValueError("the cache is for an audio-guided decoder: the pipeline's VAE does not hear the sound")
    frames, boxes = clip["frames"], clip["mouth_boxes"]
    resolution = frames.shape[1]
    with DecodeRecorder(pipe.vae) as recorder:
        video = pipe(
            np.asarray(frames[0]), clip["audio"], crop="none", seed=seed, guidance_scale=guidance_scale, overlap=overlap
        ).frames
    start = ((boxes[0, :2] + boxes[0, 2:]) / 2 * resolution).tolist()
    patch = tuple(max(8, round(p * resolution / 256)) for p in TRACK_PATCH)  # TRACK_PATCH is for 256-pixel frames
    centres = track_mouth(video, start, patch=patch, search=max(2, round(10 * resolution / 256)))
    labels = np.asarray(clip["mouth"], np.float32)
    total = min(len(video), len(labels))
    spans = list(ClipPlan(len(video), pipe.config.latent_frames, pipe.frames_per_latent, overlap).spans())
    if len(spans) != len(recorder.records):
        raise RuntimeError(f"{len(recorder.records)} decodes for {len(spans)} planned clips")
    entries = []
    for span, (latents, audio) in zip(spans, recorder.records):
        decoded = 1 + pipe.frames_per_latent * (latents.shape[2] - 1)
        moments = span.clip_start + np.arange(decoded)
        inside = moments < total
        entry_centres = np.full((decoded, 2), np.nan, np.float32)
        entry_labels = np.zeros((decoded, labels.shape[1]), np.float32)
        entry_centres[inside], entry_labels[inside] = centres[moments[inside]], labels[moments[inside]]
        entries.append(
            {
                "latents": latents[0].half().numpy(), "audio": audio[0].half().numpy(),
                "centres": entry_centres, "labels": entry_labels,
            }
        )
    return entries


def main(argv=None) -> int:
    from tqdm.auto import tqdm

    from rap import RAPPipeline
    from rap.synth.dataset import SynthClipDataset
    from rap.training.framing import frame_clip

    parser = argparse.ArgumentParser(prog="python -m rap.training.generated_latents", description=__doc__)
    parser.add_argument("--data", required=True, nargs="+", help="synthetic training data sets")
    parser.add_argument("--out", required=True)
    parser.add_argument("--weights", default=None, help="the pipeline's weights (default: the bundled rap-small)")
    parser.add_argument("--limit", type=int, default=None, help="clips per data set")
    parser.add_argument("--guidance-scale", type=float, default=5.0)
    parser.add_argument("--first-index", type=int, default=0, help="number of the first clip written (to add clips to a cache)")
    args = parser.parse_args(argv)
    pipe = RAPPipeline.load(args.weights)
    pipe.to(torch.float32)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    index = args.first_index
    for root in args.data:
        for count, clip in enumerate(tqdm(SynthClipDataset(root, with_meta=True), desc=f"generating {root}", total=args.limit)):
            if args.limit and count >= args.limit:
                break
            name = out / f"clip-{index:05d}.npz"
            index += 1
            if name.exists():  # resumable
                continue
            framed = frame_clip({k: clip[k] for k in ("frames", "face_mask", "mouth_boxes")}, pipe.config.resolution)
            entries = cache_clip(
                pipe, {"frames": framed["frames"].numpy(), "mouth_boxes": framed["mouth_boxes"].numpy(),
                       "audio": clip["audio"].numpy(), "mouth": clip["mouth"].numpy()},
                seed=index, guidance_scale=args.guidance_scale,
            )
            np.savez(name, **{f"{key}_{i}": entry[key] for i, entry in enumerate(entries) for key in entry})
    print(f"cached clips {args.first_index}..{index - 1} into {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
