"""Media in and out: audio formats, odd images, face crops, mp4 with audio."""

import io

import av
import numpy as np
import pytest
from PIL import Image

from rap.media import VideoWriter, load_audio, read_video
from rap.media.image import FaceNotFoundError, ImageError, crop_square, load_image, prepare_portrait
from conftest import speech_like


def _encode(path, samples, rate, codec, channels=1):
    layout = "mono" if channels == 1 else "stereo"
    data = np.tile(samples[None], (channels, 1)).astype(np.float32)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.layout = layout
        fmt = stream.codec_context.codec.audio_formats[0].name
        frame = av.AudioFrame.from_ndarray(data if fmt.endswith("p") else data.T.reshape(1, -1).copy(), format="fltp" if fmt.endswith("p") else "flt", layout=layout)
        frame.sample_rate = rate
        resampler = av.AudioResampler(format=fmt, layout=layout, rate=rate)
        for f in resampler.resample(frame):
            for packet in stream.encode(f):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.mark.parametrize(
    "suffix, codec, rate, channels",
    [("wav", "pcm_s16le", 44100, 2), ("flac", "flac", 22050, 1), ("mp3", "libmp3lame", 48000, 2),
     ("ogg", "libopus", 48000, 1), ("m4a", "aac", 8000, 1)],
)
def test_common_audio_files_become_mono_16k(tmp_path, suffix, codec, rate, channels):
    if codec not in av.codecs_available:
        pytest.skip(f"{codec} not in this FFmpeg build")
    seconds = 1.5
    t = np.arange(int(seconds * rate)) / rate
    _encode(tmp_path / f"a.{suffix}", (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate, codec, channels)
    samples = load_audio(tmp_path / f"a.{suffix}")
    assert samples.dtype == np.float32 and samples.ndim == 1
    codec_frames = 2 * 1152 / rate  # priming and padding: at most a couple of codec frames
    assert abs(len(samples) / 16000 - seconds) < codec_frames + 0.01
    spectrum = np.abs(np.fft.rfft(samples[2000:18000]))
    assert abs(np.argmax(spectrum) * 16000 / 16000 - 440) < 3  # the tone survived resampling


def test_gradio_style_tuples_are_resampled():
    stereo = (np.random.default_rng(0).standard_normal((44100, 2)) * 3000).astype(np.int16)
    samples = load_audio((44100, stereo))
    assert len(samples) == 16000 and np.abs(samples).max() <= 1.0


def test_writer_muxes_audio_of_the_video_length(tmp_path):
    path = tmp_path / "v.mp4"
    audio = speech_like(2.0)
    with VideoWriter(path, fps=25, sample_rate=16000) as writer:
        for start in range(0, 50, 17):  # clips of odd sizes
            count = min(17, 50 - start)
            writer.write_frames(np.full((count, 64, 64, 3), start * 4, np.uint8))
            writer.write_audio(audio[start * 640 : (start + count) * 640])
    video = read_video(path)
    assert video.frames.shape == (50, 64, 64, 3) and video.fps == 25
    assert abs(len(video.audio) / 16000 - 2.0) < 0.07


# ---------------------------------------------------------------- images
def _photo(size=(120, 90)):
    rng = np.random.default_rng(0)
    return Image.fromarray((rng.random((size[1], size[0], 3)) * 255).astype(np.uint8))


def test_exif_rotation_is_applied(tmp_path):
    image = _photo((120, 90))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif)
    assert load_image(path).size == (90, 120)


@pytest.mark.parametrize("mode", ["RGBA", "LA", "L", "CMYK", "P", "I;16", "1"])
def test_odd_modes_become_rgb(tmp_path, mode):
    image = _photo().convert("RGB")
    if mode == "I;16":
        image = Image.fromarray((np.asarray(image.convert("L"), np.uint16) * 257))
    else:
        image = image.convert(mode)
    path = tmp_path / ("x.tif" if mode in ("CMYK", "I;16") else "x.png")
    image.save(path)
    loaded = load_image(path)
    assert loaded.mode == "RGB" and loaded.size == (120, 90)
    if mode == "I;16":
        assert np.asarray(loaded).max() > 200  # 16-bit range mapped, not clipped to black/white


def test_transparent_pixels_become_white():
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[..., 3] = 0
    assert np.asarray(load_image(Image.fromarray(rgba))).min() == 255


def test_tiny_corrupt_and_huge_images(tmp_path):
    with pytest.raises(ImageError, match="at least"):
        load_image(np.zeros((4, 4, 3), np.uint8))
    corrupt = tmp_path / "broken.jpg"
    corrupt.write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(ImageError, match="corrupt"):
        load_image(corrupt)
    big = Image.new("RGB", (6000, 4000), (120, 100, 90))
    assert prepare_portrait(big, 64, crop="center").size == (64, 64)


def test_no_face_is_reported_unless_a_centre_crop_is_allowed():
    noise = _photo((200, 160))
    with pytest.raises(FaceNotFoundError, match="no face"):
        prepare_portrait(noise, 64, crop="face")
    assert prepare_portrait(noise, 64, crop="auto").size == (64, 64)


def test_face_crop_on_a_real_photo():
    cbook = pytest.importorskip("matplotlib.cbook")
    with cbook.get_sample_data("grace_hopper.jpg") as f:
        photo = Image.open(io.BytesIO(f.read())).convert("RGB")
    from rap.media.image import detect_face

    face = detect_face(photo)
    assert face is not None
    cx, cy = face.x + face.width / 2, face.y + face.height / 2
    assert 0.3 * photo.width < cx < 0.7 * photo.width and cy < 0.6 * photo.height
    crop = prepare_portrait(photo, 128, crop="face")
    assert crop.size == (128, 128)


def test_crop_outside_the_image_repeats_the_border():
    image = Image.new("RGB", (50, 50), (10, 200, 30))
    crop = crop_square(image, 5, 5, 80, 32)
    assert crop.size == (32, 32) and np.all(np.asarray(crop) == (10, 200, 30))


@pytest.mark.parametrize("cx, cy, side", [(25.3, 25.0, 50.4), (0.2, 49.9, 10.0), (24.9, 25.1, 49.95)])
def test_crop_with_fractional_overflow(cx, cy, side):
    image = Image.new("RGB", (50, 50), (10, 200, 30))
    assert crop_square(image, cx, cy, side, 16).size == (16, 16)
