"""The decoder fine-tuned on the DiT's own latents (`rap.training.generated_latents`,
`rap.training.train_decoder_generated`)."""

import numpy as np
import pytest
import torch

from rap.models.autoencoder_audio import AudioGuidedAutoencoderKLLTXVideo
from rap.training.generated_latents import cache_clip, track_mouth
from rap.training.lip_reader import LipReader
from rap.training.mouth_discriminator import MOUTH_WINDOW
from rap.training.train_decoder_generated import (
    GeneratedDecoderConfig,
    GeneratedDecoderParts,
    crop_batches,
    generated_decoder_loss,
    mouth_window_boxes,
)
from tests.conftest import speech_like, tiny_audio_guided_pipeline, tiny_pipeline


def test_tracker_follows_a_moving_face_over_a_still_background():
    rng = np.random.default_rng(0)
    background = rng.integers(0, 256, (160, 200, 3), dtype=np.uint8)
    face = rng.integers(0, 256, (70, 120, 3), dtype=np.uint8)
    offsets = [(0, 0), (3, -2), (7, 1), (4, 6), (-5, 9), (-12, 4)]  # (dx, dy), at most 10 pixels a frame
    frames = []
    for dx, dy in offsets:
        frame = background.copy()
        frame[40 + dy : 110 + dy, 40 + dx : 160 + dx] = face
        frames.append(frame)
    start = (100.0, 75.0)  # the face's centre in frame 0
    tracked = track_mouth(np.stack(frames), start, patch=(48, 96), search=10)
    expected = np.array([(start[0] + dx, start[1] + dy) for dx, dy in offsets])
    np.testing.assert_allclose(tracked, expected, atol=0.5)


def test_cache_keeps_what_the_decoder_read_with_each_decoded_frame_s_moment():
    """Every latent clip the pipeline decoded is kept; decoding it again gives the pipeline's own
    frames; each decoded frame carries the labels of its moment, and frames past the speech none."""
    pipe = tiny_audio_guided_pipeline(resolution=128)
    frames_count = 40  # clips of 25 frames, overlap 1: two clips, the second one running past the end
    rng = np.random.default_rng(0)
    still = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    clip = {
        "frames": np.repeat(still[None], frames_count, 0),
        "mouth_boxes": np.tile(np.array([[0.3, 0.6, 0.7, 0.75]], np.float32), (frames_count, 1)),
        "audio": speech_like(frames_count / 25),
        "mouth": np.arange(frames_count * 4, dtype=np.float32).reshape(frames_count, 4),
    }
    entries = cache_clip(pipe, clip, seed=0, guidance_scale=5.0, overlap=1)
    video = pipe(clip["frames"][0], clip["audio"], crop="none", seed=0, guidance_scale=5.0, overlap=1).frames
    stride = 8 * (4 - 1)
    assert len(entries) == 2
    for index, entry in enumerate(entries):
        assert entry["latents"].shape == (8, 4, 4, 4) and entry["audio"].shape == (25, 2, 16)
        moments = index * stride + np.arange(25)
        inside = moments < frames_count
        np.testing.assert_array_equal(entry["labels"][inside], clip["mouth"][moments[inside]])
        assert np.isnan(entry["centres"][~inside]).all() and np.isfinite(entry["centres"][inside]).all()
        with torch.no_grad():
            decoded = pipe.vae.decode(
                torch.from_numpy(entry["latents"].astype(np.float32))[None],
                audio=torch.from_numpy(entry["audio"].astype(np.float32))[None],
            ).sample
        again = (pipe.video_processor.postprocess_video(decoded, output_type="np")[0] * 255).round().astype(np.uint8)
        kept = slice(0 if index == 0 else 8 * (1 - 1) + 1, int(inside.sum()))
        # fp16 storage of the latents: a pixel may round differently
        assert np.abs(again[kept].astype(int) - video[moments[kept]].astype(int)).max() <= 2
    # the track starts at the first frame's mouth box and moves at most `search` (5 at 128 pixels) a frame
    np.testing.assert_allclose(entries[0]["centres"][0], [64.0, 86.4], atol=1e-4)
    track = np.concatenate([entries[0]["centres"], entries[1]["centres"][1:16]])
    assert np.abs(np.diff(track, axis=0)).max() <= 5.5


def test_cache_needs_a_decoder_that_hears_the_sound():
    with pytest.raises(ValueError, match="audio-guided"):
        cache_clip(tiny_pipeline(), {"frames": np.zeros((3, 64, 64, 3), np.uint8)}, seed=0)


def _entry(centre=(150.0, 170.0), frames: int = 9) -> dict:
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([centre] * frames)
    centres[-1] = float("nan")  # a frame past the end of the speech
    centres[-2] = torch.tensor([centre[0] + 40, centre[1]])  # its window crosses the crop's edge
    return {
        "latents": torch.randn(8, 2, 8, 8, generator=g), "audio": torch.randn(frames, 2, 3, generator=g),
        "centres": centres, "labels": torch.rand(frames, 4, generator=g),
    }


def test_crops_hold_the_mouth_and_count_only_frames_whose_window_fits():
    entry = _entry()
    batch = next(crop_batches([entry], GeneratedDecoderConfig(cells=4, batch_size=1), scale=32))
    # mean mouth (150, 170) over the known frames -> cells from row 3 and column 3 (pixels 96..224)
    r0 = c0 = 3
    torch.testing.assert_close(batch["latents"][0], entry["latents"][:, :, r0 : r0 + 4, c0 : c0 + 4])
    assert batch["latents"].shape == (1, 8, 2, 4, 4) and batch["audio"].shape == (1, 9, 2, 3)
    torch.testing.assert_close(batch["centres"][0, 0], torch.tensor([150.0 - 96, 170.0 - 96]))
    assert batch["valid"][0].tolist() == [True] * 7 + [False, False]


def _tiny_vae() -> AudioGuidedAutoencoderKLLTXVideo:
    torch.manual_seed(0)
    vae = AudioGuidedAutoencoderKLLTXVideo(
        latent_channels=8, block_out_channels=(8, 8, 8, 8), decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1, 1), audio_dim=6,
    ).eval()
    for injection in vae.audio_injections:  # hearing, as after training
        torch.nn.init.normal_(injection.value[-1].weight, std=0.5)
    return vae


def test_loss_reads_the_mouth_and_ties_the_rest_to_the_starting_decoder():
    import copy

    vae = _tiny_vae()
    teacher = copy.deepcopy(vae)
    vae.encoder.requires_grad_(False)
    reader = LipReader()
    parts = GeneratedDecoderParts(vae, teacher, reader)
    names = [name for name, _ in parts.named_parameters()]
    assert names and all(name.startswith("vae.") for name in names)  # teacher and reader: frozen, never saved
    batch = next(crop_batches([_entry()], GeneratedDecoderConfig(cells=4, batch_size=1), scale=32))
    config = GeneratedDecoderConfig(lip_reading_weight=3.0, mouth_tie=0.1)
    loss, logged = generated_decoder_loss(config)(parts, batch)
    # the student starts as the teacher: only the reader's error counts
    assert float(logged["tie"]) == 0.0 and float(logged["lip_reading"]) > 0
    torch.testing.assert_close(loss, 3.0 * logged["lip_reading"])
    with torch.no_grad():
        recon = teacher.decode(batch["latents"], audio=batch["audio"]).sample
        windows = [recon[0, :, t, y0:y1, x0:x1] for t, (y0, x0, y1, x1) in enumerate(mouth_window_boxes(batch["centres"])[0].tolist()) if batch["valid"][0, t]]
        expected = torch.nn.functional.mse_loss(reader(torch.stack(windows)), batch["labels"][0][batch["valid"][0]])
    torch.testing.assert_close(logged["lip_reading"], expected)
    loss.backward()
    assert vae.decoder.conv_out.conv.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in vae.encoder.parameters())
    assert all(p.grad is None for p in reader.parameters()) and all(p.grad is None for p in teacher.parameters())

    # once the student moved: the tie is the L1 to the teacher, the mouth windows weighted by mouth_tie
    with torch.no_grad():
        vae.decoder.conv_out.conv.bias.add_(0.2)
    _, full = generated_decoder_loss(GeneratedDecoderConfig(mouth_tie=1.0))(parts, batch)
    _, light = generated_decoder_loss(GeneratedDecoderConfig(mouth_tie=0.1))(parts, batch)
    with torch.no_grad():
        student = vae.decode(batch["latents"], audio=batch["audio"]).sample
    torch.testing.assert_close(full["tie"], (student - recon).abs().mean())
    weight = torch.ones_like(student[:, :1])
    for t, (y0, x0, y1, x1) in enumerate(mouth_window_boxes(batch["centres"])[0].tolist()):
        if batch["valid"][0, t]:
            weight[0, :, t, y0:y1, x0:x1] = 0.1
    torch.testing.assert_close(light["tie"], ((student - recon).abs() * weight).sum() / (weight.sum() * 3))


def test_cli_caches_generated_clips_and_fine_tunes_the_decoder(tmp_path):
    from safetensors.torch import save_file

    from rap.loading import load_vae
    from rap.synth.dataset import DatasetConfig, write_dataset
    from rap.training import generated_latents, train_decoder_generated

    write_dataset(DatasetConfig(str(tmp_path / "synth"), clips=2, seed=5, size=160, frames=30, shard_size=2))
    pipe = tiny_audio_guided_pipeline(resolution=128)
    pipe.save_pretrained(tmp_path / "weights")
    assert generated_latents.main(["--data", str(tmp_path / "synth"), "--out", str(tmp_path / "cache"), "--weights", str(tmp_path / "weights")]) == 0
    cached = sorted((tmp_path / "cache").glob("clip-*.npz"))
    assert len(cached) == 2 and {"latents_0", "audio_0", "centres_0", "labels_0"} <= set(np.load(cached[0]).files)
    save_file({k: v.half() for k, v in LipReader().state_dict().items()}, str(tmp_path / "reader.safetensors"))
    assert train_decoder_generated.main([
        "--data", str(tmp_path / "cache"), "--init", str(tmp_path / "weights" / "vae"), "--lip-reader", str(tmp_path / "reader.safetensors"),
        "--out", str(tmp_path / "run"), "--steps", "2", "--batch-size", "1",
    ]) == 0
    before, after = load_vae(tmp_path / "weights" / "vae"), load_vae(tmp_path / "run" / "vae")
    assert isinstance(after, AudioGuidedAutoencoderKLLTXVideo)
    assert not torch.equal(before.decoder.conv_out.conv.weight, after.decoder.conv_out.conv.weight)
    torch.testing.assert_close(before.encoder.conv_in.conv.weight, after.encoder.conv_in.conv.weight)


def test_held_out_lip_sync_scores_each_clip_with_the_swapped_in_decoder(tmp_path):
    """`python -m rap.eval.heldout_lip_sync`: one row per clip; --vae decodes with another VAE
    folder, which changes the round trip's and the generation's pictures, not the clips;
    --guidance-scale changes the generation only."""
    import json

    from rap.eval import heldout_lip_sync
    from rap.synth.dataset import DatasetConfig, write_dataset

    write_dataset(DatasetConfig(str(tmp_path / "held_out"), clips=2, seed=7, size=160, frames=30, shard_size=2))
    pipe = tiny_audio_guided_pipeline()
    pipe.save_pretrained(tmp_path / "weights")
    other = tiny_audio_guided_pipeline().vae
    with torch.no_grad():
        other.decoder.conv_out.conv.bias.add_(0.5)
    other.save_pretrained(tmp_path / "other_vae")
    runs = {}
    for name, extra in (("own", []), ("other", ["--vae", str(tmp_path / "other_vae")]), ("cfg1", ["--guidance-scale", "1"])):
        out = tmp_path / f"{name}.json"
        assert heldout_lip_sync.main(["--data", str(tmp_path / "held_out"), "--weights", str(tmp_path / "weights"), "--clips", "2", "--out", str(out), *extra]) == 0
        runs[name] = json.loads(out.read_text())
    own, other_run = runs["own"], runs["other"]
    assert [row["clip"] for row in own["clips"]] == [0, 1]
    assert all(-1 <= row[key] <= 1 for row in own["clips"] for key in ("round_trip", "generated"))
    assert own["summary"]["generated"] == pytest.approx(np.mean([row["generated"] for row in own["clips"]]))
    assert [row["generated"] for row in own["clips"]] != [row["generated"] for row in other_run["clips"]]
    # the scale changes the generation only; the round trip has no guidance
    assert [row["round_trip"] for row in runs["cfg1"]["clips"]] == [row["round_trip"] for row in own["clips"]]
    assert [row["generated"] for row in runs["cfg1"]["clips"]] != [row["generated"] for row in own["clips"]]
