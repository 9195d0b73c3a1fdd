"""RAPPipeline end to end on tiny components: lengths, sync, CFG, determinism, streaming."""

import numpy as np
import pytest
import torch

from rap import RAPPipeline
from rap.loading import WeightsNotFoundError
from rap.media.audio import AudioError
from rap.pipelines.audio_features import null_audio_features
from rap.pipelines.guidance import make_audio_guider
from conftest import speech_like


@pytest.mark.parametrize(
    "seconds, overlap",
    [(0.04, 3), (0.5, 3), (1.0, 3), (1.0 + 1 / 25, 3), (1.0 + 8 / 25, 3), (2.013, 3), (3.0, 2), (2.5, 1)],
)
def test_video_lasts_as_long_as_the_audio(pipe, portrait, seconds, overlap):
    audio = speech_like(seconds)
    out = pipe(portrait, audio, num_inference_steps=1, overlap=overlap, crop="center")
    expected = round(len(audio) / 640)
    assert out.frames.shape == (expected, 64, 64, 3)
    assert len(out.audio) == expected * 640  # exactly frames / 25 s of 16 kHz audio
    n = min(len(audio), len(out.audio))
    assert np.array_equal(out.audio[:n], audio[:n])  # the muxed audio is the input, from its start


def test_stream_yields_clips_in_order_with_the_same_frames(pipe, portrait):
    audio = speech_like(3.0)
    whole = pipe(portrait, audio, num_inference_steps=2, seed=3, crop="center")
    clips = list(pipe.stream(portrait, audio, num_inference_steps=2, seed=3, crop="center"))
    assert [c.index for c in clips] == list(range(len(clips))) and len(clips) > 2
    assert all(c.num_clips == len(clips) for c in clips)
    starts = np.cumsum([0] + [len(c.frames) for c in clips[:-1]])
    assert [c.start_frame for c in clips] == starts.tolist()
    assert all(len(c.audio) == len(c.frames) * 640 for c in clips)
    assert np.array_equal(np.concatenate([c.frames for c in clips]), whole.frames)
    elapsed = [c.timings["elapsed_s"] for c in clips]
    assert elapsed == sorted(elapsed)


def test_same_seed_same_video_other_seed_other_video(pipe, portrait):
    audio = speech_like(1.5)
    a = pipe(portrait, audio, num_inference_steps=2, seed=7, crop="center").frames
    b = pipe(portrait, audio, num_inference_steps=2, seed=7, crop="center").frames
    c = pipe(portrait, audio, num_inference_steps=2, seed=8, crop="center").frames
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def _velocity_inputs(pipe):
    g = torch.Generator().manual_seed(0)
    latents = torch.randn(1, 8, 4, 2, 2, generator=g)
    ref = torch.randn(1, 8, 4, 2, 2, generator=g)
    features = torch.randn(1, 4, 8, 2, 16, generator=g)
    return latents, ref, features


def test_cfg_scale_one_is_the_conditional_prediction(pipe):
    latents, ref, features = _velocity_inputs(pipe)
    t = torch.tensor(500.0)
    cfg1, cfg5 = make_audio_guider("cfg", 1.0), make_audio_guider("cfg", 5.0)
    with torch.no_grad():
        both = pipe.transformer.encode_audio(torch.cat([features, null_audio_features(features)]))
        cond_only = pipe.transformer.encode_audio(features)
        v_cfg1 = pipe._predict_velocity(latents, ref, t, both, cfg1, 1.0, 0.0)
        v_cond = pipe._predict_velocity(latents, ref, t, cond_only, cfg5, 1.0, 0.0)
        v_uncond = pipe._predict_velocity(latents, ref, t, both[1:], cfg5, 1.0, 0.0)
        v_cfg5 = pipe._predict_velocity(latents, ref, t, both, cfg5, 1.0, 0.0)
    assert torch.allclose(v_cfg1, v_cond, atol=1e-5)
    assert not torch.allclose(v_cond, v_uncond, atol=1e-4)  # the audio matters
    assert torch.allclose(v_cfg5, v_uncond + 5.0 * (v_cond - v_uncond), atol=1e-4)


def test_tangential_guidance_guides_from_the_projected_unconditional_prediction(pipe):
    latents, ref, features = _velocity_inputs(pipe)
    t = torch.tensor(500.0)
    with torch.no_grad():
        both = pipe.transformer.encode_audio(torch.cat([features, null_audio_features(features)]))
        v_cond, v_uncond = (pipe._predict_velocity(latents, ref, t, both[i : i + 1], None, 1.0, 0.0) for i in (0, 1))
        v_tcfg = pipe._predict_velocity(latents, ref, t, both, make_audio_guider("tangential", 5.0), 1.0, 0.0)
    # the unconditional prediction projected on the pair's top right-singular vector
    pair = torch.stack([v_cond.flatten(), v_uncond.flatten()]).double()
    top = torch.linalg.svd(pair, full_matrices=False).Vh[0]
    projected = ((v_uncond.flatten().double() @ top) * top).reshape(v_uncond.shape)
    expected = projected + 5.0 * (v_cond.double() - projected)
    assert torch.allclose(v_tcfg.double(), expected, atol=1e-4)
    assert not torch.allclose(v_tcfg, v_uncond + 5.0 * (v_cond - v_uncond), atol=1e-3)


def _batch_sizes_per_step(pipe, portrait, audio, **kwargs):
    sizes = []
    hook = pipe.transformer.register_forward_hook(lambda module, args, out: sizes.append(args[0].shape[0]))
    try:
        frames = pipe(portrait, audio, crop="center", **kwargs).frames
    finally:
        hook.remove()
    return sizes, frames


@pytest.mark.parametrize("guidance", ["cfg", "tangential"])
def test_guidance_stop_guides_the_first_steps_only(pipe, portrait, guidance):
    audio = speech_like(1.0)  # one clip
    kwargs = dict(num_inference_steps=4, guidance=guidance, seed=1)
    sizes, half = _batch_sizes_per_step(pipe, portrait, audio, guidance_stop=0.5, **kwargs)
    assert sizes == [2, 2, 1, 1]  # the unguided steps skip the unconditional pass
    all_sizes, every = _batch_sizes_per_step(pipe, portrait, audio, **kwargs)
    assert all_sizes == [2, 2, 2, 2]
    assert not np.array_equal(half, every)
    # floor(stop * steps) steps are guided: a single step at 0.5 is the conditional prediction alone
    one = _batch_sizes_per_step(pipe, portrait, audio, num_inference_steps=1, guidance=guidance, guidance_stop=0.5, seed=1)
    unguided = _batch_sizes_per_step(pipe, portrait, audio, num_inference_steps=1, guidance_scale=1.0, seed=1)
    assert one[0] == unguided[0] == [1] and np.array_equal(one[1], unguided[1])


def test_unknown_guidance_or_stop_is_refused(pipe, portrait):
    with pytest.raises(ValueError, match="tangential"):
        pipe(portrait, speech_like(0.5), num_inference_steps=1, guidance="cfg++", crop="center")
    for stop in (0.0, 1.5):
        with pytest.raises(ValueError, match="fraction of the steps"):
            pipe(portrait, speech_like(0.5), num_inference_steps=1, guidance_stop=stop, crop="center")


def test_guidance_changes_the_video(pipe, portrait):
    audio = speech_like(1.0)
    a = pipe(portrait, audio, num_inference_steps=2, guidance_scale=1.0, crop="center").frames
    b = pipe(portrait, audio, num_inference_steps=2, guidance_scale=5.0, crop="center").frames
    assert not np.array_equal(a, b)


def test_audio_window_is_local(pipe):
    """Audio features of latent frame j come from video frames r_f*j-7 .. r_f*j only (+ context)."""
    from rap.pipelines.audio_features import AudioFeatureWindows

    windows = AudioFeatureWindows(pipe.audio_encoder, (1, 2), context_frames=2)
    audio = speech_like(4.0)
    windows.set_utterance(audio)
    base = windows.for_clip(audio, clip_start=0, latent_frames=4)
    assert base.shape == (1, 4, 8, 2, 16)
    late = audio.copy()
    late[60 * 640 :] = 0.0  # change speech long after the clip
    windows.set_utterance(audio)  # same statistics
    assert torch.allclose(windows.for_clip(late, 0, 4), base, atol=1e-5)


def test_silence_is_valid_input(pipe, portrait):
    out = pipe(portrait, np.zeros(16000, np.float32), num_inference_steps=1, crop="center")
    assert out.frames.shape[0] == 25


@pytest.mark.parametrize(
    "audio, message",
    [
        (np.zeros(100, np.float32), "shorter than one video frame"),
        (np.array([0.1, np.nan] * 1000, np.float32), "non-finite"),
        (np.zeros(0, np.float32), "no samples"),
        ("/nonexistent/speech.wav", "not found"),
    ],
)
def test_bad_audio_is_refused_clearly(pipe, portrait, audio, message):
    with pytest.raises(AudioError, match=message):
        pipe(portrait, audio, crop="center")


def test_corrupt_and_empty_audio_files(pipe, portrait, tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.mp3"
    corrupt.write_bytes(b"this is not audio" * 100)
    with pytest.raises(AudioError, match="empty"):
        pipe(portrait, str(empty), crop="center")
    with pytest.raises(AudioError, match="corrupt"):
        pipe(portrait, str(corrupt), crop="center")


def test_max_seconds(pipe, portrait):
    with pytest.raises(AudioError, match="limit"):
        pipe(portrait, speech_like(3.0), max_seconds=2, crop="center")


def test_pipeline_save_load_round_trip(pipe, portrait, tmp_path):
    pipe.save_pretrained(tmp_path / "pipe")
    loaded = RAPPipeline.load(tmp_path / "pipe")
    assert loaded.weights_source == str(tmp_path / "pipe")
    audio = speech_like(1.0)
    a = pipe(portrait, audio, num_inference_steps=2, crop="center").frames
    b = loaded(portrait, audio, num_inference_steps=2, crop="center").frames
    assert np.array_equal(a, b)


def test_loading_errors_say_where_they_looked(tmp_path):
    with pytest.raises(WeightsNotFoundError, match=str(tmp_path)):
        RAPPipeline.load(tmp_path)  # a folder without model_index.json
    with pytest.raises(WeightsNotFoundError, match="missing-folder"):
        RAPPipeline.load("./missing-folder")
    with pytest.raises(WeightsNotFoundError, match="hub id"):
        RAPPipeline.load("nobody/no-such-model")
    with pytest.raises(ValueError, match="unknown preset"):
        RAPPipeline.from_preset("rap-7b")


def test_stop_ends_the_stream_within_a_step(pipe, portrait):
    asked = []

    def stop():
        asked.append(1)
        return len(asked) > 3  # let the first clip's steps run, then stop

    clips = list(pipe.stream(portrait, speech_like(3.0), num_inference_steps=2, crop="center", stop=stop))
    assert len(clips) == 1  # 2 steps + the decode check of clip 0, then stop during clip 1
    assert len(asked) == 4


def test_reference_latents_equal_the_encoded_still_clip(pipe, portrait):
    """x_ref is the repeated portrait encoded (paper); encoding one frame must give the same."""
    from rap.media.image import prepare_portrait

    image = prepare_portrait(portrait, 64, crop="center")
    x_ref = pipe.encode_reference(image)
    pixels = pipe.video_processor.preprocess(image, height=64, width=64).unsqueeze(2)
    clip_frames = 1 + pipe.frames_per_latent * (pipe.config.latent_frames - 1)
    with torch.no_grad():
        still_clip = pipe._normalize_latents(pipe.vae.encode(pixels.expand(-1, -1, clip_frames, -1, -1)).latent_dist.mode())
    assert x_ref.shape == still_clip.shape
    torch.testing.assert_close(x_ref, still_clip, atol=1e-5, rtol=1e-5)
    other = pipe.encode_reference(prepare_portrait(portrait[::-1].copy(), 64, crop="center"))
    assert not torch.allclose(x_ref, other)


def test_reference_latents_of_a_uint8_frame_match_its_pil_image(pipe, portrait):
    """The latent cache hands x_ref uint8 numpy frames, the app PIL images: both must encode alike."""
    from PIL import Image

    from rap.media.image import prepare_portrait

    image = prepare_portrait(portrait, 64, crop="center")
    frame = np.asarray(image)
    assert frame.dtype == np.uint8
    torch.testing.assert_close(pipe.encode_reference(frame), pipe.encode_reference(Image.fromarray(frame)))
    pixels = pipe._portrait_pixels(frame)
    assert float(pixels.min()) >= -1.0 and float(pixels.max()) <= 1.0


def test_interleaved_streams_on_one_pipeline_match_separate_runs(pipe, portrait):
    """Two visitors' generators advanced alternately (as a server with concurrency > 1 does)."""
    a_audio, b_audio = speech_like(2.0, seed=1), speech_like(2.0, seed=2)
    kwargs = dict(num_inference_steps=2, crop="center")
    a_alone = pipe(portrait, a_audio, seed=1, **kwargs).frames
    b_alone = pipe(portrait, b_audio, seed=2, shift=1.0, **kwargs).frames
    a_stream = pipe.stream(portrait, a_audio, seed=1, **kwargs)
    b_stream = pipe.stream(portrait, b_audio, seed=2, shift=1.0, **kwargs)
    a_clips, b_clips = [], []
    for a_clip, b_clip in zip(a_stream, b_stream):
        a_clips.append(a_clip.frames)
        b_clips.append(b_clip.frames)
    a_clips += [c.frames for c in a_stream]
    b_clips += [c.frames for c in b_stream]
    assert np.array_equal(np.concatenate(a_clips), a_alone)
    assert np.array_equal(np.concatenate(b_clips), b_alone)


def test_hiss_alone_is_not_scaled_up_to_speech(pipe):
    """A silent upload is normalised by at most 1 / MIN_SPEECH_STD, so hiss stays quiet; speech is unit variance."""
    from rap.pipelines.audio_features import MIN_SPEECH_STD, AudioFeatureWindows

    windows = AudioFeatureWindows(pipe.audio_encoder, (1, 2))
    hiss = (1e-4 * np.random.default_rng(0).standard_normal(16000)).astype(np.float32)
    windows.set_utterance(hiss)
    assert float(windows._samples(hiss, 0, 25).std()) == pytest.approx(1e-4 / MIN_SPEECH_STD, rel=0.1)
    speech = speech_like(1.0)
    windows.set_utterance(speech)
    assert float(windows._samples(speech, 0, 25).std()) == pytest.approx(1.0, rel=0.05)


def test_the_transformer_s_own_attention_scope_is_the_default(portrait):
    """A Table 3 model (trained window-only) is sampled window-only unless a call says otherwise."""
    from conftest import tiny_pipeline

    window_only = tiny_pipeline()
    window_only.transformer.register_to_config(hybrid_weight=0.0, hybrid_bias=1.0)
    audio = speech_like(1.0)
    run = lambda **scope: window_only(portrait, audio, num_inference_steps=2, crop="center", **scope).frames
    default = run()
    assert np.array_equal(default, run(hybrid_weight=0.0, hybrid_bias=1.0))
    assert not np.array_equal(default, run(hybrid_weight=1.0, hybrid_bias=0.0))
