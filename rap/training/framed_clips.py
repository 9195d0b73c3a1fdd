"""Synthetic clips framed once and kept on disk as arrays, so VAE training reads crops, not video.

`python -m rap.training.framed_clips --data data/synth --out data/framed256 --resolution 256`

Why: decoding a clip's video and framing its frames took 0.65 s per batch of 16 crops on the
2-core CPU, more than the VAE's training step itself. Framed once (the same rule as inference,
`rap.training.framing`), a clip is a memory-mapped uint8 array (121 x 256 x 256 x 3 = 24 MB) and a
batch costs only the copy of its crops. The labels travel along: face mask, mouth boxes (as
fractions of the framed picture), and the mouth and eyelid controls. With `--audio-encoder`, the
clip's audio features per video frame travel too (`audio_features`, (T, N, C) fp16, the pipeline's
`AudioFeatureWindows` over the whole clip), for an audio-guided decoder
(`rap.models.autoencoder_audio`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

LABELS = ("face_mask", "mouth_boxes", "mouth", "blink")
OPTIONAL_LABELS = ("audio_features",)


def preset_audio_windows(audio_encoder: str, preset_name: str = "rap-small"):
    """`AudioFeatureWindows` over a trained Wav2Vec2 folder, laid out as the preset's pipeline does."""
    from transformers import Wav2Vec2Model

    from rap.pipelines.audio_features import AudioFeatureWindows
    from rap.presets import get_preset

    preset = get_preset(preset_name)
    encoder = Wav2Vec2Model.from_pretrained(audio_encoder).eval()
    return AudioFeatureWindows(encoder, preset.audio_layers, preset.fps, preset.frames_per_latent)


def clip_audio_features(audio_windows, waveform: np.ndarray, frames: int) -> torch.Tensor:
    """(frames, N, C) features of a whole clip's video frames, as the pipeline computes them."""
    audio_windows.set_utterance(waveform)
    return audio_windows.encode(waveform, 0, frames)[0]


def write_framed_clips(
    dataset, out: Path, resolution: int, limit: int | None = None, first_index: int = 0, audio_windows=None
) -> int:
    """audio_windows: an `AudioFeatureWindows` to store each clip's audio features with it (None: no sound)."""
    from tqdm.auto import tqdm

    from rap.training.framing import frame_clip

    out.mkdir(parents=True, exist_ok=True)
    written = 0
    for clip in tqdm(dataset, desc="framing", unit="clip", total=limit):
        name = out / f"clip-{first_index + written:05d}"
        done = name.with_suffix(".npz").exists()  # resumable: finished clips are kept
        if done and audio_windows is not None:  # ... unless their sound is asked for and missing
            done = "audio_features" in np.load(name.with_suffix(".npz")).files
        if not done:
            framed = frame_clip({k: clip[k] for k in ("frames", "face_mask", "mouth_boxes")}, resolution)
            np.save(name.with_suffix(".npy"), framed["frames"].numpy())
            labels = {"face_mask": framed["face_mask"].half(), "mouth_boxes": framed["mouth_boxes"]}
            labels |= {"mouth": clip["mouth"].float(), "blink": clip["blink"].float()}
            if audio_windows is not None:
                labels["audio_features"] = clip_audio_features(audio_windows, clip["audio"].numpy(), len(clip["frames"])).half()
            np.savez(name.with_suffix(".npz"), **{k: v.numpy() for k, v in labels.items()})
        written += 1
        if limit and written >= limit:
            break
    return written


class FramedClips:
    """Iterates framed clips (shuffled per epoch when asked) as dicts with `framed=True`: labels as
    tensors, frames as a memory-mapped array that only the crops read."""

    def __init__(self, root: str | Path, shuffle: bool = False, seed: int = 0):
        self.files = sorted(Path(root).glob("clip-*.npz"))
        if not self.files:
            raise FileNotFoundError(f"no clip-*.npz in {root} (write them with python -m rap.training.framed_clips)")
        self.shuffle, self.seed, self.epoch = shuffle, seed, 0

    def __len__(self) -> int:
        return len(self.files)

    def __iter__(self):
        order = np.arange(len(self.files))
        if self.shuffle:
            np.random.default_rng([self.seed, self.epoch]).shuffle(order)
            self.epoch += 1
        for index in order:
            labels = np.load(self.files[index])
            item = {k: torch.from_numpy(labels[k]).float() for k in LABELS + OPTIONAL_LABELS if k in labels.files}
            item["frames"] = np.load(self.files[index].with_suffix(".npy"), mmap_mode="r")  # (T, R, R, 3) uint8
            item["framed"] = True
            yield item


def main(argv=None) -> int:
    from rap.synth.dataset import SynthClipDataset

    parser = argparse.ArgumentParser(prog="python -m rap.training.framed_clips", description=__doc__)
    parser.add_argument("--data", required=True, nargs="+", help="one or more data sets, framed one after another")
    parser.add_argument("--out", required=True)
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--audio-encoder", default=None, help="a Wav2Vec2 folder: store each clip's audio features too")
    parser.add_argument("--preset", default="rap-small", help="its audio layers and frame rate lay the features out")
    args = parser.parse_args(argv)
    audio_windows = preset_audio_windows(args.audio_encoder, args.preset) if args.audio_encoder else None
    count = 0
    for root in args.data:  # --limit applies to each data set
        dataset = SynthClipDataset(root, with_meta=False)
        count += write_framed_clips(dataset, Path(args.out), args.resolution, args.limit, count, audio_windows)
    print(f"framed {count} clips into {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
