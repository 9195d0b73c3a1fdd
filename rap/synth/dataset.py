"""Sharded data set of synthetic talking clips, written to .tar shards and streamed back.

Shard layout (one tar per `shard_size` clips, members grouped by clip key, WebDataset-style):
    {key}.mp4           frames, H.264 crf 18 (+ AAC audio for viewing): ~10x smaller than
                        JPEG-per-frame, and decoding with PyAV is fast enough for a DataLoader
    {key}.wav           the exact audio, float32 16 kHz mono (lossless, unlike the AAC track)
    {key}.npz           per-frame labels: mouth (T,4) jaw/width/round/closure, opening (T,),
                        blink (T,), pose (T,5), mouth_boxes (T,4), face_mask (T,32,32) uint8
    {key}.phonemes.txt  `start end phoneme` table (IPA, seconds)
    {key}.json          identity parameters, voice, text, seeds
Clip i of a data set with seed S is generated from seed (S, i) alone, so shards can be written
by several processes in any order and the parameters and audio are the same bytes every time.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

SHARD_PATTERN = "shard-{:05d}.tar"


@dataclass
class DatasetConfig:
    out: str
    clips: int = 100
    seed: int = 0
    size: int = 256
    frames: int = 121
    shard_size: int = 50
    workers: int = 1
    pause_fraction: float = 0.0  # share of clips with a silent pause over room noise (`make_clip(pause=True)`)


def clip_seed(dataset_seed: int, index: int) -> int:
    return int(np.random.SeedSequence([int(dataset_seed), int(index)]).generate_state(1, np.uint64)[0] >> 2)


def has_pause(seed: int, fraction: float) -> bool:
    """Whether clip `seed` gets a pause: a draw of its own, so the fraction changes no other clip."""
    return fraction > 0 and float(np.random.default_rng([int(seed), 0xBA5E]).random()) < fraction


def _member(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    info.mtime = 0
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(payload))


def clip_members(clip, key: str, seed: int) -> dict[str, bytes]:
    """All files of one clip, as bytes."""
    from scipy.io import wavfile

    from rap.media import VideoWriter
    from rap.synth.phonemes import write_table

    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.mp4"
        with VideoWriter(path, fps=clip.fps, sample_rate=16000) as writer:
            writer.write_frames(clip.frames)
            writer.write_audio(clip.audio)
        video = path.read_bytes()
    wav = io.BytesIO()
    # scipy writes a plain IEEE-float WAV; libsndfile would add a PEAK chunk holding a timestamp
    wavfile.write(wav, 16000, np.asarray(clip.audio, np.float32))
    labels = io.BytesIO()
    m = clip.motion
    np.savez_compressed(
        labels, mouth=m.mouth, opening=m.opening, blink=m.blink.astype(np.float32), pose=m.pose,
        mouth_boxes=clip.mouth_boxes, face_mask=(np.clip(clip.face_mask, 0, 1) * 255 + 0.5).astype(np.uint8),
    )
    meta = {
        "key": key, "seed": seed, "fps": clip.fps, "frames": int(len(clip.frames)), "size": int(clip.frames.shape[1]),
        "text": clip.text, "pause": bool(clip.meta.get("pause", False)), "voice": asdict(clip.voice), "identity": json.loads(clip.identity.to_json()),
        "mouth_keys": ["jaw", "width", "round", "closure"], "pose_keys": ["yaw", "pitch", "roll", "shift_x", "shift_y"],
    }
    return {
        f"{key}.mp4": video,
        f"{key}.wav": wav.getvalue(),
        f"{key}.npz": labels.getvalue(),
        f"{key}.phonemes.txt": write_table(clip.phonemes).encode(),
        f"{key}.json": json.dumps(meta, indent=1).encode(),
    }


def write_shard(config: DatasetConfig, shard: int, progress=None) -> int:
    from rap.synth.clip import make_clip

    first = shard * config.shard_size
    last = min(first + config.shard_size, config.clips)
    path = Path(config.out) / SHARD_PATTERN.format(shard)
    partial = path.with_suffix(".tar.partial")
    with tarfile.open(partial, "w", format=tarfile.USTAR_FORMAT) as tar:
        for index in range(first, last):
            seed = clip_seed(config.seed, index)
            clip = make_clip(seed, size=config.size, frames=config.frames, pause=has_pause(seed, config.pause_fraction))
            for name, payload in clip_members(clip, f"clip-{index:07d}", seed).items():
                _member(tar, name, payload)
            if progress is not None:
                progress(1)
    partial.rename(path)
    return last - first


def _write_shard_job(args):
    return write_shard(*args)


def write_dataset(config: DatasetConfig) -> dict:
    """Write every shard (skipping complete ones, so an interrupted run can resume)."""
    from tqdm import tqdm

    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    shards = (config.clips + config.shard_size - 1) // config.shard_size
    (out / "dataset.json").write_text(json.dumps(asdict(config) | {"shards": shards}, indent=1))
    todo = [s for s in range(shards) if not (out / SHARD_PATTERN.format(s)).is_file()]
    start = time.time()
    written = 0
    with tqdm(total=sum(min(config.shard_size, config.clips - s * config.shard_size) for s in todo), unit="clip") as bar:
        if config.workers <= 1:
            for shard in todo:
                written += write_shard(config, shard, bar.update)
        else:
            import multiprocessing as mp

            with mp.get_context("fork").Pool(config.workers) as pool:
                for count in pool.imap_unordered(_write_shard_job, [(config, s) for s in todo]):
                    written += count
                    bar.update(count)
    seconds = time.time() - start
    return {"clips": written, "seconds": round(seconds, 2), "clips_per_second": round(written / max(seconds, 1e-9), 3)}


# ---------------------------------------------------------------------------- reading
def decode_mp4(payload: bytes) -> np.ndarray:
    import av

    with av.open(io.BytesIO(payload)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(container.streams.video[0])])


def decode_clip(members: dict[str, bytes], with_frames: bool = True) -> dict:
    """Raw member bytes of one clip -> numpy arrays and metadata (frames skipped when not needed)."""
    import soundfile as sf

    from rap.synth.phonemes import read_table

    key = next(name for name in members if name.endswith(".json"))[: -len(".json")]
    labels = np.load(io.BytesIO(members[f"{key}.npz"]))
    audio, _ = sf.read(io.BytesIO(members[f"{key}.wav"]), dtype="float32")
    meta = json.loads(members[f"{key}.json"])
    return {
        "key": key,
        "frames": decode_mp4(members[f"{key}.mp4"]) if with_frames else None,
        "audio": audio,
        "mouth": labels["mouth"],
        "opening": labels["opening"],
        "blink": labels["blink"],
        "pose": labels["pose"],
        "mouth_boxes": labels["mouth_boxes"],
        "face_mask": labels["face_mask"].astype(np.float32) / 255.0,
        "phonemes": read_table(members[f"{key}.phonemes.txt"].decode()),
        "meta": meta,
    }


def iterate_shard(path: Path):
    """Clips of one shard in order, each as a dict of member bytes."""
    group, current = {}, None
    with tarfile.open(path, "r") as tar:
        for info in tar:
            if not info.isfile():
                continue
            key = info.name.split(".", 1)[0]
            if current is not None and key != current:
                yield group
                group = {}
            current = key
            group[info.name] = tar.extractfile(info).read()
    if group:
        yield group


try:
    import torch
    from torch.utils.data import IterableDataset, get_worker_info
except ImportError:  # pragma: no cover - torch is a dependency of the project
    IterableDataset = object


class SynthClipDataset(IterableDataset):
    """Streams clips from the shards of a directory; DataLoader workers split the shards.

    Yields dicts of tensors: frames uint8 (T,H,W,3) (float in [-1, 1] with `float_frames`),
    audio float32 (S,), mouth (T,4), opening (T,), blink (T,), pose (T,5), mouth_boxes (T,4),
    face_mask (T,32,32) float; plus `key`, `text` and `phonemes` (a PhonemeTable) when
    `with_meta` (the default collate cannot batch those: pass `with_meta=False` for batching).
    """

    def __init__(self, root: str | Path, shuffle: bool = False, seed: int = 0, float_frames: bool = False, with_meta: bool = True, with_frames: bool = True):
        self.root = Path(root)
        self.shards = sorted(self.root.glob("shard-*.tar"))
        if not self.shards:
            raise FileNotFoundError(f"no shard-*.tar in {self.root}")
        self.shuffle, self.seed, self.float_frames, self.with_meta = shuffle, seed, float_frames, with_meta
        self.with_frames = with_frames  # audio-only training skips decoding the video
        self.epoch = 0

    def __iter__(self):
        shards = list(self.shards)
        if self.shuffle:
            np.random.default_rng([self.seed, self.epoch]).shuffle(shards)
            self.epoch += 1
        worker = get_worker_info()
        if worker is not None:
            shards = shards[worker.id :: worker.num_workers]
        for shard in shards:
            for members in iterate_shard(shard):
                yield self._to_tensors(decode_clip(members, self.with_frames))

    def _to_tensors(self, clip: dict) -> dict:
        item = {}
        if clip["frames"] is not None:
            frames = torch.from_numpy(clip["frames"])
            item["frames"] = frames.float() / 127.5 - 1.0 if self.float_frames else frames
        for name in ("audio", "mouth", "opening", "blink", "pose", "mouth_boxes", "face_mask"):
            item[name] = torch.from_numpy(np.ascontiguousarray(clip[name]))
        if self.with_meta:
            item.update(key=clip["key"], text=clip["meta"]["text"], phonemes=clip["phonemes"])
        return item
