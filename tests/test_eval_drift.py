"""Distance of a video's frames to the reference portrait (drift curves, Fig. 6a)."""

import numpy as np
import pytest
from PIL import Image

from rap.eval.drift import reference_similarity


def test_similarity_falls_as_frames_drift_and_ignores_size():
    rng = np.random.default_rng(0)
    reference = (rng.random((96, 96, 3)) * 255).astype(np.uint8)
    big = np.asarray(Image.fromarray(reference).resize((192, 192), Image.BILINEAR))
    drifting = np.stack([np.clip(big.astype(int) + 12 * k, 0, 255).astype(np.uint8) for k in range(5)])
    scores = reference_similarity(drifting, Image.fromarray(reference))
    assert scores.shape == (5,)
    assert scores[0] > 30 and np.all(np.diff(scores) < 0)
    assert reference_similarity(reference[None], reference)[0] == 100.0


def test_rejects_bad_shapes():
    with pytest.raises(ValueError, match="frames"):
        reference_similarity(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="reference"):
        reference_similarity(np.zeros((1, 4, 4, 3), np.uint8), np.zeros((4, 4), np.uint8))
