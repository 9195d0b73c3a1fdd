"""Train the small preset's video VAE (diffusers `AutoencoderKLLTXVideo`, small config).

`python -m rap.training.train_vae --data data/synth --out runs/vae`

Trained on random crops of the synthetic clips: 1 + 8k frames (the causal VAE's static frame plus
k groups of 8) and a square spatial crop (the network is convolutional, so small crops teach the
256-pixel model at a fraction of the cost). Batches are large (16 crops of 64 px) rather than
few and big: at 4 crops a step the gradients of the latent-dependent paths disagree from batch to
batch and the decoder settled on the mean colour, at 16 it reads the latent within 100 steps. For
the first `freeze_encoder_steps` the encoder stays at its random initialisation (random features
still describe the picture), so the decoder learns to read a latent that cannot collapse; without
this the first updates shrink the latent's spread five-fold (the decoder's random response to it is
pure error), leaving encoder and decoder at a saddle. The reconstruction loss is L1 with the face region
weighted up (`face_weight`) and the mouth far more (`mouth_weight`, half the crops placed over it):
lip sync lives in a few pixels of the mouth, and a VAE that blurs them away leaves the DiT no lip
shape to learn (the first bundled VAE lost the mouth while keeping the head); a small KL term
keeps the latent space smooth for diffusion. The decoder reconstructs from the posterior mean, not
a sample: LTX's encoder predicts one shared log-variance that starts near 0 (sigma ~ 1), so early
samples would be mostly noise, and the KL weight is too small to shrink that sigma quickly. At the end the per-channel latent mean and standard
deviation are measured and stored in the VAE (`latents_mean`, `latents_std`), which the pipeline
uses to normalise latents.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from rap.training.loop import LoopConfig, run_training


@dataclass
class VAETrainConfig:
    data: str
    preset: str = "rap-small"
    frames: int = 9  # 1 + 8: the causal VAE's static frame plus one group of 8
    crop: int = 64
    batch_size: int = 16
    face_weight: float = 4.0
    mouth_weight: float = 12.0
    mouth_crop_probability: float = 0.5  # crops placed over the mouth (a random crop rarely holds it)
    kl_weight: float = 1e-6
    freeze_encoder_steps: int = 300


def random_crops(dataset, config: VAETrainConfig, resolution: int, seed: int = 0, crops_per_clip: int = 4):
    """Endless batches of frames in [-1, 1] (B, 3, T, S, S) with face and mouth masks (B, 1, T, S, S),
    from clips framed as inference frames portraits (`rap.training.framing`). Several crops come
    from every decoded clip, since decoding and framing cost more than a training step."""
    from rap.training.framing import face_crop_box, frame_clip, mouth_mask

    g = torch.Generator().manual_seed(seed)
    pending: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []  # (video, face, mouth)
    while True:
        for clip in dataset:
            frames = clip["frames"]  # (T, H, W, 3) uint8
            box = face_crop_box(frames[0].numpy(), clip["face_mask"][0].numpy())
            for _ in range(crops_per_clip):
                t0 = int(torch.randint(0, frames.shape[0] - config.frames + 1, (1,), generator=g))
                part = {k: clip[k][t0 : t0 + config.frames] for k in ("frames", "face_mask", "mouth_boxes")}
                part = frame_clip(part, resolution, box=box)
                y0, x0 = _crop_origin(part["mouth_boxes"], resolution, config, g)
                crop = (slice(None), slice(None), slice(y0, y0 + config.crop), slice(x0, x0 + config.crop))
                face = F.interpolate(part["face_mask"][:, None], size=(resolution, resolution), mode="bilinear")
                mouth = mouth_mask(part["mouth_boxes"], resolution)[:, None]
                pending.append(
                    (
                        part["frames"].permute(3, 0, 1, 2)[crop].float() / 127.5 - 1.0,
                        face.permute(1, 0, 2, 3)[crop],
                        mouth.permute(1, 0, 2, 3)[crop],
                    )
                )
            while len(pending) >= config.batch_size * crops_per_clip:  # mix crops of several clips
                order = torch.randperm(len(pending), generator=g)[: config.batch_size].tolist()
                chosen = [pending[i] for i in order]
                pending = [p for i, p in enumerate(pending) if i not in order]
                yield {key: torch.stack([c[i] for c in chosen]) for i, key in enumerate(("video", "face", "mouth"))}


def _crop_origin(mouth_boxes: torch.Tensor, resolution: int, config: VAETrainConfig, g: torch.Generator) -> tuple[int, int]:
    """(y0, x0) of a crop: anywhere, or (with `mouth_crop_probability`) around the first frame's mouth."""
    room = resolution - config.crop
    if room <= 0:
        return 0, 0
    if float(torch.rand(1, generator=g)) < config.mouth_crop_probability:
        cx, cy = ((mouth_boxes[0, :2] + mouth_boxes[0, 2:]) / 2 * resolution).tolist()
        jitter = torch.randint(-config.crop // 4, config.crop // 4 + 1, (2,), generator=g).tolist()
        clamp = lambda v: int(min(max(v, 0), room))
        return clamp(cy - config.crop / 2 + jitter[0]), clamp(cx - config.crop / 2 + jitter[1])
    return tuple(int(torch.randint(0, room + 1, (1,), generator=g)) for _ in range(2))


def vae_loss(config: VAETrainConfig):
    def loss_fn(vae, batch, step: int = 0):
        video = batch["video"].to(vae.device)
        with torch.set_grad_enabled(step >= config.freeze_encoder_steps):
            posterior = vae.encode(video).latent_dist
        recon = vae.decode(posterior.mode()).sample
        weight = 1.0 + config.face_weight * batch["face"].to(vae.device) + config.mouth_weight * batch["mouth"].to(vae.device)
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


@torch.no_grad()
def reconstruction_report(vae, dataset, resolution: int, clips: int = 4, frames: int = 33, out: Path | None = None) -> dict:
    """PSNR of whole framed clips through the VAE (whole frame and face region), and a picture of
    originals over reconstructions: the check that the latent carries the picture, not the mean colour."""
    import numpy as np
    from PIL import Image

    from rap.eval.mouth_reader import read_mouth
    from rap.eval.sync import pearson
    from rap.training.framing import frame_clip, mouth_mask

    vae.eval()
    errors, face_errors, mouth_errors, rows, openings = [], [], [], [], []
    for _, clip in zip(range(clips), dataset):
        part = frame_clip({k: clip[k][:frames] for k in ("frames", "face_mask", "mouth_boxes")}, resolution)
        video = part["frames"].permute(3, 0, 1, 2)[None].float() / 127.5 - 1.0
        recon = vae.decode(vae.encode(video).latent_dist.mode()).sample.clamp(-1, 1)
        squared = (recon - video).pow(2).mean(1)[0]  # (T, H, W)
        face = F.interpolate(part["face_mask"][:, None], size=squared.shape[-2:], mode="bilinear")[:, 0] > 0.5
        errors.append(squared.mean())
        face_errors.append(squared[face].mean())
        mouth_errors.append(squared[mouth_mask(part["mouth_boxes"], resolution) > 0].mean())
        originals, reconstructions = (((v[0].permute(1, 2, 3, 0) + 1) * 127.5).round().byte().numpy() for v in (video, recon))
        openings.append((read_mouth(originals)["opening"], read_mouth(reconstructions)["opening"]))
        pick = [0, frames // 2, frames - 1]
        rows.append(np.concatenate([np.concatenate(list(originals[pick]), 1), np.concatenate(list(reconstructions[pick]), 1)], 0))
    psnr = lambda e: float(10 * torch.log10(4.0 / torch.stack(e).mean()))  # signal range 2 ([-1, 1])
    # does the latent keep the mouth? the lip-sync meter's mouth opening, original against reconstruction
    original, reconstructed = (np.concatenate(o) for o in zip(*openings))
    report = {
        "psnr": round(psnr(errors), 2), "face_psnr": round(psnr(face_errors), 2), "mouth_psnr": round(psnr(mouth_errors), 2),
        "mouth_opening_correlation": round(pearson(original, reconstructed), 3), "clips": clips, "frames": frames,
    }
    if out is not None:
        Image.fromarray(np.concatenate(rows, 0)).save(out / "reconstruction.png")
        (out / "reconstruction.json").write_text(json.dumps(report))
    return report


def main(argv=None) -> int:
    from diffusers import AutoencoderKLLTXVideo

    from rap.presets import get_preset
    from rap.synth.dataset import SynthClipDataset

    parser = argparse.ArgumentParser(prog="python -m rap.training.train_vae", description=__doc__)
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", default="runs/vae")
    parser.add_argument("--preset", default="rap-small")
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--frames", type=int, default=9)
    parser.add_argument("--crop", type=int, default=64)
    parser.add_argument("--mouth-weight", type=float, default=VAETrainConfig.mouth_weight)
    parser.add_argument("--freeze-encoder-steps", type=int, default=None, help="default: 300, or 0 with --init")
    parser.add_argument("--max-minutes", type=float, default=None)
    parser.add_argument("--save-every", type=int, default=200)
    parser.add_argument("--init", default=None, help="a VAE folder to start from instead of random weights")
    parser.add_argument("--held-out", default=None, help="clips for the reconstruction report (default: --data)")
    args = parser.parse_args(argv)

    config = VAETrainConfig(
        args.data, args.preset, args.frames, args.crop, args.batch_size, mouth_weight=args.mouth_weight,
        freeze_encoder_steps=args.freeze_encoder_steps if args.freeze_encoder_steps is not None else (0 if args.init else 300),
    )
    preset = get_preset(args.preset)
    # --init: continue from trained weights (e.g. models/rap-small/vae) on a machine without checkpoints
    vae = AutoencoderKLLTXVideo.from_pretrained(args.init) if args.init else AutoencoderKLLTXVideo(**preset.vae)
    dataset = SynthClipDataset(args.data, shuffle=True, with_meta=False)
    loop = LoopConfig(args.out, steps=args.steps, lr=args.lr, save_every=args.save_every, max_minutes=args.max_minutes)
    vae, _ = run_training(vae, vae_loss(config), random_crops(dataset, config, preset.resolution, crops_per_clip=16), loop)
    vae.eval()
    # statistics of whole frames, as the DiT will see them (crops would over-weight the borders)
    whole_frames = replace(config, crop=preset.resolution, batch_size=2)
    mean, std = measure_latent_statistics(vae, random_crops(dataset, whole_frames, preset.resolution, seed=1, crops_per_clip=1))
    vae.latents_mean.copy_(mean)
    vae.latents_std.copy_(std)
    vae.save_pretrained(Path(args.out) / "vae")
    print(f"saved {Path(args.out) / 'vae'}; latent std range {std.min():.3f}..{std.max():.3f}")
    held_out = SynthClipDataset(args.held_out or args.data, with_meta=False)
    print("reconstruction", reconstruction_report(vae, held_out, preset.resolution, out=Path(args.out)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
