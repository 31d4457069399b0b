"""Tiny persons as seen from a drone: standing/walking, lying and swimming, 2–32 px, with shadows.

A person is a handful of ellipses (head in skin tone with hair, torso in clothing colour, arms, legs) laid out in
body-relative pixels and drawn with ``sprite.draw_shapes``; at 2–6 px that is just a few blended coloured pixels.
The annotation box is the tight box of the person's own shapes (never the shadow or the splash).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .sprite import Ellipse, draw_shapes, shapes_bounds_xyxy

POSES = ("standing", "lying", "swimming")
MIN_HEIGHT_PX, MAX_HEIGHT_PX = 2.1, 32.0  # boxes of standing persons come out ~0.98x this
MEDIAN_HEIGHT_PX = 10.0  # body length; boxes of standing persons are ~this tall
SWIM_SCALE = 1.5  # swimmers show head + shoulders, ~1/3 of a body: scale them up so their blobs stay visible
HEIGHT_LOG_SIGMA = 0.5
STEP_HZ = 1.8  # gait cycles per second of a walking person
BOB_HZ = 0.5  # vertical bobbing of swimmers

SKIN_BGR = ((185, 200, 235), (160, 185, 225), (140, 170, 210), (115, 145, 195), (85, 115, 165), (60, 85, 130),
            (45, 62, 98))
HAIR_BGR = ((20, 20, 25), (30, 40, 60), (40, 70, 110), (90, 150, 200), (125, 125, 125))
CLOTHES_BGR = ((40, 40, 200), (160, 80, 30), (80, 40, 20), (235, 235, 235), (30, 30, 30), (40, 200, 230),
               (60, 140, 50), (30, 120, 240), (170, 120, 230), (140, 60, 110), (130, 130, 130), (200, 180, 60),
               (120, 160, 170))
SHADOW_BGR = (25, 30, 35)


@dataclass(frozen=True)
class Person:
    """One person in canvas pixels.

    ``anchor_xy_px``: feet centre (standing), body centre (lying), head centre (swimming) at t = 0.
    ``height_px``: body length. ``velocity_xy_px_s``: walking velocity (zero when still).
    """
    pose: str
    anchor_xy_px: tuple
    height_px: float
    angle_deg: float
    skin_bgr: tuple
    hair_bgr: tuple
    top_bgr: tuple
    bottom_bgr: tuple
    arms_bgr: tuple
    velocity_xy_px_s: tuple = (0.0, 0.0)
    phase_rad: float = 0.0

    def anchor_at(self, t_s: float) -> tuple:
        """Anchor position (x, y) px at time ``t_s``."""
        return (self.anchor_xy_px[0] + self.velocity_xy_px_s[0] * t_s,
                self.anchor_xy_px[1] + self.velocity_xy_px_s[1] * t_s)


def sample_heights_px(rng: np.random.Generator, n: int, median_px: float = MEDIAN_HEIGHT_PX) -> np.ndarray:
    """Body lengths [n] px, log-normal around ``median_px``, clipped to [2, 32] px like TinyPerson."""
    h = rng.lognormal(math.log(median_px), HEIGHT_LOG_SIGMA, size=n)
    return np.clip(h, MIN_HEIGHT_PX, MAX_HEIGHT_PX)


def _pick(rng: np.random.Generator, palette) -> tuple:
    return tuple(int(v) for v in palette[int(rng.integers(len(palette)))])


def sample_person(rng: np.random.Generator, pose: str, anchor_xy_px: tuple, height_px: float,
                  scene_kind: str, walking: bool) -> Person:
    """Draw colours, orientation and (for walkers) a velocity of ~0.4–0.9 body lengths per second."""
    if pose not in POSES:
        raise ValueError(f"unknown pose '{pose}'; choose from {', '.join(POSES)}")
    skin = _pick(rng, SKIN_BGR)
    bare = scene_kind in ("beach", "sea") and rng.random() < 0.55  # swimwear: bare torso or a bikini top
    top = skin if bare else _pick(rng, CLOTHES_BGR)
    bottom = _pick(rng, CLOTHES_BGR)
    arms = skin if (bare or rng.random() < 0.5) else top
    velocity = (0.0, 0.0)
    if walking and pose == "standing":
        heading = rng.uniform(0, 2 * math.pi)
        speed_px_s = height_px * rng.uniform(0.4, 0.9)
        velocity = (speed_px_s * math.cos(heading), speed_px_s * math.sin(heading) * 0.6)
    return Person(pose=pose, anchor_xy_px=(float(anchor_xy_px[0]), float(anchor_xy_px[1])),
                  height_px=float(height_px), angle_deg=float(rng.uniform(0, 360)), skin_bgr=skin,
                  hair_bgr=_pick(rng, HAIR_BGR), top_bgr=top, bottom_bgr=bottom, arms_bgr=arms,
                  velocity_xy_px_s=velocity, phase_rad=float(rng.uniform(0, 2 * math.pi)))


def _place(parts, anchor_xy, angle_deg: float) -> list:
    """Body-frame parts (u, v, ru, rv, colour) → image ellipses rotated by ``angle_deg`` about the anchor."""
    a = math.radians(angle_deg)
    c, s = math.cos(a), math.sin(a)
    out = []
    for u, v, ru, rv, col in parts:
        out.append(Ellipse(anchor_xy[0] + u * c - v * s, anchor_xy[1] + u * s + v * c, ru, rv, angle_deg, col))
    return out


def _standing_parts(p: Person, t_s: float) -> list:
    """Upright body, feet at (0, 0), y up is negative; legs and arms swing when walking."""
    h = p.height_px
    k = max(1.0, 1.1 / (0.47 * h))  # keep the figure at least ~1 px wide
    moving = p.velocity_xy_px_s != (0.0, 0.0)
    swing = math.sin(p.phase_rad + 2 * math.pi * STEP_HZ * t_s) if moving else 0.0
    direction = 1.0 if p.velocity_xy_px_s[0] >= 0 else -1.0
    leg_dx = 0.05 * h * swing * direction
    return [
        (-0.06 * h * k + leg_dx, -0.24 * h, 0.055 * h * k, 0.24 * h, p.bottom_bgr),
        (0.06 * h * k - leg_dx, -0.24 * h, 0.055 * h * k, 0.24 * h, p.bottom_bgr),
        (-0.19 * h * k - 0.6 * leg_dx, -0.58 * h, 0.045 * h * k, 0.16 * h, p.arms_bgr),
        (0.19 * h * k + 0.6 * leg_dx, -0.58 * h, 0.045 * h * k, 0.16 * h, p.arms_bgr),
        (0.0, -0.6 * h, 0.15 * h * k, 0.19 * h, p.top_bgr),
        (0.0, -0.88 * h, 0.09 * h * max(k, 1.0), 0.1 * h, p.skin_bgr),
        (0.0, -0.92 * h, 0.085 * h * max(k, 1.0), 0.06 * h, p.hair_bgr),
    ]


def _lying_parts(p: Person) -> list:
    """Body along +u (head end), centred on the anchor."""
    h = p.height_px
    k = max(1.0, 1.0 / (0.3 * h))
    return [
        (-0.25 * h, 0.0, 0.24 * h, 0.1 * h * k, p.bottom_bgr),
        (0.12 * h, -0.15 * h * k, 0.16 * h, 0.04 * h * k, p.arms_bgr),
        (0.12 * h, 0.15 * h * k, 0.16 * h, 0.04 * h * k, p.arms_bgr),
        (0.13 * h, 0.0, 0.2 * h, 0.13 * h * k, p.top_bgr),
        (0.41 * h, 0.0, 0.09 * h, 0.09 * h * k, p.skin_bgr),
        (0.45 * h, 0.0, 0.06 * h, 0.085 * h * k, p.hair_bgr),
    ]


def _swimming_parts(p: Person, t_s: float) -> list:
    """Head and shoulders above the water line; the shoulders rise and sink with the bob."""
    h = max(p.height_px * SWIM_SCALE, 6.0)  # the visible blob stays >= ~2 px
    bob = 0.5 + 0.5 * math.sin(p.phase_rad + 2 * math.pi * BOB_HZ * t_s)
    shoulders = (0.0, 0.11 * h, 0.2 * h, (0.03 + 0.05 * bob) * h, p.top_bgr)
    head_dy = -0.02 * h * bob
    return [shoulders,
            (0.0, head_dy, 0.1 * h, 0.11 * h, p.skin_bgr),
            (0.0, head_dy - 0.035 * h, 0.095 * h, 0.08 * h, p.hair_bgr)]


def person_shapes(p: Person, t_s: float, offset_xy_px: tuple = (0.0, 0.0)) -> list:
    """The person's own shapes at time ``t_s``, shifted by ``-offset_xy_px`` (camera position)."""
    x, y = p.anchor_at(t_s)
    anchor = (x - offset_xy_px[0], y - offset_xy_px[1])
    if p.pose == "standing":
        return _place(_standing_parts(p, t_s), anchor, 0.0)
    if p.pose == "lying":
        return _place(_lying_parts(p), anchor, p.angle_deg)
    return _place(_swimming_parts(p, t_s), anchor, 0.0)


def effect_shapes(p: Person, t_s: float, offset_xy_px: tuple, sun_dir_xy: tuple | None) -> tuple:
    """Shapes drawn under the person, not part of the box: (dark shadow shapes, white splash shapes)."""
    x, y = p.anchor_at(t_s)
    ax, ay = x - offset_xy_px[0], y - offset_xy_px[1]
    h = p.height_px
    if p.pose == "swimming":
        hs = max(h * SWIM_SCALE, 6.0)
        return [], [Ellipse(ax, ay + 0.1 * hs, 0.32 * hs, 0.16 * hs, 0.0, (235, 240, 240))]
    if sun_dir_xy is None:
        return [], []
    dx, dy = sun_dir_xy
    if p.pose == "standing":
        length_px = 0.7 * h
        angle = math.degrees(math.atan2(dy, dx))
        return [Ellipse(ax + dx * length_px / 2, ay + dy * length_px / 2, length_px / 2, 0.13 * h, angle,
                        SHADOW_BGR)], []
    shifted = _place(_lying_parts(p), (ax + dx * 0.08 * h, ay + dy * 0.08 * h), p.angle_deg)
    return [Ellipse(e.cx_px, e.cy_px, e.rx_px, e.ry_px, e.angle_deg, SHADOW_BGR) for e in shifted], []


def person_bounds_xyxy(p: Person, t_s: float = 0.0) -> tuple:
    """Analytic bounds (x1, y1, x2, y2) canvas px of the person at ``t_s`` (for placement, not annotation)."""
    return shapes_bounds_xyxy(person_shapes(p, t_s))


def draw_person(image_bgr: np.ndarray, p: Person, t_s: float = 0.0, offset_xy_px: tuple = (0.0, 0.0),
                sun_dir_xy: tuple | None = None, shadow_opacity: float = 0.45) -> tuple:
    """Draw shadow/splash, then the person. Returns (full_xyxy, visible_xyxy) of the person (see draw_shapes)."""
    shadow, splash = effect_shapes(p, t_s, offset_xy_px, sun_dir_xy)
    if shadow:
        draw_shapes(image_bgr, shadow, opacity=shadow_opacity)
    if splash:
        draw_shapes(image_bgr, splash, opacity=0.3)
    return draw_shapes(image_bgr, person_shapes(p, t_s, offset_xy_px))
