"""MR mode "official" (TinyBenchmark's eval_MR_multisetup) against mode "protocol": hand-computed cases for each of
its three differences alone and together, the CLI, and a per-image reference written from the official rules."""
import dataclasses
import json

import numpy as np
import pytest

from sspnet.cli import main
from sspnet.data.record import ImageRecord
from sspnet.evaluation import evaluate
from sspnet.evaluation.matching import prepare
from sspnet.evaluation.mr import (FPPI_POINTS, FPPI_POINTS_UNROUNDED, MR_MODES, MR_SIZE_RANGES,
                                  log_average_miss_rate, miss_rate, prepare_with_regions)

PROTOCOL, OFFICIAL = MR_MODES["protocol"], MR_MODES["official"]
A1, A2 = [100, 100, 110, 110], [150, 100, 160, 110]       # tiny persons, 10 px
REGION = [300, 300, 360, 360]                             # ignore region, 3600 px²
FAR_FP = [400, 100, 410, 110, 0.99]
# IoD 20/100 = 0.2 on REGION: a FP for the protocol at every threshold; converted 0.2/1.2 * (1 + 36) = 6.17 > 0.5
GRAZES_REGION = [358, 300, 368, 310, 0.95]
ON_A1 = [*A1, 0.9]


def _rec(image_id, boxes=(), ignore=()):
    return ImageRecord(image_path="unused.jpg", width=640, height=512, image_id=image_id,
                       file_name=f"{image_id}.jpg", boxes_xyxy=np.asarray(boxes, np.float32).reshape(-1, 4),
                       ignore_xyxy=np.asarray(ignore, np.float32).reshape(-1, 4))


def _dets(*rows):
    a = np.asarray(rows, np.float64).reshape(-1, 5)
    return a[:, :4], a[:, 4]


def _ten_images(*dets_image_1, boxes=(A1, A2)):
    """10 images (one FP = FPPI 0.1, so 4 of the 9 points lie below it); persons and the region on image 1."""
    return [_rec(1, boxes, [REGION])] + [_rec(i) for i in range(2, 11)], {1: _dets(*dets_image_1)}


def _mr50_tiny(records, dets, rules):
    prep, gt_region = prepare_with_regions(records, dets)
    return 100 * miss_rate(prep, rules=rules, gt_region=gt_region)[(0.5, "tiny")]


def _half_pow(points_at_half):
    """MR when the miss rate is 0.5 at ``points_at_half`` of the 9 points and 1 elsewhere."""
    return 100 * 0.5 ** (points_at_half / 9)


# Score order: FAR_FP (FP in both modes), GRAZES_REGION (FP, or excused by the converted IoD), ON_A1 (TP); recall
# 0.5 after the TP. Protocol: FPPI 0.1, 0.2, 0.2 → miss 1 below 0.2, 0.5 from 0.3162 on (3 points).
def test_modes_differ_hand_computed():
    records, dets = _ten_images(FAR_FP, GRAZES_REGION, ON_A1)
    assert evaluate(records, dets)["MR50_tiny"] == pytest.approx(_half_pow(3))             # 79.37
    # official: FP, excused, TP → FPPI 0.1, -, 0.1; the leading FP makes the 4 points below 0.1 read the final
    # recall 0.5, and from 0.1 on recall is 0.5: miss 0.5 everywhere
    assert evaluate(records, dets, mr_mode="official")["MR50_tiny"] == pytest.approx(50.0)


def test_each_difference_alone_changes_the_result():
    records, dets = _ten_images(FAR_FP, GRAZES_REGION, ON_A1)
    fallback_only = dataclasses.replace(PROTOCOL, converted_iod_fallback=True)
    final_only = dataclasses.replace(PROTOCOL, final_recall_below_first_fp=True)
    assert _mr50_tiny(records, dets, PROTOCOL) == pytest.approx(_half_pow(3))
    # FP, excused, TP → FPPI 0.1 at the TP: miss 1 at the 4 points below 0.1, 0.5 at the other 5
    assert _mr50_tiny(records, dets, fallback_only) == pytest.approx(_half_pow(5))         # 68.04
    # FP, FP, TP with the final recall below 0.1: miss 0.5 at 4 points, 1 at 0.1 and 0.1778, 0.5 at 3 points
    assert _mr50_tiny(records, dets, final_only) == pytest.approx(_half_pow(7))            # 58.32
    assert _mr50_tiny(records, dets, OFFICIAL) == pytest.approx(50.0)


def test_unrounded_fppi_points_alone_change_the_result():
    # 249 images: 14 FPs give FPPI 0.056225, above the rounded 0.0562 but below 10**-1.25 = 0.056234.
    # 13 FP, TP, FP, TP over 4 GT: at the 4th point the rounded reading stops at recall 0.25, the unrounded at 0.5.
    is_tp = np.array([False] * 13 + [True, False, True])
    rounded = log_average_miss_rate(is_tp, num_gt=4, num_images=249, fppi_points=FPPI_POINTS)
    unrounded = log_average_miss_rate(is_tp, num_gt=4, num_images=249, fppi_points=FPPI_POINTS_UNROUNDED)
    assert rounded == pytest.approx(np.exp((np.log(0.75) + 5 * np.log(0.5)) / 9))
    assert unrounded == pytest.approx(0.5 ** (6 / 9))
    np.testing.assert_allclose(FPPI_POINTS_UNROUNDED, 10 ** (-2 + np.arange(9) / 4), rtol=1e-15)
    assert OFFICIAL.fppi_points is FPPI_POINTS_UNROUNDED and PROTOCOL.fppi_points is FPPI_POINTS


def test_excused_leader_reads_zero_recall_in_both_modes():
    # A detection inside the region ranks first: the reference's FPPI starts at 0 there, so the points below the
    # first FP read recall 0, not the final recall. Excused, FP, TP → miss 1 at 4 points, 0.5 at 5, in both modes.
    records, dets = _ten_images([310, 310, 320, 320, 0.99], FAR_FP[:4] + [0.95], ON_A1)
    for mode in MR_MODES:
        assert evaluate(records, dets, mr_mode=mode)["MR50_tiny"] == pytest.approx(_half_pow(5)), mode


def test_converted_iod_on_a_size_ignored_person():
    # A 40 px person is an ignored GT for 'tiny'. The det overlaps it by IoD 0.4: excused at IoU 0.25 in both
    # modes; at 0.5 only the official mode excuses it (0.4 / 1.4 * (1 + 1600 / 100) = 4.86 > 0.5).
    big = [200, 200, 240, 240]
    records, dets = _ten_images([236, 200, 246, 210, 0.95], ON_A1, boxes=(A1, A2, big))
    protocol, official = evaluate(records, dets), evaluate(records, dets, mr_mode="official")
    assert protocol["MR25_tiny"] == official["MR25_tiny"] == pytest.approx(50.0)
    assert protocol["MR50_tiny"] == pytest.approx(_half_pow(5))
    assert official["MR50_tiny"] == pytest.approx(50.0)


@pytest.mark.parametrize("region_x2, official", [(25, _half_pow(7)), (26, 50.0)])
def test_converted_iod_must_exceed_half(region_x2, official):
    # At IoU 0.75 the det's IoD on a region inside it is 0.5 (or 0.6), converted 0.5 / 1.5 * 1.5 = 0.5, not above
    # 0.5: FAR_FP, FP, TP as in the final-recall-only case (or 0.6 / 1.6 * 1.6 = 0.6: excused, all 0.5).
    records = [_rec(1, [A1, A2], [[20, 20, region_x2, 30]])] + [_rec(i) for i in range(2, 11)]
    dets = {1: _dets(FAR_FP, [20, 20, 30, 30, 0.95], ON_A1)}
    assert evaluate(records, dets)["MR75_tiny"] == pytest.approx(_half_pow(3))
    assert evaluate(records, dets, mr_mode="official")["MR75_tiny"] == pytest.approx(official)


def test_official_mode_needs_regions_as_ground_truth():
    records, dets = _ten_images(ON_A1)
    with pytest.raises(ValueError, match="prepare_with_regions"):
        miss_rate(prepare(records, dets, 1000, 0.25), rules=OFFICIAL)
    with pytest.raises(ValueError, match="protocol, official"):
        evaluate(records, dets, mr_mode="tinybenchmark")
    protocol, official = evaluate(records, dets), evaluate(records, dets, mr_mode="official")
    ap_keys = [k for k in protocol if k.startswith("AP")]
    np.testing.assert_equal([official[k] for k in ap_keys], [protocol[k] for k in ap_keys])   # AP untouched


def _coco_fixture(tmp_path):
    """The first test's case as files: REGION as an iscrowd annotation, detections as a COCO result list."""
    images = [{"id": i, "file_name": f"{i}.jpg", "width": 640, "height": 512} for i in range(1, 11)]
    anns = [{"id": k + 1, "image_id": 1, "category_id": 1, "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]],
             "iscrowd": int(b is REGION)} for k, b in enumerate((A1, A2, REGION))]
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person"}]}))
    det = tmp_path / "det.json"
    det.write_text(json.dumps([{"image_id": 1, "bbox": [d[0], d[1], d[2] - d[0], d[3] - d[1]], "score": d[4]}
                               for d in (FAR_FP, GRAZES_REGION, ON_A1)]))
    return gt, det


def test_cli_mr_mode(tmp_path, capsys):
    gt, det = _coco_fixture(tmp_path)
    for mode, expected in ((None, _half_pow(3)), ("official", 50.0)):
        out = tmp_path / f"{mode}.json"
        assert main(["eval", "--det", str(det), "--data", str(gt), "--json", str(out)]
                    + (["--mr-mode", mode] if mode else [])) == 0
        text = capsys.readouterr().out
        m = json.loads(out.read_text())
        assert m["mr_mode"] == (mode or "protocol") and f"MR mode: {mode or 'protocol'}" in text
        assert m["MR50_tiny"] == pytest.approx(expected)
    assert main(["eval", "--det", str(det), "--data", str(gt), "--no-mr", "--mr-mode", "official"]) == 2
    assert "--mr-mode official has no effect with --no-mr" in capsys.readouterr().err
    out = tmp_path / "ap.json"
    assert main(["eval", "--det", str(det), "--data", str(gt), "--no-mr", "--json", str(out)]) == 0
    assert "mr_mode" not in json.loads(out.read_text()) and "MR mode" not in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        main(["eval", "--det", str(det), "--data", str(gt), "--mr-mode", "tinybenchmark"])
    assert e.value.code == 2


def _official_reference_mr(records, detections, t, lo, hi, max_dets=1000):
    """Per-image loops written from the official rules: regions and out-of-range persons are GTs flagged ignore,
    whose overlap is the IoD; the unmatched get the converted-IoD test; excused detections stay in the curve."""
    rows, npig = [], 0
    for rec in sorted(records, key=lambda r: r.image_id):
        pos, regions = np.asarray(rec.boxes_xyxy, np.float64), np.asarray(rec.ignore_xyxy, np.float64)
        size = np.sqrt((pos[:, 2] - pos[:, 0]) * (pos[:, 3] - pos[:, 1]))
        gin = (size >= lo) & (size <= hi)
        npig += int(gin.sum())
        gts = list(pos[gin]) + list(pos[~gin]) + list(regions)              # non-ignored first
        ignored = [False] * int(gin.sum()) + [True] * (len(gts) - int(gin.sum()))
        boxes, scores = detections.get(rec.image_id, (np.zeros((0, 4)), np.zeros(0)))
        order = np.argsort(-scores, kind="mergesort")[:max_dets]
        taken = set()
        for d, s in zip(boxes[order], scores[order]):
            darea = (d[2] - d[0]) * (d[3] - d[1])
            if not lo / 1.25 <= np.sqrt(darea) < hi * 1.25:
                continue
            best, m, iods = min(t, 1 - 1e-10), -1, []
            for j, g in enumerate(gts):
                if m >= 0 and not ignored[m] and ignored[j]:
                    break                                                   # matched a person: done
                if j in taken:
                    continue
                inter = max(0, min(d[2], g[2]) - max(d[0], g[0])) * max(0, min(d[3], g[3]) - max(d[1], g[1]))
                garea = (g[2] - g[0]) * (g[3] - g[1])
                overlap = inter / darea if ignored[j] else inter / (darea + garea - inter)
                if ignored[j]:
                    iods.append(overlap / (1 + overlap) * (1 + garea / darea))
                if overlap >= best:
                    best, m = overlap, j
            if m >= 0 and not ignored[m]:
                taken.add(m)
            kind = "tp" if m >= 0 and not ignored[m] else "ign" if m >= 0 or max(iods, default=0) > 0.5 else "fp"
            rows.append((s, kind))
    if npig == 0:
        return float("nan")
    kinds = [k for _, k in sorted(rows, key=lambda r: -r[0])]
    recall = np.cumsum([k == "tp" for k in kinds]) / npig
    fppi = np.cumsum([k == "fp" for k in kinds]) / len(records)
    miss = []
    for p in FPPI_POINTS_UNROUNDED:
        idx = np.nonzero(fppi <= p)[0]
        miss.append(1 - (recall[idx[-1]] if len(idx) else recall[-1] if len(recall) else 0.0))
    with np.errstate(divide="ignore"):
        return float(np.exp(np.mean(np.log(miss))))


def test_official_matches_reference_and_differs_from_protocol():
    rng = np.random.default_rng(5)
    records, dets = [], {}
    for i in range(1, 21):
        n = int(rng.integers(0, 20))
        xy, wh = rng.uniform(0, 600, (n, 2)), rng.uniform(1.5, 45, (n, 2))
        g = np.c_[xy, xy + wh]
        regions = np.c_[rng.uniform(0, 500, (2, 2)), np.zeros((2, 2))]
        regions[:, 2:] = regions[:, :2] + rng.uniform(20, 120, (2, 2))
        records.append(_rec(i, g, regions))
        k = rng.random(n) < 0.7
        noise = np.c_[rng.uniform(0, 600, (8, 2)), np.zeros((8, 2))]
        noise[:, 2:] = noise[:, :2] + rng.uniform(1, 40, (8, 2))
        boxes = np.r_[g[k] + rng.normal(0, 0.2, (int(k.sum()), 4)) * np.tile(wh[k], 2), noise]
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 0.5)
        dets[i] = (boxes, rng.random(len(boxes)))
    prep, gt_region = prepare_with_regions(records, dets)
    official = miss_rate(prep, rules=OFFICIAL, gt_region=gt_region)
    protocol = miss_rate(prepare(records, dets, 1000, 0.25))
    for (t, name), v in official.items():
        ref = _official_reference_mr(records, dets, t, *MR_SIZE_RANGES[name])
        assert (v != v and ref != ref) or v == pytest.approx(ref, abs=1e-12), (t, name)
    assert sum(abs(official[k] - protocol[k]) > 1e-6 for k in official if official[k] == official[k]) >= 5
