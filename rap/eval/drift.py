"""How far a long video wanders from its reference portrait, frame by frame.

Why: the paper's Fig. 6a argues that conditioning each clip on the previous clip's finished frames
(motion frames) lets errors pile up over a long video, while latent inheritance (Algorithm 2) does
not. A per-frame distance to the reference image turns that claim into a curve that two
strategies can be compared on. Both images are shrunk and blurred first, so the small motions of a
talking face (lips, blinks, a nod) matter little and what drift changes (colours, contrast,
identity, accumulated artifacts) matters most.
"""

from __future__ import annotations

import numpy as np


def _small(images: np.ndarray, size: int) -> np.ndarray:
    import cv2

    out = [cv2.resize(np.asarray(image), (size, size), interpolation=cv2.INTER_AREA) for image in images]
    out = [cv2.GaussianBlur(image, (0, 0), sigmaX=size / 64) for image in out]
    return np.stack(out).astype(np.float64) / 255.0


def reference_similarity(frames: np.ndarray, reference, size: int = 64) -> np.ndarray:
    """PSNR (dB, higher = closer) of every frame against the reference, both reduced to size x size.

    frames: uint8 (T, H, W, 3); reference: an (H', W', 3) array or PIL image, ideally the portrait
    as the model saw it (`rap.media.image.prepare_portrait`). Returns float (T,); identical images
    give 100 dB.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected frames of shape (T, H, W, 3), got {frames.shape}")
    reference = np.asarray(reference.convert("RGB") if hasattr(reference, "convert") else reference)
    if reference.ndim != 3 or reference.shape[-1] != 3:
        raise ValueError(f"expected an RGB reference of shape (H, W, 3), got {reference.shape}")
    if reference.dtype != np.uint8:
        reference = np.clip(reference, 0, 255).astype(np.uint8)
    small = _small(frames, size)
    target = _small(reference[None], size)[0]
    mse = ((small - target) ** 2).mean(axis=(1, 2, 3))
    return np.minimum(10.0 * np.log10(1.0 / np.maximum(mse, 1e-10)), 100.0)
