"""Data set shards: written deterministically, streamed back through a DataLoader."""

import io
import tarfile

import numpy as np
import torch

from rap.synth.dataset import DatasetConfig, SynthClipDataset, write_dataset


def _members(path):
    with tarfile.open(path) as tar:
        return {info.name: tar.extractfile(info).read() for info in tar if info.isfile()}


def test_write_and_stream_shards(tmp_path):
    config = DatasetConfig(str(tmp_path / "a"), clips=3, seed=5, size=64, frames=30, shard_size=2)
    report = write_dataset(config)
    assert report["clips"] == 3
    shards = sorted((tmp_path / "a").glob("shard-*.tar"))
    assert len(shards) == 2

    loader = torch.utils.data.DataLoader(SynthClipDataset(tmp_path / "a", with_meta=False), batch_size=None, num_workers=0)
    items = list(loader)
    assert len(items) == 3
    item = items[0]
    assert item["frames"].shape == (30, 64, 64, 3) and item["frames"].dtype == torch.uint8
    assert item["audio"].shape == (30 * 640,) and item["audio"].dtype == torch.float32
    assert item["mouth"].shape == (30, 4) and item["face_mask"].shape == (30, 32, 32)
    assert item["mouth_boxes"].shape == (30, 4) and item["pose"].shape == (30, 5)
    assert float(item["audio"].abs().max()) > 0.05
    assert 0 < float(item["face_mask"].mean()) < 0.6
    # the two shards' clips are different people saying different things
    assert not torch.equal(items[0]["audio"], items[2]["audio"])
    assert not torch.equal(items[0]["frames"][0], items[2]["frames"][0])

    meta = next(iter(SynthClipDataset(tmp_path / "a")))
    assert meta["text"] and len(meta["phonemes"]) > 5

    # same seed -> same labels, audio and parameters, byte for byte
    write_dataset(DatasetConfig(str(tmp_path / "b"), clips=3, seed=5, size=64, frames=30, shard_size=2))
    first, second = _members(shards[0]), _members(tmp_path / "b" / shards[0].name)
    assert first.keys() == second.keys()
    for name in first:
        if not name.endswith(".mp4"):
            assert first[name] == second[name], name
    labels = np.load(io.BytesIO(first["clip-0000000.npz"]))
    assert labels["mouth"].shape == (30, 4)
