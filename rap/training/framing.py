"""Frame training clips the way inference frames the reference portrait.

The paper's preprocessing detects the face on a video's first frame, enlarges the box by two and
resizes the square crop to the model resolution. The pipeline does the same to the reference
image (`rap.media.image.prepare_portrait`), so training clips must be cropped by the same rule, or
the model would see faces at one scale in training and another at inference. When the detector
misses (it does on some synthetic faces), the box comes from the renderer's face mask instead.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from rap.media.image import crop_square, detect_face


def face_crop_box(first_frame: np.ndarray, face_mask: np.ndarray | None = None) -> tuple[float, float, float]:
    """(centre x, centre y, side) of the x2 face crop, in pixels of `first_frame`."""
    image = Image.fromarray(first_frame)
    face = detect_face(image)
    if face is not None:
        return face.x + face.width / 2, face.y + face.height / 2, 2.0 * max(face.width, face.height)
    if face_mask is None or face_mask.max() <= 0:
        side = min(image.size)
        return image.width / 2, image.height / 2, side
    scale_y, scale_x = image.height / face_mask.shape[0], image.width / face_mask.shape[1]
    ys, xs = np.nonzero(face_mask > 0.5 * face_mask.max())
    x0, x1, y0, y1 = xs.min() * scale_x, (xs.max() + 1) * scale_x, ys.min() * scale_y, (ys.max() + 1) * scale_y
    return (x0 + x1) / 2, (y0 + y1) / 2, 2.0 * max(x1 - x0, y1 - y0)


def frame_clip(clip: dict, resolution: int, box: tuple[float, float, float] | None = None) -> dict:
    """Crop every frame (and the face mask) of a `SynthClipDataset` item with the first frame's box
    (or `box`, when the caller crops a part of a clip with the box of its first frame)."""
    frames = clip["frames"].numpy()
    masks = clip["face_mask"].float()
    cx, cy, side = box or face_crop_box(frames[0], masks[0].numpy())
    cropped = np.stack([np.asarray(crop_square(Image.fromarray(f), cx, cy, side, resolution)) for f in frames])
    height, width = frames.shape[1:3]
    # the same crop on the mask, through a grid sample in normalised coordinates
    theta = torch.tensor(
        [[side / width, 0.0, 2 * cx / width - 1], [0.0, side / height, 2 * cy / height - 1]], dtype=torch.float32
    )
    grid = F.affine_grid(theta[None].expand(len(masks), -1, -1), (len(masks), 1, 32, 32), align_corners=False)
    mask = F.grid_sample(masks[:, None], grid, padding_mode="border", align_corners=False)[:, 0]
    return dict(clip, frames=torch.from_numpy(cropped), face_mask=mask)
