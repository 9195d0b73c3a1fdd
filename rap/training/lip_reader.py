"""A frozen lip reader whose reading of the decoded mouth is a training loss (`train_vae --lip-reading-weight`).

Why (measured on rap-small, `docs/training_log.md`): the audio-guided decoder hears exactly which
mouth to draw (a linear read-out of its per-frame audio features predicts the lip opening at a sync
score of 0.87), yet its round trip reads 0.74 and the DiT's latents less. L1 pays for the mean of
the mouths a latent allows, and the mouth discriminator asks for a real-looking mouth, not the right
one. The synthetic world knows every frame's mouth (jaw, width, round, closure), so a small network
trained to read those from the mouth window of real frames can tell the decoder, frame by frame,
how far its mouth is from the one the sound needs: the role SyncNet's expert plays in Wav2Lip.

It is not the meter: the lip-sync meter (`rap.eval.mouth_reader`) is another network, reading whole
downscaled frames, trained on other clips; this one reads 48 x 96 mouth windows (`MOUTH_WINDOW`)
and learns from the training clips only, with shifts, blur and noise, so that a decoder cannot
please it with a pattern that is not a mouth.

`python -m rap.training.lip_reader --data FRAMED --out runs/lip_reader` (a few minutes on the CPU).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rap.training.mouth_discriminator import MOUTH_WINDOW, mouth_windows
from rap.synth.motion import MOUTH_KEYS


class LipReader(nn.Module):
    """Mouth windows (B, 3, 48, 96) in [-1, 1] -> the world's mouth controls (B, 4) in [0, 1]."""

    def __init__(self, width: int = 32):
        super().__init__()
        # a strided first layer: full-resolution convolutions would cost most of a decoder step
        layers, channels = [nn.Conv2d(3, width, 3, stride=2, padding=1), nn.GroupNorm(8, width), nn.SiLU()], width
        for out in (2 * width, 4 * width, 4 * width):  # 24 x 48 -> 3 x 6
            layers += [nn.Conv2d(channels, out, 3, padding=1), nn.GroupNorm(8, out), nn.SiLU(), nn.MaxPool2d(2)]
            channels = out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(channels * 3 * 6, 128), nn.SiLU(), nn.Linear(128, len(MOUTH_KEYS)))

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        if windows.shape[-2:] != MOUTH_WINDOW:
            windows = F.interpolate(windows, size=MOUTH_WINDOW, mode="bilinear", align_corners=False)
        return torch.sigmoid(self.head(self.features(windows)))


def load_lip_reader(path: str | Path) -> LipReader:
    from safetensors.torch import load_file

    reader = LipReader()
    reader.load_state_dict({k: v.float() for k, v in load_file(str(path)).items()})
    return reader.eval().requires_grad_(False)


def lip_reading_loss(reader: LipReader, recon: torch.Tensor, centres: torch.Tensor, controls: torch.Tensor, inside: torch.Tensor) -> torch.Tensor:
    """Mean squared error of the reader's mouth controls on the decoded frames' mouth windows
    against the world's labels, over the crops whose mouth window lies wholly inside the crop.

    recon (B, 3, T, S, S) in [-1, 1]; centres (B, 2) grid coordinates; controls (B, T, >= 4)."""
    height, width = recon.shape[-2:]
    h, w = MOUTH_WINDOW
    x, y = centres[:, 0], centres[:, 1]
    # a window moved to fit inside the crop would show the mouth off centre, which the reader never saw
    fits = inside.to(torch.bool).cpu() & ((x + 1) / 2 * width >= w / 2) & ((1 - x) / 2 * width >= w / 2)
    fits &= ((y + 1) / 2 * height >= h / 2) & ((1 - y) / 2 * height >= h / 2)
    if h > height or w > width or not fits.any():
        return recon.new_zeros(())
    windows = mouth_windows(recon[fits], centres[fits]).flatten(0, 1)  # (M * T, 3, h, w)
    target = controls[fits][..., : len(MOUTH_KEYS)].flatten(0, 1).to(recon)
    return F.mse_loss(reader(windows), target)


def read_windows(root: str | Path, frames_per_clip: int = 24, seed: int = 0, jitter: tuple[int, int] = (6, 10)):
    """Mouth windows (N, 48 + 2 jy, 96 + 2 jx, 3) uint8 with margin for random shifts, and their
    labels (N, 4), from framed clips; `clip` (N,) says which clip each came from."""
    from rap.training.framed_clips import FramedClips

    g = np.random.default_rng(seed)
    h, w = MOUTH_WINDOW[0] + 2 * jitter[0], MOUTH_WINDOW[1] + 2 * jitter[1]
    windows, labels, clips = [], [], []
    for index, clip in enumerate(FramedClips(root)):
        frames, boxes = clip["frames"], np.asarray(clip["mouth_boxes"])
        size = frames.shape[1]
        picks = g.choice(len(frames), size=min(frames_per_clip, len(frames)), replace=False)
        for t in picks:
            cx, cy = (boxes[t, :2] + boxes[t, 2:]) / 2 * size
            y0, x0 = int(round(cy - h / 2)), int(round(cx - w / 2))
            if y0 < 0 or x0 < 0 or y0 + h > size or x0 + w > size:
                continue
            windows.append(np.asarray(frames[t, y0 : y0 + h, x0 : x0 + w]))
            labels.append(np.asarray(clip["mouth"][t], np.float32))
            clips.append(index)
    return np.stack(windows), np.stack(labels), np.asarray(clips)


def augment(windows: torch.Tensor, jitter: tuple[int, int], g: torch.Generator) -> torch.Tensor:
    """uint8 (B, H, W, 3) with margin -> float (B, 3, 48, 96) in [-1, 1]: a random shift, sometimes
    a blur (decoded mouths are softer than rendered ones), gain and noise."""
    batch = windows.shape[0]
    out = torch.empty(batch, 3, *MOUTH_WINDOW)
    for i in range(batch):
        dy = int(torch.randint(0, 2 * jitter[0] + 1, (1,), generator=g))
        dx = int(torch.randint(0, 2 * jitter[1] + 1, (1,), generator=g))
        out[i] = windows[i, dy : dy + MOUTH_WINDOW[0], dx : dx + MOUTH_WINDOW[1]].permute(2, 0, 1).float() / 127.5 - 1
    blur = torch.rand(batch, generator=g) < 0.5
    if blur.any():
        out[blur] = F.avg_pool2d(F.pad(out[blur], (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    gain = 1 + 0.1 * torch.randn(batch, 1, 1, 1, generator=g)
    return (out * gain + 0.04 * torch.randn(out.shape, generator=g)).clamp(-1, 1)


def centred(windows: torch.Tensor, jitter: tuple[int, int]) -> torch.Tensor:
    part = windows[:, jitter[0] : jitter[0] + MOUTH_WINDOW[0], jitter[1] : jitter[1] + MOUTH_WINDOW[1]]
    return part.permute(0, 3, 1, 2).float() / 127.5 - 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rap.training.lip_reader", description=__doc__)
    parser.add_argument("--data", required=True, help="framed training clips (python -m rap.training.framed_clips)")
    parser.add_argument("--out", default="runs/lip_reader")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--frames-per-clip", type=int, default=24)
    args = parser.parse_args(argv)
    from safetensors.torch import save_file

    torch.manual_seed(0)
    jitter = (6, 10)
    windows, labels, clips = read_windows(args.data, args.frames_per_clip, jitter=jitter)
    # a tenth of the clips (whole clips: their identities) checks the reader
    held = clips % 10 == 9
    train_x, train_y = torch.from_numpy(windows[~held]), torch.from_numpy(labels[~held])
    test_x, test_y = centred(torch.from_numpy(windows[held]), jitter), torch.from_numpy(labels[held])
    print(f"{len(train_x)} training windows, {len(test_x)} checking windows")
    reader = LipReader()
    optimizer = torch.optim.AdamW(reader.parameters(), lr=args.lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, args.lr, total_steps=args.steps)
    g = torch.Generator().manual_seed(0)
    for step in range(args.steps):
        pick = torch.randint(0, len(train_x), (args.batch_size,), generator=g)
        loss = F.mse_loss(reader(augment(train_x[pick], jitter, g)), train_y[pick])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 500 == 0 or step == args.steps - 1:
            print(f"step {step} loss {loss.item():.5f}", flush=True)
    reader.eval()
    with torch.no_grad():
        predicted = torch.cat([reader(test_x[i : i + 256]) for i in range(0, len(test_x), 256)])
    residual = ((predicted - test_y) ** 2).sum(0)
    spread = ((test_y - test_y.mean(0)) ** 2).sum(0)
    report = {key: round(float(1 - residual[i] / spread[i]), 4) for i, key in enumerate(MOUTH_KEYS)}
    print("held-out R^2", report)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.half().contiguous() for k, v in reader.state_dict().items()}, str(out / "lip_reader.safetensors"))
    (out / "lip_reader.json").write_text(json.dumps({"held_out_r2": report, "windows": len(train_x), "steps": args.steps}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
