"""The frozen lip reader as a decoder loss (`rap.training.lip_reader`, `train_vae --lip-reading-weight`)."""

import torch

from rap.training.lip_reader import LipReader, augment, lip_reading_loss
from rap.training.mouth_discriminator import MOUTH_WINDOW, mouth_windows
from tests.test_autoencoder_audio import AUDIO_DIM, _plain


def test_reader_maps_mouth_windows_to_the_four_mouth_controls():
    reader = LipReader().eval()
    with torch.no_grad():
        out = reader(torch.rand(5, 3, *MOUTH_WINDOW) * 2 - 1)
        smaller = reader(torch.rand(2, 3, 24, 48))  # windows cut from small crops are resized
    assert out.shape == (5, 4) and smaller.shape == (2, 4)
    assert ((out > 0) & (out < 1)).all()


def test_loss_reads_only_windows_wholly_inside_the_crop_and_compares_with_the_labels():
    torch.manual_seed(0)
    reader = LipReader().eval().requires_grad_(False)
    recon = torch.rand(3, 3, 2, 128, 128) * 2 - 1
    controls = torch.rand(3, 2, 5)
    # crop 0: mouth at the centre; crop 1: its window would cross the left edge; crop 2: not in the crop
    centres = torch.tensor([[0.0, 0.0], [-0.5, 0.0], [0.0, 0.0]])
    inside = torch.tensor([True, True, False])
    loss = lip_reading_loss(reader, recon, centres, controls, inside)
    with torch.no_grad():
        expected = torch.nn.functional.mse_loss(reader(mouth_windows(recon[:1], centres[:1]).flatten(0, 1)), controls[0, :, :4])
    assert torch.allclose(loss, expected)
    # nothing usable: zero, and a loss term that can still be added
    none = lip_reading_loss(reader, recon, centres, controls, torch.tensor([False, False, False]))
    assert float(none) == 0.0
    # the gradient reaches the pictures only inside the read window of the usable crop
    recon.requires_grad_(True)
    lip_reading_loss(reader, recon, centres, controls, inside).backward()
    grad = recon.grad.abs().sum(dim=(1, 2))
    assert grad[0].sum() > 0 and grad[1].sum() == 0 and grad[2].sum() == 0
    rows, cols = grad[0].nonzero()[:, 0], grad[0].nonzero()[:, 1]
    assert rows.min() >= 64 - MOUTH_WINDOW[0] // 2 and rows.max() < 64 + MOUTH_WINDOW[0] // 2
    assert cols.min() >= 64 - MOUTH_WINDOW[1] // 2 and cols.max() < 64 + MOUTH_WINDOW[1] // 2


def test_augmentation_cuts_reader_sized_windows_out_of_the_margin():
    g = torch.Generator().manual_seed(0)
    jitter = (2, 3)
    windows = torch.randint(0, 256, (4, MOUTH_WINDOW[0] + 4, MOUTH_WINDOW[1] + 6, 3), dtype=torch.uint8)
    out = augment(windows, jitter, g)
    assert out.shape == (4, 3, *MOUTH_WINDOW) and out.min() >= -1 and out.max() <= 1


def test_vae_loss_adds_the_lip_reading_term_and_it_trains_the_decoder():
    from rap.models.autoencoder_audio import AudioGuidedAutoencoderKLLTXVideo
    from rap.training.train_vae import VAETrainConfig, VAETrainingParts, vae_loss

    torch.manual_seed(0)
    vae = AudioGuidedAutoencoderKLLTXVideo.from_unguided(_plain(), audio_dim=AUDIO_DIM)
    vae.encoder.requires_grad_(False)
    reader = LipReader().eval().requires_grad_(False)
    g = torch.Generator().manual_seed(0)
    video = torch.rand(2, 3, 9, 64, 128, generator=g) * 2 - 1
    batch = {
        "video": video, "face": torch.zeros(2, 1, 9, 64, 128), "mouth": torch.ones(2, 1, 9, 64, 128),
        "mouth_centre": torch.zeros(2, 2), "mouth_in_crop": torch.tensor([True, True]),
        "audio": torch.randn(2, 9, 2, 3, generator=g), "controls": torch.rand(2, 9, 5, generator=g),
    }
    config = VAETrainConfig("unused", freeze_encoder_steps=0, control_weight=0.0, lip_reading_weight=2.0)
    parts = VAETrainingParts(vae, lip_reader=reader)
    assert not any(name.startswith("lip_reader") for name, _ in parts.named_parameters())  # frozen, never saved
    loss, logged = vae_loss(config)(parts, batch, 0)
    plain, _ = vae_loss(VAETrainConfig("unused", freeze_encoder_steps=0, control_weight=0.0))(vae, batch, 0)
    assert float(logged["lip_reading"]) > 0
    assert torch.allclose(loss, plain + 2.0 * logged["lip_reading"], rtol=1e-5)
    (loss - plain).backward()
    assert vae.decoder.conv_out.conv.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in reader.parameters())


def test_cli_trains_on_framed_clips_and_checks_on_whole_held_out_clips(tmp_path):
    """`python -m rap.training.lip_reader`: windows around each frame's mouth with its labels, every
    tenth clip kept for the check, and fp16 weights that `load_lip_reader` reads back."""
    import json

    from rap.synth.dataset import DatasetConfig, SynthClipDataset, write_dataset
    from rap.training.framed_clips import write_framed_clips
    from rap.training.lip_reader import load_lip_reader, main, read_windows

    write_dataset(DatasetConfig(str(tmp_path / "synth"), clips=10, seed=5, size=160, frames=6, shard_size=10))
    assert write_framed_clips(SynthClipDataset(tmp_path / "synth", with_meta=False), tmp_path / "framed", resolution=128) == 10
    windows, labels, clips = read_windows(tmp_path / "framed", frames_per_clip=3, jitter=(6, 10))
    assert windows.shape[1:] == (MOUTH_WINDOW[0] + 12, MOUTH_WINDOW[1] + 20, 3) and labels.shape == (len(windows), 4)
    assert set(clips.tolist()) == set(range(10))  # every clip's mouth fits its window
    assert main(["--data", str(tmp_path / "framed"), "--out", str(tmp_path / "reader"), "--steps", "3", "--batch-size", "4", "--frames-per-clip", "3"]) == 0
    report = json.loads((tmp_path / "reader" / "lip_reader.json").read_text())
    assert set(report["held_out_r2"]) == {"jaw", "width", "round", "closure"} and report["windows"] == 27
    reader = load_lip_reader(tmp_path / "reader" / "lip_reader.safetensors")
    assert not any(p.requires_grad for p in reader.parameters())
