"""TinyPerson log-average miss rate, after the CityPersons/TinyBenchmark ``eval_MR_multisetup``.

- the 1000 highest-scoring detections per image, then per size range only those with size in
  [lo / 1.25, hi * 1.25) (expFilter); GT positives outside [lo, hi] and ignore regions are ignored GTs;
- greedy IoU >= t matching to in-range positives; an unmatched detection with IoD >= t on an ignored GT is excused;
- miss rate (1 - recall) read at 9 FPPI points log-spaced over [1e-2, 1] (FPPI = FPs / number of images; at a
  point no detection reaches, recall is 0), MR = exp(mean(log(miss rate))); NaN when the range has no GT.

That is mode "protocol" (the default). Mode "official" reproduces what TinyBenchmark's code computes
(``tiny_benchmark/third/Cityscapes/evaluation/eval_script/eval_MR_multisetup.py``, called by ``evaluate_tiny.py``
with use_iod_for_ignore=True), so MR can be compared with published figures. It differs in three places:
1. a second ignore test: for an ignored GT the reference's "IoU" is already the IoD (crowd rule), which it then
   converts again as if it were an IoU, x / (1 + x) * (1 + A_gt / A_det) >= x, excusing the detection when that
   exceeds 0.5 at every IoU threshold; a large ignored GT thus excuses detections that barely touch it;
2. when the best-scoring detection is a false positive, the FPPI points below 1 / images read the final recall
   (its numpy index is -1) instead of 0;
3. the FPPI points are not rounded to 4 decimals (CityPersons rounds them): over 786 images, 442 FPs
   (FPPI 0.562341) reach the point 10**-0.25 = 0.5623413 but not 0.5623.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from sspnet.evaluation.matching import Prepared, hits_ignored_gt, hits_in_score_order, prepare

IOU_THRESHOLDS = (0.25, 0.5, 0.75)
MAX_DETS = 1000
EXP_FILTER = 1.25
# 9 points log-spaced over [1e-2, 1], rounded to 4 decimals as in CityPersons' eval_MR_multisetup
FPPI_POINTS = np.array([0.0100, 0.0178, 0.0316, 0.0562, 0.1000, 0.1778, 0.3162, 0.5623, 1.0000])
FPPI_POINTS_UNROUNDED = np.logspace(-2.0, 0.0, 9)       # TinyBenchmark's get_fppi(0.01, 1, 9)
MR_SIZE_RANGES = {
    "all": (-1.0, 1e5), "tiny": (2.0, 20.0), "tiny1": (2.0, 8.0), "tiny2": (8.0, 12.0), "tiny3": (12.0, 20.0),
    "small": (20.0, 32.0), "reasonable": (32.0, 1e5),
}


@dataclass(frozen=True, eq=False)
class MRRules:
    """Where the two modes differ (module docstring, points 1-3)."""
    fppi_points: np.ndarray                 # [9]
    converted_iod_fallback: bool            # point 1
    final_recall_below_first_fp: bool       # point 2


MR_MODES = {
    "protocol": MRRules(FPPI_POINTS, converted_iod_fallback=False, final_recall_below_first_fp=False),
    "official": MRRules(FPPI_POINTS_UNROUNDED, converted_iod_fallback=True, final_recall_below_first_fp=True),
}


def log_average_miss_rate(is_tp_sorted: np.ndarray, num_gt: int, num_images: int,
                          fppi_points: np.ndarray = FPPI_POINTS, final_recall_below_first_fp: bool = False) -> float:
    """MR in [0, 1] from the counted detections in decreasing-score order: is_tp_sorted [N] bool (else FP).

    ``final_recall_below_first_fp``: read the final recall, not 0, at the points below the first FP's FPPI (the
    reference's index -1); it only applies when that FP is the best-scoring detection taking part at all.
    """
    tp = np.cumsum(is_tp_sorted).astype(np.float64)
    fp = np.cumsum(~is_tp_sorted).astype(np.float64)
    recall = tp / num_gt
    fppi = fp / max(num_images, 1)
    idx = np.searchsorted(fppi, fppi_points, side="right") - 1          # last detection with FPPI <= point
    if len(recall) == 0:
        rec_at = np.zeros(len(fppi_points))
    else:
        rec_at = np.where(idx >= 0, recall[np.maximum(idx, 0)], recall[-1] if final_recall_below_first_fp else 0.0)
    miss = 1.0 - rec_at
    with np.errstate(divide="ignore"):
        return float(np.exp(np.mean(np.log(miss))))                    # a zero miss rate gives MR 0


def prepare_with_regions(records: list, detections: dict, max_dets: int = MAX_DETS) -> tuple[Prepared, np.ndarray]:
    """``prepare()`` as the reference sees the data: ignore regions are GT boxes flagged ignore, and every
    intersecting pair is kept, because the converted-IoD test needs each region's IoD and area and can excuse a
    detection at any overlap. Returns it and gt_region [G] bool (GTs in prepare()'s image_id order)."""
    by_id = sorted(records, key=lambda r: r.image_id)
    merged, gt_region = [], [np.zeros(0, bool)]
    for rec in by_id:
        boxes = np.asarray(rec.boxes_xyxy, np.float64).reshape(-1, 4)
        regions = np.asarray(rec.ignore_xyxy, np.float64).reshape(-1, 4)
        merged.append(replace(rec, boxes_xyxy=np.concatenate([boxes, regions]), ignore_xyxy=np.zeros((0, 4))))
        gt_region.append(np.arange(len(boxes) + len(regions)) >= len(boxes))
    return prepare(merged, detections, max_dets, min_overlap=0.0), np.concatenate(gt_region)


def _converted_iod_excused(prep: Prepared, gt_ignored: np.ndarray) -> np.ndarray:
    """[D] bool: the reference's second ignore test (module docstring, point 1); the same at every IoU threshold."""
    x = prep.pair_iod                                                   # [P]
    converted = x / (1.0 + x) * (1.0 + prep.gt_area[prep.pair_gt] / np.maximum(prep.det_area[prep.pair_det], 1e-12))
    # the reference tests "> 0.5"; hits_ignored_gt tests ">="
    return hits_ignored_gt(prep.pair_det, prep.pair_gt, converted, gt_ignored, np.nextafter(0.5, 1.0),
                           len(prep.det_score))


def _best_detection_is_fp(prep: Prepared, det_ok: np.ndarray, gt_in: np.ndarray, iou_threshold: float,
                          det_excused: np.ndarray | None) -> bool:
    """Whether the best-scoring detection taking part counts as a false positive. No detection ranks above it in
    its image, so matching it alone gives its verdict."""
    ranked = prep.score_order[det_ok[prep.score_order]]
    if len(ranked) == 0:
        return False
    alone = np.zeros_like(det_ok)
    alone[ranked[0]] = True
    verdict = hits_in_score_order(prep, alone, gt_in, iou_threshold, det_excused)   # [] when it is excused
    return len(verdict) == 1 and not verdict[0]


def miss_rate(prep: Prepared, iou_thresholds=IOU_THRESHOLDS, size_ranges=None, max_dets: int = MAX_DETS,
              rules: MRRules = MR_MODES["protocol"], gt_region: np.ndarray | None = None
              ) -> dict[tuple[float, str], float]:
    """{(iou threshold, range name): MR in [0, 1] or NaN} over ``prep`` (prepared with >= max_dets per image).

    ``gt_region`` [G] marks GT boxes that are ignore regions; the converted-IoD fallback needs ``prep`` and
    ``gt_region`` from ``prepare_with_regions``.
    """
    if rules.converted_iod_fallback and gt_region is None:
        raise ValueError("the converted-IoD fallback needs prep and gt_region from prepare_with_regions()")
    size_ranges = MR_SIZE_RANGES if size_ranges is None else size_ranges
    gt_region = np.zeros(len(prep.gt_area), bool) if gt_region is None else gt_region
    det_size = np.sqrt(prep.det_area)
    gt_size = np.sqrt(prep.gt_area)
    out = {}
    for name, (lo, hi) in size_ranges.items():
        gt_in = (gt_size >= lo) & (gt_size <= hi) & ~gt_region                   # [G]
        num_gt = int(gt_in.sum())
        det_ok = (prep.det_rank < max_dets) & (det_size >= lo / EXP_FILTER) & (det_size < hi * EXP_FILTER)
        excused = _converted_iod_excused(prep, ~gt_in) if rules.converted_iod_fallback else None
        for t in iou_thresholds:
            if num_gt == 0:
                out[(t, name)] = float("nan")
                continue
            hits = hits_in_score_order(prep, det_ok, gt_in, t, excused)
            final = rules.final_recall_below_first_fp and _best_detection_is_fp(prep, det_ok, gt_in, t, excused)
            out[(t, name)] = log_average_miss_rate(hits, num_gt, prep.num_images, rules.fppi_points, final)
    return out
