"""TinyPerson AP: hand-computed cases, empty cases, a plain sequential reference, and pycocotools agreement."""
import json

import numpy as np
import pytest

from sspnet.data.record import ImageRecord
from sspnet.evaluation import evaluate
from sspnet.evaluation.ap import AP_SIZE_RANGES, average_precision
from sspnet.evaluation.matching import greedy_match, prepare


def _rec(image_id, boxes=(), ignore=(), w=640, h=512):
    return ImageRecord(image_path="unused.jpg", width=w, height=h, image_id=image_id, file_name=f"{image_id}.jpg",
                       boxes_xyxy=np.asarray(boxes, np.float32).reshape(-1, 4),
                       ignore_xyxy=np.asarray(ignore, np.float32).reshape(-1, 4))


def _dets(*rows):
    """rows of (x1, y1, x2, y2, score) → (boxes [K, 4], scores [K])."""
    a = np.asarray(rows, np.float64).reshape(-1, 5)
    return a[:, :4], a[:, 4]


# One image: A = 10x10 person (tiny), B = 40x40 person (outside tiny), I = ignore region.
A, B, IGN = [100, 100, 110, 110], [200, 200, 240, 240], [300, 300, 360, 360]
DETS = _dets([*A, 0.90],                      # TP on A
             [10, 10, 20, 20, 0.95],          # FP, highest score
             [310, 310, 320, 320, 0.99],      # inside the ignore region (IoD 1): excused
             [*B, 0.98])                      # on B: TP for 'all'; for 'tiny' B and this det are out of range


def test_hand_computed_tiny_range():
    # tiny: counted dets by score: FP (0.95), TP (0.90) → precision envelope 0.5 at every recall point → AP 0.5.
    # Were the ignore-region det counted, AP would be 1/3; were the det on B counted, 1/4.
    m = evaluate([_rec(1, [A, B], [IGN])], {1: DETS})
    assert m["AP50_tiny"] == pytest.approx(50.0, abs=1e-9)
    assert m["AP25_tiny"] == pytest.approx(50.0, abs=1e-9)
    assert m["AP50_tiny1"] != m["AP50_tiny1"]           # NaN: no GT of size 1-8
    assert m["AP50_small"] != m["AP50_small"]


def test_hand_computed_all_range():
    # all: TP(B, .98), FP(.95), TP(A, .90): recall [.5, .5, 1], precision [1, .5, 2/3]
    # → 51 recall points (0..0.50) at precision 1, 50 points at 2/3.
    m = evaluate([_rec(1, [A, B], [IGN])], {1: DETS})
    assert m["AP50_all"] == pytest.approx(100 * (51 + 50 * 2 / 3) / 101, abs=1e-9)
    assert m["AP50_reasonable"] == pytest.approx(100.0)    # B alone; the FP (size 10) is outside [32, 1e5]


def test_small_det_inside_out_of_range_gt_is_excused_by_iod():
    # for 'tiny' B (40 px) is an ignored GT; a 10 px detection inside it has IoD 1 → neither TP nor FP
    dets = _dets([*A, 0.5], [215, 215, 225, 225, 0.9])
    assert evaluate([_rec(1, [A, B])], {1: dets})["AP50_tiny"] == pytest.approx(100.0)
    # the same detection off B is an FP ranked first: precision 1/2 at full recall
    dets = _dets([*A, 0.5], [415, 415, 425, 425, 0.9])
    assert evaluate([_rec(1, [A, B])], {1: dets})["AP50_tiny"] == pytest.approx(50.0)


def test_iou_thresholds():
    # a det shifted by 5 px on a 10x10 box: IoU = 50/150 = 1/3 → TP at 0.25, FP at 0.5/0.75
    m = evaluate([_rec(1, [A])], {1: _dets([105, 100, 115, 110, 0.9])})
    assert (m["AP25_tiny"], m["AP50_tiny"], m["AP75_tiny"]) == (pytest.approx(100.0), 0.0, 0.0)


def test_empty_cases():
    nan_all = evaluate([_rec(1)], {})
    assert all(v != v for v in nan_all.values())            # no GT anywhere: NaN everywhere
    no_dets = evaluate([_rec(1, [A])], {})
    assert no_dets["AP50_tiny"] == 0.0 and no_dets["MR50_tiny"] == 100.0
    assert evaluate([], {})["AP50_all"] != evaluate([], {})["AP50_all"]
    only_fp_elsewhere = evaluate([_rec(1, [A]), _rec(2)], {2: _dets([0, 0, 10, 10, 1.0])})
    assert only_fp_elsewhere["AP50_tiny"] == 0.0
    with pytest.raises(ValueError, match="not in the dataset"):
        evaluate([_rec(1, [A])], {5: _dets([0, 0, 10, 10, 1.0])})


def test_max_dets_caps_each_image():
    gts = [[10 * i, 0, 10 * i + 8, 8] for i in range(60)] + [[10 * i, 20, 10 * i + 8, 28] for i in range(60)] \
        + [[10 * i, 40, 10 * i + 8, 48] for i in range(60)] + [[10 * i, 60, 10 * i + 8, 68] for i in range(40)]
    dets = (np.asarray(gts, np.float64), np.linspace(1, 0.5, len(gts)))
    m = evaluate([_rec(1, gts, w=700)], {1: dets})
    assert m["AP50_all"] == pytest.approx(100 * 91 / 101)       # recall 200/220 = 0.909 → 91 of 101 points
    assert evaluate([_rec(1, gts, w=700)], {1: dets}, ap_max_dets=1000)["AP50_all"] == pytest.approx(100.0)


def _greedy_sequential(pd, pg, piou, n):
    taken, out = set(), np.zeros(n, bool)
    cands = {}
    for d, g, v in zip(pd, pg, piou):
        cands.setdefault(d, []).append((v, g))
    for d in sorted(cands):
        free = [(v, g) for v, g in cands[d] if g not in taken]
        if free:
            taken.add(max(free)[1])
            out[d] = True
    return out


def test_vectorised_greedy_equals_sequential_loop():
    rng = np.random.default_rng(3)
    for _ in range(30):
        p = rng.integers(0, 60)
        pd = np.sort(rng.integers(0, 25, p))
        pg = rng.integers(0, 10, p)
        pairs = sorted(set(zip(pd.tolist(), pg.tolist())))
        pd = np.array([a for a, _ in pairs], np.int64)
        pg = np.array([b for _, b in pairs], np.int64)
        piou = rng.choice([0.5, 0.6, 0.7, 0.9], len(pairs))      # ties on purpose
        assert (greedy_match(pd, pg, piou, 25) == _greedy_sequential(pd, pg, piou, 25)).all()


def _reference_ap(records, detections, t, lo, hi, max_dets=200):
    """Per-image loops straight from the protocol text (TinyBenchmark's cocoeval 'tiny')."""
    rows, npig = [], 0
    for rec in sorted(records, key=lambda r: r.image_id):
        g = np.asarray(rec.boxes_xyxy, np.float64)
        garea = (g[:, 2] - g[:, 0]) * (g[:, 3] - g[:, 1])
        gin = (garea >= lo * lo) & (garea <= hi * hi)
        npig += int(gin.sum())
        ignored = [b for b, ok in zip(g, gin) if not ok] + list(np.asarray(rec.ignore_xyxy, np.float64))
        boxes, scores = detections.get(rec.image_id, (np.zeros((0, 4)), np.zeros(0)))
        order = np.argsort(-scores, kind="mergesort")[:max_dets]
        taken = set()
        for d, s in zip(boxes[order], scores[order]):
            darea = (d[2] - d[0]) * (d[3] - d[1])
            best, m = t, -1
            for j, gb in enumerate(g):
                if not gin[j] or j in taken:
                    continue
                iw = max(0.0, min(d[2], gb[2]) - max(d[0], gb[0]))
                ih = max(0.0, min(d[3], gb[3]) - max(d[1], gb[1]))
                iou = iw * ih / (darea + garea[j] - iw * ih)
                if iou >= best:
                    best, m = iou, j
            if m >= 0:
                taken.add(m)
                rows.append((s, True))
                continue
            iods = [max(0.0, min(d[2], b[2]) - max(d[0], b[0])) * max(0.0, min(d[3], b[3]) - max(d[1], b[1])) / darea
                    for b in ignored]
            if (iods and max(iods) >= t) or not (lo * lo <= darea <= hi * hi):
                continue
            rows.append((s, False))
    if npig == 0:
        return float("nan")
    rows.sort(key=lambda r: -r[0])       # stable, like mergesort
    tp = np.cumsum([r[1] for r in rows])
    fp = np.cumsum([not r[1] for r in rows])
    if not len(rows):
        return 0.0
    rc, pr = tp / npig, tp / (tp + fp)
    pr = np.maximum.accumulate(pr[::-1])[::-1]
    q = [pr[i] if i < len(pr) else 0.0 for i in np.searchsorted(rc, np.linspace(0, 1, 101), side="left")]
    return float(np.mean(q))


def _random_dataset(rng, n_images, with_ignore):
    records, dets = [], {}
    for i in range(1, n_images + 1):
        n = int(rng.integers(0, 30))
        xy = rng.uniform(0, 600, (n, 2))
        wh = rng.uniform(1.5, 45, (n, 2))
        g = np.c_[xy, xy + wh]
        ign = np.c_[rng.uniform(0, 550, (2, 2)), rng.uniform(0, 550, (2, 2)) + 60] if with_ignore else []
        records.append(_rec(i, g, ign))
        k = rng.random(n) < 0.8
        jit = rng.normal(0, 0.2, (int(k.sum()), 4)) * np.tile(wh[k], 2)
        extra = np.c_[rng.uniform(0, 600, (8, 2)), np.zeros((8, 2))]
        extra[:, 2:] = extra[:, :2] + rng.uniform(1, 40, (8, 2))
        boxes = np.r_[g[k] + jit, extra]
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 0.5)
        dets[i] = (boxes, rng.random(len(boxes)))
    return records, dets


def test_matches_protocol_reference_with_ignores_all_ranges():
    rng = np.random.default_rng(11)
    records, dets = _random_dataset(rng, 25, with_ignore=True)
    prep = prepare(records, dets, 200, 0.25)
    ours = average_precision(prep)
    for (t, name), v in ours.items():
        ref = _reference_ap(records, dets, t, *AP_SIZE_RANGES[name])
        assert (v != v and ref != ref) or v == pytest.approx(ref, abs=1e-12), (t, name)


def test_agrees_with_pycocotools_without_ignores(tmp_path):
    import pycocotools.coco as coco      # installed by make test (dev extra): a missing one fails
    from pycocotools.cocoeval import COCOeval
    rng = np.random.default_rng(5)
    records, dets = _random_dataset(rng, 40, with_ignore=False)
    images = [{"id": r.image_id, "file_name": r.file_name, "width": 640, "height": 512} for r in records]
    boxes = [(r.image_id, b) for r in records for b in r.boxes_xyxy.astype(np.float64)]
    anns = [{"id": k + 1, "image_id": i, "category_id": 1, "iscrowd": 0,
             "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]], "area": (b[2] - b[0]) * (b[3] - b[1])}
            for k, (i, b) in enumerate(boxes)]
    res = [{"image_id": i, "category_id": 1, "score": float(s),
            "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]}
           for i, (bs, ss) in dets.items() for b, s in zip(bs, ss)]
    (tmp_path / "gt.json").write_text(json.dumps({"images": images, "annotations": anns,
                                                  "categories": [{"id": 1, "name": "person"}]}))
    gt = coco.COCO(str(tmp_path / "gt.json"))
    ev = COCOeval(gt, gt.loadRes(res), "bbox")
    ev.params.iouThrs = np.array([0.25, 0.5, 0.75])
    ev.params.maxDets = [200]
    ev.params.areaRng, ev.params.areaRngLbl = [[1.0, 1e10]], ["all"]
    ev.evaluate()
    ev.accumulate()
    ours = evaluate(records, dets, with_mr=False)
    for ti, key in enumerate(["AP25_all", "AP50_all", "AP75_all"]):
        ref = 100 * float(np.mean(ev.eval["precision"][ti, :, 0, 0, 0]))
        assert ours[key] == pytest.approx(ref, abs=1e-6), key
