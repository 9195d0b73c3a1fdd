"""Fine-tune the audio-guided decoder on the DiT's own latents, with a lip reader as the judge.

`python -m rap.training.train_decoder_generated --data data/generated --init models/rap-small/vae
--lip-reader runs/lip_reader/lip_reader.safetensors --out runs/decoder_generated`

Why: the decoder learned from the encoder's latents of real frames, yet at inference it reads the
DiT's (`rap.training.generated_latents`). A generated clip has no pixel-aligned target (the DiT moves
the head its own way), but its sound says which mouth each frame must show, and the world's labels
say it exactly. So on each cached latent clip the loss is:
- the frozen lip reader's squared error (`rap.training.lip_reader`) on the decoded mouth of every
  frame, at the mouth's tracked position, against the labels of that frame's moment;
- an L1 tie to the starting decoder's own output on the same latents, weighted down inside the
  mouth windows (`mouth_tie`): outside the mouth the picture must stay as it was, inside it may
  change only as far as the reader asks.
Only the decoder trains; the encoder and the latent statistics stay, so the DiT and every cached
latent stay valid. Crops of `cells` x `cells` latent cells around the mouth are decoded (the decoder
is convolutional), over the whole latent clip, as the pipeline decodes it.
"""

from __future__ import annotations

import argparse
import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rap.training.lip_reader import load_lip_reader
from rap.training.loop import LoopConfig, run_training
from rap.training.mouth_discriminator import MOUTH_WINDOW
from rap.synth.motion import MOUTH_KEYS


@dataclass
class GeneratedDecoderConfig:
    cells: int = 4  # latent cells per side of a decoded crop (128 pixels at rap-small's 32x)
    batch_size: int = 2  # latent clips per step (81 frames each)
    lip_reading_weight: float = 1.0
    # the tie's weight inside the mouth windows, relative to 1 outside: small, so the reader can move
    # the mouth, not zero, so the mouth keeps the starting decoder's colours and texture
    mouth_tie: float = 0.1


def load_generated(root: str | Path) -> list[dict]:
    """Every cached latent clip of `root` (`generated_latents`), as float32 tensors."""
    entries = []
    files = sorted(Path(root).glob("clip-*.npz"))
    if not files:
        raise FileNotFoundError(f"no clip-*.npz in {root} (write them with python -m rap.training.generated_latents)")
    for path in files:
        data = np.load(path)
        for i in range(len([k for k in data.files if k.startswith("latents_")])):
            entries.append({key: torch.from_numpy(data[f"{key}_{i}"].astype(np.float32)) for key in ("latents", "audio", "centres", "labels")})
    return entries


def crop_batches(entries: list[dict], config: GeneratedDecoderConfig, scale: int, seed: int = 0):
    """Endless batches: latents cropped to `cells` x `cells` around each clip's mean mouth position
    (B, C, F, cells, cells), the audio (B, T, N, C), the mouth's centre in the crop's pixels (B, T, 2),
    which frames count (B, T: inside the speech, the reader's window wholly inside the crop) and the labels."""
    g = torch.Generator().manual_seed(seed)
    h, w = MOUTH_WINDOW
    size = config.cells * scale
    while True:
        picks = torch.randint(0, len(entries), (config.batch_size,), generator=g).tolist()
        latents, audio, centres, valid, labels = [], [], [], [], []
        for entry in (entries[i] for i in picks):
            lat_h, lat_w = entry["latents"].shape[-2:]
            known = torch.isfinite(entry["centres"]).all(1)
            x, y = entry["centres"][known].mean(0).tolist() if known.any() else (lat_w * scale / 2, lat_h * scale / 2)
            # a latent smaller than the crop is taken whole
            r0 = int(max(min(round(y / scale - config.cells / 2), lat_h - config.cells), 0))
            c0 = int(max(min(round(x / scale - config.cells / 2), lat_w - config.cells), 0))
            latents.append(entry["latents"][:, :, r0 : r0 + config.cells, c0 : c0 + config.cells])
            local = entry["centres"] - torch.tensor([c0 * scale, r0 * scale], dtype=torch.float32)
            fits = known & (local[:, 0] >= w / 2) & (local[:, 0] <= size - w / 2) & (local[:, 1] >= h / 2) & (local[:, 1] <= size - h / 2)
            centres.append(torch.nan_to_num(local, nan=size / 2))
            valid.append(fits)
            audio.append(entry["audio"])
            labels.append(entry["labels"])
        yield {
            "latents": torch.stack(latents), "audio": torch.stack(audio), "centres": torch.stack(centres),
            "valid": torch.stack(valid), "labels": torch.stack(labels),
        }


def mouth_window_boxes(centres: torch.Tensor, size: tuple[int, int] = MOUTH_WINDOW) -> torch.Tensor:
    """(B, T, 2) pixel centres -> (B, T, 4) integer boxes y0, x0, y1, x1 of the reader's window."""
    h, w = size
    y0 = (centres[..., 1] - h / 2).round().long()
    x0 = (centres[..., 0] - w / 2).round().long()
    return torch.stack([y0, x0, y0 + h, x0 + w], -1)


class GeneratedDecoderParts(nn.Module):
    """The VAE whose decoder trains; the starting decoder (the tie's target) and the lip reader are
    frozen and kept out of the module tree, so neither the optimiser nor the checkpoints see them."""

    def __init__(self, vae, teacher, lip_reader):
        super().__init__()
        self.vae = vae
        self.__dict__["teacher"] = teacher.eval().requires_grad_(False)
        self.__dict__["lip_reader"] = lip_reader.eval().requires_grad_(False)


def generated_decoder_loss(config: GeneratedDecoderConfig):
    def loss_fn(model, batch, step: int = 0):
        vae, teacher, reader = model.vae, model.teacher, model.lip_reader
        latents, audio = batch["latents"].to(vae.device), batch["audio"].to(vae.device)
        recon = vae.decode(latents, audio=audio).sample  # (B, 3, T, S, S)
        with torch.no_grad():
            target = teacher.decode(latents, audio=audio).sample
        boxes = mouth_window_boxes(batch["centres"])
        valid = batch["valid"]
        weight = torch.ones_like(recon[:, :1])
        windows, labels = [], []
        for b, t in valid.nonzero().tolist():
            y0, x0, y1, x1 = boxes[b, t].tolist()
            weight[b, :, t, y0:y1, x0:x1] = config.mouth_tie
            windows.append(recon[b, :, t, y0:y1, x0:x1])
            labels.append(batch["labels"][b, t, : len(MOUTH_KEYS)])
        tie = ((recon - target).abs() * weight).sum() / (weight.sum() * recon.shape[1])
        parts = {"tie": tie.detach()}
        loss = tie
        if windows:
            reading = F.mse_loss(reader(torch.stack(windows)), torch.stack(labels).to(recon))
            loss, parts["lip_reading"] = loss + config.lip_reading_weight * reading, reading.detach()
        return loss, parts

    return loss_fn


def main(argv=None) -> int:
    from rap.loading import load_vae
    from rap.models.autoencoder_audio import AudioGuidedAutoencoderKLLTXVideo

    parser = argparse.ArgumentParser(prog="python -m rap.training.train_decoder_generated", description=__doc__)
    parser.add_argument("--data", required=True, help="cached DiT latents (python -m rap.training.generated_latents)")
    parser.add_argument("--init", required=True, help="the audio-guided VAE folder whose decoder is fine-tuned")
    parser.add_argument("--lip-reader", required=True, help="lip_reader.safetensors from python -m rap.training.lip_reader")
    parser.add_argument("--out", default="runs/decoder_generated")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--batch-size", type=int, default=GeneratedDecoderConfig.batch_size)
    parser.add_argument("--cells", type=int, default=GeneratedDecoderConfig.cells)
    parser.add_argument("--lip-reading-weight", type=float, default=GeneratedDecoderConfig.lip_reading_weight)
    parser.add_argument("--mouth-tie", type=float, default=GeneratedDecoderConfig.mouth_tie)
    parser.add_argument("--max-minutes", type=float, default=None)
    parser.add_argument("--save-every", type=int, default=200)
    args = parser.parse_args(argv)
    config = GeneratedDecoderConfig(args.cells, args.batch_size, args.lip_reading_weight, args.mouth_tie)
    vae = load_vae(args.init)
    if not isinstance(vae, AudioGuidedAutoencoderKLLTXVideo):
        parser.error(f"{args.init} is not an audio-guided VAE")
    teacher = copy.deepcopy(vae)
    vae.encoder.requires_grad_(False)
    entries = load_generated(args.data)
    print(f"{len(entries)} latent clips from {args.data}")
    model = GeneratedDecoderParts(vae, teacher, load_lip_reader(args.lip_reader))
    loop = LoopConfig(args.out, steps=args.steps, lr=args.lr, save_every=args.save_every, max_minutes=args.max_minutes)
    run_training(model, generated_decoder_loss(config), crop_batches(entries, config, vae.spatial_compression_ratio), loop)
    vae.eval()
    vae.save_pretrained(Path(args.out) / "vae")
    print(f"saved {Path(args.out) / 'vae'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
