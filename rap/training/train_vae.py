"""Train the small preset's video VAE (diffusers `AutoencoderKLLTXVideo`, small config, or its
reference-guided form, `rap.models.autoencoder_reference`).

`python -m rap.training.train_vae --data data/synth --held-out data/heldout --out runs/vae`
(`--data` may also be a folder of framed clips from `python -m rap.training.framed_clips`, which
makes a step about twice as fast on the 2-core CPU: reading crops instead of decoding video.
`--audio-guided` trains the audio-guided decoder, `rap.models.autoencoder_audio`, on framed clips
written with `--audio-encoder`.)

Trained on random crops of the synthetic clips: 1 + 8k frames (the causal VAE's static frame plus
k groups of 8) and a square spatial crop (the network is convolutional, so small crops teach the
256-pixel model at a fraction of the cost). Batches are large (16 crops of 64 px) rather than
few and big: at 4 crops a step the gradients of the latent-dependent paths disagree from batch to
batch and the decoder settled on the mean colour, at 16 it reads the latent within 100 steps. For
the first `freeze_encoder_steps` the encoder stays at its random initialisation (random features
still describe the picture), so the decoder learns to read a latent that cannot collapse; without
this the first updates shrink the latent's spread five-fold (the decoder's random response to it is
pure error), leaving encoder and decoder at a saddle.

The loss:
- L1 reconstruction with the face region weighted up (`face_weight`) and the mouth far more
  (`mouth_weight`, half the crops placed over it): lip sync lives in a few pixels of the mouth;
- the latent control probe (`control_weight`, `rap.training.control_probe`): reconstruction alone
  left the mouth out of the latent entirely, and a DiT cannot learn lip sync from such latents;
- a small KL term, which keeps the latent space smooth for diffusion;
- with `--mouth-latent-swap`, crops whose latent mouth is swapped for another moment's, so an
  audio-guided decoder learns to draw the mouth from the sound (`swap_mouth_latents`);
- with `--gan-weight`, a discriminator of the mouth that hears each frame's sound
  (`rap.training.mouth_discriminator`): L1 alone leaves the mouth blurred;
- with `--lip-reading-weight`, a frozen lip reader's error on the decoded mouths against the
  world's mouth labels (`rap.training.lip_reader`): the discriminator asks for a real mouth, this
  for the right one.
The decoder reconstructs from the posterior mean, not a sample: LTX's encoder predicts one shared
log-variance that starts near 0 (sigma ~ 1), so early samples would be mostly noise, and the KL
weight is too small to shrink that sigma quickly. Every crop comes with a reference frame (another
moment of the same clip) for a reference-guided decoder. At the end the per-channel latent mean
and standard deviation are measured and stored in the VAE (`latents_mean`, `latents_std`), which
the pipeline uses to normalise latents; `--decoder-only` keeps the encoder and these statistics,
so latents cached before it stay valid.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rap.training.control_probe import LatentControlProbe, control_loss
from rap.training.lip_reader import lip_reading_loss, load_lip_reader
from rap.training.mouth_discriminator import MouthDiscriminator, adaptive_weight, discriminator_loss, generator_loss, mouth_windows
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
    control_weight: float = 10.0  # the latent control probe's MSE (`control_probe`); 0 turns it off
    freeze_encoder_steps: int = 300
    # the mouth discriminator (`mouth_discriminator`): its pull on the decoder relative to the
    # reconstruction's (adaptive, VQGAN-style); 0 turns it off. It trains alone for gan_start_step steps.
    gan_weight: float = 0.0
    gan_start_step: int = 500
    # the share of crops whose later latent frames get another moment's mouth (`swap_mouth_latents`):
    # an audio-guided decoder must then draw those frames' mouths from the sound
    mouth_latent_swap: float = 0.0
    # that moment: "first", the crop's own first frame; "reference", the crop's reference frame (another
    # moment of the clip). A non-causal decoder sees both latent frames and can spot a mouth equal to
    # the first frame's, so "first" leaves it a cue that the DiT's latents never give.
    mouth_latent_swap_source: str = "first"
    # the frozen lip reader's squared error on the decoded mouths (`lip_reader.lip_reading_loss`); 0 turns it off
    lip_reading_weight: float = 0.0


# reference: (B, 3, S, S), one frame of the same clip; controls (B, T, 5): the world's mouth and
# eyelid labels (`control_probe.CONTROL_KEYS`); mouth_centre (B, 2) in the crop; mouth_in_crop (B,);
# and, where the clips carry them, the audio features of every frame (B, T, N, C) for an audio-guided decoder
BATCH_KEYS = ("video", "face", "mouth", "reference", "controls", "mouth_centre", "mouth_in_crop", "audio")


def random_crops(dataset, config: VAETrainConfig, resolution: int, seed: int = 0, crops_per_clip: int = 4):
    """Endless batches of frames in [-1, 1] (B, 3, T, S, S) with face and mouth masks (B, 1, T, S, S),
    a reference frame (B, 3, S, S) and the control probe's labels, from clips framed as inference
    frames portraits (`rap.training.framing`): `SynthClipDataset` clips are framed here, once per
    clip; `FramedClips` come framed. Several crops come from every clip, since reading a clip
    costs more than a training step."""
    from rap.training.framing import frame_clip, mouth_mask

    g = torch.Generator().manual_seed(seed)
    pending: list[tuple] = []  # one entry per crop, in BATCH_KEYS order
    while True:
        for clip in dataset:
            if not clip.get("framed"):
                clip = clip | frame_clip({k: clip[k] for k in ("frames", "face_mask", "mouth_boxes")}, resolution)
            frames = clip["frames"]  # (T, R, R, 3) uint8: a tensor, or a memory-mapped array
            # masks at full resolution once per clip; every crop slices them
            face_masks = F.interpolate(clip["face_mask"][:, None].float(), size=(resolution, resolution), mode="bilinear")
            mouth_masks = mouth_mask(clip["mouth_boxes"], resolution)[:, None]
            for _ in range(crops_per_clip):
                t0 = int(torch.randint(0, frames.shape[0] - config.frames + 1, (1,), generator=g))
                # the reference: another moment of the same clip, cropped alike, so a reference-guided
                # decoder learns to take appearance from it but not the mouth
                t_ref = int(torch.randint(0, frames.shape[0], (1,), generator=g))
                window = slice(t0, t0 + config.frames)
                boxes = clip["mouth_boxes"][window]
                y0, x0 = _crop_origin(boxes, resolution, config, g)
                rows, cols = slice(y0, y0 + config.crop), slice(x0, x0 + config.crop)
                pixels = torch.as_tensor(np.ascontiguousarray(frames[list(range(t0, t0 + config.frames)) + [t_ref], rows, cols]))
                video = pixels.permute(3, 0, 1, 2).float() / 127.5 - 1.0
                face, mouth = face_masks[window, :, rows, cols], mouth_masks[window, :, rows, cols]
                # the mouth's mean centre in the crop, as grid_sample coordinates, for the control probe
                centre = ((boxes[:, :2] + boxes[:, 2:]) / 2).mean(0) * resolution
                centre = 2 * (centre - torch.tensor([x0, y0])) / config.crop - 1
                controls = torch.cat([clip["mouth"][window].float(), clip["blink"][window].float()[:, None]], 1)
                audio = clip["audio_features"][window] if "audio_features" in clip else None
                pending.append(
                    (
                        video[:, :-1], face.transpose(0, 1), mouth.transpose(0, 1), video[:, -1],
                        controls, centre, bool((centre.abs() < 1).all()), audio,
                    )
                )
            while len(pending) >= config.batch_size * crops_per_clip:  # mix crops of several clips
                order = torch.randperm(len(pending), generator=g)[: config.batch_size].tolist()
                chosen = [pending[i] for i in order]
                pending = [p for i, p in enumerate(pending) if i not in order]
                yield {
                    key: torch.stack([torch.as_tensor(c[i]) for c in chosen])
                    for i, key in enumerate(BATCH_KEYS)
                    if all(c[i] is not None for c in chosen)
                }


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


def decode(vae, latents: torch.Tensor, reference: torch.Tensor | None, audio: torch.Tensor | None = None) -> torch.Tensor:
    """A reference-guided VAE decodes with the reference frame, an audio-guided one with the sound of
    every frame, a plain LTX VAE from the latents alone."""
    from rap.models.autoencoder_audio import AudioGuidedAutoencoderKLLTXVideo
    from rap.models.autoencoder_reference import ReferenceGuidedAutoencoderKLLTXVideo

    if isinstance(vae, ReferenceGuidedAutoencoderKLLTXVideo):
        return vae.decode(latents, reference=reference).sample
    if isinstance(vae, AudioGuidedAutoencoderKLLTXVideo):
        if audio is None:
            raise ValueError("an audio-guided VAE trains on clips with audio features (framed_clips --audio-encoder)")
        return vae.decode(latents, audio=audio).sample
    return vae.decode(latents).sample


class VAETrainingParts(nn.Module):
    """What the loop trains when the VAE has helpers (the control probe, the mouth discriminator) or
    a frozen lip reader to answer to; only `vae` is saved."""

    def __init__(
        self, vae, control_probe: LatentControlProbe | None = None, discriminator: MouthDiscriminator | None = None, lip_reader=None
    ):
        super().__init__()
        self.vae, self.control_probe, self.discriminator = vae, control_probe, discriminator
        # frozen, and kept out of the module tree so that neither the optimiser nor the checkpoints see it
        self.__dict__["lip_reader"] = lip_reader

    def parameter_groups(self) -> list[dict]:
        """The discriminator apart, with the betas GANs train with (0.5, 0.9)."""
        others = [p for name, p in self.named_parameters() if p.requires_grad and not name.startswith("discriminator.")]
        groups = [{"params": others}]
        if self.discriminator is not None:
            groups.append({"params": list(self.discriminator.parameters()), "betas": (0.5, 0.9)})
        return groups


def vae_loss(config: VAETrainConfig):
    def loss_fn(model, batch, step: int = 0):
        trained = model if isinstance(model, VAETrainingParts) else VAETrainingParts(model)
        vae, probe, discriminator = trained.vae, trained.control_probe, trained.discriminator
        video = batch["video"].to(vae.device)
        with torch.set_grad_enabled(step >= config.freeze_encoder_steps):
            posterior = vae.encode(video).latent_dist
        latents = posterior.mode()
        decoded_latents = latents  # what the decoder reads; the control probe reads the encoder's own
        if config.mouth_latent_swap > 0:
            source = None
            if config.mouth_latent_swap_source == "reference":
                with torch.no_grad():  # one frame alone: the causal encoder's first latent frame
                    source = vae.encode(batch["reference"][:, :, None].to(vae.device)).latent_dist.mode()
            decoded_latents = swap_mouth_latents(
                latents, batch["mouth_centre"], batch["mouth_in_crop"], config.mouth_latent_swap, source=source
            )
        reference, audio = batch.get("reference"), batch.get("audio")
        recon = decode(
            vae, decoded_latents, None if reference is None else reference.to(vae.device), None if audio is None else audio.to(vae.device)
        )
        weight = 1.0 + config.face_weight * batch["face"].to(vae.device) + config.mouth_weight * batch["mouth"].to(vae.device)
        l1 = ((recon - video).abs() * weight).mean() / weight.mean()
        kl = posterior.kl().mean() / video[0].numel()
        loss, parts = l1 + config.kl_weight * kl, {"l1": l1.detach(), "kl": kl.detach()}
        if probe is not None:
            controls = control_loss(probe, latents, batch["mouth_centre"], batch["controls"], batch["mouth_in_crop"])
            loss, parts["controls"] = loss + config.control_weight * controls, controls.detach()
        if discriminator is not None:
            loss = loss + _adversarial_terms(vae, discriminator, video, recon, batch, l1, step, config, parts)
        if trained.lip_reader is not None and config.lip_reading_weight > 0:
            reading = lip_reading_loss(trained.lip_reader.to(recon.device), recon, batch["mouth_centre"], batch["controls"], batch["mouth_in_crop"])
            loss, parts["lip_reading"] = loss + config.lip_reading_weight * reading, reading.detach()
        return loss, parts

    return loss_fn


def swap_mouth_latents(
    latents: torch.Tensor,
    centres: torch.Tensor,
    inside: torch.Tensor,
    probability: float,
    cells: tuple[int, int] = (2, 3),
    source: torch.Tensor | None = None,
) -> torch.Tensor:
    """For a random `probability` share of the crops that hold the mouth, the latent cells around the
    mouth (`cells`, rows x columns) of every latent frame after the first are replaced by those of
    `source` (B, C, 1, h, w), another moment of the crop, by default its first latent frame: the
    picture to reconstruct keeps its true mouth, the latent no longer tells it.

    Why: at inference the decoder reads the DiT's latents, whose mouth is the least reliable thing
    in them (on rap-small, generated lip sync is two thirds of the round trip's), while the sound it
    hears is exact. Trained on true latents alone, an audio-guided decoder leans on the latent's
    mouth; with the mouth swapped out it must learn to draw it from the sound."""
    batch, _, frames, height, width = latents.shape
    chosen = inside.to(torch.bool).cpu() & (torch.rand(batch) < probability)
    if frames < 2 or not chosen.any():
        return latents
    latents = latents.clone()
    for b in chosen.nonzero().flatten().tolist():
        x, y = centres[b].tolist()
        row, col = (y + 1) / 2 * height, (x + 1) / 2 * width  # the mouth's centre in latent cells
        r0 = int(min(max(round(row - cells[0] / 2), 0), max(height - cells[0], 0)))
        c0 = int(min(max(round(col - cells[1] / 2), 0), max(width - cells[1], 0)))
        rows, cols = slice(r0, r0 + cells[0]), slice(c0, c0 + cells[1])
        latents[b, :, 1:, rows, cols] = (latents if source is None else source)[b, :, :1, rows, cols]
    return latents


def _adversarial_terms(vae, discriminator, video, recon, batch, l1, step: int, config: VAETrainConfig, parts: dict) -> torch.Tensor:
    """The discriminator's hinge loss on the mouth windows of crops that hold the mouth, plus (from
    `gan_start_step`) the decoder's adversarial loss at its adaptive weight. Logs into `parts`."""
    if "audio" not in batch:
        raise ValueError("the mouth discriminator hears each frame's sound: train on clips with audio features")
    inside = batch["mouth_in_crop"].to(torch.bool)
    if not inside.any():
        return recon.new_zeros(())
    centres = batch["mouth_centre"][inside]
    real = mouth_windows(video[inside], centres).flatten(0, 1)  # (M * T, 3, h, w)
    fake = mouth_windows(recon[inside], centres).flatten(0, 1)
    audio = batch["audio"].to(video.device)[inside].flatten(2).flatten(0, 1)  # (M * T, N * C)
    d_loss = discriminator_loss(discriminator, real, fake, audio)
    parts["d_loss"] = d_loss.detach()
    if step < config.gan_start_step:
        parts["g_loss"], parts["gan_weight"] = d_loss.new_zeros(()), d_loss.new_zeros(())  # the log's columns stay fixed
        return d_loss
    g_loss = generator_loss(discriminator, fake, audio)
    weight = config.gan_weight * adaptive_weight(l1, g_loss, vae.decoder.conv_out.conv.weight)
    parts["g_loss"], parts["gan_weight"] = g_loss.detach(), weight
    return d_loss + weight * g_loss


@torch.no_grad()
def measure_latent_statistics(vae, batches, count: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    latents = []
    for _, batch in zip(range(count), batches):
        latents.append(vae.encode(batch["video"].to(vae.device)).latent_dist.mode().transpose(0, 1).flatten(1))
    latents = torch.cat(latents, dim=1)
    return latents.mean(dim=1), latents.std(dim=1).clamp_min(1e-4)


@torch.no_grad()
def reconstruction_report(
    vae, dataset, resolution: int, clips: int = 4, frames: int = 33, out: Path | None = None, audio_windows=None
) -> dict:
    """PSNR of whole framed clips through the VAE (whole frame and face region), and a picture of
    originals over reconstructions: the check that the latent carries the picture, not the mean colour.
    audio_windows (`AudioFeatureWindows`) gives an audio-guided decoder the clips' sound."""
    import numpy as np
    from PIL import Image

    from rap.eval.mouth_reader import read_mouth
    from rap.eval.sync import pearson
    from rap.training.framed_clips import clip_audio_features
    from rap.training.framing import frame_clip, mouth_mask

    vae.eval()
    errors, face_errors, mouth_errors, rows, openings = [], [], [], [], []
    for _, clip in zip(range(clips), dataset):
        # the clip's last frame stands in for the portrait (a moment outside the reconstructed window)
        picks = list(range(frames)) + [len(clip["frames"]) - 1]
        part = frame_clip({k: clip[k][picks] for k in ("frames", "face_mask", "mouth_boxes")}, resolution)
        part = {k: part[k][:frames] for k in ("frames", "face_mask", "mouth_boxes")} | {"reference": part["frames"][-1]}
        video = part["frames"].permute(3, 0, 1, 2)[None].float() / 127.5 - 1.0
        reference = part["reference"].permute(2, 0, 1)[None].float() / 127.5 - 1.0
        audio = None
        if audio_windows is not None:
            audio = clip_audio_features(audio_windows, clip["audio"].numpy(), len(clip["frames"]))[None, :frames]
        recon = decode(vae, vae.encode(video).latent_dist.mode(), reference, audio).clamp(-1, 1)
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


def initial_vae(init: str | None, preset, reference_guided: bool | None, audio_guided: dict | None = None):
    """The VAE to train: `init`'s weights (a plain LTX VAE is wrapped when guidance is asked for) or
    the preset's config at random. audio_guided: the `AudioGuidedAutoencoderKLLTXVideo` options, to
    give a plain VAE's decoder the sound."""
    from diffusers import AutoencoderKLLTXVideo

    from rap.loading import load_vae
    from rap.models.autoencoder_audio import AudioGuidedAutoencoderKLLTXVideo
    from rap.models.autoencoder_reference import ReferenceGuidedAutoencoderKLLTXVideo

    if audio_guided is not None:
        if reference_guided:
            raise ValueError("a VAE is either reference-guided or audio-guided, not both")
        if init is None:
            return AudioGuidedAutoencoderKLLTXVideo(**preset.vae, **audio_guided)
        vae = load_vae(init)
        if isinstance(vae, AudioGuidedAutoencoderKLLTXVideo):
            return vae
        if type(vae) is not AutoencoderKLLTXVideo:
            raise ValueError(f"{init} holds a {type(vae).__name__}; only a plain LTX VAE can be given the sound")
        return AudioGuidedAutoencoderKLLTXVideo.from_unguided(vae, **audio_guided)
    if init is None:
        guided = preset.reference_guided_vae if reference_guided is None else reference_guided
        return (ReferenceGuidedAutoencoderKLLTXVideo if guided else AutoencoderKLLTXVideo)(**preset.vae)
    vae = load_vae(init)
    if isinstance(vae, ReferenceGuidedAutoencoderKLLTXVideo):
        if reference_guided is False:
            raise ValueError(f"{init} holds a reference-guided VAE; --no-reference-guided cannot drop the guidance")
        return vae
    return ReferenceGuidedAutoencoderKLLTXVideo.from_unguided(vae) if reference_guided else vae


def main(argv=None) -> int:
    from rap.presets import get_preset
    from rap.synth.dataset import SynthClipDataset
    from rap.training.framed_clips import FramedClips, preset_audio_windows

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
    parser.add_argument("--control-weight", type=float, default=VAETrainConfig.control_weight)
    parser.add_argument(
        "--gan-weight", type=float, default=VAETrainConfig.gan_weight,
        help="the mouth discriminator's pull on the decoder (adaptive weight x this; 0.5 as in VQGAN); 0: no discriminator",
    )
    parser.add_argument(
        "--mouth-latent-swap", type=float, default=VAETrainConfig.mouth_latent_swap,
        help="share of crops whose later latent frames carry another moment's mouth, so that an audio-guided decoder draws it from the sound",
    )
    parser.add_argument(
        "--mouth-latent-swap-source", choices=("first", "reference"), default=VAETrainConfig.mouth_latent_swap_source,
        help="whose mouth the swapped latent frames get: the crop's first frame, or its reference frame (another moment)",
    )
    parser.add_argument(
        "--lip-reading-weight", type=float, default=VAETrainConfig.lip_reading_weight,
        help="weight of the frozen lip reader's squared error on the decoded mouths (needs --lip-reader); 0: off",
    )
    parser.add_argument("--lip-reader", default=None, help="lip_reader.safetensors from python -m rap.training.lip_reader")
    parser.add_argument("--gan-start-step", type=int, default=VAETrainConfig.gan_start_step, help="steps the discriminator trains alone first")
    parser.add_argument("--freeze-encoder-steps", type=int, default=None, help="default: 300, or 0 with --init")
    parser.add_argument(
        "--decoder-only", action="store_true",
        help="train the decoder alone (needs --init): the latent space, its statistics included, stays "
        "exactly as it was, so latents cached with --init and a DiT trained on them remain valid",
    )
    parser.add_argument("--max-minutes", type=float, default=None)
    parser.add_argument("--save-every", type=int, default=200)
    parser.add_argument("--init", default=None, help="a VAE folder to start from instead of random weights")
    parser.add_argument(
        "--reference-guided", action=argparse.BooleanOptionalAction, default=None,
        help="decoder guided by a reference frame (default: the preset's choice, or --init's class)",
    )
    parser.add_argument(
        "--audio-guided", action="store_true",
        help="a decoder that hears every frame's sound (rap.models.autoencoder_audio); --data: framed clips "
        "written with --audio-encoder",
    )
    parser.add_argument("--audio-levels", type=int, default=None, help="with --audio-guided: how many of the finest up blocks hear it (default: the preset's, else 2)")
    parser.add_argument("--audio-encoder", default=None, help="with --audio-guided: the Wav2Vec2 folder, for the held-out report")
    parser.add_argument("--held-out", default=None, help="clips for the reconstruction report (default: --data)")
    args = parser.parse_args(argv)
    if args.audio_guided and not args.audio_encoder:
        parser.error("--audio-guided needs --audio-encoder (the held-out report computes the clips' features)")

    if args.decoder_only and not args.init:
        parser.error("--decoder-only fine-tunes the decoder of --init")
    config = VAETrainConfig(
        args.data, args.preset, args.frames, args.crop, args.batch_size, mouth_weight=args.mouth_weight,
        # a frozen encoder gains nothing from the control probe: it shapes the latent, not the picture
        control_weight=0.0 if args.decoder_only else args.control_weight,
        freeze_encoder_steps=args.freeze_encoder_steps if args.freeze_encoder_steps is not None else (0 if args.init else 300),
        gan_weight=args.gan_weight, gan_start_step=args.gan_start_step, mouth_latent_swap=args.mouth_latent_swap,
        mouth_latent_swap_source=args.mouth_latent_swap_source, lip_reading_weight=args.lip_reading_weight,
    )
    if config.lip_reading_weight > 0 and not args.lip_reader:
        parser.error("--lip-reading-weight needs --lip-reader")
    if config.mouth_latent_swap > 0 and not args.audio_guided:
        parser.error("--mouth-latent-swap: only a decoder that hears the sound can draw a mouth the latent does not tell")
    if config.gan_weight > 0 and not args.audio_guided:
        parser.error("--gan-weight: the mouth discriminator hears the sound, so it trains an --audio-guided decoder")
    preset = get_preset(args.preset)
    # --init: continue from trained weights (e.g. models/rap-small/vae) on a machine without checkpoints
    audio_guided = None
    if args.audio_guided:
        audio_guided = dict(preset.audio_guided_vae or {}, audio_dim=preset.audio_feature_dim)
        if args.audio_levels is not None:
            audio_guided["audio_levels"] = args.audio_levels
    vae = initial_vae(args.init, preset, args.reference_guided, audio_guided)
    # --data: the synthetic shards, framed on the fly; or a folder from `python -m rap.training.framed_clips`
    framed = Path(args.data, "clip-00000.npz").is_file()
    if framed and not args.held_out:
        parser.error("--held-out (synthetic shards) is needed when --data holds framed clips")
    dataset = FramedClips(args.data, shuffle=True) if framed else SynthClipDataset(args.data, shuffle=True, with_meta=False)
    loop = LoopConfig(args.out, steps=args.steps, lr=args.lr, save_every=args.save_every, max_minutes=args.max_minutes)
    model = vae
    if args.decoder_only:
        vae.encoder.requires_grad_(False)  # out of the optimiser, and no graph through it
    probe = LatentControlProbe(vae.config.latent_channels, vae.temporal_compression_ratio) if config.control_weight > 0 else None
    discriminator = MouthDiscriminator(vae.config.audio_dim) if config.gan_weight > 0 else None
    lip_reader = load_lip_reader(args.lip_reader) if config.lip_reading_weight > 0 else None
    if probe is not None or discriminator is not None or lip_reader is not None:
        model = VAETrainingParts(vae, probe, discriminator, lip_reader)
    run_training(model, vae_loss(config), random_crops(dataset, config, preset.resolution, crops_per_clip=16), loop)
    vae.eval()
    if not args.decoder_only:
        # statistics of whole frames, as the DiT will see them (crops would over-weight the borders)
        whole_frames = replace(config, crop=preset.resolution, batch_size=2)
        mean, std = measure_latent_statistics(vae, random_crops(dataset, whole_frames, preset.resolution, seed=1, crops_per_clip=1))
        vae.latents_mean.copy_(mean)
        vae.latents_std.copy_(std)
    vae.save_pretrained(Path(args.out) / "vae")
    print(f"saved {Path(args.out) / 'vae'}; latent std range {vae.latents_std.min():.3f}..{vae.latents_std.max():.3f}")
    held_out = SynthClipDataset(args.held_out, with_meta=False) if args.held_out else dataset
    # an audio-guided decoder hears the held-out clips' sound in the report
    audio_windows = preset_audio_windows(args.audio_encoder, args.preset) if args.audio_guided else None
    print("reconstruction", reconstruction_report(vae, held_out, preset.resolution, out=Path(args.out), audio_windows=audio_windows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
