"""Training of the meter's two networks on rendered frames and synthetic speech (CPU, minutes).

`python -m rap.eval train-reader` and `python -m rap.eval train-audio` regenerate the shipped
weights in rap/eval/weights/. Data are generated on the fly from seeds, so nothing is downloaded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from rap.eval.audio_opening import WEIGHTS as AUDIO_WEIGHTS
from rap.eval.audio_opening import AudioOpeningNet, audio_features
from rap.eval.mouth_reader import INPUT_SIZE, WEIGHTS as READER_WEIGHTS
from rap.eval.mouth_reader import MouthReader
from rap.synth.clip import fit_to_frames
from rap.synth.identity import Identity
from rap.synth.motion import FaceControls, mouth_opening, opening_from_phonemes
from rap.synth.portrait import PortraitRenderer
from rap.synth.sentences import random_sentence
from rap.synth.speech import Voice, synthesize


def random_controls(rng: np.random.Generator) -> FaceControls:
    """Mouth shapes spread over the whole range; a third of them at rest or closed, like speech."""
    jaw = float(rng.uniform(0, 1)) if rng.random() < 0.7 else float(rng.uniform(0, 0.1))
    closure = float(rng.uniform(0, 0.3)) if rng.random() < 0.6 else float(rng.uniform(0.3, 1))
    return FaceControls(
        jaw=jaw, width=float(rng.uniform(0, 1)), round=float(rng.uniform(0, 1)), closure=closure,
        blink=float(rng.uniform(0, 1)) if rng.random() < 0.2 else 0.0,
        yaw=float(rng.normal(0, 4)), pitch=float(rng.normal(0, 4)), roll=float(rng.normal(0, 4)),
        shift_x=float(rng.normal(0, 0.03)), shift_y=float(rng.normal(0, 0.02)),
    )


def degrade(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blur, compression and noise, so the reader also works on generated (imperfect) frames."""
    if rng.random() < 0.35:
        image = cv2.GaussianBlur(image, (0, 0), float(rng.uniform(0.4, 1.6)))
    if rng.random() < 0.3:
        quality = int(rng.integers(25, 85))
        image = cv2.imdecode(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_UNCHANGED)
    return image


def zoom(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A centred square crop of 55-100 % of the side, resized back: portraits reach the reader both
    as rendered (head and shoulders) and framed like the model's inputs (face box x 2)."""
    if rng.random() < 0.4:
        return image
    size = image.shape[0]
    side = int(size * rng.uniform(0.55, 1.0))
    cx = size / 2 + rng.normal(0, 0.03) * size
    cy = size * rng.uniform(0.42, 0.5)
    x0 = int(np.clip(cx - side / 2, 0, size - side))
    y0 = int(np.clip(cy - side / 2, 0, size - side))
    return cv2.resize(image[y0 : y0 + side, x0 : x0 + side], (size, size), interpolation=cv2.INTER_AREA)


def reader_dataset(identities: int, per_identity: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rendered frames at INPUT_SIZE (uint8 N,S,S,3) and labels (N, 4): opening, width, round, closure."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for _ in tqdm(range(identities), desc="rendering reader data", leave=False):
        size = int(rng.choice([128, 160, 192, 256]))
        renderer = PortraitRenderer(Identity.sample(int(rng.integers(2**62))), size)
        for _ in range(per_identity):
            c = random_controls(rng)
            image = degrade(zoom(renderer.render(c).image, rng), rng)
            images.append(cv2.resize(image, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA))
            labels.append([mouth_opening(c.jaw, c.closure), c.width, c.round, c.closure])
    return np.stack(images), np.asarray(labels, np.float32)


@dataclass
class ReaderTraining:
    identities: int = 500
    per_identity: int = 40
    epochs: int = 5
    batch: int = 64
    lr: float = 2e-3
    seed: int = 0
    threads: int = 1


def _save_fp16(model: torch.nn.Module, path: Path) -> None:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to(torch.float16 if v.is_floating_point() else v.dtype).contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path))


def train_reader(config: ReaderTraining = ReaderTraining(), out: Path = READER_WEIGHTS, cache: Path | None = None) -> dict:
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    if cache is not None and cache.is_file():
        data = np.load(cache)
        images, labels = data["images"], data["labels"]
    else:
        images, labels = reader_dataset(config.identities, config.per_identity, config.seed)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            np.savez(cache, images=images, labels=labels)
    val_images, val_labels = reader_dataset(40, 10, config.seed + 1)
    model = MouthReader()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=1e-4)
    steps = config.epochs * (len(images) // config.batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.lr, total_steps=steps, pct_start=0.15)
    weights = torch.tensor([3.0, 1.0, 1.0, 1.0])  # the opening matters most
    rng = np.random.default_rng(config.seed)
    start = time.time()
    for epoch in range(config.epochs):
        model.train()
        order = rng.permutation(len(images))
        bar = tqdm(range(len(images) // config.batch), desc=f"reader epoch {epoch + 1}/{config.epochs}", leave=False)
        for step in bar:
            idx = order[step * config.batch : (step + 1) * config.batch]
            x = torch.from_numpy(images[idx]).permute(0, 3, 1, 2).float() / 255.0
            x = x * torch.empty(len(idx), 1, 1, 1).uniform_(0.8, 1.2) + torch.empty(len(idx), 3, 1, 1).uniform_(-0.06, 0.06)
            x = (x + 0.02 * torch.randn_like(x) * (torch.rand(len(idx), 1, 1, 1) < 0.3)).clamp(0, 1)
            flip = torch.rand(len(idx)) < 0.5
            x[flip] = x[flip].flip(-1)
            y = torch.from_numpy(labels[idx])
            loss = (((model(x) - y) ** 2) * weights).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            bar.set_postfix(loss=f"{loss.item():.4f}")
    model.eval()
    with torch.no_grad():
        pred = model(torch.from_numpy(val_images).permute(0, 3, 1, 2).float() / 255.0).numpy()
    errors = np.abs(pred - val_labels).mean(0)
    corr = float(np.corrcoef(pred[:, 0], val_labels[:, 0])[0, 1])
    _save_fp16(model, out)
    return {"mae_opening_width_round_closure": errors.round(4).tolist(), "opening_corr": round(corr, 4),
            "seconds": round(time.time() - start, 1), "train_frames": len(images), "weights": str(out)}


def audio_dataset(utterances: int, seed: int, frames: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Features (N, mels, 4 * frames) of synthetic speech and their neutral opening curves (N, frames)."""
    rng = np.random.default_rng(seed)
    features, targets = [], []
    for _ in tqdm(range(utterances), desc="synthesizing audio data", leave=False):
        text = " ".join(random_sentence(rng) for _ in range(int(rng.integers(1, 3))))
        utterance = synthesize(text, Voice.sample(rng), seed=int(rng.integers(2**31)), pristine=False)
        audio, table = fit_to_frames(utterance.audio, utterance.phonemes, frames, float(rng.uniform(0, 0.8)))
        audio = audio * float(10 ** rng.uniform(-1.2, 0.2))
        audio = audio + rng.normal(0, 10 ** rng.uniform(-4.5, -2.2), audio.shape).astype(np.float32)
        features.append(audio_features(audio, frames))
        targets.append(opening_from_phonemes(table, frames))
    return np.stack(features), np.stack(targets).astype(np.float32)


@dataclass
class AudioTraining:
    utterances: int = 1200
    epochs: int = 25
    batch: int = 32
    lr: float = 3e-3
    seed: int = 0
    threads: int = 1


def train_audio(config: AudioTraining = AudioTraining(), out: Path = AUDIO_WEIGHTS) -> dict:
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    features, targets = audio_dataset(config.utterances, config.seed)
    val_features, val_targets = audio_dataset(100, config.seed + 1)
    model = AudioOpeningNet()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=1e-4)
    steps = config.epochs * (len(features) // config.batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.lr, total_steps=steps, pct_start=0.15)
    rng = np.random.default_rng(config.seed)
    start = time.time()
    for epoch in tqdm(range(config.epochs), desc="audio epochs", leave=False):
        model.train()
        order = rng.permutation(len(features))
        for step in range(len(features) // config.batch):
            idx = order[step * config.batch : (step + 1) * config.batch]
            loss = ((model(torch.from_numpy(features[idx])) - torch.from_numpy(targets[idx])) ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    model.eval()
    with torch.no_grad():
        pred = model(torch.from_numpy(val_features)).numpy()
    corr = float(np.mean([np.corrcoef(p, t)[0, 1] for p, t in zip(pred, val_targets) if t.std() > 0]))
    _save_fp16(model, out)
    return {"val_mse": round(float(((pred - val_targets) ** 2).mean()), 5), "val_mean_corr": round(corr, 4),
            "seconds": round(time.time() - start, 1), "utterances": len(features), "weights": str(out)}
