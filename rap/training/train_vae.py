"""Train the small preset's video VAE (diffusers `AutoencoderKLLTXVideo`, small config).

`python -m rap.training.train_vae --data data/synth --out runs/vae`

Trained on random crops of the synthetic clips: 1 + 8k frames (the causal VAE's static frame plus
k groups of 8) and a square spatial crop (the network is convolutional, so 128-pixel crops teach
the 256-pixel model at a quarter of the cost). The reconstruction loss is L1 with the face region
weighted up (`face_weight`), since lip sync lives in a few pixels of the mouth; a small KL term
keeps the latent space smooth for diffusion. At the end the per-channel latent mean and standard
deviation are measured and stored in the VAE (`latents_mean`, `latents_std`), which the pipeline
uses to normalise latents.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from rap.training.loop import LoopConfig, run_training


@dataclass
class VAETrainConfig:
    data: str
    preset: str = "rap-small"
    frames: int = 17  # 1 + 8 * 2
    crop: int = 128
    batch_size: int = 2
    face_weight: float = 4.0
    kl_weight: float = 1e-6


def random_crops(dataset, config: VAETrainConfig, resolution: int, seed: int = 0, crops_per_clip: int = 4):
    """Endless batches of (frames in [-1, 1] (B, 3, T, S, S), face weight map (B, 1, T, S, S)),
    from clips framed as inference frames portraits (`rap.training.framing`). Several crops come
    from every decoded clip, since decoding and framing cost more than a training step."""
    from rap.training.framing import face_crop_box, frame_clip

    g = torch.Generator().manual_seed(seed)
    pending: list[tuple[torch.Tensor, torch.Tensor]] = []
    while True:
        for clip in dataset:
            frames = clip["frames"]  # (T, H, W, 3) uint8
            box = face_crop_box(frames[0].numpy(), clip["face_mask"][0].numpy())
            for _ in range(crops_per_clip):
                t0 = int(torch.randint(0, frames.shape[0] - config.frames + 1, (1,), generator=g))
                part = {k: clip[k][t0 : t0 + config.frames] for k in ("frames", "face_mask")}
                part = frame_clip(part, resolution, box=box)
                y0, x0 = (int(torch.randint(0, resolution - config.crop + 1, (1,), generator=g)) for _ in range(2))
                video = part["frames"][:, y0 : y0 + config.crop, x0 : x0 + config.crop]
                mask = F.interpolate(part["face_mask"][:, None], size=(resolution, resolution), mode="bilinear")
                pending.append(
                    (
                        video.permute(3, 0, 1, 2).float() / 127.5 - 1.0,
                        mask[:, :, y0 : y0 + config.crop, x0 : x0 + config.crop].permute(1, 0, 2, 3),
                    )
                )
            while len(pending) >= config.batch_size * crops_per_clip:  # mix crops of several clips
                order = torch.randperm(len(pending), generator=g)[: config.batch_size].tolist()
                chosen = [pending[i] for i in order]
                pending = [p for i, p in enumerate(pending) if i not in order]
                yield {"video": torch.stack([c[0] for c in chosen]), "face": torch.stack([c[1] for c in chosen])}


def vae_loss(config: VAETrainConfig):
    def loss_fn(vae, batch):
        video = batch["video"].to(vae.device)
        posterior = vae.encode(video).latent_dist
        recon = vae.decode(posterior.sample()).sample
        weight = 1.0 + config.face_weight * batch["face"].to(vae.device)
        l1 = ((recon - video).abs() * weight).mean() / weight.mean()
        kl = posterior.kl().mean() / video[0].numel()
        return l1 + config.kl_weight * kl, {"l1": l1.detach(), "kl": kl.detach()}

    return loss_fn


@torch.no_grad()
def measure_latent_statistics(vae, batches, count: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    latents = []
    for _, batch in zip(range(count), batches):
        latents.append(vae.encode(batch["video"].to(vae.device)).latent_dist.mode().transpose(0, 1).flatten(1))
    latents = torch.cat(latents, dim=1)
    return latents.mean(dim=1), latents.std(dim=1).clamp_min(1e-4)


def main(argv=None) -> int:
    from diffusers import AutoencoderKLLTXVideo

    from rap.presets import get_preset
    from rap.synth.dataset import SynthClipDataset

    parser = argparse.ArgumentParser(prog="python -m rap.training.train_vae", description=__doc__)
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", default="runs/vae")
    parser.add_argument("--preset", default="rap-small")
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--frames", type=int, default=17)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--max-minutes", type=float, default=None)
    parser.add_argument("--save-every", type=int, default=200)
    args = parser.parse_args(argv)

    config = VAETrainConfig(args.data, args.preset, args.frames, args.crop, args.batch_size)
    preset = get_preset(args.preset)
    vae = AutoencoderKLLTXVideo(**preset.vae)
    dataset = SynthClipDataset(args.data, shuffle=True, with_meta=False)
    loop = LoopConfig(args.out, steps=args.steps, lr=args.lr, save_every=args.save_every, max_minutes=args.max_minutes)
    vae, _ = run_training(vae, vae_loss(config), random_crops(dataset, config, preset.resolution), loop)
    vae.eval()
    mean, std = measure_latent_statistics(vae, random_crops(dataset, config, preset.resolution, seed=1))
    vae.latents_mean.copy_(mean)
    vae.latents_std.copy_(std)
    vae.save_pretrained(Path(args.out) / "vae")
    print(f"saved {Path(args.out) / 'vae'}; latent std range {std.min():.3f}..{std.max():.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
