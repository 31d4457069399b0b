"""Box operations in numpy: format conversions, overlaps and NMS.

Every function names its box format: ``xyxy`` = (x1, y1, x2, y2) and ``xywh`` = (x, y, w, h), in pixels.
"""
from __future__ import annotations

import numpy as np


def xywh_to_xyxy(boxes_xywh: np.ndarray) -> np.ndarray:
    b = np.asarray(boxes_xywh, dtype=np.float64).reshape(-1, 4)
    return np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)


def xyxy_to_xywh(boxes_xyxy: np.ndarray) -> np.ndarray:
    b = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    return np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], axis=1)


def box_area(boxes_xyxy: np.ndarray) -> np.ndarray:
    b = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    return np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)


def box_intersection(a_xyxy: np.ndarray, b_xyxy: np.ndarray) -> np.ndarray:
    """Pairwise intersection areas, shape [len(a), len(b)]."""
    a = np.asarray(a_xyxy, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b_xyxy, dtype=np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])  # [A, B, 2]
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    return wh[..., 0] * wh[..., 1]


def box_iou(a_xyxy: np.ndarray, b_xyxy: np.ndarray) -> np.ndarray:
    """Intersection over union, [len(a), len(b)]."""
    inter = box_intersection(a_xyxy, b_xyxy)
    union = box_area(a_xyxy)[:, None] + box_area(b_xyxy)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def box_iof(a_xyxy: np.ndarray, b_xyxy: np.ndarray) -> np.ndarray:
    """Intersection over the area of the *first* argument (mmdet's 'iof'), [len(a), len(b)]."""
    inter = box_intersection(a_xyxy, b_xyxy)
    area_a = box_area(a_xyxy)[:, None]
    return np.where(area_a > 0, inter / np.maximum(area_a, 1e-12), 0.0)


def box_iod(det_xyxy: np.ndarray, gt_xyxy: np.ndarray) -> np.ndarray:
    """Intersection over the detection's area (TinyPerson's ignore rule), [len(det), len(gt)]."""
    return box_iof(det_xyxy, gt_xyxy)


def nms(boxes_xyxy: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy NMS; returns the kept indices sorted by decreasing score.

    Vectorised per kept box: each step suppresses every remaining box at once, so the cost is
    O(kept × n) numpy work rather than a Python loop over pairs.
    """
    boxes = np.asarray(boxes_xyxy, dtype=np.float32).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    order = np.argsort(-scores, kind="stable")
    areas = (boxes[:, 2] - boxes[:, 0]).clip(0) * (boxes[:, 3] - boxes[:, 1]).clip(0)
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        lt = np.maximum(boxes[i, :2], boxes[rest, :2])
        rb = np.minimum(boxes[i, 2:], boxes[rest, 2:])
        wh = (rb - lt).clip(0)
        inter = wh[:, 0] * wh[:, 1]
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-12)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def clip_boxes(boxes_xyxy: np.ndarray, width: float, height: float) -> np.ndarray:
    b = np.array(boxes_xyxy, dtype=np.float32).reshape(-1, 4)
    b[:, [0, 2]] = b[:, [0, 2]].clip(0, width)
    b[:, [1, 3]] = b[:, [1, 3]].clip(0, height)
    return b
