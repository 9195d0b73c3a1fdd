"""The shared training loop: it learns, checkpoints, resumes and logs; latent-cache batches feed Algorithm 1."""

import csv
import json

import numpy as np
import pytest
import torch

from rap.training.latent_cache import latent_face_mask, latent_mouth_mask
from rap.training.loop import LoopConfig, run_training
from rap.training.objective import ObjectiveConfig
from rap.training.train_dit import dit_loss
from conftest import tiny_transformer


def _regression_batches():
    g = torch.Generator().manual_seed(0)
    while True:
        x = torch.randn(16, 3, generator=g)
        yield {"x": x, "y": x @ torch.tensor([[1.0], [-2.0], [0.5]])}


def _mse(model, batch, step):
    loss = (model(batch["x"]) - batch["y"]).pow(2).mean()
    return loss, {"mse": loss.detach()}


def test_loop_learns_checkpoints_and_resumes(tmp_path):
    torch.manual_seed(0)
    config = LoopConfig(str(tmp_path), steps=60, lr=0.05, warmup_steps=1, log_every=5, save_every=30, ema_decay=0.9)
    model, ema = run_training(torch.nn.Linear(3, 1), _mse, _regression_batches(), config)
    assert json.loads((tmp_path / "state.json").read_text())["step"] == 60
    assert (tmp_path / "loss.png").is_file()
    rows = list(csv.DictReader(open(tmp_path / "loss.csv")))
    assert float(rows[-1]["loss"]) < 0.1 * float(rows[0]["loss"])

    config.steps, config.lr = 80, 0.02  # resume with a new lr: continues at step 60, appends to the log
    run_training(torch.nn.Linear(3, 1), _mse, _regression_batches(), config)
    rows = list(csv.DictReader(open(tmp_path / "loss.csv")))
    steps = [int(r["step"]) for r in rows]
    assert steps[-1] == 75 and 60 in steps and steps == sorted(steps)
    assert float(rows[-1]["loss"]) < 0.1  # it did not start over from random weights
    assert float(rows[0]["lr"]) == 0.05 and float(rows[-1]["lr"]) == 0.02

    # a run stopped after logging steps past its last checkpoint (step 80) trains them again: the
    # log keeps one row per step
    with open(tmp_path / "loss.csv", "a") as log:
        log.write("80,9.0,0.02,1.0,9.0\n85,9.0,0.02,2.0,9.0\n")
    config.steps = 90
    run_training(torch.nn.Linear(3, 1), _mse, _regression_batches(), config)
    steps = [int(r["step"]) for r in csv.DictReader(open(tmp_path / "loss.csv"))]
    assert steps == sorted(set(steps)) and steps[-2:] == [80, 85]
    assert all(float(r["loss"]) < 1.0 for r in csv.DictReader(open(tmp_path / "loss.csv")) if int(r["step"]) >= 80)


def test_latent_face_mask_groups_frames_like_the_vae():
    mask = torch.zeros(17, 8, 8)
    mask[0] = 1.0  # only the static frame
    mask[9:17, :4] = 1.0  # the second group of 8 frames, top half
    pooled = latent_face_mask(mask, latent_frames=3, frames_per_latent=8, grid=(2, 2))
    assert pooled.shape == (1, 3, 2, 2)
    assert torch.all(pooled[0, 0] == 1) and torch.all(pooled[0, 1] == 0)
    assert torch.allclose(pooled[0, 2], torch.tensor([[1.0, 1.0], [0.0, 0.0]]))


def test_latent_mouth_mask_weighs_the_mouths_cell_one():
    boxes = torch.tensor([[0.30, 0.50, 0.45, 0.56]]).repeat(17, 1)  # lips inside cell (row 2, col 1) of 4x4
    boxes[9:] += torch.tensor([0.25, 0.0, 0.25, 0.0])  # the second group of frames: one cell to the right
    mask = latent_mouth_mask(boxes, latent_frames=3, frames_per_latent=8, grid=(4, 4))
    assert mask.shape == (1, 3, 4, 4)
    assert mask[0, 0, 2, 1] == 1 and mask[0, 2, 2, 2] == 1 and mask[0, 2, 2, 1] < 0.5
    assert mask[0, 0, 0].sum() == 0 and mask[0, 0, :, 3].sum() == 0  # far from the mouth: nothing
    assert mask[0, 0, 1, 1] == pytest.approx(1 / 3, abs=1e-4)  # grown upward by half its height: 0.03 of 0.09


def test_dit_loss_on_a_cache_batch():
    model = tiny_transformer()
    batch = {
        "latents": torch.randn(2, 8, 6, 2, 2),
        "reference": torch.randn(2, 8, 4, 2, 2),
        "audio": torch.randn(2, 6, 8, 2, 16),
        "face_mask": torch.rand(2, 1, 6, 2, 2),
    }
    loss, parts = dit_loss(ObjectiveConfig(window=4))(model, batch)
    loss.backward()
    assert set(parts) == {"diffusion", "face", "temporal"} and torch.isfinite(loss)
    batch["mouth_mask"] = torch.rand(2, 1, 6, 2, 2)
    loss, parts = dit_loss(ObjectiveConfig(window=4, mouth_weight=10.0))(model, batch)
    assert set(parts) == {"diffusion", "face", "temporal", "mouth"} and torch.isfinite(loss)
    assert model.patch_embedding.weight.grad is not None


def test_framing_falls_back_to_the_face_mask_and_crops_mask_and_frames_alike():
    from rap.training.framing import frame_clip

    frames = torch.full((3, 128, 128, 3), 90, dtype=torch.uint8)  # no detectable face
    mask = torch.zeros(3, 32, 32)
    mask[:, 8:16, 12:20] = 1.0  # face at x 48..80, y 32..64 in pixels
    frames[:, 32:64, 48:80] = 200
    framed = frame_clip({"frames": frames, "face_mask": mask}, 64)
    assert framed["frames"].shape == (3, 64, 64, 3) and framed["face_mask"].shape == (3, 32, 32)
    # crop side = 2 x 0.88 x 32 px around the face centre (the detector's scale): the 32 px face
    # spans 57 % of the crop, from 13.8 to 50.2 px of 64
    from rap.training.framing import DETECTOR_TO_MASK_SIDE

    margin = 32 * (1 - 1 / (2 * DETECTOR_TO_MASK_SIDE))
    bright = framed["frames"][0, :, :, 0].float() > 150
    ys, xs = torch.nonzero(bright, as_tuple=True)
    for low, high in ((xs.min(), xs.max()), (ys.min(), ys.max())):
        assert abs(float(low) - margin) <= 2 and abs(float(high) + 1 - (64 - margin)) <= 2
    on = framed["face_mask"][0] > 0.5
    side = 32 / (2 * DETECTOR_TO_MASK_SIDE)  # face side in mask pixels
    assert on[16, 16] and not on[2, 2] and abs(int(on.sum()) - side**2) < 50


def test_framing_ignores_a_detection_off_the_rendered_face(monkeypatch):
    import numpy as np

    from rap.media.image import FaceBox
    from rap.training import framing

    mask = np.zeros((32, 32), np.float32)
    mask[8:16, 12:20] = 1.0  # face centre at (64, 48) px of 128
    image = np.zeros((128, 128, 3), np.uint8)
    monkeypatch.setattr(framing, "detect_face", lambda _: FaceBox(0, 0, 20, 20))  # on the background
    cx, cy, side = framing.face_crop_box(image, mask)
    assert (cx, cy) == (64, 48) and side == pytest.approx(2 * framing.DETECTOR_TO_MASK_SIDE * 32)
    monkeypatch.setattr(framing, "detect_face", lambda _: FaceBox(54, 40, 20, 20))  # on the face
    assert framing.face_crop_box(image, mask) == (64, 50, 40)


def test_audio_encoder_targets_follow_the_phoneme_table():
    from rap.synth.phonemes import PhonemeTable
    from rap.training.train_audio import viseme_labels, viseme_names

    table = PhonemeTable([(0.10, 0.20, "p"), (0.20, 0.40, "ɑ")], alphabet="ipa")
    labels = viseme_labels(table, frames=25)  # 50 Hz: frame k centred at (k + 0.5) / 50 s
    names = viseme_names()
    assert names[labels[0]] == "sil" and names[labels[24]] == "sil"
    assert names[labels[6]] == "PBM"  # 0.13 s
    assert names[labels[15]] == "AA"  # 0.31 s


def test_vae_loss_freezes_the_encoder_for_its_first_steps():
    from diffusers import AutoencoderKLLTXVideo

    from rap.training.train_vae import VAETrainConfig, vae_loss

    torch.manual_seed(0)
    vae = AutoencoderKLLTXVideo(
        latent_channels=8, block_out_channels=(8, 8, 8, 8), decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1, 1),
    )
    batch = {"video": torch.rand(2, 3, 9, 32, 32) * 2 - 1, "face": torch.rand(2, 1, 9, 32, 32), "mouth": torch.zeros(2, 1, 9, 32, 32)}
    loss_fn = vae_loss(VAETrainConfig("unused", freeze_encoder_steps=5))
    for step, encoder_learns in ((4, False), (5, True)):
        vae.zero_grad(set_to_none=True)
        loss, parts = loss_fn(vae, batch, step)
        loss.backward()
        assert set(parts) == {"l1", "kl"}
        assert (vae.encoder.conv_in.conv.weight.grad is not None) == encoder_learns
        assert vae.decoder.conv_out.conv.weight.grad is not None


def test_framing_maps_mouth_boxes_into_the_crop_and_masks_them():
    from rap.training.framing import frame_clip, mouth_mask

    frames = torch.zeros((2, 100, 200, 3), dtype=torch.uint8)
    boxes = torch.tensor([[0.45, 0.5, 0.55, 0.6]] * 2)  # x 90..110, y 50..60 px
    clip = {"frames": frames, "face_mask": torch.zeros(2, 32, 32), "mouth_boxes": boxes}
    framed = frame_clip(clip, 40, box=(100.0, 50.0, 80.0))  # crop x 60..140, y 10..90
    expected = torch.tensor([30 / 80, 40 / 80, 50 / 80, 50 / 80])
    assert torch.allclose(framed["mouth_boxes"][0], expected, atol=1e-6)
    mask = mouth_mask(framed["mouth_boxes"], 40, grow=1.0)  # x 15..25 px, y 20..25 px of 40
    assert mask.shape == (2, 40, 40)
    assert mask[0, 22, 20] == 1 and mask[0, 22, 10] == 0 and mask[0, 10, 20] == 0
    assert int(mask[0].sum()) == 10 * 5
    assert mouth_mask(framed["mouth_boxes"], 40, grow=2.0)[0].sum() > mask[0].sum()


def test_vae_crops_over_the_mouth_hold_it():
    from rap.training.train_vae import VAETrainConfig, _crop_origin

    boxes = torch.tensor([[0.7, 0.8, 0.8, 0.9]])  # mouth centre at (192, 217) of 256
    config = VAETrainConfig("unused", crop=64, mouth_crop_probability=1.0)
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        y0, x0 = _crop_origin(boxes, 256, config, g)
        assert 0 <= y0 <= 192 and 0 <= x0 <= 192  # inside the frame
        assert y0 <= 217 < y0 + 64 and x0 <= 192 < x0 + 64  # and over the mouth


def test_vae_loss_weights_the_mouth():
    from rap.training.train_vae import VAETrainConfig, vae_loss

    class Identity(torch.nn.Module):  # reconstructs with a fixed error in the top-left corner
        device = torch.device("cpu")

        def encode(self, video):
            from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution

            return type("Out", (), {"latent_dist": DiagonalGaussianDistribution(torch.cat([video, torch.zeros_like(video)], 1))})()

        def decode(self, z):
            out = z.clone()
            out[..., :4, :4] += 1.0
            return type("Out", (), {"sample": out})()

    video = torch.zeros(1, 3, 1, 8, 8)
    mouth = torch.zeros(1, 1, 1, 8, 8)
    batch = {"video": video, "face": torch.zeros_like(mouth), "mouth": mouth}
    plain = vae_loss(VAETrainConfig("unused", mouth_weight=12.0))(Identity(), batch)[1]["l1"]
    mouth[..., :4, :4] = 1.0  # the error now lies on the mouth
    weighted = vae_loss(VAETrainConfig("unused", mouth_weight=12.0))(Identity(), batch)[1]["l1"]
    assert plain == pytest.approx(0.25) and weighted == pytest.approx(13 * 16 / (13 * 16 + 48))


def test_control_probe_reads_each_frame_from_its_latent_frame_and_slot():
    """Latent j > 0 holds frames 8j-7 .. 8j in its 8 slots; latent 0 (the static frame) holds frame 0."""
    from rap.training.control_probe import LatentControlProbe

    probe = LatentControlProbe(latent_channels=2, frames_per_latent=8, num_controls=2)
    with torch.no_grad():
        probe.head.weight.zero_()
        probe.head.weight[:, 0] = 1.0  # every output reads channel 0, which holds the latent frame index
        slot, control = torch.arange(8).repeat_interleave(2), torch.arange(2).repeat(8)
        probe.head.bias.copy_(10.0 * slot + 1000.0 * control)
    latents = torch.zeros(1, 2, 3, 2, 2)
    latents[:, 0] = torch.arange(3.0).view(1, 3, 1, 1)
    out = probe(latents, torch.zeros(1, 2))  # (1, 17, 2): frames 0..16
    assert out.shape == (1, 17, 2)
    for t in range(17):
        j, s = (0, 7) if t == 0 else ((t + 7) // 8, (t - 1) % 8)
        assert out[0, t].tolist() == pytest.approx([j + 10 * s, j + 10 * s + 1000])


def test_vae_loss_trains_the_control_probe_only_where_the_mouth_is_in_the_crop():
    from diffusers import AutoencoderKLLTXVideo

    from rap.training.control_probe import LatentControlProbe
    from rap.training.train_vae import VAETrainConfig, VAETrainingParts, vae_loss

    torch.manual_seed(0)
    vae = AutoencoderKLLTXVideo(
        latent_channels=8, block_out_channels=(8, 8, 8, 8), decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1, 1),
    )
    model = VAETrainingParts(vae, LatentControlProbe(8, vae.temporal_compression_ratio))
    batch = {
        "video": torch.rand(2, 3, 9, 32, 32) * 2 - 1, "face": torch.zeros(2, 1, 9, 32, 32), "mouth": torch.zeros(2, 1, 9, 32, 32),
        "controls": torch.rand(2, 9, 5), "mouth_centre": torch.zeros(2, 2), "mouth_in_crop": torch.tensor([True, False]),
    }
    loss_fn = vae_loss(VAETrainConfig("unused", freeze_encoder_steps=0, control_weight=1.0))
    loss, parts = loss_fn(model, batch, 0)
    loss.backward()
    assert set(parts) == {"l1", "kl", "controls"}
    assert model.control_probe.head.weight.grad.abs().sum() > 0 and vae.encoder.conv_in.conv.weight.grad is not None
    # the second sample's mouth is outside its crop: its controls must not count
    batch["controls"][1] += 100.0
    assert loss_fn(model, batch, 0)[1]["controls"] == pytest.approx(float(parts["controls"]), rel=1e-5)


def test_vae_crops_read_the_same_from_framed_clips_as_from_video(tmp_path):
    """Framing once to disk (`framed_clips`) is only a cache: the crops, masks, references and
    labels of a batch are those framed on the fly."""
    from rap.synth.dataset import DatasetConfig, SynthClipDataset, write_dataset
    from rap.training.framed_clips import FramedClips, write_framed_clips
    from rap.training.train_vae import BATCH_KEYS, VAETrainConfig, random_crops

    write_dataset(DatasetConfig(str(tmp_path / "synth"), clips=2, seed=3, size=64, frames=20, shard_size=2))
    videos = SynthClipDataset(tmp_path / "synth", with_meta=False)
    assert write_framed_clips(videos, tmp_path / "framed", resolution=48) == 2
    config = VAETrainConfig("unused", crop=32, batch_size=3, frames=9)
    on_the_fly = next(random_crops(videos, config, 48, crops_per_clip=2))
    cached = next(random_crops(FramedClips(tmp_path / "framed"), config, 48, crops_per_clip=2))
    silent_keys = tuple(k for k in BATCH_KEYS if k != "audio")  # clips framed without their sound
    assert tuple(on_the_fly) == tuple(cached) == silent_keys
    assert on_the_fly["video"].shape == (3, 3, 9, 32, 32) and on_the_fly["reference"].shape == (3, 3, 32, 32)
    assert on_the_fly["controls"].shape == (3, 9, 5) and on_the_fly["mouth"].shape == (3, 1, 9, 32, 32)
    for key in silent_keys:
        atol = 1e-3 if key == "face" else 0  # the cache keeps the face mask in fp16
        torch.testing.assert_close(cached[key].float(), on_the_fly[key].float(), atol=atol, rtol=0, msg=key)


def test_framed_clips_cli_appends_a_second_data_set(tmp_path):
    """`framed_clips --data SPEECH PAUSES`: the second set's clips follow the first's, none overwritten."""
    from rap.synth.dataset import DatasetConfig, write_dataset
    from rap.training.framed_clips import FramedClips, main

    write_dataset(DatasetConfig(str(tmp_path / "a"), clips=2, seed=3, size=64, frames=12, shard_size=2))
    write_dataset(DatasetConfig(str(tmp_path / "b"), clips=1, seed=4, size=64, frames=12, shard_size=1, pause_fraction=1.0))
    assert main(["--data", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "framed"), "--resolution", "32"]) == 0
    framed = list(FramedClips(tmp_path / "framed"))
    assert [f.stem for f in FramedClips(tmp_path / "framed").files] == ["clip-00000", "clip-00001", "clip-00002"]
    alone = tmp_path / "b_alone"
    main(["--data", str(tmp_path / "b"), "--out", str(alone), "--resolution", "32"])
    np.testing.assert_array_equal(framed[2]["frames"], next(iter(FramedClips(alone)))["frames"])
    assert not np.array_equal(framed[0]["frames"], framed[2]["frames"])


def test_ridge_probe_scores_a_linear_code_high_and_noise_near_zero():
    from rap.training.control_probe import ridge_r2

    rng = np.random.default_rng(0)
    features = rng.normal(size=(300, 20))
    targets = features[:, :3] @ rng.normal(size=(3, 8)) + 0.1 * rng.normal(size=(300, 8))
    assert ridge_r2(features, targets) > 0.95
    assert ridge_r2(rng.normal(size=(300, 20)), targets) < 0.05


def test_decoder_only_training_keeps_the_latent_space(tmp_path):
    """`train_vae --decoder-only`: the decoder learns, while the encoder and the latent statistics
    (what cached latents and a DiT trained on them depend on) stay bit for bit."""
    from diffusers import AutoencoderKLLTXVideo

    from rap.synth.dataset import DatasetConfig, write_dataset
    from rap.training.train_vae import main
    from conftest import tiny_pipeline

    write_dataset(DatasetConfig(str(tmp_path / "synth"), clips=2, seed=5, size=64, frames=41, shard_size=2))
    vae = tiny_pipeline().vae
    vae.latents_mean.copy_(torch.linspace(-1, 1, vae.latents_mean.numel()))
    vae.latents_std.copy_(torch.linspace(0.5, 2, vae.latents_std.numel()))
    vae.save_pretrained(tmp_path / "init")
    args = ["--data", str(tmp_path / "synth"), "--out", str(tmp_path / "run"), "--init", str(tmp_path / "init")]
    assert main(args + ["--decoder-only", "--steps", "3", "--crop", "32", "--batch-size", "2", "--lr", "1e-3"]) == 0

    before, after = AutoencoderKLLTXVideo.from_pretrained(tmp_path / "init"), AutoencoderKLLTXVideo.from_pretrained(tmp_path / "run" / "vae")
    frozen = {name: value for name, value in before.state_dict().items() if not name.startswith("decoder.")}
    assert frozen and all(torch.equal(value, after.state_dict()[name]) for name, value in frozen.items())
    assert any(not torch.equal(value, after.decoder.state_dict()[name]) for name, value in before.decoder.state_dict().items())


def test_add_mouth_masks_to_an_older_cache_checks_the_clips_line_up(tmp_path):
    from safetensors.torch import load_file, save_file

    from rap.training.latent_cache import add_mouth_masks

    g = torch.Generator().manual_seed(0)
    framed, cache = tmp_path / "framed", tmp_path / "cache"
    framed.mkdir(), cache.mkdir()
    faces, boxes = [], []
    for i in range(3):  # framed clips 0..2; the cache holds clips 1 and 2
        face = (torch.rand(17, 32, 32, generator=g) > 0.5).float()
        box = torch.tensor([[0.3, 0.6, 0.5, 0.65]]).repeat(17, 1) + 0.1 * i
        np.savez(framed / f"clip-{i:05d}.npz", face_mask=face.half().numpy(), mouth_boxes=box.numpy())
        faces.append(latent_face_mask(face, 3, 8, (4, 4))), boxes.append(box)
    save_file({"face_mask": torch.stack(faces[1:]).half(), "latents": torch.zeros(2, 1)}, str(cache / "chunk-00000.safetensors"))
    with pytest.raises(ValueError, match="face masks differ"):
        add_mouth_masks(cache, framed, first_framed_clip=0)
    assert add_mouth_masks(cache, framed, first_framed_clip=1) == 2
    tensors = load_file(str(cache / "chunk-00000.safetensors"))
    expected = torch.stack([latent_mouth_mask(b, 3, 8, (4, 4)) for b in boxes[1:]]).half()
    assert torch.equal(tensors["mouth_mask"], expected) and set(tensors) == {"face_mask", "latents", "mouth_mask"}


def test_train_dit_trains_under_the_attention_scope_it_is_given(tmp_path):
    """Table 3's single-scope models: the scope becomes the transformer's default w and delta, so
    the training loss (which calls the model without them) runs window-only or full-only."""
    from rap.presets import get_preset
    from rap.training.train_dit import build_transformer

    torch.manual_seed(0)
    tiny_transformer().save_pretrained(tmp_path / "init")
    window_only = build_transformer(get_preset("rap-small"), str(tmp_path / "init"), hybrid_weight=0.0, hybrid_bias=1.0)
    assert (window_only.config.hybrid_weight, window_only.config.hybrid_bias) == (0.0, 1.0)
    hybrid = build_transformer(get_preset("rap-small"), str(tmp_path / "init"))
    assert (hybrid.config.hybrid_weight, hybrid.config.hybrid_bias) == (1.0, 0.0)

    x = torch.randn(1, 16, 3, 2, 2)
    t = torch.full((1, 3), 500.0)
    audio = torch.randn(1, 3, 8, 2, 16)
    with torch.no_grad():
        default = window_only(x, t, audio_features=audio, return_dict=False)[0]
        explicit = window_only(x, t, audio_features=audio, hybrid_weight=0.0, hybrid_bias=1.0, return_dict=False)[0]
        paper = window_only(x, t, audio_features=audio, hybrid_weight=1.0, hybrid_bias=0.0, return_dict=False)[0]
    torch.testing.assert_close(default, explicit)
    assert (default - paper).abs().max() > 1e-4
    scratch = build_transformer(get_preset("rap-small"), None, hybrid_weight=0.0, hybrid_bias=0.0)
    assert scratch.config.hybrid_bias == 0.0 and scratch.config.num_layers == get_preset("rap-small").transformer["num_layers"]


def test_train_dit_adds_frame_positions_to_an_init_without_changing_what_it_computes(tmp_path):
    from rap.presets import get_preset
    from rap.training.train_dit import build_transformer

    assert get_preset("rap-small").transformer["audio_frame_positions"]
    tiny_transformer().save_pretrained(tmp_path / "init")
    plain = build_transformer(get_preset("rap-small"), str(tmp_path / "init")).eval()
    grown = build_transformer(get_preset("rap-small"), str(tmp_path / "init"), audio_frame_positions=True).eval()
    assert not plain.config.audio_frame_positions and grown.config.audio_frame_positions
    assert grown.audio_projection.frame_embedding.requires_grad
    x, t, audio = torch.randn(1, 16, 3, 2, 2), torch.tensor([500.0]), torch.randn(1, 3, 8, 2, 16)
    with torch.no_grad():
        torch.testing.assert_close(grown(x, t, audio).sample, plain(x, t, audio).sample)
    plain_state = plain.state_dict()
    assert all(torch.equal(v, plain_state[k]) for k, v in grown.state_dict().items() if k in plain_state)
    assert set(grown.state_dict()) - set(plain_state) == {"audio_projection.frame_embedding"}


def test_train_dit_resumes_the_run_it_started_even_after_the_preset_changed(tmp_path, monkeypatch):
    """A run is resumed as the model it was started as: a preset that grew since (frame positions)
    must not break loading its checkpoint, and a flag that would change the run half-way is refused."""
    import dataclasses

    import rap.presets
    from safetensors.torch import save_file

    from rap.training import train_dit

    cache = tmp_path / "cache"
    cache.mkdir()
    g = torch.Generator().manual_seed(0)
    save_file(
        {
            "latents": torch.randn(4, 8, 12, 2, 2, generator=g),
            "reference": torch.randn(4, 8, 11, 2, 2, generator=g),
            "audio": torch.randn(4, 12, 8, 2, 16, generator=g),
            "face_mask": torch.rand(4, 1, 12, 2, 2, generator=g),
        },
        str(cache / "chunk-00000.safetensors"),
    )
    tiny_transformer().save_pretrained(tmp_path / "init")
    run = tmp_path / "run"
    args = ["--cache", str(cache), "--out", str(run), "--batch-size", "2", "--init", str(tmp_path / "init")]
    assert train_dit.main(args + ["--steps", "2"]) == 0
    assert not json.loads((run / "transformer_config.json").read_text())["audio_frame_positions"]

    # the preset now adds frame positions to new models; the run resumes without them
    small = rap.presets.get_preset("rap-small")
    grown = dataclasses.replace(small, transformer={**small.transformer, "audio_frame_positions": True})
    monkeypatch.setattr(rap.presets, "get_preset", lambda name: grown)
    (run / "transformer_config.json").unlink()  # as in runs from before the file was written
    assert train_dit.main(["--cache", str(cache), "--out", str(run), "--batch-size", "2", "--steps", "3"]) == 0
    assert json.loads((run / "state.json").read_text())["step"] == 3
    assert not json.loads((run / "transformer" / "config.json").read_text())["audio_frame_positions"]
    with pytest.raises(ValueError, match="audio_frame_positions=False"):
        train_dit.main(["--cache", str(cache), "--out", str(run), "--steps", "4", "--audio-frame-positions"])
