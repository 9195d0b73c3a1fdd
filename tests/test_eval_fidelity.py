"""The FID/FVD stand-ins of the quality report: paired PSNR and frame-to-frame change."""

import numpy as np
import pytest

from rap.eval.fidelity import frame_change, video_psnr


def _video(seed: int, frames: int = 6, size: int = 16) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (frames, size, size, 3), dtype=np.uint8)


def test_psnr_is_100_db_for_the_truth_and_falls_with_noise():
    truth = _video(0)
    assert video_psnr(truth, truth) == 100.0
    rng = np.random.default_rng(1)
    slightly = np.clip(truth + rng.normal(0, 2, truth.shape), 0, 255).astype(np.uint8)
    heavily = np.clip(truth + rng.normal(0, 20, truth.shape), 0, 255).astype(np.uint8)
    assert 40.0 < video_psnr(slightly, truth) < 50.0  # sigma 2 levels: about 42 dB
    assert video_psnr(heavily, truth) < video_psnr(slightly, truth) - 15.0


def test_psnr_uses_the_common_length_and_rejects_other_sizes():
    truth = _video(0, frames=6)
    assert video_psnr(np.concatenate([truth, _video(2, frames=3)]), truth) == 100.0
    with pytest.raises(ValueError, match="frame sizes differ"):
        video_psnr(_video(0, size=16), _video(0, size=8))
    with pytest.raises(ValueError, match="expected frames"):
        video_psnr(truth[0], truth)


def test_frame_change_is_zero_when_still_and_grows_with_flicker():
    still = np.repeat(_video(0, frames=1), 5, axis=0)
    assert frame_change(still) == 0.0
    assert frame_change(still[:1]) == 0.0
    flicker = still.astype(np.int16)
    flicker[1::2] += 10
    assert frame_change(np.clip(flicker, 0, 255).astype(np.uint8)) == pytest.approx(10.0, abs=0.5)
