"""The mouth discriminator (`train_vae --gan-weight`): where it looks, what each term trains, and the
adaptive weight's algebra."""

import pytest
import torch

from rap.training.mouth_discriminator import (
    MouthDiscriminator,
    adaptive_weight,
    discriminator_loss,
    generator_loss,
    mouth_windows,
)
from tests.test_autoencoder_audio import AUDIO_DIM, _plain


def test_mouth_windows_centre_on_the_mouth_and_stay_inside_the_picture():
    video = torch.zeros(2, 3, 4, 64, 80)
    video[0, :, :, 20, 30] = 1.0  # sample 0's mouth at pixel (y=20, x=30)
    # centres in the crop's continuous coordinates (pixel i spans [i, i + 1)); sample 1: the corner
    centres = torch.tensor([[2 * 30.0 / 80 - 1, 2 * 20.0 / 64 - 1], [1.0, 1.0]])
    windows = mouth_windows(video, centres, size=(8, 16))
    assert windows.shape == (2, 4, 3, 8, 16)
    assert windows[0, :, :, 4, 8].eq(1.0).all() and windows[0].sum() == 4 * 3  # the mouth sits in the middle
    # a window that would cross the picture's corner is moved inside: it is the bottom-right 8 x 16
    video[1] = torch.arange(64 * 80.0).view(64, 80)
    assert torch.equal(mouth_windows(video, centres, size=(8, 16))[1], video[1, :, :, -8:, -16:].transpose(0, 1))


def test_discriminator_gives_patch_logits_and_hears_the_sound():
    torch.manual_seed(0)
    discriminator = MouthDiscriminator(audio_dim=AUDIO_DIM, width=16)
    windows = torch.rand(5, 3, 48, 96) * 2 - 1
    audio = torch.randn(5, AUDIO_DIM)
    logits = discriminator(windows, audio)
    assert logits.shape == (5, 1, 6, 12)
    assert not torch.allclose(logits, discriminator(windows, audio.flip(0)))  # the projection term
    assert torch.allclose(logits[2:3], discriminator(windows[2:3], audio[2:3]), atol=1e-5)  # per sample


def test_each_adversarial_term_trains_only_its_own_side():
    """One backward updates both: the discriminator's hinge loss must not reach the generator, and
    the generator's term must not reach the discriminator."""
    torch.manual_seed(0)
    discriminator = MouthDiscriminator(audio_dim=AUDIO_DIM, width=16)
    source = torch.randn(4, 3, 16, 32, requires_grad=True)  # stands in for the decoder's output
    fake = torch.tanh(source)
    real, audio = torch.rand(4, 3, 16, 32) * 2 - 1, torch.randn(4, AUDIO_DIM)

    discriminator_loss(discriminator, real, fake, audio).backward()
    assert source.grad is None
    assert all(p.grad is not None for p in discriminator.parameters())

    discriminator.zero_grad(set_to_none=True)
    generator_loss(discriminator, fake, audio).backward()
    assert source.grad is not None and source.grad.abs().sum() > 0
    assert all(p.grad is None for p in discriminator.parameters())


def test_hinge_loss_reads_as_the_formula():
    class Constant(MouthDiscriminator):
        def forward(self, windows, audio):
            return windows.mean((1, 2, 3))[:, None, None, None]

    discriminator = Constant(audio_dim=AUDIO_DIM, width=8)
    real, fake = torch.full((2, 3, 4, 4), 0.25), torch.full((2, 3, 4, 4), -0.5)
    audio = torch.zeros(2, AUDIO_DIM)
    # relu(1 - 0.25) + relu(1 + (-0.5)) = 0.75 + 0.5; a confident discriminator pays nothing
    assert float(discriminator_loss(discriminator, real, fake, audio)) == pytest.approx(1.25)
    assert float(discriminator_loss(discriminator, real + 2, fake - 2, audio)) == 0.0
    assert float(generator_loss(discriminator, fake, audio)) == pytest.approx(0.5)


def test_adaptive_weight_is_the_ratio_of_the_gradients_at_the_last_layer():
    last = torch.randn(3, 3, requires_grad=True)
    x = torch.randn(3)
    reconstruction = (last @ x).abs().sum()
    adversarial = 7.0 * (last @ x).pow(2).sum()
    expected = torch.autograd.grad(reconstruction, last, retain_graph=True)[0].norm() / (
        torch.autograd.grad(adversarial, last, retain_graph=True)[0].norm() + 1e-4
    )
    weight = adaptive_weight(reconstruction, adversarial, last)
    assert float(weight) == pytest.approx(float(expected), rel=1e-6) and not weight.requires_grad
    # the graph survives for the real backward
    (reconstruction + weight * adversarial).backward()
    assert last.grad is not None


def _decoder_grads(model, loss_fn, batch, step):
    model.zero_grad(set_to_none=True)
    loss, parts = loss_fn(model, batch, step)
    loss.backward()
    return parts, torch.cat([p.grad.flatten() for p in model.vae.decoder.parameters() if p.grad is not None])


def test_vae_loss_lets_the_discriminator_train_alone_before_the_decoder_hears_it():
    from rap.models.autoencoder_audio import AudioGuidedAutoencoderKLLTXVideo
    from rap.training.loop import parameter_groups
    from rap.training.train_vae import VAETrainConfig, VAETrainingParts, vae_loss

    vae = AudioGuidedAutoencoderKLLTXVideo.from_unguided(_plain(), audio_dim=AUDIO_DIM)
    vae.encoder.requires_grad_(False)
    torch.manual_seed(0)
    model = VAETrainingParts(vae, discriminator=MouthDiscriminator(AUDIO_DIM, width=8))
    plain_model = VAETrainingParts(vae)
    g = torch.Generator().manual_seed(0)
    batch = {
        "video": torch.rand(2, 3, 9, 32, 32, generator=g) * 2 - 1, "face": torch.zeros(2, 1, 9, 32, 32),
        "mouth": torch.zeros(2, 1, 9, 32, 32), "mouth_centre": torch.zeros(2, 2),
        "mouth_in_crop": torch.tensor([True, False]), "audio": torch.randn(2, 9, 2, 3, generator=g),
    }
    config = VAETrainConfig("unused", freeze_encoder_steps=0, control_weight=0.0, gan_weight=0.5, gan_start_step=10)
    loss_fn = vae_loss(config)

    _, without = _decoder_grads(plain_model, loss_fn, batch, 0)
    parts, before = _decoder_grads(model, loss_fn, batch, 0)
    assert torch.allclose(before, without)  # before the start: the decoder's gradient is the reconstruction's
    assert float(parts["d_loss"]) > 0 and float(parts["gan_weight"]) == 0.0
    assert all(p.grad is not None for p in model.discriminator.parameters())

    parts, after = _decoder_grads(model, loss_fn, batch, 10)
    assert float(parts["gan_weight"]) > 0 and not torch.allclose(after, without)

    # the optimiser sees the discriminator as its own group, with GAN betas, and nothing twice
    groups = parameter_groups(model)
    assert len(groups) == 2 and groups[1]["betas"] == (0.5, 0.9)
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in model.discriminator.parameters()}
    assert not {id(p) for p in groups[0]["params"]} & {id(p) for p in groups[1]["params"]}
    assert not any(p is q for p in groups[0]["params"] for q in vae.encoder.parameters())


def test_swap_mouth_latents_hides_the_later_frames_mouth_and_nothing_else():
    from rap.training.train_vae import swap_mouth_latents

    latents = torch.randn(3, 4, 3, 4, 4)
    centres = torch.tensor([[0.0, 0.0], [0.0, 0.0], [-1.0, -1.0]])  # crop centre, crop centre, top-left corner
    inside = torch.tensor([True, False, True])
    swapped = swap_mouth_latents(latents, centres, inside, probability=1.0, cells=(2, 3))
    expected = latents.clone()
    expected[0, :, 1:, 1:3, 0:3] = latents[0, :, :1, 1:3, 0:3]  # round(2 - 1.5) = 0 (ties to even)
    expected[2, :, 1:, 0:2, 0:3] = latents[2, :, :1, 0:2, 0:3]  # moved inside the grid
    assert torch.equal(swapped, expected)  # sample 1's mouth is outside its crop: untouched
    assert torch.equal(swap_mouth_latents(latents, centres, inside, probability=0.0), latents)

    # from another moment: every later frame gets that moment's mouth, the rest stays the crop's own
    other = torch.randn(3, 4, 1, 4, 4)
    from_other = swap_mouth_latents(latents, centres, inside, probability=1.0, cells=(2, 3), source=other)
    expected = latents.clone()
    expected[0, :, 1:, 1:3, 0:3] = other[0, :, :, 1:3, 0:3]
    expected[2, :, 1:, 0:2, 0:3] = other[2, :, :, 0:2, 0:3]
    assert torch.equal(from_other, expected)


def test_vae_loss_swaps_in_the_reference_moments_mouth():
    """`mouth_latent_swap_source="reference"`: the swapped cells come from the encoded reference frame.
    The causal encoder's first latent frame depends on the first frame alone, so a reference equal to
    the crop's first frame gives exactly the "first" swap, and another reference a different loss."""
    from rap.models.autoencoder_audio import AudioGuidedAutoencoderKLLTXVideo
    from rap.training.train_vae import VAETrainConfig, vae_loss

    torch.manual_seed(0)
    vae = AudioGuidedAutoencoderKLLTXVideo.from_unguided(_plain(), audio_dim=AUDIO_DIM).eval()
    g = torch.Generator().manual_seed(0)
    video = torch.rand(2, 3, 9, 32, 32, generator=g) * 2 - 1
    batch = {
        "video": video, "face": torch.zeros(2, 1, 9, 32, 32), "mouth": torch.ones(2, 1, 9, 32, 32),
        "mouth_centre": torch.zeros(2, 2), "mouth_in_crop": torch.tensor([True, True]),
        "audio": torch.randn(2, 9, 2, 3, generator=g), "reference": video[:, :, 0].clone(),
    }
    losses = {}
    for source in ("first", "reference"):
        config = VAETrainConfig("unused", freeze_encoder_steps=0, control_weight=0.0, mouth_latent_swap=1.0, mouth_latent_swap_source=source)
        with torch.no_grad():
            losses[source] = float(vae_loss(config)(vae, batch, 0)[0])
    assert losses["reference"] == pytest.approx(losses["first"], rel=1e-5)
    batch["reference"] = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
    with torch.no_grad():
        other = float(vae_loss(config)(vae, batch, 0)[0])
    assert other != pytest.approx(losses["first"], rel=1e-4)
