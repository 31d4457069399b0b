"""Post-processing, one change at a time, on the same model outputs: the model runs once over the validation
frames, each tile as it is and mirrored (its raw per-tile boxes and scores kept, cached for the next run of the same
model file), then each variant of ``Postprocess`` (hard NMS IoU, Gaussian Soft-NMS, box voting, flip TTA) is
decoded, merged and scored with AP50-tiny and its 90 % group-bootstrap interval.

    python bench/postprocess_ablation.py --model models/sspnet_edge.pt --data D1 [--data D2] --split SPLIT.json
                                         [--scale 2.5]

Writes bench-out/postprocess_ablation.json; headline: the best variant's AP50-tiny gain over the model's own
post-processing. The best variant's detections go next to the cache (``.best.dets.json``), so
``bench/error_analysis.py --dets`` can draw its PR curve and operating point without running the model again.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import io
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from error_analysis import load_records  # noqa: E402
from stream_common import OUT, machine, write_result  # noqa: E402

VARIANTS = {   # name → Postprocess fields changed from the model's manifest
    "nms_iou 0.4": {"nms_iou": 0.4, "merge_iou": 0.4},
    "nms_iou 0.6": {"nms_iou": 0.6, "merge_iou": 0.6},
    "nms_iou 0.7": {"nms_iou": 0.7, "merge_iou": 0.7},
    "soft-NMS sigma 0.3": {"soft_nms_sigma": 0.3},
    "soft-NMS sigma 0.5": {"soft_nms_sigma": 0.5},
    "box voting IoU 0.5": {"vote_iou": 0.5},
    "box voting IoU 0.6": {"vote_iou": 0.6},
    "box voting IoU 0.7": {"vote_iou": 0.7},
    "box voting IoU 0.5, NMS 0.4": {"vote_iou": 0.5, "nms_iou": 0.4, "merge_iou": 0.4},
    "flip TTA": {"flip_tta": True},
    "flip TTA, box voting IoU 0.5": {"flip_tta": True, "vote_iou": 0.5},
    "flip TTA, box voting IoU 0.6": {"flip_tta": True, "vote_iou": 0.6},
}


def raw_outputs(records: list, detector, cache: Path, model: Path) -> list:
    """Per record: (per-tile boxes, scores above the protocol's score_thr, whether each came from the mirrored view
    (``with_flip_tta``), corners, scale, frame size), read from ``cache`` when a run of this model file (not changed
    since) at this scale on these frames wrote it. Both views run once, so every variant reads the same outputs."""
    if cache.is_file() and cache.stat().st_mtime > model.stat().st_mtime:
        return load_raw(cache, len(records))
    raw = run_model(records, detector)
    save_raw(cache, raw)
    return raw


def save_raw(path: Path, raw: list) -> None:
    from sspnet.manifest import atomic_write_bytes
    tiles = [len(r[0]) for r in raw]
    counts = [len(s) for r in raw for s in r[1]]
    joined = lambda k: np.concatenate([a for r in raw for a in r[k]])  # noqa: E731
    buf = io.BytesIO()
    np.savez(buf, boxes=joined(0).reshape(-1, 4), scores=joined(1), mirrored=joined(2),
             counts=np.asarray(counts, np.int64), tiles=np.asarray(tiles, np.int64),
             corners=np.concatenate([r[3] for r in raw]), scales=np.asarray([r[4] for r in raw]),
             frame_wh=np.asarray([r[5] for r in raw], np.int64))
    atomic_write_bytes(path, buf.getvalue())


def load_raw(path: Path, frames: int) -> list:
    z = np.load(path)
    if len(z["tiles"]) != frames or "mirrored" not in z:
        raise SystemExit(f"{path}: cached outputs of another run ({len(z['tiles'])} frames); delete it")
    cut = lambda a, n: np.split(a, np.cumsum(n)[:-1])  # noqa: E731
    boxes, scores, mirrored = (cut(z[k], z["counts"]) for k in ("boxes", "scores", "mirrored"))
    t_end = np.cumsum(z["tiles"])
    t_start = t_end - z["tiles"]
    return [(boxes[a:e], scores[a:e], mirrored[a:e], z["corners"][a:e], tuple(float(v) for v in z["scales"][f]),
             tuple(int(v) for v in z["frame_wh"][f])) for f, (a, e) in enumerate(zip(t_start, t_end))]


def run_model(records: list, detector) -> list:
    from tqdm import tqdm

    from sspnet.postprocess import run_in_batches, with_flip_tta
    from sspnet.preprocess import frame_to_tiles
    thr = detector.postprocess.score_thr
    infer = with_flip_tta(detector.infer)
    out = []
    for rec in tqdm(records, desc="model", unit="img"):
        t = frame_to_tiles(rec.load_image(), detector.preprocess, detector.full_frame)
        boxes, scores = run_in_batches(infer, t.batch, step=detector.max_batch)
        mirrored = np.arange(scores.shape[1]) >= scores.shape[1] // 2
        keep = [s >= thr for s in scores]
        out.append(([b[k] for b, k in zip(boxes, keep)], [s[k] for s, k in zip(scores, keep)],
                    [mirrored[k] for k in keep], t.corners_xyxy, t.scale_xy, t.frame_wh))
    return out


def views(r: tuple, flip: bool) -> tuple:
    """A record's per-tile boxes and scores of the views ``flip`` uses."""
    if flip:
        return r[0], r[1]
    return [b[~m] for b, m in zip(r[0], r[2])], [s[~m] for s, m in zip(r[1], r[2])]


def score(records: list, raw: list, post) -> tuple[dict, dict]:
    """(the row of ``post``: AP50-tiny with its interval, AP25-tiny, post-processing time; its detections)."""
    from sspnet.evaluation import evaluate
    from sspnet.evaluation.bootstrap import bootstrap_interval
    from sspnet.postprocess import detections_from_tiles
    t0 = time.perf_counter()
    dets = {rec.image_id: detections_from_tiles(*views(r, post.flip_tta), *r[3:], post) for rec, r in zip(records, raw)}
    post_s = (time.perf_counter() - t0) / len(records)
    m = evaluate(records, dets, with_mr=False)
    ci = bootstrap_interval(records, dets)
    return {"AP50_tiny": round(ci["value"], 2), "interval90": [round(ci["lo"], 2), round(ci["hi"], 2)],
            "AP25_tiny": round(m["AP25_tiny"], 2), "post_ms_per_frame": round(post_s * 1e3, 1)}, dets


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help=".pt, .onnx or .engine")
    ap.add_argument("--data", action="append", required=True, help="dataset (repeatable)")
    ap.add_argument("--split", help="group split: its validation part")
    ap.add_argument("--scale", type=float, help="frame up-scaling, instead of the model's manifest")
    args = ap.parse_args(argv)
    if args.scale is not None and args.scale <= 0:
        ap.error(f"--scale {args.scale}: must be > 0")

    from sspnet.cli import open_detector
    records = load_records(args.data, args.split)
    detector = open_detector(args.model)
    if args.scale is not None:
        detector.preprocess = dataclasses.replace(detector.preprocess, scale=args.scale)
    frames = hashlib.sha256("\n".join(r.image_path for r in records).encode()).hexdigest()[:12]
    base = detector.postprocess
    cache = OUT / "postprocess_ablation" / f"{Path(args.model).stem}_scale{detector.preprocess.scale:g}_{frames}.raw.npz"
    cache.parent.mkdir(parents=True, exist_ok=True)
    raw = raw_outputs(records, detector, cache, Path(args.model))
    row, _ = score(records, raw, base)
    rows, dets = {"model's own": {"postprocess": base.to_dict(), **row}}, {}
    for name, change in VARIANTS.items():
        row, dets[name] = score(records, raw, dataclasses.replace(base, **change))
        rows[name] = {"change": change, **row}
    for name, r in rows.items():
        print(f"{name:>20s}: AP50-tiny {r['AP50_tiny']:.2f} [{r['interval90'][0]:.2f}, {r['interval90'][1]:.2f}]"
              f"  AP25-tiny {r['AP25_tiny']:.2f}  post {r['post_ms_per_frame']:.0f} ms/frame", flush=True)
    best = max(VARIANTS, key=lambda n: rows[n]["AP50_tiny"])
    gain = rows[best]["AP50_tiny"] - rows["model's own"]["AP50_tiny"]
    doc = {"headline": {"metric": "best_postprocess_gain_ap50_tiny", "value": round(gain, 2), "unit": "AP",
                        "best": best, "goal": None},
           "model": args.model, "scale": detector.preprocess.scale, "data": args.data, "split": args.split,
           "frames": len(records), "variants": rows, "machine": machine()}
    path = write_result("postprocess_ablation", doc)
    from sspnet.evaluation.detections import save_detections
    best_dets = save_detections(cache.with_name(cache.name.replace(".raw.npz", ".best.dets.json")), dets[best])
    print(f"best: {best} ({gain:+.2f} AP50-tiny) → {path}; its detections (for bench/error_analysis.py --dets) → "
          f"{best_dets}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
