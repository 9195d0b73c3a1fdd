"""The reference portrait: any common image in, a square RGB crop around the face out.

Preprocessing follows the paper's data pipeline: detect the face, enlarge its box by a factor of
two so that the face fills about half the crop, and resize to the model resolution. The detector
is OpenCV's Haar cascade for frontal faces, which ships inside `opencv-contrib-python-headless`
and works offline; the largest detection wins. When no face is found the caller decides whether
a centre crop is acceptable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

MAX_PIXELS = 120_000_000  # refuse decompression bombs, accept any real photo
MIN_SIDE = 16


class ImageError(ValueError):
    """An image that cannot be used, with a message meant for the person who gave it."""


class FaceNotFoundError(ImageError):
    pass


def load_image(image) -> Image.Image:
    """Open a path / PIL image / array as upright 8-bit RGB (EXIF rotation, alpha, CMYK, 16-bit)."""
    if isinstance(image, (str, Path)):
        path = Path(image)
        if not path.is_file():
            raise ImageError(f"image file not found: {path}")
        Image.MAX_IMAGE_PIXELS = MAX_PIXELS
        try:
            image = Image.open(path)
            image.load()
        except Image.DecompressionBombError as error:
            raise ImageError(f"{path.name} is too large (over {MAX_PIXELS // 1_000_000} megapixels)") from error
        except (OSError, ValueError, SyntaxError) as error:
            raise ImageError(f"cannot read {path.name}: it is corrupt or not an image format") from error
    elif isinstance(image, np.ndarray):
        array = image
        if array.dtype != np.uint8:
            scale = 255.0 / (65535.0 if array.max() > 255 else (1.0 if array.max() <= 1.0 else 255.0))
            array = np.clip(array.astype(np.float64) * scale, 0, 255).astype(np.uint8)
        image = Image.fromarray(array)
    elif not isinstance(image, Image.Image):
        raise ImageError(f"unsupported image input of type {type(image).__name__}")

    image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if array.max() > 255 else 255.0
        image = Image.fromarray(np.clip(array / peak * 255.0, 0, 255).astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    image = image.convert("RGB")
    if min(image.size) < MIN_SIDE:
        raise ImageError(f"the image is {image.size[0]}x{image.size[1]} pixels; at least {MIN_SIDE} are needed")
    return image


@dataclass(frozen=True)
class FaceBox:
    x: float
    y: float
    width: float
    height: float


def detect_face(image: Image.Image) -> FaceBox | None:
    """Largest frontal face, in pixel coordinates of `image`, or None."""
    import cv2

    scale = min(1.0, 640.0 / max(image.size))
    small = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.BILINEAR)
    gray = cv2.equalizeHist(cv2.cvtColor(np.asarray(small), cv2.COLOR_RGB2GRAY))
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    min_side = max(12, int(0.08 * min(gray.shape)))
    faces = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side))
    if len(faces) == 0:
        return None
    x, y, w, h = max(faces, key=lambda f: f[2] * f[3])
    return FaceBox(x / scale, y / scale, w / scale, h / scale)


def crop_square(image: Image.Image, cx: float, cy: float, side: float, resolution: int) -> Image.Image:
    """Square crop centred at (cx, cy); parts outside the image repeat its border pixels."""
    side = max(1.0, side)
    left, top = cx - side / 2, cy - side / 2
    overflow = max(-left, -top, left + side - image.width, top + side - image.height)
    if overflow > 0:
        pad = math.ceil(overflow) + 1
        array = np.pad(np.asarray(image), ((pad, pad), (pad, pad), (0, 0)), mode="edge")
        image, left, top = Image.fromarray(array), left + pad, top + pad
    box = (left, top, left + side, top + side)
    return image.resize((resolution, resolution), Image.LANCZOS, box=box, reducing_gap=3.0)


def prepare_portrait(image, resolution: int, crop: str = "face") -> Image.Image:
    """Load and crop the reference image.

    crop: "face" (detect; error if none), "auto" (face, else centre crop), "center", or "none"
    (the whole image squashed to a square).
    """
    image = load_image(image)
    if crop == "none":
        return image.resize((resolution, resolution), Image.LANCZOS)
    if crop in ("face", "auto"):
        face = detect_face(image)
        if face is not None:
            side = 2.0 * max(face.width, face.height)
            return crop_square(image, face.x + face.width / 2, face.y + face.height / 2, side, resolution)
        if crop == "face":
            raise FaceNotFoundError(
                "no face was found in the image; use a frontal portrait, or allow a centre crop"
            )
    elif crop != "center":
        raise ValueError(f"unknown crop mode {crop!r}; choose face, auto, center or none")
    side = min(image.size)
    return crop_square(image, image.width / 2, image.height / 2, side, resolution)
