"""A synthetic aerial world: background + distractors baked into a canvas, persons drawn per view.

A still image is one view of a world at t = 0 with the canvas the size of the frame; a clip is a sequence of views
of a larger canvas as the camera drifts and persons walk and bob. ``render_view`` returns the pixels and the tight
boxes of the persons it drew (partly visible persons under half their size become ignore boxes).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .distractors import draw_distractor, sample_distractors
from .persons import (MAX_HEIGHT_PX, MIN_HEIGHT_PX, draw_person, person_bounds_xyxy,
                      sample_heights_px, sample_person)
from .scene import render_scene, sample_points_xy, sample_scene_kind

MIN_PERSONS = 3
PERSONS_PER_MP = (12.0, 45.0)  # range of the per-world mean density, persons per megapixel
MIN_VISIBLE_FRACTION = 0.5  # a truncated person with less of its box in view becomes an ignore box
POSE_MIX = {  # scene kind -> (fraction in water, land pose weights standing/lying)
    "sea": (1.0, (1.0, 0.0)),
    "beach": (0.35, (0.6, 0.4)),
    "grass": (0.0, (0.6, 0.4)),
    "road": (0.0, (1.0, 0.0)),
}


@dataclass
class World:
    """Everything static about a scene plus the persons that move in it. ``canvas_bgr`` is [H, W, 3] uint8."""
    scene_kind: str
    canvas_bgr: np.ndarray
    persons: list
    sun_dir_xy: tuple | None
    shadow_opacity: float
    land_mask: np.ndarray | None = None  # [H, W] bool: where a person may stand (not water)


@dataclass(frozen=True)
class PersonBox:
    """A drawn person in frame px: ``track_id`` = index in ``World.persons``."""
    track_id: int
    pose: str
    box_xyxy: tuple
    ignore: bool


def _overlaps(box_xyxy, boxes: list, margin_px: float) -> bool:
    if not boxes:
        return False
    b = np.asarray(boxes)  # [B, 4]
    return bool(np.any((b[:, 0] < box_xyxy[2] + margin_px) & (b[:, 2] > box_xyxy[0] - margin_px)
                       & (b[:, 1] < box_xyxy[3] + margin_px) & (b[:, 3] > box_xyxy[1] - margin_px)))


def _union(a, b) -> tuple:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _place_persons(scene, rng: np.random.Generator, occupied: list, duration_s: float) -> list:
    """Persons in clusters and scattered, on water (swimmers) or land, never overlapping anything placed."""
    h_px, w_px = scene.water_mask.shape
    n = max(MIN_PERSONS, int(rng.poisson(rng.uniform(*PERSONS_PER_MP) * h_px * w_px / 1e6)))
    water_frac, land_weights = POSE_MIX[scene.kind]
    if not scene.water_mask.any():
        water_frac = 0.0
    if not scene.land_mask.any():
        water_frac = 1.0
    tilt = rng.uniform(0.0, 0.8)  # oblique camera: persons near the top are smaller
    walk_frac = rng.uniform(0.2, 0.7) if duration_s > 0 else 0.0
    heights = sample_heights_px(rng, n)
    persons, boxes = [], list(occupied)
    n_centres = int(rng.integers(1, 5))
    centres = {True: sample_points_xy(scene.water_mask, n_centres, rng),  # in_water -> cluster centres [k, 2]
               False: sample_points_xy(scene.land_mask, n_centres, rng)}
    for i in range(n):
        in_water = rng.random() < water_frac
        mask = scene.water_mask if in_water else scene.land_mask
        pose = "swimming" if in_water else ("standing" if rng.random() < land_weights[0] else "lying")
        for _ in range(20):  # a few tries to find a free spot
            if i % 2 == 0 and len(centres[in_water]):  # clustered half: around one of a few centres
                c = centres[in_water][int(rng.integers(len(centres[in_water])))]
                xy = c + rng.normal(0, rng.uniform(15, 60), 2)
            else:
                pts = sample_points_xy(mask, 1, rng)
                xy = pts[0] if len(pts) else None
            if xy is None:
                break
            x, y = float(xy[0]), float(xy[1])
            if not (0 <= x < w_px and 0 <= y < h_px) or not mask[int(y), int(x)]:
                continue
            scale = 1.0 + tilt * (y / h_px - 0.5)
            height = float(np.clip(heights[i] * scale, MIN_HEIGHT_PX, MAX_HEIGHT_PX))
            p = sample_person(rng, pose, (x, y), height, scene.kind, walking=rng.random() < walk_frac)
            box = _union(person_bounds_xyxy(p, 0.0), person_bounds_xyxy(p, duration_s))
            if box[0] < 1 or box[1] < 1 or box[2] > w_px - 1 or box[3] > h_px - 1:
                continue
            if _overlaps(box, boxes, margin_px=1.0 + 0.1 * height):
                continue
            persons.append(p)
            boxes.append(box)
            break
    return persons


def build_world(canvas_wh: tuple, rng: np.random.Generator, duration_s: float = 0.0,
                scene_kind: str | None = None) -> World:
    """Render background and distractors into a ``canvas_wh`` = (w, h) px canvas and place the persons."""
    drawn = sample_scene_kind(rng)  # always drawn, so fixing the kind leaves the rest of the stream unchanged
    kind = scene_kind or drawn
    scene = render_scene(kind, canvas_wh, rng)
    sun = None
    if rng.random() < 0.75:
        a = rng.uniform(0, 2 * math.pi)
        sun = (math.cos(a), math.sin(a))
    canvas = scene.image_bgr
    alpha, beta = rng.uniform(0.85, 1.15), rng.uniform(-12, 12)  # exposure of this flight
    canvas = cv2.convertScaleAbs(canvas, alpha=alpha, beta=beta)
    distractors = sample_distractors(scene, rng, sun)
    for d in distractors:
        draw_distractor(canvas, d)
    occupied = [d.bounds_xyxy for d in distractors]
    persons = _place_persons(scene, rng, occupied, duration_s)
    return World(scene_kind=kind, canvas_bgr=canvas, persons=persons, sun_dir_xy=sun,
                 shadow_opacity=float(rng.uniform(0.3, 0.55)), land_mask=scene.land_mask)


def view_background(world: World, offset_xy_px: tuple, frame_wh: tuple) -> np.ndarray:
    """The frame-sized crop of the canvas at a sub-pixel camera offset (bilinear), [h, w, 3] uint8."""
    ox, oy = offset_xy_px
    w, h = frame_wh
    if float(ox).is_integer() and float(oy).is_integer():
        x0, y0 = int(ox), int(oy)
        crop = world.canvas_bgr[y0:y0 + h, x0:x0 + w]
        if crop.shape[:2] == (h, w):
            return crop.copy()
    m = np.float32([[1, 0, -ox], [0, 1, -oy]])
    return cv2.warpAffine(world.canvas_bgr, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def render_view(world: World, t_s: float, offset_xy_px: tuple, frame_wh: tuple) -> tuple:
    """Frame [h, w, 3] uint8 BGR at time ``t_s`` seen from ``offset_xy_px`` and its ``PersonBox`` list."""
    frame = view_background(world, offset_xy_px, frame_wh)
    w, h = frame_wh
    out = []
    for track_id, p in enumerate(world.persons):
        x, y = p.anchor_at(t_s)
        fx, fy = x - offset_xy_px[0], y - offset_xy_px[1]
        reach = 2.0 * p.height_px + 2.0
        if fx < -reach or fy < -reach or fx > w + reach or fy > h + reach:
            continue
        full, visible = draw_person(frame, p, t_s, offset_xy_px, world.sun_dir_xy, world.shadow_opacity)
        if visible is None:
            continue
        frac = _area(visible) / max(_area(full), 1e-9)
        out.append(PersonBox(track_id, p.pose, tuple(float(v) for v in visible), frac < MIN_VISIBLE_FRACTION))
    return frame, out


def _area(box_xyxy) -> float:
    return max(box_xyxy[2] - box_xyxy[0], 0.0) * max(box_xyxy[3] - box_xyxy[1], 0.0)
