"""The parametric portrait renderer."""

import time

import numpy as np

from rap.synth.identity import Identity
from rap.synth.motion import FaceControls
from rap.synth.portrait import PortraitRenderer


def test_identities_vary_and_round_trip():
    a, b = Identity.sample(1), Identity.sample(2)
    assert a != b and Identity.sample(1) == a
    assert Identity.from_json(a.to_json()) == a
    styles = {Identity.sample(s).hair_style for s in range(60)}
    assert len(styles) >= 7


def test_render_sizes_and_identity_differences():
    for size in (64, 128, 200):
        frame = PortraitRenderer(Identity.sample(5), size).render()
        assert frame.image.shape == (size, size, 3) and frame.image.dtype == np.uint8
        assert frame.face_mask.shape == (32, 32) and 0.03 < frame.face_mask.mean() < 0.5
    x = PortraitRenderer(Identity.sample(5), 128).render().image.astype(float)
    y = PortraitRenderer(Identity.sample(6), 128).render().image.astype(float)
    assert np.abs(x - y).mean() > 10


def test_jaw_changes_the_mouth_and_blink_the_eyes_only():
    identity = Identity.sample(9)
    renderer = PortraitRenderer(identity, 160)
    rest = renderer.render(FaceControls()).image.astype(float)
    opened = renderer.render(FaceControls(jaw=1.0, closure=0.0))
    diff = np.abs(opened.image.astype(float) - rest).sum(-1)
    ys, xs = np.nonzero(diff > 30)
    x0, y0, x1, y1 = opened.mouth_box * 160
    assert len(ys) > 40
    assert y0 - 4 <= np.median(ys) <= y1 + 4 and x0 - 4 <= np.median(xs) <= x1 + 4
    # the open mouth is darker inside than the closed lips
    cx, cy = int((x0 + x1) / 2), int((y0 + y1) / 2)
    assert opened.image[cy - 2 : cy + 3, cx - 2 : cx + 3].mean() < rest[cy - 2 : cy + 3, cx - 2 : cx + 3].mean()
    blink = renderer.render(FaceControls(blink=1.0)).image.astype(float)
    ys, _ = np.nonzero(np.abs(blink - rest).sum(-1) > 30)
    assert len(ys) > 10 and np.all(ys < y0)


def test_head_pose_moves_the_face_but_not_the_background():
    renderer = PortraitRenderer(Identity.sample(4), 128)
    a = renderer.render(FaceControls()).image.astype(float)
    b = renderer.render(FaceControls(roll=6, shift_x=0.03)).image.astype(float)
    assert np.abs(a - b).mean() > 1
    assert np.abs(a[:6, :6] - b[:6, :6]).max() < 2  # corner of the background stays
    moved = renderer.render(FaceControls(shift_x=0.05)).mouth_box
    assert moved[0] - renderer.render(FaceControls()).mouth_box[0] > 0.04


def test_rendering_is_fast():
    renderer = PortraitRenderer(Identity.sample(3), 256)
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(40):
        renderer.render(FaceControls(jaw=rng.random(), blink=rng.random(), yaw=2, roll=1))
    fps = 40 / (time.perf_counter() - start)
    assert fps > 25, fps  # ~100+ fps when the CPU is not shared
