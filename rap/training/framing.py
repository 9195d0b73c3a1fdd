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

from rap.media.image import FaceBox, crop_square, detect_face

# Haar's face box is smaller than the rendered skin mask's box: side ratio 0.88 (sd 0.11), measured
# on 16 synthetic faces at 384 px where both were found. The mask fallback frames at Haar's scale.
DETECTOR_TO_MASK_SIDE = 0.88


def face_crop_box(first_frame: np.ndarray, face_mask: np.ndarray | None = None) -> tuple[float, float, float]:
    """(centre x, centre y, side) of the x2 face crop, in pixels of `first_frame`."""
    image = Image.fromarray(first_frame)
    face = detect_face(image)
    mask_box = _mask_box(face_mask, image.size) if face_mask is not None and face_mask.max() > 0 else None
    # the detector sometimes fires on hair or background; trust it only on the rendered face
    if face is not None and (mask_box is None or on_rendered_face(face, mask_box)):
        return face.x + face.width / 2, face.y + face.height / 2, 2.0 * max(face.width, face.height)
    if mask_box is None:
        side = min(image.size)
        return image.width / 2, image.height / 2, side
    x0, x1, y0, y1 = mask_box
    return (x0 + x1) / 2, (y0 + y1) / 2, 2.0 * DETECTOR_TO_MASK_SIDE * max(x1 - x0, y1 - y0)


def on_rendered_face(face: FaceBox, mask_box: tuple[float, float, float, float]) -> bool:
    """Whether a detection's centre lies in the face mask's box (x0, x1, y0, y1; `_mask_box`)."""
    cx, cy = face.x + face.width / 2, face.y + face.height / 2
    return bool(mask_box[0] <= cx <= mask_box[1] and mask_box[2] <= cy <= mask_box[3])


def _mask_box(face_mask: np.ndarray, size: tuple[int, int]) -> tuple[float, float, float, float]:
    """(x0, x1, y0, y1) of the face mask, in pixels of an image of `size` (width, height)."""
    scale_y, scale_x = size[1] / face_mask.shape[0], size[0] / face_mask.shape[1]
    ys, xs = np.nonzero(face_mask > 0.5 * face_mask.max())
    return xs.min() * scale_x, (xs.max() + 1) * scale_x, ys.min() * scale_y, (ys.max() + 1) * scale_y


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
    framed = dict(clip, frames=torch.from_numpy(cropped), face_mask=mask)
    if "mouth_boxes" in clip:  # image fractions of the source frame -> fractions of the crop
        boxes = torch.as_tensor(clip["mouth_boxes"], dtype=torch.float32).clone()
        boxes[:, 0::2] = (boxes[:, 0::2] * width - (cx - side / 2)) / side
        boxes[:, 1::2] = (boxes[:, 1::2] * height - (cy - side / 2)) / side
        framed["mouth_boxes"] = boxes
    return framed


def mouth_mask(boxes: torch.Tensor, size: int, grow: float = 1.5) -> torch.Tensor:
    """(T, size, size) float mask of the mouth boxes (fractions of the frame), grown by `grow`
    about their centres so the lips' surroundings (chin, philtrum) count too."""
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = (boxes[:, 2:] - boxes[:, :2]).abs() * grow / 2
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    inside_x = (coords[None] - centre[:, :1]).abs() <= half[:, :1]  # (T, size)
    inside_y = (coords[None] - centre[:, 1:]).abs() <= half[:, 1:]
    return (inside_y[:, :, None] & inside_x[:, None, :]).float()
