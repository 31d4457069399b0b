"""Detect boxes whose pixels are one flat colour: TinyPerson blanks its ignore/uncertain regions with the region's
mean colour, and some re-exports (e.g. Roboflow's YOLO copy) label those patches as persons.

Rule: a box is flat when at least ``min_fraction`` of its pixels lie within ``tol`` (per channel, 8-bit) of the
box's median colour and it covers at least ``min_pixels`` pixels (tiny natural boxes of sea are often uniform).
The box is taken with outward rounding (floor of x1/y1, ceil of x2/y2). On tinyperson-rpi-dev this agrees with the
README's per-image ``n_flatfill_boxes`` counts on 75 of the 76 images whose labels are well-formed.
"""
from __future__ import annotations

import numpy as np

FLAT_TOL = 2
FLAT_MIN_FRACTION = 0.85
FLAT_MIN_PIXELS = 16


def flat_fraction(image_bgr: np.ndarray, box_xyxy) -> tuple[float, int]:
    """(fraction of pixels within FLAT_TOL of the median colour, number of pixels) for one box in pixels."""
    h, w = image_bgr.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box_xyxy)
    a, b = max(int(np.floor(x1)), 0), max(int(np.floor(y1)), 0)
    c, d = min(int(np.ceil(x2)), w), min(int(np.ceil(y2)), h)
    if c <= a or d <= b:
        return 0.0, 0
    crop = image_bgr[b:d, a:c].reshape(-1, image_bgr.shape[2] if image_bgr.ndim == 3 else 1).astype(np.int16)
    median = np.median(crop, axis=0)
    within = (np.abs(crop - median) <= FLAT_TOL).all(axis=1)  # [P]
    return float(within.mean()), int(len(crop))


def flat_fill_mask(image_bgr: np.ndarray, boxes_xyxy: np.ndarray, min_fraction: float = FLAT_MIN_FRACTION,
                   min_pixels: int = FLAT_MIN_PIXELS) -> np.ndarray:
    """Boolean [N]: which of the boxes ([N, 4] xyxy pixels) are flat-colour patches."""
    boxes = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4)
    out = np.zeros(len(boxes), bool)
    for i, box in enumerate(boxes):
        frac, n = flat_fraction(image_bgr, box)
        out[i] = n >= min_pixels and frac >= min_fraction
    return out
