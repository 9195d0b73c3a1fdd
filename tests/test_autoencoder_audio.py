"""The audio-guided VAE: diffusers' LTX decoder plus the sound of every frame, nothing else."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKLLTXVideo

from rap.models.autoencoder_audio import AudioGuidedAutoencoderKLLTXVideo, audio_at_frame_rate
from tests.test_autoencoder_reference import TINY

AUDIO_DIM = 6  # N * C: 2 layers x 3 channels


def _plain() -> AutoencoderKLLTXVideo:
    torch.manual_seed(0)
    return AutoencoderKLLTXVideo(**TINY).eval()


def _hearing(vae: AudioGuidedAutoencoderKLLTXVideo) -> AudioGuidedAutoencoderKLLTXVideo:
    """Switch the sound on, as training would."""
    torch.manual_seed(1)
    for injection in vae.audio_injections:
        torch.nn.init.normal_(injection.value[-1].weight, std=0.5)
    return vae


def _audio(frames: int, seed: int = 2) -> torch.Tensor:
    return torch.randn(1, frames, 2, 3, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def test_silent_injections_decode_exactly_like_the_plain_ltx_decoder():
    """The decode re-runs LTXVideoDecoder3d's steps; as wrapped (zero projections) it must give
    diffusers' output whatever the sound."""
    plain = _plain()
    guided = AudioGuidedAutoencoderKLLTXVideo.from_unguided(plain, audio_dim=AUDIO_DIM).eval()
    video = torch.rand(1, 3, 17, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    latents = plain.encode(video).latent_dist.mode()
    assert torch.equal(guided.encode(video).latent_dist.mode(), latents)
    expected = plain.decode(latents).sample
    got = guided.decode(latents, audio=_audio(17)).sample
    assert got.shape == expected.shape == video.shape
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


@torch.no_grad()
def test_the_sound_of_a_frame_steers_the_frames_around_it_and_its_order_counts():
    """What the DiT's window cannot see (the order of the sound inside a latent frame) reaches the
    picture here: reversing each latent frame's 8 frames of sound changes the decode. With only the
    finest level hearing, frame k's sound reaches frames near k and leaves distant ones exactly."""
    vae = _hearing(AudioGuidedAutoencoderKLLTXVideo(**TINY, audio_dim=AUDIO_DIM, audio_levels=1).eval())
    latents = torch.randn(1, 8, 3, 4, 4, generator=torch.Generator().manual_seed(3))
    audio = _audio(17)
    base = vae.decode(latents, audio=audio).sample
    nudged = audio.clone()
    nudged[:, 4] += 3.0
    change = (vae.decode(latents, audio=nudged).sample - base).abs().amax(dim=(0, 1, 3, 4))  # per frame
    assert change[4] > 1e-3
    assert float(change[12:].max()) == 0.0 and float(change[0]) == 0.0
    reversed_within = torch.cat([audio[:, :1], audio[:, 1:].unflatten(1, (2, 8)).flip(2).flatten(1, 2)], dim=1)
    assert not torch.allclose(vae.decode(latents, audio=reversed_within).sample, base, atol=1e-4)


def test_coarser_levels_hear_the_mean_of_the_frames_they_stand_for():
    frames = torch.arange(17.0).view(1, 17, 1)
    assert torch.equal(audio_at_frame_rate(frames, 17), frames)
    assert audio_at_frame_rate(frames, 9).flatten().tolist() == [0, 1.5, 3.5, 5.5, 7.5, 9.5, 11.5, 13.5, 15.5]
    assert audio_at_frame_rate(frames, 5).flatten().tolist() == [0, 2.5, 6.5, 10.5, 14.5]
    assert audio_at_frame_rate(frames, 1).flatten().tolist() == [0]
    with pytest.raises(ValueError, match="fold"):
        audio_at_frame_rate(frames, 4)


@torch.no_grad()
def test_decode_asks_for_the_sound_of_every_output_frame():
    vae = AudioGuidedAutoencoderKLLTXVideo(**TINY, audio_dim=AUDIO_DIM).eval()
    latents = torch.randn(1, 8, 3, 2, 2)
    with pytest.raises(ValueError, match="audio-guided"):
        vae.decode(latents)
    with pytest.raises(ValueError, match="17 frames"):
        vae.decode(latents, audio=_audio(16))
    with pytest.raises(ValueError, match="audio_levels"):
        AudioGuidedAutoencoderKLLTXVideo(**TINY, audio_levels=4)


def test_audio_guided_vae_saves_and_loads_with_its_class(tmp_path):
    from rap.loading import load_vae

    vae = _hearing(AudioGuidedAutoencoderKLLTXVideo(**TINY, audio_dim=AUDIO_DIM, audio_levels=3))
    vae.save_pretrained(tmp_path)
    loaded = load_vae(tmp_path)
    assert isinstance(loaded, AudioGuidedAutoencoderKLLTXVideo) and loaded.config.audio_levels == 3
    for (name, a), (_, b) in zip(vae.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name


def test_decoder_audio_gives_every_decoded_frame_its_own_sound():
    """Features per latent frame (`AudioFeatureWindows.for_clip` layout: latent j covers frames
    start - r + 1 + r*j ... start + r*j) -> one entry per decoded frame, frame k = start + k."""
    from rap import RAPPipeline

    r, latent_frames, start = 8, 4, 40
    frame_of = start - r + 1 + r * torch.arange(latent_frames)[:, None] + torch.arange(r)[None]  # (F, r)
    features = frame_of.float()[None, :, :, None, None].expand(1, latent_frames, r, 2, 3)
    per_frame = RAPPipeline.decoder_audio(features)
    assert per_frame.shape == (1, 1 + r * (latent_frames - 1), 2, 3)
    assert per_frame[0, :, 0, 0].tolist() == [start + k for k in range(1 + r * (latent_frames - 1))]


def test_audio_guided_pipeline_streams_and_hands_the_decoder_each_clip_s_sound(portrait, tmp_path):
    from rap import RAPPipeline
    from rap.pipelines.audio_features import AudioFeatureWindows
    from tests.conftest import tiny_audio_guided_pipeline

    pipe = tiny_audio_guided_pipeline()
    vae = pipe.vae
    assert pipe.audio_guided_decoder and not pipe.reference_guided_decoder
    heard = []
    decode = vae.decode
    vae.decode = lambda z, temb=None, return_dict=True, audio=None: heard.append(audio) or decode(z, temb, return_dict, audio=audio)
    speech = np.random.default_rng(0).normal(0, 0.1, 62 * 640).astype(np.float32)  # 62 frames: several clips
    clips = list(pipe.stream(portrait, speech, crop="center", overlap=1))
    assert sum(len(c.frames) for c in clips) == 62 and len(heard) == len(clips) > 1
    assert all(audio.shape == (1, 25, 2, 16) for audio in heard)  # every decoded frame of the clip
    windows = AudioFeatureWindows(pipe.audio_encoder, (1, 2), 25, 8)
    windows.set_utterance(speech)
    torch.testing.assert_close(heard[0], RAPPipeline.decoder_audio(windows.for_clip(speech, 0, 4)))
    assert not torch.allclose(heard[1], heard[0])
    vae.decode = decode
    with pytest.raises(ValueError, match="audio-guided"):
        pipe.decode_latents(torch.zeros(1, 8, 3, 2, 2))
    # latents of fewer frames than a clip (a notebook's preview) hear the clip's first frames
    features = windows.for_clip(speech, 0, 4)
    assert pipe.decode_latents(torch.zeros(1, 8, 2, 2, 2), audio_features=features).shape == (9, 64, 64, 3)
    pipe.save_pretrained(tmp_path)
    reloaded = RAPPipeline.from_pretrained(tmp_path)
    assert isinstance(reloaded.vae, AudioGuidedAutoencoderKLLTXVideo)


def test_vae_training_batches_carry_each_crop_s_sound_and_train_the_injections(tmp_path):
    """Framed clips written with an audio encoder give every crop the features of its own frames,
    and a decoder-only step reaches the (zero-initialised) injections but not the encoder."""
    from rap.pipelines.audio_features import AudioFeatureWindows
    from rap.synth.dataset import DatasetConfig, SynthClipDataset, write_dataset
    from rap.training.framed_clips import FramedClips, write_framed_clips
    from rap.training.train_vae import VAETrainConfig, random_crops, vae_loss
    from tests.conftest import tiny_pipeline

    encoder = tiny_pipeline().audio_encoder
    write_dataset(DatasetConfig(str(tmp_path / "synth"), clips=2, seed=3, size=64, frames=20, shard_size=2))
    windows = AudioFeatureWindows(encoder, (1, 2), 25, 8)
    write_framed_clips(SynthClipDataset(tmp_path / "synth", with_meta=False), tmp_path / "framed", 32, audio_windows=windows)
    clips = list(FramedClips(tmp_path / "framed"))
    assert clips[0]["audio_features"].shape == (20, 2, 16)
    config = VAETrainConfig("unused", crop=32, batch_size=2, frames=9, mouth_crop_probability=0.0)
    batch = next(random_crops(FramedClips(tmp_path / "framed"), config, 32, crops_per_clip=1))
    assert batch["audio"].shape == (2, 9, 2, 16)
    # each crop's sound is a run of 9 consecutive frames of one clip's features
    for sound in batch["audio"]:
        found = [
            t0 for clip in clips for t0 in range(20 - 9 + 1)
            if torch.allclose(clip["audio_features"][t0 : t0 + 9], sound)
        ]
        assert found

    vae = AudioGuidedAutoencoderKLLTXVideo.from_unguided(_plain(), audio_dim=32)
    vae.encoder.requires_grad_(False)
    loss, _ = vae_loss(replace(config, control_weight=0.0, freeze_encoder_steps=0))(vae, batch)
    loss.backward()
    assert all(float(i.value[-1].weight.grad.abs().sum()) > 0 for i in vae.audio_injections)
    assert all(p.grad is None for p in vae.encoder.parameters())
