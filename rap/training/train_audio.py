"""Train the small preset's audio encoder (a transformers `Wav2Vec2Model`, small config) from scratch.

`python -m rap.training.train_audio --data data/synth --out runs/audio`

The paper uses a pretrained Wav2Vec2, which cannot be fetched here. Its useful property for RAP is
that its hidden states carry phonetic content at 50 Hz. The synthetic world knows the phonemes of
every sample, so the small encoder learns that property directly, with two frame-level heads on its
last hidden state: the viseme class of each 20 ms frame (cross-entropy; visemes are the phoneme
classes that look different on the lips) and the four mouth parameters the renderer used
(regression). Only the encoder is kept; the heads are discarded. Inputs are normalised by their
utterance's mean and variance, as `AudioFeatureWindows` does at inference.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from rap.pipelines.audio_features import MIN_SPEECH_STD
from rap.training.loop import LoopConfig, run_training

ENCODER_HZ = 50  # Wav2Vec2's frame rate at 16 kHz (stride 320)


def viseme_names() -> list[str]:
    from rap.synth.phonemes import VISEMES

    return list(VISEMES)


def viseme_labels(table, frames: int, hz: int = ENCODER_HZ) -> np.ndarray:
    """The viseme class index at the centre of each encoder frame (0 = silence)."""
    names = viseme_names()
    labels = np.zeros(frames, dtype=np.int64)
    centres = (np.arange(frames) + 0.5) / hz
    for start, end, viseme in table.visemes():
        labels[(centres >= start) & (centres < end)] = names.index(viseme.name)
    return labels


class AudioEncoderWithHeads(nn.Module):
    def __init__(self, encoder, num_visemes: int, num_mouth: int = 4):
        super().__init__()
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        self.viseme_head = nn.Linear(hidden, num_visemes)
        self.mouth_head = nn.Linear(hidden, num_mouth)

    def forward(self, waveform):
        hidden = self.encoder(waveform).last_hidden_state
        return self.viseme_head(hidden), self.mouth_head(hidden)


def segments(dataset, batch_size: int, seconds: float, seed: int = 0):
    """Endless batches of normalised audio crops with per-encoder-frame viseme and mouth targets."""
    rng = np.random.default_rng(seed)
    samples = int(seconds * 16000)
    waves, visemes, mouths = [], [], []
    while True:
        for clip in dataset:
            audio = clip["audio"].numpy()
            audio = (audio - audio.mean()) / max(float(np.sqrt(audio.var() + 1e-7)), MIN_SPEECH_STD)
            total_frames = len(audio) // 320
            labels = viseme_labels(clip["phonemes"], total_frames)
            mouth = np.repeat(clip["mouth"].numpy(), 2, axis=0)[:total_frames]  # 25 fps -> 50 Hz
            start = int(rng.integers(0, max(1, len(audio) - samples)))
            start -= start % 320
            frame0, count = start // 320, samples // 320
            waves.append(torch.from_numpy(audio[start : start + samples].astype(np.float32)))
            visemes.append(torch.from_numpy(labels[frame0 : frame0 + count]))
            mouths.append(torch.from_numpy(mouth[frame0 : frame0 + count].astype(np.float32)))
            if len(waves) == batch_size:
                yield {"audio": torch.stack(waves), "visemes": torch.stack(visemes), "mouth": torch.stack(mouths)}
                waves, visemes, mouths = [], [], []


def audio_loss(model, batch, step: int = 0):
    viseme_logits, mouth = model(batch["audio"])
    frames = min(viseme_logits.shape[1], batch["visemes"].shape[1])
    ce = F.cross_entropy(viseme_logits[:, :frames].transpose(1, 2), batch["visemes"][:, :frames])
    mse = F.mse_loss(mouth[:, :frames], batch["mouth"][:, :frames])
    accuracy = (viseme_logits[:, :frames].argmax(-1) == batch["visemes"][:, :frames]).float().mean()
    return ce + 4.0 * mse, {"viseme_ce": ce.detach(), "mouth_mse": mse.detach(), "viseme_acc": accuracy}


def main(argv=None) -> int:
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    from rap.presets import get_preset
    from rap.synth.dataset import SynthClipDataset

    parser = argparse.ArgumentParser(prog="python -m rap.training.train_audio", description=__doc__)
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", default="runs/audio")
    parser.add_argument("--preset", default="rap-small")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--max-minutes", type=float, default=None)
    args = parser.parse_args(argv)

    encoder = Wav2Vec2Model(Wav2Vec2Config(**get_preset(args.preset).audio_encoder))
    model = AudioEncoderWithHeads(encoder, len(viseme_names()))
    dataset = SynthClipDataset(args.data, shuffle=True, with_meta=True, with_frames=False)
    loop = LoopConfig(args.out, steps=args.steps, lr=args.lr, save_every=250, max_minutes=args.max_minutes)
    model, _ = run_training(model, audio_loss, segments(dataset, args.batch_size, args.seconds), loop)
    model.encoder.save_pretrained(Path(args.out) / "audio_encoder")
    print(f"saved {Path(args.out) / 'audio_encoder'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
