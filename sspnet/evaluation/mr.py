"""TinyPerson log-average miss rate, after the CityPersons/TinyBenchmark ``eval_MR_multisetup``.

- the 1000 highest-scoring detections per image, then per size range only those with size in
  [lo / 1.25, hi * 1.25) (expFilter); GT positives outside [lo, hi] and ignore regions are ignored GTs;
- greedy IoU >= t matching to in-range positives; an unmatched detection with IoD >= t on an ignored GT is excused;
- miss rate (1 - recall) read at 9 FPPI points log-spaced over [1e-2, 1] (FPPI = FPs / number of images; at a
  point no detection reaches, recall is 0), MR = exp(mean(log(miss rate))); NaN when the range has no GT.
Not ported: the reference's second IoD fallback with a fixed 0.5 threshold and its use of the final recall at an
FPPI point below the first false positive (an index of -1 in Python); both are quirks, not the protocol.
"""
from __future__ import annotations

import numpy as np

from sspnet.evaluation.matching import Prepared, hits_in_score_order

IOU_THRESHOLDS = (0.25, 0.5, 0.75)
MAX_DETS = 1000
EXP_FILTER = 1.25
# 9 points log-spaced over [1e-2, 1], rounded to 4 decimals as in the reference
FPPI_POINTS = np.array([0.0100, 0.0178, 0.0316, 0.0562, 0.1000, 0.1778, 0.3162, 0.5623, 1.0000])
MR_SIZE_RANGES = {
    "all": (-1.0, 1e5), "tiny": (2.0, 20.0), "tiny1": (2.0, 8.0), "tiny2": (8.0, 12.0), "tiny3": (12.0, 20.0),
    "small": (20.0, 32.0), "reasonable": (32.0, 1e5),
}


def log_average_miss_rate(is_tp_sorted: np.ndarray, num_gt: int, num_images: int) -> float:
    """MR in [0, 1] from the counted detections in decreasing-score order: is_tp_sorted [N] bool (else FP)."""
    tp = np.cumsum(is_tp_sorted).astype(np.float64)
    fp = np.cumsum(~is_tp_sorted).astype(np.float64)
    recall = tp / num_gt
    fppi = fp / max(num_images, 1)
    idx = np.searchsorted(fppi, FPPI_POINTS, side="right") - 1          # last detection with FPPI <= point
    rec_at = np.where(idx >= 0, recall[np.maximum(idx, 0)] if len(recall) else 0.0, 0.0)
    miss = 1.0 - rec_at
    with np.errstate(divide="ignore"):
        return float(np.exp(np.mean(np.log(miss))))                    # a zero miss rate gives MR 0


def miss_rate(prep: Prepared, iou_thresholds=IOU_THRESHOLDS, size_ranges=None,
              max_dets: int = MAX_DETS) -> dict[tuple[float, str], float]:
    """{(iou threshold, range name): MR in [0, 1] or NaN} over ``prep`` (prepared with >= max_dets per image)."""
    size_ranges = MR_SIZE_RANGES if size_ranges is None else size_ranges
    det_size = np.sqrt(prep.det_area)
    gt_size = np.sqrt(prep.gt_area)
    out = {}
    for name, (lo, hi) in size_ranges.items():
        gt_in = (gt_size >= lo) & (gt_size <= hi)                                # [G]
        num_gt = int(gt_in.sum())
        det_ok = (prep.det_rank < max_dets) & (det_size >= lo / EXP_FILTER) & (det_size < hi * EXP_FILTER)
        for t in iou_thresholds:
            hits = hits_in_score_order(prep, det_ok, gt_in, t)
            out[(t, name)] = float("nan") if num_gt == 0 else log_average_miss_rate(hits, num_gt, prep.num_images)
    return out
