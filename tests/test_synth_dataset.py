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


def test_pause_clips_rest_the_mouth_over_room_noise():
    from rap.synth.clip import make_clip
    from rap.synth.dataset import has_pause

    clip = make_clip(3, size=64, frames=121, pause=True)
    assert clip.meta["pause"] and clip.audio.shape == (121 * 640,)
    # frames no phoneme touches: the lead-in and the pause, at least 0.6 s of it in one run
    talking = np.zeros(121, bool)
    for start, end, _ in clip.phonemes.rows:
        talking[int(start * 25) : int(np.ceil(end * 25))] = True
    runs, run = [], 0
    for t in talking[1:]:
        run = 0 if t else run + 1
        runs.append(run)
    assert max(runs) >= 15
    quiet = ~talking
    quiet[:-1] &= ~talking[1:]  # a frame before speech may already open for it (coarticulation)
    quiet[1:] &= ~talking[:-1]
    assert float(clip.motion.opening[quiet].max()) < 0.05 < float(clip.motion.opening[talking].max())
    rms = clip.audio.reshape(121, 640).std(axis=1)
    assert 1e-5 < float(np.median(rms[quiet])) < 5e-3 < float(np.median(rms[talking]))

    # the pause draw is the clip's own: a fraction of 0 gives none, 1 gives all, 0.3 about 30 %
    assert not any(has_pause(s, 0.0) for s in range(50)) and all(has_pause(s, 1.0) for s in range(50))
    assert 0.2 < np.mean([has_pause(s, 0.3) for s in range(400)]) < 0.4
