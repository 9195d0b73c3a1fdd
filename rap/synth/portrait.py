"""Parametric head-and-shoulders portraits with per-frame mouth, eyelids and head pose.

Why layered: everything that does not change within a clip (background, back hair, body, the
face with nose, brows, ears and front hair) is rendered once per clip; a frame only draws the
eyes and the mouth into a copy of the face layer, drops the chin with the jaw (a local remap),
and moves the head layers with one affine warp (cv2.warpAffine) before compositing.

Coordinates: (u, v) are in face half-widths from the face centre, v pointing down.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from rap.synth.identity import Identity
from rap.synth.motion import FaceControls, mouth_opening
from rap.synth.shapes import coverage, ellipse, gaussian, over, paint, smoothstep, value_noise

MAX_LIP_GAP = 0.40  # lip gap at jaw = 1, in face half-widths
EYE_CACHE_LEVELS = 24


@dataclass
class RenderedFrame:
    image: np.ndarray  # uint8 (H, W, 3)
    face_mask: np.ndarray  # float32 (m, m) soft mask of the face skin, low resolution
    mouth_box: np.ndarray  # float32 (4,) x0, y0, x1, y1 as image fractions


class PortraitRenderer:
    """Renders one identity at one size; create one per clip and call `render` per frame."""

    def __init__(self, identity: Identity, size: int = 256, mask_size: int = 32):
        self.identity = identity
        self.size = size
        self.mask_size = mask_size
        self.scale = identity.face_width * size  # pixels per face unit
        self.center = np.array([identity.face_x * size, identity.face_y * size], np.float32)
        self._rng = np.random.default_rng([identity.seed, 0x5EED])
        ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
        self.u = (xs + 0.5 - self.center[0]) / self.scale
        self.v = (ys + 0.5 - self.center[1]) / self.scale
        light = np.array([identity.light_x, identity.light_y, 0.9])
        self.light = light / np.linalg.norm(light)
        self._build_static_layers()
        self._eye_cache: dict[int, list] = {}
        del self.u, self.v

    # ------------------------------------------------------------------ static layers
    def _face_shape(self, u, v):
        idt = self.identity
        half_height = np.where(v < 0, idt.forehead_height, idt.chin_height)
        t = np.clip(v / idt.chin_height, 0, 1)
        half_width = 1.0 - idt.jaw_taper * t**2 + 0.04 * np.exp(-(((v - 0.15) / 0.3) ** 2))
        return np.sqrt((u / half_width) ** 2 + (v / half_height) ** 2) - 1.0, half_width, half_height

    def _shade(self, nx, ny, nz):
        """Lambert shading with the identity's ambient level and light direction."""
        norm = np.sqrt(nx * nx + ny * ny + nz * nz) + 1e-6
        lambert = np.clip((nx * self.light[0] + ny * self.light[1] + nz * self.light[2]) / norm, 0, 1)
        return (self.identity.ambient + (1 - self.identity.ambient) * lambert).astype(np.float32)

    def _skin_color(self, shade):
        """Skin tone times shading; shadows get warmer (light scattered under the skin)."""
        skin = np.asarray(self.identity.skin, np.float32)
        tint = np.asarray(self.identity.light_tint, np.float32)
        warm = skin * np.array([1.0, 0.55, 0.45], np.float32)
        s = shade[..., None]
        return np.clip(skin * tint * s + 0.18 * (1 - s) * warm, 0, 1)

    def _build_static_layers(self):
        size = self.size
        self.background = self._background()
        self.back_rgb = np.zeros((size, size, 3), np.float32)
        self.back_a = np.zeros((size, size), np.float32)
        self.body_rgb = np.zeros((size, size, 3), np.float32)
        self.body_a = np.zeros((size, size), np.float32)
        self.head_rgb = np.zeros((size, size, 3), np.float32)
        self.head_a = np.zeros((size, size), np.float32)
        self._back_hair()
        self._body()
        self._head()
        self._front_hair()
        self.face_mask_full = self._face_cover.copy()
        m = self.mask_size
        self.face_mask_low = cv2.resize(self._face_cover, (m, m), interpolation=cv2.INTER_AREA)

    def _background(self):
        idt, size = self.identity, self.size
        a, b = np.asarray(idt.background_a, np.float32), np.asarray(idt.background_b, np.float32)
        ys = (np.arange(size, dtype=np.float32) + 0.5) / size
        if idt.background_kind == 0:
            t = np.zeros((size, size), np.float32)
        elif idt.background_kind == 1:
            t = np.broadcast_to(ys[:, None], (size, size))
        elif idt.background_kind == 2:
            t = np.clip(np.hypot(ys[None, :] - 0.5, ys[:, None] - 0.4) * 1.6, 0, 1)
        else:
            t = 0.6 * value_noise(self._rng, (size, size), 6) + 0.4 * value_noise(self._rng, (size, size), 23)
        image = a + (b - a) * np.asarray(t, np.float32)[..., None]
        vignette = 1 - 0.25 * np.clip(np.hypot(ys[None, :] - 0.5, ys[:, None] - 0.5) * 1.4, 0, 1) ** 2
        return (image * vignette[..., None]).astype(np.float32)

    def _strands(self, u, v, density=420.0):
        """Hair strand texture: streaks radiating from a point above the crown."""
        idt = self.identity
        theta = np.arctan2(u - idt.hair_part * 0.5, v + idt.forehead_height + 1.4)
        noise = self._rng.random(2048).astype(np.float32)
        noise = np.convolve(np.pad(noise, 1, mode="wrap"), [0.25, 0.5, 0.25], mode="valid")
        fine = np.interp(theta * density, np.arange(2048) - 1024, noise)
        coarse = np.interp(theta * density / 9.0, np.arange(2048) - 1024, noise)
        return (0.72 + 0.28 * fine + 0.25 * (coarse - 0.5)).astype(np.float32)

    def _hair_color(self, u, v, cover, depth=1.0):
        idt = self.identity
        ru, rv = 1.1 + idt.hair_volume, idt.forehead_height + 0.2
        cv_ = -0.35
        nx, ny = (u / ru), ((v - cv_) / rv)
        nz = np.sqrt(np.clip(1 - nx * nx - ny * ny, 0.05, 1))
        shade = self._shade(nx, np.minimum(ny, 0.6), nz)
        sheen = np.exp(-(((np.hypot(nx, ny) - 0.6) / 0.12) ** 2)) * np.clip(-ny, 0, 1) * 0.35
        base = np.asarray(idt.hair_color, np.float32)
        tex = self._strands(u, v)
        color = base * (shade * tex * depth)[..., None] + (sheen * shade)[..., None] * (0.25 + 0.6 * base)
        return np.clip(color, 0, 1)

    def _back_hair(self):
        idt, u, v = self.identity, self.u, self.v
        style, vol = idt.hair_style, idt.hair_volume
        if style in ("bald", "buzz"):
            return
        f = ellipse(u, v, 0, -0.3, 1.1 + vol, idt.forehead_height + 0.05 + vol)
        if style in ("short", "side_part", "fringe", "bun"):
            f = np.maximum(f, v - 0.2)
        elif style == "bob":
            f = np.minimum(f, np.maximum(np.abs(u) - (1.22 + vol), np.maximum(-v, v - idt.mouth_y - 0.25)))
        elif style == "long":
            width = 1.2 + vol + 0.12 * np.clip(v, 0, None)
            f = np.minimum(f, np.maximum(np.abs(u) - width, np.maximum(-v, v - idt.hair_length)))
        elif style == "curly":
            theta = np.arctan2(v + 0.3, u)
            bumps = 0.05 * np.sin(theta * 17 + idt.seed % 7) + 0.03 * np.sin(theta * 29)
            f = ellipse(u, v, 0, -0.25, 1.55 + vol + bumps, idt.forehead_height + 0.45 + vol + bumps)
            f = np.maximum(f, v - 0.9)
        if style == "bun":
            f = np.minimum(f, ellipse(u, v, 0.15, -idt.forehead_height - 0.2, 0.42, 0.38))
        cover = coverage(f)
        paint(self.back_rgb, self.back_a, self._hair_color(u, v, cover, depth=0.72), cover)

    def _body(self):
        idt, u, v = self.identity, self.u, self.v
        neck_half = idt.neck_width / 2 + 0.25 * np.clip(v - idt.chin_height - 0.2, 0, None) ** 2
        neck_f = np.maximum(np.abs(u) - neck_half, 0.2 - v)
        neck_shade = self._shade(u / 0.6, np.zeros_like(u), np.ones_like(u) * 0.9)
        neck_shade = neck_shade * (0.55 + 0.35 * smoothstep(idt.chin_height - 0.1, idt.chin_height + 0.6, v))
        paint(self.body_rgb, self.body_a, self._skin_color(neck_shade), coverage(neck_f))
        top = idt.chin_height + 0.45
        sw = idt.shoulder_width / 2
        shoulder_line = top + 0.18 * np.clip(np.abs(u) - 0.45, 0, None) + 0.7 * np.clip(np.abs(u) - sw + 0.9, 0, None) ** 2
        body_f = np.maximum(shoulder_line - v, np.abs(u) - sw - 0.25 * np.clip(v - top, 0, None))
        if idt.neckline == 0:
            opening = ellipse(u, v, 0, top - 0.05, idt.neck_width * 0.62, 0.3)
        elif idt.neckline == 1:
            opening = np.abs(u) - idt.neck_width * 0.6 * (1 - (v - top) / 0.75) - 0.0 * v
            opening = np.maximum(opening, top - 0.2 - v)
        else:
            opening = ellipse(u, v, 0, top, idt.neck_width * 0.5, 0.16)
        body_f = np.maximum(body_f, -opening)
        nx = np.clip(u / (sw + 0.2), -1, 1)
        shade = self._shade(nx, np.full_like(u, -0.4), np.sqrt(1 - nx * nx) + 0.2)
        folds = 0.06 * (value_noise(self._rng, u.shape, 7) - 0.5)
        color = np.asarray(idt.clothes, np.float32) * (shade + folds)[..., None]
        if idt.clothes_pattern == 1:
            stripes = (np.sin(v * 9.0) > 0.4).astype(np.float32)
            stripes = cv2.GaussianBlur(stripes, (3, 3), 0.8)[..., None]
            color = color * (1 - stripes) + np.asarray(idt.clothes_accent, np.float32) * shade[..., None] * stripes
        body_cover = coverage(body_f)
        paint(self.body_rgb, self.body_a, np.clip(color, 0, 1), body_cover)
        # soft shadow of the clothes edge onto the neck and of the chin onto the chest
        if idt.neckline == 2:
            for side in (-1, 1):
                flap = np.maximum.reduce([
                    -(side * u) + 0.05,
                    side * u - idt.neck_width * 0.55 - 0.25 * (v - top + 0.15),
                    top - 0.18 - v,
                    v - top - 0.35 + 0.5 * np.abs(u),
                ])
                accent = np.asarray(idt.clothes_accent, np.float32) * shade[..., None] * 1.05
                paint(self.body_rgb, self.body_a, np.clip(accent, 0, 1), coverage(flap) * body_cover.clip(0.0, 1) ** 0)

    def _head(self):
        idt, u, v = self.identity, self.u, self.v
        face_f, half_width, half_height = self._face_shape(u, v)
        # ears (behind the face outline)
        for side in (-1, 1):
            ear_u, ear_v = side * 0.98, idt.eye_y + 0.2
            ear = ellipse(u, v, ear_u, ear_v, 0.14, idt.ear_size * 0.55)
            ear_shade = self._shade(side * np.ones_like(u) * 0.6, (v - ear_v) / idt.ear_size, np.ones_like(u) * 0.6)
            inner = gaussian(u, v, ear_u + side * 0.02, ear_v, 0.05, idt.ear_size * 0.25)
            paint(self.head_rgb, self.head_a, self._skin_color(ear_shade * (0.85 - 0.25 * inner)), coverage(ear))
        # face with ellipsoid shading
        nx = u / half_width
        ny = v / half_height
        nz = np.sqrt(np.clip(1 - nx * nx - ny * ny, 0, 1))
        shade = self._shade(nx * 0.9, ny * 0.8, nz + 0.25)
        for side in (-1, 1):  # eye sockets and cheeks
            shade = shade - 0.09 * gaussian(u, v, side * idt.eye_spacing, idt.eye_y - 0.02, 0.2, 0.12)
            shade = shade + 0.05 * gaussian(u, v, side * 0.5, idt.eye_y + 0.32, 0.22, 0.15)
        # nose: bridge side shadow, tip highlight, shadow under the tip
        tip_v = idt.eye_y + idt.nose_length
        away = -np.sign(idt.light_x) if abs(idt.light_x) > 0.05 else 1.0
        bridge = np.clip((v - idt.eye_y + 0.05) / (tip_v - idt.eye_y), 0, 1) * (v < tip_v + 0.05)
        shade = shade - 0.16 * bridge * np.exp(-(((u - away * (0.07 + 0.1 * bridge * idt.nose_width)) / 0.05) ** 2))
        shade = shade + 0.08 * bridge * np.exp(-(((u + away * 0.03) / 0.035) ** 2))
        shade = shade + 0.1 * gaussian(u, v, -away * 0.03, tip_v - 0.04, idt.nose_width * 0.35, 0.06)
        shade = shade - 0.2 * gaussian(u, v, 0, tip_v + 0.07, idt.nose_width * 0.6, 0.035)
        for side in (-1, 1):
            shade = shade - 0.1 * gaussian(u, v, side * idt.nose_width * 0.62, tip_v - 0.01, 0.04, 0.06)
        # under the lower lip, chin highlight
        shade = shade - 0.08 * gaussian(u, v, 0, idt.mouth_y + 0.17, 0.16, 0.04)
        shade = shade + 0.06 * gaussian(u, v, 0, idt.chin_height - 0.25, 0.2, 0.12)
        shade = shade * (1 - 0.25 * smoothstep(0.75, 1.0, np.sqrt(nx * nx + ny * ny)))
        skin = self._skin_color(np.clip(shade, 0.05, 1.3))
        blush = sum(gaussian(u, v, s * 0.55, idt.mouth_y - 0.3, 0.2, 0.14) for s in (-1, 1)) * idt.blush * 0.22
        skin = skin * (1 - blush[..., None]) + blush[..., None] * skin * np.array([1.08, 0.7, 0.7], np.float32)
        if idt.stubble > 0:
            beard = np.clip(-ellipse(u, v, 0, idt.mouth_y + 0.15, 0.95, 0.7) / 0.25, 0, 1) * smoothstep(tip_v + 0.05, tip_v + 0.25, v)
            grain = self._rng.random(u.shape).astype(np.float32)
            amount = (idt.stubble * 0.4 * beard * (0.6 + 0.4 * grain))[..., None]
            skin = skin * (1 - amount) + amount * np.asarray(idt.hair_color, np.float32) * shade[..., None] * 0.8
        face_cover = coverage(face_f)
        paint(self.head_rgb, self.head_a, np.clip(skin, 0, 1), face_cover)
        self._face_cover = face_cover
        # nostrils and alar creases
        for side in (-1, 1):
            nostril = ellipse(u, v, side * idt.nose_width * 0.33, tip_v + 0.035, 0.05, 0.022)
            paint(self.head_rgb, None, self._skin_color(np.full_like(u, 0.3)), coverage(nostril) * 0.85)
        # eyelid creases (the eyes themselves are drawn per frame)
        for side in (-1, 1):
            ecu = side * idt.eye_spacing
            s = (u - ecu) / (idt.eye_width * 1.05)
            crease_v = idt.eye_y - idt.eye_height * 1.55 * np.sqrt(np.clip(1 - s * s, 0, 1)) - side * s * idt.eye_tilt * 0
            crease = np.maximum(np.abs(v - crease_v) - 0.008, np.abs(s) - 0.95)
            paint(self.head_rgb, None, self._skin_color(np.full_like(u, 0.55)), coverage(crease) * 0.45)
        # brows
        for side in (-1, 1):
            bcu = side * (idt.eye_spacing + 0.03)
            s = (u - bcu) / (idt.eye_width * 1.3)
            t = np.clip(side * s * 0.5 + 0.5, 0, 1)  # 0 at the inner end, 1 at the outer end
            centre_line = idt.eye_y - idt.brow_y - idt.brow_arch * (1 - (side * s - 0.15) ** 2)
            thickness = idt.brow_thickness * (1.15 - 0.6 * t)
            brow = np.maximum(np.abs(v - centre_line) - thickness / 2, np.abs(s) - 1)
            hairs = 0.8 + 0.3 * self._rng.random(u.shape).astype(np.float32)
            color = np.asarray(idt.brow_color, np.float32) * hairs[..., None] * shade[..., None].clip(0.4, 1.1)
            paint(self.head_rgb, None, np.clip(color, 0, 1), coverage(brow) * 0.92)

    def _front_hair(self):
        idt, u, v = self.identity, self.u, self.v
        style, vol = idt.hair_style, idt.hair_volume
        if style == "bald":
            return
        face_f, half_width, _ = self._face_shape(u, v)
        cap = ellipse(u, v, 0, -0.15, 1.05 + vol * 0.5, idt.forehead_height - 0.1 + vol * 0.6)
        if style == "fringe":
            hairline = idt.eye_y - idt.brow_y - 0.06 + 0.5 * u**4 + 0.02 * np.sin(u * 40)
        else:
            hairline = idt.hairline + 0.45 * u**2 + 0.12 * (u - idt.hair_part) * np.sign(idt.hair_part)
            hairline = hairline + 0.25 * smoothstep(0.75, 1.0, np.abs(u))
        f = np.maximum(cap, v - hairline)
        if style == "curly":
            theta = np.arctan2(v + 0.3, u)
            f = np.maximum(cap - 0.06 * np.sin(theta * 23), v - hairline - 0.04 * np.sin(u * 31))
        if style in ("bob", "long"):
            bottom = idt.mouth_y + 0.25 if style == "bob" else idt.hair_length
            inner = np.where(v < idt.chin_height, half_width - 0.12, 0.72)
            inner = np.maximum(inner, 0.72 - 0.2 * np.clip(-v, 0, 1))
            outer = inner + 0.28 + vol + 0.08 * np.clip(v, 0, None)
            lock = np.maximum.reduce([inner - np.abs(u), np.abs(u) - outer, v - bottom, hairline - 0.35 - v])
            f = np.minimum(f, lock)
        cover = coverage(f)
        color = self._hair_color(u, v, cover)
        if style == "buzz":
            cover = cover * 0.8
            color = color * 0.8 + 0.2 * np.asarray(self.identity.skin, np.float32) * 0.6
        # darken the skin just under the hair edge (occlusion)
        shadow = np.clip(coverage(f - 0.06) - cover, 0, 1) * 0.25
        self.head_rgb *= 1 - shadow[..., None]
        paint(self.head_rgb, self.head_a, color, cover)

    # ------------------------------------------------------------------ per-frame parts
    def _patch_grid(self, cu: float, cv: float, half_u: float, half_v_up: float, half_v_down: float):
        """Pixel window (y0, y1, x0, x1) and its (u, v) grids around a point in face units."""
        x0 = int(np.floor(self.center[0] + (cu - half_u) * self.scale))
        x1 = int(np.ceil(self.center[0] + (cu + half_u) * self.scale))
        y0 = int(np.floor(self.center[1] + (cv - half_v_up) * self.scale))
        y1 = int(np.ceil(self.center[1] + (cv + half_v_down) * self.scale))
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, self.size), min(y1, self.size)
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        return (y0, y1, x0, x1), (xs + 0.5 - self.center[0]) / self.scale, (ys + 0.5 - self.center[1]) / self.scale

    def _eye_patch(self, side: int, blink: float):
        idt = self.identity
        ecu, ecv = side * idt.eye_spacing, idt.eye_y
        ew, eh = idt.eye_width, idt.eye_height
        window, u, v = self._patch_grid(ecu, ecv, ew * 1.25, eh * 2.0, eh * 1.6)
        s = (u - ecu) / ew
        b = v - ecv + idt.eye_tilt * side * s * ew * 2
        profile = np.sqrt(np.clip(1 - s * s, 0, 1))
        skew = 1 + 0.18 * side * s  # the upper lid peaks slightly towards the nose
        upper_open = -eh * profile**1.2 / skew
        lower = 0.55 * eh * profile**1.4
        upper = upper_open * (1 - blink) + (0.9 * lower) * blink
        opening = np.maximum.reduce([upper - b, b - lower, np.abs(s) - 1])
        open_cover = coverage(opening)
        rgb = np.zeros(u.shape + (3,), np.float32)
        alpha = np.zeros(u.shape, np.float32)
        lid_shadow = 1 - 0.4 * np.exp(-np.clip(b - upper, 0, None) / (0.35 * eh))
        sclera = np.array([0.94, 0.92, 0.89], np.float32) * ((1 - 0.3 * s * s) * lid_shadow)[..., None]
        paint(rgb, alpha, sclera, open_cover)
        iu, iv, ri = ecu, ecv + 0.05 * eh, 1.05 * eh
        r = np.hypot(u - iu, v - iv)
        ang = np.arctan2(v - iv, u - iu)
        streak = 0.85 + 0.15 * np.sin(ang * 19 + 2.0) * np.sin(ang * 7)
        iris = np.asarray(idt.iris, np.float32) * (0.6 + 0.55 * (r / ri) * streak)[..., None]
        iris = iris * (1 - 0.55 * smoothstep(0.8, 1.0, r / ri))[..., None] * lid_shadow[..., None]
        paint(rgb, None, np.clip(iris, 0, 1), coverage(r - ri) * open_cover)
        paint(rgb, None, (0.03, 0.025, 0.025), coverage(r - 0.42 * ri) * open_cover)
        hx = iu + (0.35 * np.sign(idt.light_x) - 0.1) * ri
        glint = coverage(np.hypot(u - hx, v - (iv - 0.4 * ri)) - 0.2 * ri)
        paint(rgb, None, (1.0, 1.0, 0.98), glint * open_cover * 0.9)
        lash_t = 0.022 * (1 + 0.6 * np.clip(side * s, 0, 1))
        lash = np.maximum(np.abs(b - (upper - lash_t * 0.35)) - lash_t / 2, np.abs(s) - 1.06)
        lash_color = np.asarray(idt.brow_color, np.float32) * 0.4 + 0.02
        paint(rgb, alpha, lash_color, coverage(lash))
        low = np.maximum(np.abs(b - lower - 0.006) - 0.005, np.abs(s) - 0.95)
        paint(rgb, alpha, self._skin_color(np.full(u.shape, 0.5, np.float32)), coverage(low) * 0.5)
        return window, rgb, alpha

    def _eyes(self, blink: float):
        level = int(round(np.clip(blink, 0, 1) * (EYE_CACHE_LEVELS - 1)))
        if level not in self._eye_cache:
            b = level / (EYE_CACHE_LEVELS - 1)
            self._eye_cache[level] = [self._eye_patch(side, b) for side in (-1, 1)]
        return self._eye_cache[level]

    def _mouth_patch(self, jaw: float, width: float, round_: float, closure: float):
        idt = self.identity
        gap = MAX_LIP_GAP * float(mouth_opening(jaw, closure))
        mw = idt.mouth_width * (0.85 + 0.3 * width) * (1 - 0.32 * round_)
        thick = (1 + 0.45 * round_) * (1 - 0.35 * closure)
        tu, tl = idt.upper_lip * thick, idt.lower_lip * thick
        window, u, v = self._patch_grid(0, idt.mouth_y, mw + 0.06, tu + 0.12 + 0.3 * gap, tl + 0.1 + 0.8 * gap)
        y = v - idt.mouth_y
        s = u / mw
        prof = np.clip(1 - s * s, 0, 1)
        p_open = 0.5 + 0.5 * (1 - round_)  # rounder lips -> rounder opening
        inner_top = -0.3 * gap * prof**p_open
        inner_bottom = 0.7 * gap * prof**p_open
        bow = 0.3 * tu * np.exp(-((s / 0.13) ** 2)) * (1 - 0.5 * round_)
        peaks = 0.12 * tu * np.exp(-(((np.abs(s) - 0.22) / 0.12) ** 2))
        outer_top = inner_top - tu * prof**0.55 + bow - peaks
        outer_bottom = inner_bottom + tl * prof**0.6
        edge = np.abs(s) - 1
        rgb = np.zeros(u.shape + (3,), np.float32)
        alpha = np.zeros(u.shape, np.float32)
        lip = np.asarray(idt.lip_color, np.float32)
        # mouth interior: dark, teeth on top, tongue below
        if gap > 0.004:
            interior = coverage(np.maximum.reduce([inner_top - y, y - inner_bottom, edge]))
            depth = np.clip((y - inner_top) / max(gap, 1e-3), 0, 1)
            paint(rgb, alpha, np.array([0.22, 0.06, 0.06], np.float32) * (0.6 + 0.4 * prof[..., None]), interior)
            tongue = ellipse(u, y, 0, inner_bottom.max() + 0.02, mw * 0.55, 0.06 + 0.15 * gap)
            paint(rgb, None, np.array([0.6, 0.25, 0.26], np.float32) * (0.5 + 0.5 * depth[..., None]), coverage(tongue) * interior)
            tooth_h = min(0.065, 0.5 * gap + 0.02)
            teeth_top = np.maximum.reduce([y - (inner_top + tooth_h * prof**0.3), np.abs(s) - 0.72])
            gaps = 0.9 + 0.1 * np.abs(np.cos(u * np.pi / 0.055))
            paint(rgb, None, np.array([0.93, 0.91, 0.85], np.float32) * gaps[..., None] * (1 - 0.5 * s[..., None] ** 2),
                  coverage(teeth_top) * interior)
            lower_teeth = np.maximum.reduce([inner_bottom - 0.035 * prof - y, np.abs(s) - 0.55])
            paint(rgb, None, np.array([0.8, 0.78, 0.72], np.float32), coverage(lower_teeth) * interior * 0.9)
        # lips: upper darker (faces down), lower lighter with a highlight
        upper_f = np.maximum.reduce([outer_top - y, y - inner_top, edge])
        lower_f = np.maximum.reduce([inner_bottom - y, y - outer_bottom, edge])
        light_side = 1 + 0.1 * self.identity.light_x * s
        upper_col = lip * (0.78 * light_side)[..., None]
        hl = np.exp(-(((y - (inner_bottom + 0.4 * tl)) / (0.3 * tl)) ** 2)) * np.exp(-((s / 0.5) ** 2))
        lower_col = lip * (0.95 * light_side)[..., None] + 0.18 * hl[..., None]
        paint(rgb, alpha, np.clip(upper_col, 0, 1), coverage(upper_f))
        paint(rgb, alpha, np.clip(lower_col, 0, 1), coverage(lower_f))
        # the line between the lips and the dimples at the corners
        seam = np.maximum(np.abs(y - (inner_top + inner_bottom) / 2) - (0.006 + 0.5 * (inner_bottom - inner_top)), edge)
        paint(rgb, alpha, lip * 0.35, coverage(seam) * (0.85 if gap < 0.01 else 0.5))
        corners = sum(gaussian(u, y, side * mw * 1.02, 0.3 * gap, 0.025, 0.02) for side in (-1, 1)) * 0.35
        paint(rgb, alpha, self._skin_color(np.full(u.shape, 0.4, np.float32)), corners.astype(np.float32))
        return window, rgb, alpha

    def _lower_face_remap(self, rgb, alpha, jaw: float, closure: float):
        """Move the chin down with the jaw: rows below the mouth slide down, stretching the skin."""
        idt = self.identity
        drop = 0.7 * MAX_LIP_GAP * float(mouth_opening(jaw, closure)) * 0.9
        if drop * self.scale < 0.05:
            return
        top_v = idt.mouth_y + 0.02
        window, u, v = self._patch_grid(0, top_v, 1.2, 0.0, idt.chin_height - top_v + drop + 0.1)
        y0, y1, x0, x1 = window
        across = np.clip(1.15 - np.abs(u), 0, 0.25) / 0.25  # fade out at the sides of the face
        dv = drop * smoothstep(0.0, 0.35, v - top_v) * across
        map_x = (u * self.scale + self.center[0] - 0.5).astype(np.float32)
        map_y = ((v - dv) * self.scale + self.center[1] - 0.5).astype(np.float32)
        rgba = np.dstack([rgb, alpha])
        warped = cv2.remap(rgba, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        rgb[y0:y1, x0:x1] = warped[..., :3]
        alpha[y0:y1, x0:x1] = warped[..., 3]

    def head_transform(self, controls: FaceControls) -> np.ndarray:
        """2x3 affine of the head layers: roll about the neck, yaw/pitch as shifts and squeezes."""
        pivot = self.center + np.array([0, self.identity.chin_height * 0.8 * self.scale], np.float32)
        yaw, pitch, roll = np.radians([controls.yaw, controls.pitch, controls.roll])
        scale_x, scale_y = np.cos(yaw), np.cos(pitch)
        c, s = np.cos(roll), np.sin(roll)
        linear = np.array([[c, -s], [s, c]]) @ np.diag([scale_x, scale_y])
        shift = np.array([
            controls.shift_x * self.size + np.sin(yaw) * 0.9 * self.scale,
            controls.shift_y * self.size + np.sin(pitch) * 0.9 * self.scale,
        ])
        offset = pivot + shift - linear @ pivot
        return np.hstack([linear, offset[:, None]]).astype(np.float32)

    def render(self, controls: FaceControls = FaceControls()) -> RenderedFrame:
        head_rgb = self.head_rgb.copy()
        head_a = self.head_a.copy()
        self._lower_face_remap(head_rgb, head_a, controls.jaw, controls.closure)
        for (y0, y1, x0, x1), rgb, alpha in self._eyes(controls.blink):
            view = head_rgb[y0:y1, x0:x1]
            view *= 1 - alpha[..., None]
            view += rgb
        (y0, y1, x0, x1), rgb, alpha = self._mouth_patch(controls.jaw, controls.width, controls.round, controls.closure)
        view = head_rgb[y0:y1, x0:x1]
        view *= 1 - alpha[..., None]
        view += rgb
        matrix = self.head_transform(controls)
        size = (self.size, self.size)
        image = self.background.copy()
        if self.back_a.any():
            back = cv2.warpAffine(np.dstack([self.back_rgb, self.back_a]), matrix, size, flags=cv2.INTER_LINEAR)
            over(image, back[..., :3], back[..., 3])
        over(image, self.body_rgb, self.body_a)
        head = cv2.warpAffine(np.dstack([head_rgb, head_a]), matrix, size, flags=cv2.INTER_LINEAR)
        over(image, head[..., :3], head[..., 3])
        image = (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
        m = self.mask_size
        low = matrix.copy()
        low[:, 2] *= m / self.size  # same warp in mask pixels: only the translation scales
        face_mask = cv2.warpAffine(self.face_mask_low, low, (m, m), flags=cv2.INTER_LINEAR)
        return RenderedFrame(image=image, face_mask=face_mask, mouth_box=self.mouth_box(matrix, controls))

    def mouth_box(self, matrix: np.ndarray, controls: FaceControls) -> np.ndarray:
        idt = self.identity
        gap = MAX_LIP_GAP * float(mouth_opening(controls.jaw, controls.closure))
        mw = idt.mouth_width * 1.1
        corners = np.array([
            [-mw, idt.mouth_y - idt.upper_lip - 0.3 * gap - 0.02],
            [mw, idt.mouth_y + idt.lower_lip + 0.7 * gap + 0.02],
        ])
        pixels = corners * self.scale + self.center
        pts = np.array([[x, y] for x in pixels[:, 0] for y in pixels[:, 1]])
        moved = pts @ matrix[:, :2].T + matrix[:, 2]
        return (np.concatenate([moved.min(0), moved.max(0)]) / self.size).astype(np.float32)


@lru_cache(maxsize=8)
def renderer_for(identity: Identity, size: int) -> PortraitRenderer:
    return PortraitRenderer(identity, size)


def render_portrait(seed: int, size: int = 256, controls: FaceControls = FaceControls()) -> np.ndarray:
    """One still portrait (uint8 RGB) of identity `seed`."""
    return PortraitRenderer(Identity.sample(seed), size).render(controls).image
