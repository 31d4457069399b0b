"""Static non-person objects that look person-like at a few pixels: rocks, buoys, umbrellas, boats, towels.

Each distractor is a list of sprite shapes (plus an optional shadow and a white wake/foam layer) in canvas px.
They are drawn into the background before any person and are never annotated.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .scene import Scene, sample_points_xy
from .sprite import Ellipse, Polygon, draw_shapes, shapes_bounds_xyxy

KINDS = ("rock", "buoy", "umbrella", "boat", "towel")
ROCK_BGR = ((110, 115, 120), (80, 90, 100), (90, 110, 130), (140, 140, 145), (60, 70, 75))
BUOY_BGR = ((20, 110, 245), (30, 40, 210), (40, 210, 240), (235, 235, 235))
CANOPY_BGR = ((40, 40, 210), (235, 235, 235), (170, 90, 30), (40, 200, 235), (60, 150, 60), (30, 120, 240),
              (150, 70, 150))
HULL_BGR = ((240, 240, 240), (230, 225, 215), (50, 50, 190), (150, 90, 40), (40, 40, 40))
TOWEL_BGR = ((200, 120, 40), (60, 60, 220), (60, 200, 230), (220, 220, 220), (150, 80, 160), (70, 170, 90))
SHADOW_BGR = (25, 30, 35)
FOAM_BGR = (238, 240, 240)
# kind -> mean count per megapixel, for each scene kind
DENSITY_PER_MP = {
    "sea": {"buoy": 6.0, "boat": 1.5, "rock": 1.0},
    "beach": {"buoy": 4.0, "boat": 0.8, "rock": 4.0, "umbrella": 10.0, "towel": 8.0},
    "grass": {"rock": 4.0, "umbrella": 2.0, "towel": 3.0},
    "road": {"rock": 1.0},
}


@dataclass(frozen=True)
class Distractor:
    """A drawn non-person object; ``bounds_xyxy`` (canvas px) is used to keep persons from being covered."""
    kind: str
    shapes: list
    shadow: list = field(default_factory=list)
    foam: list = field(default_factory=list)

    @property
    def bounds_xyxy(self) -> tuple:
        return shapes_bounds_xyxy(self.shapes)


def _rotate(points_uv, centre_xy, angle_rad: float) -> tuple:
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return tuple((centre_xy[0] + u * c - v * s, centre_xy[1] + u * s + v * c) for u, v in points_uv)


def _pick(rng: np.random.Generator, palette) -> tuple:
    return tuple(int(v) for v in palette[int(rng.integers(len(palette)))])


def make_rock(rng: np.random.Generator, xy: tuple, sun_xy: tuple | None) -> Distractor:
    """Irregular grey/brown polygon 3–40 px across with a lighter facet."""
    r = float(np.clip(rng.lognormal(math.log(5.0), 0.6), 1.5, 20.0))
    n = int(rng.integers(6, 11))
    ang = np.sort(rng.uniform(0, 2 * math.pi, n))
    rad = r * rng.uniform(0.6, 1.1, n)
    pts = tuple((xy[0] + float(a) * math.cos(t), xy[1] + float(a) * math.sin(t) * 0.8) for a, t in zip(rad, ang))
    col = np.asarray(_pick(rng, ROCK_BGR), np.float32)
    light = tuple(int(v) for v in np.clip(col * 1.25, 0, 255))
    shapes = [Polygon(pts, tuple(int(v) for v in col)),
              Ellipse(xy[0] - 0.25 * r, xy[1] - 0.25 * r, 0.4 * r, 0.3 * r, float(rng.uniform(0, 180)), light)]
    shadow = []
    if sun_xy is not None:
        shadow = [Polygon(tuple((x + sun_xy[0] * 0.4 * r, y + sun_xy[1] * 0.4 * r) for x, y in pts), SHADOW_BGR)]
    return Distractor("rock", shapes, shadow)


def make_buoy(rng: np.random.Generator, xy: tuple, sun_xy: tuple | None) -> Distractor:
    """Small bright sphere, 2–8 px, with a foam ring."""
    r = float(rng.uniform(1.0, 4.0))
    col = _pick(rng, BUOY_BGR)
    shapes = [Ellipse(xy[0], xy[1], r, r, 0.0, col),
              Ellipse(xy[0] - 0.3 * r, xy[1] - 0.3 * r, 0.35 * r, 0.35 * r, 0.0, (245, 245, 245))]
    return Distractor("buoy", shapes, foam=[Ellipse(xy[0], xy[1] + 0.3 * r, 1.5 * r, 1.2 * r, 0.0, FOAM_BGR)])


def make_umbrella(rng: np.random.Generator, xy: tuple, sun_xy: tuple | None) -> Distractor:
    """Round beach umbrella 8–30 px across, wedges in two alternating colours, with a shadow."""
    r = float(rng.uniform(4.0, 15.0))
    c1, c2 = _pick(rng, CANOPY_BGR), _pick(rng, CANOPY_BGR)
    n_wedges = int(rng.choice([6, 8, 10]))
    start = rng.uniform(0, 2 * math.pi)
    shapes = []
    for i in range(n_wedges):
        a0, a1 = start + 2 * math.pi * i / n_wedges, start + 2 * math.pi * (i + 1) / n_wedges
        arc = [(xy[0] + r * math.cos(a0 + (a1 - a0) * j / 4), xy[1] + r * math.sin(a0 + (a1 - a0) * j / 4))
               for j in range(5)]
        shapes.append(Polygon(tuple([xy] + arc), c1 if i % 2 == 0 else c2))
    shadow = []
    if sun_xy is not None:
        shadow = [Ellipse(xy[0] + sun_xy[0] * 0.8 * r, xy[1] + sun_xy[1] * 0.8 * r, r, r * 0.9, 0.0, SHADOW_BGR)]
    return Distractor("umbrella", shapes, shadow)


def make_boat(rng: np.random.Generator, xy: tuple, sun_xy: tuple | None) -> Distractor:
    """Pointed hull 20–90 px long with a cabin and a wake behind the stern."""
    length = float(rng.uniform(20.0, 90.0))
    width = length * rng.uniform(0.28, 0.4)
    ang = float(rng.uniform(0, 2 * math.pi))
    hull = ((-length / 2, -width / 2), (length / 4, -width / 2), (length / 2, 0.0), (length / 4, width / 2),
            (-length / 2, width / 2))
    cabin = ((-length / 5, -width / 3.5), (length / 8, -width / 3.5), (length / 8, width / 3.5),
             (-length / 5, width / 3.5))
    shapes = [Polygon(_rotate(hull, xy, ang), _pick(rng, HULL_BGR)),
              Polygon(_rotate(cabin, xy, ang), _pick(rng, ((200, 200, 200), (120, 120, 120), (230, 230, 230))))]
    wake_len = length * rng.uniform(0.5, 1.5)
    wake_c = _rotate(((-length / 2 - wake_len / 2, 0.0),), xy, ang)[0]
    foam = [Ellipse(wake_c[0], wake_c[1], wake_len / 2, width * 0.4, math.degrees(ang), FOAM_BGR)]
    return Distractor("boat", shapes, foam=foam)


def make_towel(rng: np.random.Generator, xy: tuple, sun_xy: tuple | None) -> Distractor:
    """Flat coloured rectangle ~6–20 px long lying on sand or grass."""
    length = float(rng.uniform(6.0, 20.0))
    width = length * rng.uniform(0.4, 0.6)
    rect = ((-length / 2, -width / 2), (length / 2, -width / 2), (length / 2, width / 2), (-length / 2, width / 2))
    return Distractor("towel", [Polygon(_rotate(rect, xy, float(rng.uniform(0, math.pi))), _pick(rng, TOWEL_BGR))])


MAKERS = {"rock": make_rock, "buoy": make_buoy, "umbrella": make_umbrella, "boat": make_boat, "towel": make_towel}
ON_WATER = {"buoy", "boat"}


def sample_distractors(scene: Scene, rng: np.random.Generator, sun_xy: tuple | None) -> list:
    """Distractors for ``scene`` with the densities of ``DENSITY_PER_MP``; water kinds go on water, others on land."""
    h_px, w_px = scene.water_mask.shape
    area_mp = h_px * w_px / 1e6
    out = []
    for kind, per_mp in DENSITY_PER_MP[scene.kind].items():
        mask = scene.water_mask if kind in ON_WATER else scene.land_mask
        n = int(rng.poisson(per_mp * area_mp * rng.uniform(0.3, 1.7)))
        for xy in sample_points_xy(mask, n, rng):
            d = MAKERS[kind](rng, (float(xy[0]), float(xy[1])), sun_xy)
            if kind not in ON_WATER or _corners_inside(d.bounds_xyxy, mask):  # no boats on the sand
                out.append(d)
    return out


def _corners_inside(box_xyxy, mask: np.ndarray) -> bool:
    h_px, w_px = mask.shape
    for x, y in ((box_xyxy[0], box_xyxy[1]), (box_xyxy[2], box_xyxy[1]), (box_xyxy[0], box_xyxy[3]),
                 (box_xyxy[2], box_xyxy[3])):
        if not (0 <= x < w_px and 0 <= y < h_px and mask[int(y), int(x)]):
            return False
    return True


def draw_distractor(image_bgr: np.ndarray, d: Distractor) -> None:
    """Draw shadow, foam, then the object itself into ``image_bgr`` (in place)."""
    if d.shadow:
        draw_shapes(image_bgr, d.shadow, opacity=0.4)
    if d.foam:
        draw_shapes(image_bgr, d.foam, opacity=0.35)
    draw_shapes(image_bgr, d.shapes)
