"""How close a generated video looks to the ground truth, and how much it moves from frame to frame.

Why: the paper's Table 3 ranks attention scopes by FID and FVD as well as by sync. Both need
pretrained Inception / I3D networks that cannot be fetched here, so the quality report carries two
stand-ins that need nothing but the frames, read next to the same numbers for the ground truth and
for its VAE round trip (the ceiling of a generator in that latent space):
- `video_psnr`: per-frame PSNR against the ground-truth video of the same clip (same portrait, same
  audio), averaged; a picture-quality reading in the spirit of FID, but paired, so it also charges
  a generator for motion that differs from the ground truth's;
- `frame_change`: the mean absolute change between consecutive frames, in 8-bit levels; a
  coherence reading in the spirit of FVD: flicker and boiling textures raise it above the ground
  truth's, a frozen face lowers it.
"""

from __future__ import annotations

import numpy as np


def _as_videos(*videos: np.ndarray) -> list[np.ndarray]:
    out = []
    for video in videos:
        video = np.asarray(video)
        if video.ndim != 4 or video.shape[-1] != 3:
            raise ValueError(f"expected frames of shape (T, H, W, 3), got {video.shape}")
        out.append(video.astype(np.float64))
    return out


def video_psnr(video: np.ndarray, truth: np.ndarray) -> float:
    """Mean per-frame PSNR (dB, 8-bit range) of `video` against `truth` over their common length;
    identical frames count as 100 dB."""
    video, truth = _as_videos(video, truth)
    if video.shape[1:] != truth.shape[1:]:
        raise ValueError(f"frame sizes differ: {video.shape[1:]} vs {truth.shape[1:]}")
    length = min(len(video), len(truth))
    mse = ((video[:length] - truth[:length]) ** 2).mean(axis=(1, 2, 3))
    psnr = 10.0 * np.log10(255.0**2 / np.maximum(mse, 1e-10))
    return float(np.minimum(psnr, 100.0).mean())


def frame_change(video: np.ndarray) -> float:
    """Mean absolute difference between consecutive frames (8-bit levels); 0 for a still video."""
    (video,) = _as_videos(video)
    if len(video) < 2:
        return 0.0
    return float(np.abs(np.diff(video, axis=0)).mean())
