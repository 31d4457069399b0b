"""Annotated PNGs for a quick look: ground truth green, ignore regions grey, detections red (score >= a threshold)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sspnet.manifest import atomic_write_bytes

GT_BGR = (0, 255, 0)
IGNORE_BGR = (160, 160, 160)
DET_BGR = (0, 0, 255)


def _rect(img: np.ndarray, box_xyxy, color: tuple, scale: float) -> None:
    import cv2
    x1, y1, x2, y2 = (int(round(float(v) * scale)) for v in box_xyxy)
    cv2.rectangle(img, (x1, y1), (max(x2, x1 + 1), max(y2, y1 + 1)), color, 1)


def draw_gt_vs_detections(image_bgr: np.ndarray, gt_xyxy: np.ndarray, ignore_xyxy: np.ndarray,
                          det_xyxy: np.ndarray, det_scores: np.ndarray, score_thr: float = 0.3,
                          scale: float = 1.0) -> np.ndarray:
    """HWC BGR image (resized by ``scale``) with GT [G, 4], ignore [I, 4] and detections [K, 4] drawn on it."""
    import cv2
    img = cv2.resize(image_bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST) if scale != 1 \
        else image_bgr.copy()
    for b in np.asarray(ignore_xyxy).reshape(-1, 4):
        _rect(img, b, IGNORE_BGR, scale)
    for b in np.asarray(gt_xyxy).reshape(-1, 4):
        _rect(img, b, GT_BGR, scale)
    for b, s in zip(np.asarray(det_xyxy).reshape(-1, 4), np.asarray(det_scores).reshape(-1)):
        if s >= score_thr:
            _rect(img, b, DET_BGR, scale)
    return img


def write_examples(out_dir: str | Path, records: list, detections: dict, count: int = 4,
                   score_thr: float = 0.3) -> list[Path]:
    """Write ``count`` PNGs (the records with the most GT boxes) to out_dir/vis_<image_id>.png; returns paths."""
    import cv2
    out_dir = Path(out_dir)
    chosen = sorted(records, key=lambda r: (-len(r.boxes_xyxy), r.image_id))[:count]
    paths = []
    for rec in chosen:
        img = rec.load_image()
        boxes, scores = detections.get(rec.image_id, (np.zeros((0, 4)), np.zeros(0)))
        scale = 2.0 if max(img.shape[:2]) <= 1280 else 1.0   # tiny persons: 2x makes the boxes readable
        vis = draw_gt_vs_detections(img, rec.boxes_xyxy, rec.ignore_xyxy, boxes, scores, score_thr, scale)
        ok, buf = cv2.imencode(".png", vis)
        if not ok:
            raise RuntimeError(f"could not encode the visualisation of image {rec.image_id}")
        path = out_dir / f"vis_{rec.image_id}.png"
        atomic_write_bytes(path, buf.tobytes())
        paths.append(path)
    return paths
