"""Anti-aliased shape primitives on numpy grids (why: smooth edges without supersampling).

Shapes are implicit functions f (negative inside). `coverage` turns f into a per-pixel coverage
in [0, 1] by dividing by its numerical gradient, i.e. an approximate signed distance in pixels,
so every edge is a one-pixel ramp whatever the units of f.
"""

from __future__ import annotations

import numpy as np


def coverage(f: np.ndarray, softness: float = 1.0) -> np.ndarray:
    gy, gx = np.gradient(f)
    slope = np.sqrt(gx * gx + gy * gy) + 1e-6
    return np.clip(0.5 - f / (slope * softness), 0.0, 1.0).astype(np.float32)


def ellipse(u: np.ndarray, v: np.ndarray, cu: float, cv: float, ru: float, rv: float) -> np.ndarray:
    return np.sqrt(((u - cu) / ru) ** 2 + ((v - cv) / rv) ** 2) - 1.0


def gaussian(u: np.ndarray, v: np.ndarray, cu: float, cv: float, su: float, sv: float) -> np.ndarray:
    return np.exp(-0.5 * (((u - cu) / su) ** 2 + ((v - cv) / sv) ** 2)).astype(np.float32)


def smoothstep(a: float, b: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - a) / (b - a), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def paint(rgb: np.ndarray, alpha: np.ndarray | None, color, cover: np.ndarray) -> None:
    """Paint `color` (RGB triple or (..., 3) field) with coverage over a premultiplied layer."""
    c = cover[..., None]
    rgb *= 1.0 - c
    rgb += np.asarray(color, np.float32) * c
    if alpha is not None:
        alpha *= 1.0 - cover
        alpha += cover


def over(dst_rgb: np.ndarray, src_rgb: np.ndarray, src_alpha: np.ndarray) -> None:
    """Composite a premultiplied layer over an opaque image in place."""
    dst_rgb *= 1.0 - src_alpha[..., None]
    dst_rgb += src_rgb


def value_noise(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    """Smooth noise in [0, 1] from a random low-resolution grid, bicubically enlarged."""
    import cv2

    grid = rng.random((cells, cells)).astype(np.float32)
    return np.clip(cv2.resize(grid, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC), 0, 1)
