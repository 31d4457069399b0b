"""Anti-aliased compositing of small shapes (ellipses, polygons) at sub-pixel positions.

Every person and distractor is a list of shapes in image pixels (floats). ``draw_shapes`` renders them
super-sampled into a small patch, box-filters it down (``cv2.INTER_AREA``) and alpha-blends it into the image, so a
2-px person still shows as a few partially covered pixels. The tight box of what was drawn comes from the
super-sampled coverage mask, precise to 1/supersample px.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

SHIFT_BITS = 4  # cv2 fixed-point fraction bits for centres/axes inside the super-sampled patch


@dataclass(frozen=True)
class Ellipse:
    """Filled ellipse: centre (px), semi-axes (px) before rotation, rotation (deg, clockwise in image coords)."""
    cx_px: float
    cy_px: float
    rx_px: float
    ry_px: float
    angle_deg: float
    color_bgr: tuple


@dataclass(frozen=True)
class Polygon:
    """Filled polygon: vertices [(x_px, y_px), ...]."""
    points_xy: tuple
    color_bgr: tuple


def shape_bounds_xyxy(shape) -> tuple:
    """Analytic bounding box (x1, y1, x2, y2) in px of one shape."""
    if isinstance(shape, Ellipse):
        a = math.radians(shape.angle_deg)
        c, s = math.cos(a), math.sin(a)
        half_w = math.sqrt((shape.rx_px * c) ** 2 + (shape.ry_px * s) ** 2)
        half_h = math.sqrt((shape.rx_px * s) ** 2 + (shape.ry_px * c) ** 2)
        return (shape.cx_px - half_w, shape.cy_px - half_h, shape.cx_px + half_w, shape.cy_px + half_h)
    pts = np.asarray(shape.points_xy, dtype=np.float64)
    return (float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max()))


def shapes_bounds_xyxy(shapes) -> tuple:
    """Union of the analytic bounds of ``shapes`` (x1, y1, x2, y2) in px."""
    b = np.array([shape_bounds_xyxy(s) for s in shapes], dtype=np.float64)  # [S, 4]
    return (float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max()))


def _fixed(v: float) -> int:
    return int(round(v * (1 << SHIFT_BITS)))


def _raster(shapes, origin_xy, patch_wh, supersample: int) -> tuple:
    """Draw ``shapes`` into a super-sampled colour canvas and a coverage mask; returns (colour, mask)."""
    w_ss, h_ss = patch_wh[0] * supersample, patch_wh[1] * supersample
    colour = np.zeros((h_ss, w_ss, 3), np.uint8)
    mask = np.zeros((h_ss, w_ss), np.uint8)
    ox, oy = origin_xy
    for s in shapes:
        col = tuple(int(c) for c in s.color_bgr)
        if isinstance(s, Ellipse):
            centre = (_fixed((s.cx_px - ox) * supersample), _fixed((s.cy_px - oy) * supersample))
            axes = (max(_fixed(s.rx_px * supersample), 1), max(_fixed(s.ry_px * supersample), 1))
            for canvas, c in ((colour, col), (mask, 255)):
                cv2.ellipse(canvas, centre, axes, float(s.angle_deg), 0.0, 360.0, c, -1, cv2.LINE_8, SHIFT_BITS)
        else:
            pts = np.asarray(s.points_xy, dtype=np.float64)
            pts = (pts - (ox, oy)) * supersample * (1 << SHIFT_BITS)
            pts = np.round(pts).astype(np.int32).reshape(1, -1, 2)  # [1, P, 2]
            cv2.fillPoly(colour, pts, col, cv2.LINE_8, SHIFT_BITS)
            cv2.fillPoly(mask, pts, 255, cv2.LINE_8, SHIFT_BITS)
    return colour, mask


def draw_shapes(image_bgr: np.ndarray, shapes, opacity: float = 1.0, supersample: int | None = None):
    """Alpha-blend ``shapes`` (image px, later shapes over earlier ones) into ``image_bgr`` in place.

    Returns ``(full_xyxy, visible_xyxy)``: the tight box of the drawn shapes, and the tight box of the part that
    falls inside the image (``None`` when nothing is visible). Boxes are floats in image px.
    """
    if not shapes:
        return None, None
    x1, y1, x2, y2 = shapes_bounds_xyxy(shapes)
    px0, py0 = math.floor(x1) - 1, math.floor(y1) - 1
    patch_w, patch_h = math.ceil(x2) + 1 - px0, math.ceil(y2) + 1 - py0
    if supersample is None:
        supersample = 8 if max(patch_w, patch_h) <= 24 else 4
    colour, mask = _raster(shapes, (px0, py0), (patch_w, patch_h), supersample)

    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None, None
    full = (px0 + cols[0] / supersample, py0 + rows[0] / supersample,
            px0 + (cols[-1] + 1) / supersample, py0 + (rows[-1] + 1) / supersample)

    img_h, img_w = image_bgr.shape[:2]
    vx0, vy0 = max(px0, 0), max(py0, 0)  # visible patch window in image px
    vx1, vy1 = min(px0 + patch_w, img_w), min(py0 + patch_h, img_h)
    if vx1 <= vx0 or vy1 <= vy0:
        return full, None
    ss = supersample
    sub_mask = mask[(vy0 - py0) * ss:(vy1 - py0) * ss, (vx0 - px0) * ss:(vx1 - px0) * ss]
    vrows, vcols = np.flatnonzero(sub_mask.any(axis=1)), np.flatnonzero(sub_mask.any(axis=0))
    if vrows.size == 0:
        return full, None
    visible = (vx0 + vcols[0] / ss, vy0 + vrows[0] / ss, vx0 + (vcols[-1] + 1) / ss, vy0 + (vrows[-1] + 1) / ss)

    alpha_ss = mask.astype(np.float32) * (1.0 / 255.0)  # [Hs, Ws]
    premult_ss = colour.astype(np.float32) * alpha_ss[..., None]  # [Hs, Ws, 3]
    alpha = cv2.resize(alpha_ss, (patch_w, patch_h), interpolation=cv2.INTER_AREA) * opacity  # [h, w]
    premult = cv2.resize(premult_ss, (patch_w, patch_h), interpolation=cv2.INTER_AREA) * opacity  # [h, w, 3]
    win = (slice(vy0 - py0, vy1 - py0), slice(vx0 - px0, vx1 - px0))
    region = image_bgr[vy0:vy1, vx0:vx1].astype(np.float32)
    a = alpha[win][..., None]
    blended = region * (1.0 - a) + premult[win]
    image_bgr[vy0:vy1, vx0:vx1] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    return full, visible
