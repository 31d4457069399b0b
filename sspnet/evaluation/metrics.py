"""``evaluate(records, detections)``: TinyPerson AP and MR in one flat dict, in percent.

Keys: ``AP{25,50,75}_{all,tiny,tiny1,tiny2,tiny3,small,reasonable}`` and ``MR{25,50,75}_{...}``; a range without
ground truth gives NaN (written as null in JSON, '-' in tables). ``mr_mode`` picks the MR rules (``mr.MR_MODES``):
"protocol" as written, or "official" as TinyBenchmark's code computes it.
"""
from __future__ import annotations

import math

from sspnet.evaluation.ap import AP_SIZE_RANGES, average_precision
from sspnet.evaluation.ap import MAX_DETS as AP_MAX_DETS
from sspnet.evaluation.matching import prepare
from sspnet.evaluation.mr import MAX_DETS as MR_MAX_DETS
from sspnet.evaluation.mr import MR_MODES, MR_SIZE_RANGES, miss_rate, prepare_with_regions

IOU_THRESHOLDS = (0.25, 0.5, 0.75)
RANGE_NAMES = tuple(AP_SIZE_RANGES)          # all, tiny, tiny1, tiny2, tiny3, small, reasonable
HEADLINE = "AP50_tiny"


def metric_key(kind: str, iou: float, range_name: str) -> str:
    """('AP', 0.5, 'tiny') → 'AP50_tiny'."""
    return f"{kind}{int(round(iou * 100))}_{range_name}"


def evaluate(records: list, detections: dict, with_mr: bool = True,
             ap_max_dets: int = AP_MAX_DETS, mr_mode: str = "protocol") -> dict[str, float]:
    """records: ImageRecords (ground truth); detections: {image_id: (boxes xyxy [K, 4] px, scores [K])}.

    Images without an entry have no detections; an entry for an unknown image_id is a ValueError.
    Returns the flat dict of AP (and MR unless ``with_mr`` is False) in percent. ``ap_max_dets`` is the
    protocol's 200 detections per image; an image with more persons than that cannot reach full recall (TinyPerson
    leaves such dense images out of its test set). ``mr_mode``: "protocol" or "official" (``mr.py``).
    """
    if mr_mode not in MR_MODES:
        raise ValueError(f"mr_mode must be one of {', '.join(MR_MODES)}, not {mr_mode!r}")
    min_overlap = min(IOU_THRESHOLDS)
    prep = prepare(records, detections, max(ap_max_dets, MR_MAX_DETS if with_mr else 0), min_overlap)
    result: dict[str, float] = {}
    ap = average_precision(prep, IOU_THRESHOLDS, AP_SIZE_RANGES, max_dets=ap_max_dets)
    for t in IOU_THRESHOLDS:
        for name in RANGE_NAMES:
            result[metric_key("AP", t, name)] = 100.0 * ap[(t, name)]
    if with_mr:
        rules = MR_MODES[mr_mode]
        # the converted-IoD test sees ignore regions as GTs, at any overlap: its own prepare (AP keeps ``prep``)
        mr_prep, gt_region = (prepare_with_regions(records, detections) if rules.converted_iod_fallback
                              else (prep, None))
        mr = miss_rate(mr_prep, IOU_THRESHOLDS, MR_SIZE_RANGES, rules=rules, gt_region=gt_region)
        for t in IOU_THRESHOLDS:
            for name in RANGE_NAMES:
                result[metric_key("MR", t, name)] = 100.0 * mr[(t, name)]
    return result


def json_safe(metrics: dict[str, float]) -> dict[str, float | None]:
    """NaN → None so the dict serialises as strict JSON (null)."""
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in metrics.items()}


def format_table(metrics: dict[str, float], mr_mode: str | None = None) -> str:
    """Rows = size ranges, columns AP25/AP50/AP75/MR50 (percent, '-' for NaN or missing); a last line names
    ``mr_mode`` when given."""
    cols = ["AP25", "AP50", "AP75", "MR50"]
    lines = [f"{'range':<11}" + "".join(f"{c:>8}" for c in cols)]
    for name in RANGE_NAMES:
        cells = []
        for c in cols:
            v = metrics.get(f"{c}_{name}")
            cells.append(f"{'-':>8}" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:8.2f}")
        lines.append(f"{name:<11}" + "".join(cells))
    if mr_mode is not None:
        lines.append(f"MR mode: {mr_mode}")
    return "\n".join(lines)
