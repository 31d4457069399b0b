"""TinyPerson AP: COCO 101-point interpolated AP per IoU threshold and size range.

Protocol (TinyBenchmark ``cocoeval`` 'tiny' with ignore_uncertain and use_iod_for_ignore):
- size = sqrt(w*h); a positive GT outside the range is ignored for that range; ignore regions are always ignored.
- the 200 highest-scoring detections per image; greedy matching to in-range positives by IoU >= t;
- a detection left unmatched is excused (neither TP nor FP) when its IoD (intersection / detection area) with
  some ignored GT is >= t, and also when its own size is outside the range;
- AP = mean over recall points 0:0.01:1 of the monotone precision envelope; NaN when the range has no GT.
"""
from __future__ import annotations

import numpy as np

from sspnet.evaluation.matching import Prepared, hits_in_score_order

IOU_THRESHOLDS = (0.25, 0.5, 0.75)
MAX_DETS = 200
# name → (lo, hi) of sqrt(area) in pixels, bounds inclusive
AP_SIZE_RANGES = {
    "all": (1.0, 1e5), "tiny": (1.0, 20.0), "tiny1": (1.0, 8.0), "tiny2": (8.0, 12.0), "tiny3": (12.0, 20.0),
    "small": (20.0, 32.0), "reasonable": (32.0, 1e5),
}
RECALL_POINTS = np.linspace(0.0, 1.0, 101)


def coco_interpolated_ap(is_tp_sorted: np.ndarray, num_gt: int) -> float:
    """AP from the counted detections (excused ones removed) in decreasing-score order: is_tp_sorted [N] bool
    (True = TP, False = FP), num_gt > 0 positives."""
    tp = np.cumsum(is_tp_sorted).astype(np.float64)
    fp = np.cumsum(~is_tp_sorted).astype(np.float64)
    if len(tp) == 0:
        return 0.0
    recall = tp / num_gt
    precision = tp / (tp + fp + np.spacing(1))
    envelope = np.maximum.accumulate(precision[::-1])[::-1]     # best precision at this recall or beyond
    idx = np.searchsorted(recall, RECALL_POINTS, side="left")
    q = np.where(idx < len(envelope), envelope[np.minimum(idx, len(envelope) - 1)], 0.0)
    return float(q.mean())


def _in_range(area: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return (area >= lo * lo) & (area <= hi * hi)


def average_precision(prep: Prepared, iou_thresholds=IOU_THRESHOLDS, size_ranges=None,
                      max_dets: int = MAX_DETS) -> dict[tuple[float, str], float]:
    """{(iou threshold, range name): AP in [0, 1] or NaN} over ``prep`` (prepared with >= max_dets per image)."""
    size_ranges = AP_SIZE_RANGES if size_ranges is None else size_ranges
    det_ok = prep.det_rank < max_dets                                   # [D]
    out = {}
    for name, (lo, hi) in size_ranges.items():
        gt_in = _in_range(prep.gt_area, lo, hi)                         # [G]
        num_gt = int(gt_in.sum())
        det_out = ~_in_range(prep.det_area, lo, hi)                     # [D]
        for t in iou_thresholds:
            hits = hits_in_score_order(prep, det_ok, gt_in, t, det_excused=det_out)
            out[(t, name)] = float("nan") if num_gt == 0 else coco_interpolated_ap(hits, num_gt)
    return out
