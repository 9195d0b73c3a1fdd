"""The quality report runs end to end on a tiny pipeline and held-out shards, and its controls
are what they claim: the mismatched score pairs a video with another clip's phonemes."""

import json

import numpy as np
import pytest


@pytest.fixture(scope="module")
def held_out(tmp_path_factory):
    from rap.synth.dataset import DatasetConfig, write_dataset

    root = tmp_path_factory.mktemp("held_out")
    write_dataset(DatasetConfig(str(root), clips=2, seed=4242, size=128, frames=41, shard_size=2))
    return root


def test_quality_report(pipe, held_out, tmp_path, monkeypatch):
    from rap.eval import quality
    from rap.eval.sync import sync_score

    scored = []

    def spy(video, **kwargs):
        scored.append(kwargs["phonemes"])
        return sync_score(video, **kwargs)

    monkeypatch.setattr("rap.eval.sync.sync_score", spy)
    config = quality.QualityConfig(clips=2, drift_minutes=0.05, silence_seconds=1.0)
    report = quality.evaluate(pipe, held_out, config, out=tmp_path, num_inference_steps=1)

    summary = report["lip_sync"]["summary"]
    for key in ("generated", "ground_truth", "mismatched", "reconstructed"):
        assert -1.0 <= summary[key] <= 1.0
    # per clip: generated and ground truth against its own table, the generated video against the
    # other clip's, then the VAE's reconstruction of the ground truth against its own again
    assert len(scored) == 8
    assert [id(t) for t in scored[:4]] == [id(scored[0]), id(scored[0]), id(scored[4]), id(scored[0])]
    assert scored[0] is not scored[2]
    assert summary["ground_truth"] > 0.5  # the meter reads real synthetic mouths (measured 0.9+)
    # FID/FVD stand-ins: an untrained generator is far from the truth, which moves
    assert 0.0 < summary["psnr_generated"] < 40.0 and 0.0 < summary["psnr_reconstructed"] < 100.0
    assert summary["frame_change_ground_truth"] > 0.0 and summary["frame_change_generated"] >= 0.0
    assert report["silence"]["seconds"] == 1.0 and 0.0 <= report["silence"]["mean_opening"] <= 1.5
    assert len(report["silence"]["identities"]) == 2  # every held-out clip's portrait, not only the first
    inheritance, baseline = report["drift"]
    assert (inheritance["long_video"], baseline["long_video"]) == ("inheritance", "motion_frames")
    assert inheritance["frames"] == baseline["frames"] == 75  # 3 s at 25 fps
    assert len(inheritance["per_minute_psnr"]) == 1
    saved = json.loads((tmp_path / "quality.json").read_text())
    assert saved["lip_sync"]["summary"] == summary
    assert (tmp_path / "generated_strip.png").is_file()


def test_vae_round_trip_keeps_length_and_reads_the_frames(pipe):
    """Any length comes back frame for frame (pieces of one clip, the last padded), and what comes
    back depends on the input: the round trip really encodes the frames."""
    from rap.eval.quality import vae_round_trip

    rng = np.random.default_rng(0)
    length = 1 + pipe.frames_per_latent * (pipe.config.latent_frames - 1) + 5  # a whole clip, then a piece that needs padding
    size = pipe.config.resolution
    dark, bright = np.full((length, size, size, 3), 30, np.uint8), rng.integers(150, 256, (length, size, size, 3), np.uint8)
    out_dark, out_bright = vae_round_trip(pipe, dark), vae_round_trip(pipe, bright)
    assert out_dark.shape == dark.shape and out_dark.dtype == np.uint8
    assert np.abs(out_dark.astype(int) - out_bright.astype(int)).mean() > 0.5


def test_frame_strip_layout():
    from rap.eval.quality import frame_strip

    videos = [np.full((20, 4, 6, 3), k, np.uint8) for k in (10, 20)]
    strip = frame_strip(videos, every=8, columns=4)
    assert strip.shape == (8, 24, 3)
    assert (strip[:4, :18] == 10).all() and (strip[:4, 18:] == 0).all() and (strip[4:, :18] == 20).all()


def test_quiet_frames_leave_a_margin_around_speech():
    from rap.eval.quality import quiet_frames
    from rap.synth.phonemes import PhonemeTable

    quiet = quiet_frames(PhonemeTable([(0.2, 0.4, "a"), (1.0, 1.1, "m")]), 50)
    expected = np.ones(50, bool)
    expected[4:11] = False  # frames 5-9 talk, 4 and 10 are their neighbours
    expected[24:29] = False  # frames 25-27 talk, 24 and 28 neighbours
    assert np.array_equal(quiet, expected)


def test_pause_report_reads_the_ground_truth_rest(pipe, tmp_path):
    from rap.eval.quality import pause_report
    from rap.synth.dataset import DatasetConfig, SynthClipDataset, write_dataset

    write_dataset(DatasetConfig(str(tmp_path), clips=1, seed=99, size=128, frames=81, shard_size=1, pause_fraction=1.0))
    clips = list(SynthClipDataset(tmp_path, with_meta=True))
    report = pause_report(pipe, clips, num_inference_steps=1)
    row, = report["clips"]
    assert row["quiet_frames"] >= 15  # the pause lasts at least 0.6 s
    # the meter sees the rendered mouth rest in the pause (0.007-0.03 against 0.22-0.33 talking on
    # the 8 held-out 256-px pause clips)
    assert report["summary"]["ground_truth_pause"] < 0.5 * report["summary"]["ground_truth_talking"]


def test_quality_cli_forwards_the_attention_scope(monkeypatch, tmp_path):
    """`--w 0 --delta 1` is the window-only ablation (Table 3): it must reach the pipeline's call."""
    import rap
    from rap.eval import __main__ as cli
    from rap.eval import quality

    seen = {}

    def fake_evaluate(pipe, data, config, out, pause_data=None, **kwargs):
        seen.update(kwargs)
        return {"lip_sync": {"summary": {}}, "silence": {}}

    monkeypatch.setattr(rap.RAPPipeline, "load", classmethod(lambda cls, source=None, **kw: object()))
    monkeypatch.setattr(quality, "evaluate", fake_evaluate)
    assert cli.main(["quality", "--data", str(tmp_path), "--w", "0", "--delta", "1", "--cfg", "2",
                     "--guidance", "tangential", "--guidance-stop", "0.5", "--out", str(tmp_path)]) == 0
    assert seen == {"hybrid_weight": 0.0, "hybrid_bias": 1.0, "guidance_scale": 2.0, "guidance": "tangential",
                    "guidance_stop": 0.5}
    seen.clear()
    assert cli.main(["quality", "--data", str(tmp_path), "--out", str(tmp_path)]) == 0
    assert seen == {}


def test_mismatched_control_averages_every_other_clip(monkeypatch):
    """The mismatched score is the mean over all other clips' phoneme tables (not one pairing), and
    the mouth is read once per video, not once per table."""
    import torch

    from rap.eval import quality
    from rap.eval.sync import SyncResult

    frames = np.zeros((9, 8, 8, 3), np.uint8)
    clips = [
        {"key": f"c{i}", "frames": torch.zeros(9, 8, 8, 3, dtype=torch.uint8), "audio": torch.zeros(16000),
         "phonemes": f"table{i}", "opening": torch.ones(9)}
        for i in range(3)
    ]
    tables = {"table0": 0.1, "table1": 0.4, "table2": 0.7}
    reads = []

    def fake_sync(video, phonemes=None, video_opening=None, **kwargs):
        if video_opening is None:
            reads.append(phonemes)
        return SyncResult(tables[phonemes], 0, video_opening=np.full(9, 0.2))

    monkeypatch.setattr(quality, "_generate", lambda *a, **k: frames)
    monkeypatch.setattr(quality, "vae_round_trip", lambda pipe, truth, waveform=None: truth)
    monkeypatch.setattr("rap.training.framing.frame_clip", lambda clip, size: {"frames": clip["frames"]})
    monkeypatch.setattr("rap.eval.sync.sync_score", fake_sync)
    pipe = type("Pipe", (), {"config": type("Config", (), {"resolution": 8})()})()
    report, _ = quality.lip_sync_report(pipe, clips)
    rows = report["clips"]
    assert [r["mismatched"] for r in rows] == pytest.approx([0.55, 0.4, 0.25])
    assert [r["mismatched_next_clip"] for r in rows] == pytest.approx([0.4, 0.7, 0.1])
    assert report["summary"]["mismatched"] == pytest.approx(0.4)
    assert report["summary"]["ground_truth_closed_opening"] is None  # no clip has its lips shut
    assert len(reads) == 3 * 3  # generated, ground truth, reconstructed: one mouth read each


def test_portraits_are_framed_as_the_training_clips_and_detector_misses_are_counted(held_out, monkeypatch):
    """The report frames each portrait with the training clips' box, so a detector miss costs the
    model nothing; `detector_frames_face` says whether `crop="auto"` alone would have found the face."""
    from rap.eval import quality
    from rap.media import image as media_image
    from rap.media.image import FaceBox
    from rap.synth.dataset import SynthClipDataset
    from rap.training import framing
    from rap.training.framing import frame_clip

    clip = next(iter(SynthClipDataset(held_out, with_meta=True)))
    mask = clip["face_mask"][0].float().numpy()
    x0, x1, y0, y1 = framing._mask_box(mask, (clip["frames"].shape[2], clip["frames"].shape[1]))
    on_face = FaceBox((x0 + x1) / 2 - 10, (y0 + y1) / 2 - 10, 20, 20)
    for detected, found in ((None, False), (FaceBox(0, 0, 4, 4), False), (on_face, True)):
        monkeypatch.setattr(media_image, "detect_face", lambda _, d=detected: d)
        monkeypatch.setattr(framing, "detect_face", lambda _, d=detected: d)
        assert quality.detector_frames_face(clip) is found
        # missed or not, the portrait is the training clip's first frame
        assert np.array_equal(quality.framed_portrait(clip, 64), frame_clip(clip, 64)["frames"][0].numpy())
