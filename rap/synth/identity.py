"""Identity: every parameter of one synthetic person, sampled from an integer seed.

Why a flat dataclass: it is stored next to each clip as JSON, so a data set records exactly who
is speaking and any identity can be re-rendered later at any size.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

import numpy as np

Color = tuple[float, float, float]

SKIN_TONES = np.array([
    (0.98, 0.85, 0.76), (0.95, 0.77, 0.64), (0.87, 0.66, 0.50), (0.76, 0.54, 0.38),
    (0.62, 0.42, 0.28), (0.47, 0.31, 0.20), (0.33, 0.21, 0.14),
])
HAIR_COLORS = [
    (0.05, 0.045, 0.04), (0.13, 0.08, 0.05), (0.26, 0.16, 0.09), (0.42, 0.28, 0.16), (0.62, 0.47, 0.28),
    (0.82, 0.68, 0.44), (0.90, 0.84, 0.70), (0.45, 0.16, 0.07), (0.70, 0.33, 0.13), (0.55, 0.55, 0.55),
    (0.85, 0.85, 0.83), (0.25, 0.30, 0.60), (0.70, 0.30, 0.55),
]
HAIR_COLOR_WEIGHTS = np.array([20, 18, 16, 10, 6, 5, 2, 3, 3, 4, 2, 0.7, 0.7])
IRIS_COLORS = [
    (0.28, 0.16, 0.08), (0.16, 0.09, 0.05), (0.42, 0.32, 0.14), (0.30, 0.44, 0.26), (0.30, 0.50, 0.70),
    (0.48, 0.55, 0.60),
]
HAIR_STYLES = ("bald", "buzz", "short", "side_part", "fringe", "bob", "long", "bun", "curly")


@dataclass(frozen=True)
class Identity:
    """Geometry is in image fractions (face_*) or face half-widths (everything else)."""

    seed: int
    # head placement and shape
    face_x: float
    face_y: float
    face_width: float  # half-width of the face as a fraction of the image size
    forehead_height: float  # face half-heights above/below the centre, in face half-widths
    chin_height: float
    jaw_taper: float
    skin: Color
    blush: float
    # eyes and brows
    eye_spacing: float
    eye_y: float
    eye_width: float
    eye_height: float
    eye_tilt: float
    iris: Color
    brow_y: float
    brow_thickness: float
    brow_arch: float
    brow_color: Color
    # nose, ears, mouth
    nose_length: float
    nose_width: float
    ear_size: float
    mouth_y: float
    mouth_width: float
    upper_lip: float
    lower_lip: float
    lip_color: Color
    stubble: float
    # hair
    hair_style: str
    hair_color: Color
    hair_volume: float
    hairline: float
    hair_part: float
    hair_length: float
    # clothes and scene
    shoulder_width: float
    neck_width: float
    clothes: Color
    clothes_accent: Color
    neckline: int  # 0 round, 1 v-neck, 2 shirt collar
    clothes_pattern: int  # 0 plain, 1 stripes
    background_kind: int  # 0 flat, 1 vertical gradient, 2 radial, 3 texture
    background_a: Color
    background_b: Color
    light_x: float
    light_y: float
    ambient: float
    light_tint: Color

    @staticmethod
    def sample(seed: int) -> "Identity":
        rng = np.random.default_rng([int(seed), 0x1D])
        u = rng.uniform

        def jitter(color, amount):
            return tuple(float(np.clip(c + rng.normal(0, amount), 0, 1)) for c in color)

        tone = u(0, len(SKIN_TONES) - 1)
        i = int(tone)
        skin = SKIN_TONES[i] + (SKIN_TONES[min(i + 1, len(SKIN_TONES) - 1)] - SKIN_TONES[i]) * (tone - i)
        skin = jitter(skin, 0.02)
        hair_color = HAIR_COLORS[int(rng.choice(len(HAIR_COLORS), p=HAIR_COLOR_WEIGHTS / HAIR_COLOR_WEIGHTS.sum()))]
        hair_color = jitter(hair_color, 0.025)
        style = str(rng.choice(HAIR_STYLES, p=[0.04, 0.08, 0.16, 0.14, 0.12, 0.12, 0.18, 0.07, 0.09]))
        lip_base = np.array(skin) * np.array([0.95, 0.62, 0.62]) + np.array([0.08, 0.0, 0.02])
        if u() < 0.2:  # lipstick
            lip_base = np.array([u(0.55, 0.8), u(0.08, 0.25), u(0.15, 0.35)])
        hue = u(0, 1)
        clothes = _hsv(hue, u(0.15, 0.75), u(0.2, 0.85))
        bg_hue = u(0, 1)
        return Identity(
            seed=int(seed),
            face_x=u(0.44, 0.56), face_y=u(0.38, 0.46), face_width=u(0.14, 0.19),
            forehead_height=u(1.15, 1.32), chin_height=u(1.2, 1.38), jaw_taper=u(0.12, 0.38),
            skin=skin, blush=u(0.0, 0.5),
            eye_spacing=u(0.38, 0.46), eye_y=u(-0.12, 0.0), eye_width=u(0.2, 0.25), eye_height=u(0.08, 0.11),
            eye_tilt=u(-0.03, 0.05), iris=jitter(IRIS_COLORS[int(rng.integers(len(IRIS_COLORS)))], 0.03),
            brow_y=u(0.22, 0.32), brow_thickness=u(0.03, 0.06), brow_arch=u(0.02, 0.09),
            brow_color=tuple(float(c) for c in np.array(hair_color) * u(0.5, 0.9)),
            nose_length=u(0.4, 0.56), nose_width=u(0.15, 0.23), ear_size=u(0.24, 0.32),
            mouth_y=u(0.7, 0.8), mouth_width=u(0.36, 0.46), upper_lip=u(0.06, 0.09),
            lower_lip=u(0.075, 0.12), lip_color=tuple(float(c) for c in np.clip(lip_base, 0, 1)),
            stubble=u(0, 0.6) if u() < 0.25 else 0.0,
            hair_style=style, hair_color=hair_color, hair_volume=u(0.05, 0.2), hairline=u(-0.95, -0.7),
            hair_part=u(-0.5, 0.5), hair_length=u(1.6, 3.6),
            shoulder_width=u(4.6, 5.8), neck_width=u(1.05, 1.3), clothes=clothes,
            clothes_accent=_hsv((hue + u(0.3, 0.7)) % 1, u(0.1, 0.6), u(0.4, 0.95)),
            neckline=int(rng.integers(3)), clothes_pattern=int(rng.random() < 0.15),
            background_kind=int(rng.integers(4)), background_a=_hsv(bg_hue, u(0.05, 0.5), u(0.35, 0.95)),
            background_b=_hsv((bg_hue + u(-0.15, 0.15)) % 1, u(0.05, 0.5), u(0.2, 0.8)),
            light_x=u(-0.7, 0.7), light_y=u(-0.7, -0.1), ambient=u(0.45, 0.65),
            light_tint=_hsv(u(0.03, 0.12) if u() < 0.7 else u(0.55, 0.62), u(0.0, 0.08), 1.0),  # warm or cool light
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @staticmethod
    def from_json(text: str) -> "Identity":
        data = json.loads(text)
        names = {f.name for f in fields(Identity)}
        return Identity(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in names})


def _hsv(h: float, s: float, v: float) -> Color:
    import colorsys

    return tuple(float(c) for c in colorsys.hsv_to_rgb(h, s, v))
