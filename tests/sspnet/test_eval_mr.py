"""TinyPerson log-average miss rate: hand-computed cases, expFilter, empty cases and a sequential reference."""
import numpy as np
import pytest

from sspnet.data.record import ImageRecord
from sspnet.evaluation import evaluate
from sspnet.evaluation.matching import prepare
from sspnet.evaluation.mr import FPPI_POINTS, MR_SIZE_RANGES, log_average_miss_rate, miss_rate


def _rec(image_id, boxes=(), ignore=()):
    return ImageRecord(image_path="unused.jpg", width=640, height=512, image_id=image_id,
                       file_name=f"{image_id}.jpg", boxes_xyxy=np.asarray(boxes, np.float32).reshape(-1, 4),
                       ignore_xyxy=np.asarray(ignore, np.float32).reshape(-1, 4))


def _dets(*rows):
    a = np.asarray(rows, np.float64).reshape(-1, 5)
    return a[:, :4], a[:, 4]


A1, A2, IGN = [100, 100, 110, 110], [150, 100, 160, 110], [300, 300, 360, 360]


def _ten_images(dets_image_1):
    return [_rec(1, [A1, A2], [IGN])] + [_rec(i) for i in range(2, 11)], {1: dets_image_1}


def test_hand_computed_half_recall():
    # 10 images, 2 tiny persons, one found (0.9), one FP (0.8) → FPPI 0 then 0.1, recall 0.5 at every point.
    records, dets = _ten_images(_dets([*A1, 0.9], [400, 100, 410, 110, 0.8]))
    assert evaluate(records, dets)["MR50_tiny"] == pytest.approx(50.0)


def test_ignore_region_and_exp_filter_excuse_detections():
    # + a det inside the ignore region (0.99) and a 30 px det (0.95; >= 20 * 1.25, so filtered out for 'tiny').
    # Counted as FPs they would push FPPI to 0.2 before the TP, making the miss rate 1 at the low FPPI points.
    records, dets = _ten_images(_dets([310, 310, 320, 320, 0.99], [0, 0, 30, 30, 0.95],
                                      [*A1, 0.9], [400, 100, 410, 110, 0.8]))
    m = evaluate(records, dets)
    assert m["MR50_tiny"] == pytest.approx(50.0)
    # for 'all' the 30 px det counts: FPPI 0.1 before the TP → miss 1 at 0.01..0.0562 (4 points), 0.5 after
    assert m["MR50_all"] == pytest.approx(100 * np.exp((4 * np.log(1.0) + 5 * np.log(0.5)) / 9))


def test_full_recall_gives_zero():
    records, dets = _ten_images(_dets([*A1, 0.9], [*A2, 0.8]))
    assert evaluate(records, dets)["MR50_tiny"] == 0.0


def test_miss_rate_curve_points():
    # 100 images, 4 GT; order TP, FP, TP, FP, FP, TP → FPPI 0, .01, .01, .02, .03, .03; recall .25 .25 .5 .5 .5 .75
    is_tp = np.array([True, False, True, False, False, True])
    expected_recall = [0.5, 0.5] + [0.75] * 7   # at FPPI 0.01, 0.0178 | 0.0316 (>= 0.03) and beyond
    mr = log_average_miss_rate(is_tp, num_gt=4, num_images=100)
    assert mr == pytest.approx(np.exp(np.mean(np.log(1 - np.array(expected_recall)))))
    assert len(FPPI_POINTS) == 9 and FPPI_POINTS[0] == 0.01 and FPPI_POINTS[-1] == 1.0


def test_empty_cases():
    assert evaluate([_rec(1)], {})["MR50_tiny"] != evaluate([_rec(1)], {})["MR50_tiny"]   # NaN without GT
    assert evaluate([_rec(1, [A1])], {})["MR50_tiny"] == 100.0                           # nothing found
    m = evaluate([_rec(1, [A1])], {1: _dets([*A1, 0.9])}, with_mr=False)
    assert not any(k.startswith("MR") for k in m)


def _reference_mr(records, detections, t, lo, hi, max_dets=1000):
    """Per-image loops from the protocol text (TinyBenchmark's eval_MR_multisetup)."""
    rows, npig = [], 0
    for rec in sorted(records, key=lambda r: r.image_id):
        g = np.asarray(rec.boxes_xyxy, np.float64)
        gsize = np.sqrt((g[:, 2] - g[:, 0]) * (g[:, 3] - g[:, 1]))
        gin = (gsize >= lo) & (gsize <= hi)
        npig += int(gin.sum())
        ignored = [b for b, ok in zip(g, gin) if not ok] + list(np.asarray(rec.ignore_xyxy, np.float64))
        boxes, scores = detections.get(rec.image_id, (np.zeros((0, 4)), np.zeros(0)))
        order = np.argsort(-scores, kind="mergesort")[:max_dets]
        taken = set()
        for d, s in zip(boxes[order], scores[order]):
            darea = (d[2] - d[0]) * (d[3] - d[1])
            if not lo / 1.25 <= np.sqrt(darea) < hi * 1.25:
                continue
            best, m = t, -1
            for j, gb in enumerate(g):
                if gin[j] and j not in taken:
                    inter = max(0, min(d[2], gb[2]) - max(d[0], gb[0])) * max(0, min(d[3], gb[3]) - max(d[1], gb[1]))
                    iou = inter / ((gb[2] - gb[0]) * (gb[3] - gb[1]) + darea - inter)
                    if iou >= best:
                        best, m = iou, j
            if m >= 0:
                taken.add(m)
                rows.append((s, True))
            elif not any(max(0, min(d[2], b[2]) - max(d[0], b[0])) * max(0, min(d[3], b[3]) - max(d[1], b[1]))
                         / darea >= t for b in ignored):
                rows.append((s, False))
    if npig == 0:
        return float("nan")
    rows.sort(key=lambda r: -r[0])
    tp = np.cumsum([r[1] for r in rows]) if rows else np.zeros(0)
    fp = np.cumsum([not r[1] for r in rows]) if rows else np.zeros(0)
    recall, fppi = tp / npig, fp / len(records)
    miss = []
    for p in FPPI_POINTS:
        idx = np.nonzero(fppi <= p)[0]
        miss.append(1 - (recall[idx[-1]] if len(idx) else 0.0))
    with np.errstate(divide="ignore"):
        return float(np.exp(np.mean(np.log(miss))))


def test_matches_protocol_reference():
    rng = np.random.default_rng(2)
    records, dets = [], {}
    for i in range(1, 21):
        n = int(rng.integers(0, 25))
        xy, wh = rng.uniform(0, 600, (n, 2)), rng.uniform(1.5, 45, (n, 2))
        g = np.c_[xy, xy + wh]
        records.append(_rec(i, g, np.c_[rng.uniform(0, 500, (2, 2)), rng.uniform(0, 500, (2, 2)) + 70]))
        k = rng.random(n) < 0.7
        noise = np.c_[rng.uniform(0, 600, (6, 2)), np.zeros((6, 2))]
        noise[:, 2:] = noise[:, :2] + rng.uniform(1, 40, (6, 2))
        boxes = np.r_[g[k] + rng.normal(0, 0.2, (int(k.sum()), 4)) * np.tile(wh[k], 2), noise]
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 0.5)
        dets[i] = (boxes, rng.random(len(boxes)))
    ours = miss_rate(prepare(records, dets, 1000, 0.25))
    for (t, name), v in ours.items():
        ref = _reference_mr(records, dets, t, *MR_SIZE_RANGES[name])
        assert (v != v and ref != ref) or v == pytest.approx(ref, abs=1e-12), (t, name)
