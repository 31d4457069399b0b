"""What limits AP: localisation, ranking or recall, per ground-truth size. JSON + PNGs per model.

    python bench/error_analysis.py --model models/sspnet_edge.pt --data D1 [--data D2] [--split SPLIT.json]
                                   [--name shipped] [--dets DETS.json]

For the validation part of ``--split`` (or all of ``--data``), with the model's own pre/post-processing:
- recall at IoU 0.25 / 0.5 of the top-200 detections per image, per GT size bin √(w·h) 1–4, 4–8, 8–12, 12–20, 20–32 px;
- the IoU of each GT's best detection (histogram), its centre offset (px, and in GT sizes) and log-size error;
- false positives per frame by score threshold and the precision–recall curve (greedy one-to-one matching at IoU
  0.5, detections mostly inside an ignore region dropped), with two operating points: F1-best and the highest
  recall at precision ≥ 0.5;
- AP50-tiny with a 90 % bootstrap interval over groups (sspnet/evaluation/bootstrap.py);
- ``person_px``: the persons' median height at the model's scale, which the model ships as ``preprocess.person_px``.
Writes bench-out/error_analysis/<name>.json (+ .png) and the detections (<name>.dets.json) for re-use.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stream_common import OUT, machine, write_result  # noqa: E402

BINS = ((1, 4), (4, 8), (8, 12), (12, 20), (20, 32))
TOP = 200
THRESHOLDS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def load_records(datas: list[str], split: str | None) -> list:
    from sspnet.data import load_dataset
    from sspnet.training.split import read_split, select_records
    records = []
    for d in datas:
        recs = load_dataset(d)
        records += select_records(recs, read_split(split), "val") if split else recs
    return [dataclasses.replace(r, image_id=i + 1) for i, r in enumerate(records)]


def per_gt(records: list, dets: dict) -> dict:
    """Arrays over all non-ignored GT boxes: size, best IoU, centre offset, log w/h error of the best detection."""
    from sspnet.boxes import box_iou
    size, best, off, dlogw, dlogh = [], [], [], [], []
    for r in records:
        gt = np.asarray(r.boxes_xyxy, np.float64).reshape(-1, 4)
        if not len(gt):
            continue
        boxes, scores = dets[r.image_id]
        boxes = np.asarray(boxes, np.float64)[np.argsort(-np.asarray(scores))[:TOP]].reshape(-1, 4)
        wg, hg = gt[:, 2] - gt[:, 0], gt[:, 3] - gt[:, 1]
        size.append(np.sqrt(wg * hg))
        if not len(boxes):
            best.append(np.zeros(len(gt))), off.append(np.full(len(gt), np.nan))
            dlogw.append(np.full(len(gt), np.nan)), dlogh.append(np.full(len(gt), np.nan))
            continue
        iou = box_iou(gt, boxes)                                           # [G, D]
        j = iou.argmax(axis=1)
        b = boxes[j]
        best.append(iou[np.arange(len(gt)), j])
        cg = (gt[:, :2] + gt[:, 2:]) / 2
        cd = (b[:, :2] + b[:, 2:]) / 2
        off.append(np.linalg.norm(cd - cg, axis=1))
        dlogw.append(np.log(np.maximum(b[:, 2] - b[:, 0], 1e-3) / np.maximum(wg, 1e-3)))
        dlogh.append(np.log(np.maximum(b[:, 3] - b[:, 1], 1e-3) / np.maximum(hg, 1e-3)))
    cat = (lambda xs: np.concatenate(xs) if xs else np.zeros(0))
    return {"size": cat(size), "best_iou": cat(best), "offset": cat(off), "dlogw": cat(dlogw), "dlogh": cat(dlogh)}


def matched(records: list, dets: dict, iou_thr: float = 0.5) -> tuple[np.ndarray, np.ndarray, int]:
    """(scores, is-TP) of every counted detection, sorted by score, and the number of GT boxes."""
    from sspnet.boxes import box_iof, box_iou
    all_scores, all_tp, num_gt = [], [], 0
    for r in records:
        gt = np.asarray(r.boxes_xyxy, np.float64).reshape(-1, 4)
        ign = np.asarray(r.ignore_xyxy, np.float64).reshape(-1, 4)
        boxes, scores = (np.asarray(a, np.float64) for a in dets[r.image_id])
        order = np.argsort(-scores)[:TOP]
        boxes, scores = boxes[order].reshape(-1, 4), scores[order]
        num_gt += len(gt)
        iou = box_iou(boxes, gt) if len(gt) and len(boxes) else np.zeros((len(boxes), len(gt)))
        in_ignore = (box_iof(boxes, ign).max(axis=1) > 0.5) if len(ign) and len(boxes) else np.zeros(len(boxes), bool)
        taken = np.zeros(len(gt), bool)
        for d in range(len(boxes)):
            cand = np.where(~taken & (iou[d] >= iou_thr))[0] if len(gt) else []
            if len(cand):
                taken[cand[iou[d, cand].argmax()]] = True
                all_scores.append(scores[d]), all_tp.append(True)
            elif not in_ignore[d]:
                all_scores.append(scores[d]), all_tp.append(False)
    s, t = np.asarray(all_scores), np.asarray(all_tp, bool)
    order = np.argsort(-s, kind="stable")
    return s[order], t[order], num_gt


def operating_points(scores: np.ndarray, tp: np.ndarray, num_gt: int) -> tuple[dict, dict]:
    """(PR curve, {'f1_best', 'p50_max_recall'}) from sorted detections."""
    ctp, cfp = np.cumsum(tp), np.cumsum(~tp)
    prec = ctp / np.maximum(ctp + cfp, 1)
    rec = ctp / max(num_gt, 1)
    f1 = 2 * prec * rec / np.maximum(prec + rec, 1e-9)
    points = {}
    if len(scores):
        i = int(f1.argmax())
        points["f1_best"] = {"score_thr": float(scores[i]), "precision": float(prec[i]), "recall": float(rec[i]),
                             "f1": float(f1[i])}
        ok = np.where(prec >= 0.5)[0]
        if len(ok):
            k = int(ok[rec[ok].argmax()])
            points["p50_max_recall"] = {"score_thr": float(scores[k]), "precision": float(prec[k]),
                                        "recall": float(rec[k]), "f1": float(f1[k])}
    step = max(1, len(scores) // 200)
    curve = {"precision": prec[::step].round(4).tolist(), "recall": rec[::step].round(4).tolist(),
             "score": scores[::step].round(4).tolist()}
    return curve, points


def by_bin(g: dict) -> dict:
    out = {}
    for lo, hi in BINS:
        m = (g["size"] >= lo) & (g["size"] < hi)
        loc = m & (g["best_iou"] > 0.1)
        rel = g["offset"][loc] / np.maximum(g["size"][loc], 1e-3)
        out[f"{lo}-{hi}"] = {
            "gt": int(m.sum()),
            "recall_iou25": float((g["best_iou"][m] >= 0.25).mean()) if m.any() else None,
            "recall_iou50": float((g["best_iou"][m] >= 0.5).mean()) if m.any() else None,
            "median_best_iou": float(np.median(g["best_iou"][m])) if m.any() else None,
            "median_centre_offset_px": float(np.median(g["offset"][loc])) if loc.any() else None,
            "median_centre_offset_in_gt_sizes": float(np.median(rel)) if loc.any() else None,
            "median_log_w_error": float(np.median(g["dlogw"][loc])) if loc.any() else None,
            "median_log_h_error": float(np.median(g["dlogh"][loc])) if loc.any() else None,
            "median_abs_log_size_error": float(np.median(np.abs(g["dlogw"][loc] + g["dlogh"][loc]) / 2))
            if loc.any() else None,
        }
    return out


def plot(path: Path, name: str, bins: dict, g: dict, curve: dict, fp_per_frame: dict) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, 4, figsize=(18, 4))
    labels = list(bins)
    x = np.arange(len(labels))
    for k, off, lab in (("recall_iou25", -0.2, "IoU 0.25"), ("recall_iou50", 0.2, "IoU 0.5")):
        ax[0].bar(x + off, [bins[b][k] or 0 for b in labels], 0.4, label=lab)
    ax[0].set(xticks=x, xticklabels=labels, ylim=(0, 1), title=f"recall of top-{TOP} by GT size (px)")
    ax[0].legend()
    ax[1].hist(g["best_iou"], bins=20, range=(0, 1))
    ax[1].set(title="IoU of each GT's best detection", xlabel="IoU")
    ax[2].plot(curve["recall"], curve["precision"])
    ax[2].set(xlim=(0, 1), ylim=(0, 1), xlabel="recall", ylabel="precision", title="PR at IoU 0.5 (all sizes)")
    ax[3].plot(list(map(float, fp_per_frame)), list(fp_per_frame.values()), marker="o")
    ax[3].set(xlabel="score threshold", ylabel="false positives / frame", yscale="log", title="false positives")
    fig.suptitle(name)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def model_scale(model: str) -> float:
    from sspnet.manifest import read_manifest
    return float(read_manifest(model)["preprocess"]["scale"])


def person_px(records: list, scale: float) -> float:
    """Median height of the annotated persons after the frame resize (network-input px): the manifest's
    ``preprocess.person_px``, which ``sspnet detect`` matches on stills with a camera pose."""
    heights = np.concatenate([r.boxes_xyxy[:, 3] - r.boxes_xyxy[:, 1] for r in records])
    return round(float(np.median(heights)) * scale, 1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help=".pt, .onnx or .engine")
    ap.add_argument("--data", action="append", required=True, help="dataset (repeatable)")
    ap.add_argument("--split", help="group split: analyse its validation part")
    ap.add_argument("--name", help="name of the outputs (default: the model's stem)")
    ap.add_argument("--dets", help="re-use detections written by an earlier run instead of running the model")
    ap.add_argument("--scale", type=float, help="frame up-scaling before tiling, instead of the model's manifest")
    args = ap.parse_args(argv)
    if args.scale is not None and args.scale <= 0:
        ap.error(f"--scale {args.scale}: must be > 0")

    from sspnet.evaluation import detect_dataset, evaluate
    from sspnet.evaluation.bootstrap import bootstrap_interval
    from sspnet.evaluation.detections import load_detections, save_detections
    from sspnet.cli import open_detector
    name = args.name or Path(args.model).stem
    work = OUT / "error_analysis"
    work.mkdir(parents=True, exist_ok=True)
    records = load_records(args.data, args.split)
    t0 = time.perf_counter()
    if args.dets:
        dets = load_detections(args.dets, records)
    else:
        detector = open_detector(args.model)
        if args.scale is not None:
            detector.preprocess = dataclasses.replace(detector.preprocess, scale=args.scale)
        dets = detect_dataset(records, detector, progress=True)
        save_detections(work / f"{name}.dets.json", dets)
    seconds = time.perf_counter() - t0
    metrics = evaluate(records, dets, with_mr=False)
    interval = bootstrap_interval(records, dets)
    g = per_gt(records, dets)
    bins = by_bin(g)
    scores, tp, num_gt = matched(records, dets)
    curve, points = operating_points(scores, tp, num_gt)
    fp_per_frame = {f"{t}": float((~tp[scores >= t]).sum() / len(records)) for t in THRESHOLDS}
    plot(work / f"{name}.png", f"{name}: AP50-tiny {interval['value']:.1f} "
         f"[{interval['lo']:.1f}, {interval['hi']:.1f}] on {len(records)} frames", bins, g, curve, fp_per_frame)
    doc = {"headline": {"metric": "AP50_tiny", "value": round(interval["value"], 2), "unit": "AP",
                        "interval90": [round(interval["lo"], 2), round(interval["hi"], 2)]},
           "model": args.model, "scale": args.scale, "data": args.data, "split": args.split, "frames": len(records),
           "persons": int(num_gt), "person_px": person_px(records, args.scale or model_scale(args.model)),
           "groups": interval["groups"], "detect_seconds": round(seconds, 1),
           "metrics": {k: round(v, 2) for k, v in metrics.items() if k.startswith("AP")},
           "by_size": bins, "operating_points": points, "fp_per_frame_by_score": fp_per_frame,
           "best_iou_histogram": np.histogram(g["best_iou"], bins=10, range=(0, 1))[0].tolist(), "pr_curve": curve,
           "png": str(work / f"{name}.png"), "machine": machine()}
    path = write_result(f"error_analysis/{name}", doc)
    print(f"{name}: AP50-tiny {interval['value']:.2f} (90 % interval over {interval['groups']} groups "
          f"{interval['lo']:.2f}–{interval['hi']:.2f}), AP25-tiny {metrics['AP25_tiny']:.2f} on {len(records)} frames")
    for b, v in bins.items():
        print(f"  {b:>6s} px: {v['gt']:5d} GT  recall@.25 {v['recall_iou25'] or 0:.2f}  @.5 {v['recall_iou50'] or 0:.2f}"
              f"  median best IoU {v['median_best_iou'] or 0:.2f}  offset {v['median_centre_offset_px'] or 0:.2f} px"
              f"  log w/h {v['median_log_w_error'] or 0:+.2f}/{v['median_log_h_error'] or 0:+.2f}")
    for k, p in points.items():
        print(f"  {k}: score >= {p['score_thr']:.3f}: precision {p['precision']:.2f}, recall {p['recall']:.2f}")
    print(f"→ {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
