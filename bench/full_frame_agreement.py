"""Full frame vs tiles: do they find the same persons? One model (the ``--full-frame`` ONNX export of
models/sspnet_edge.pt), run on the same frames once whole (padded to a multiple of 32) and once cut into the
manifest's 640×512 tiles; AP50-tiny of each and the detections' agreement (share of the detections at the
operating point that the other mode also has at IoU 0.5, and their score difference).

Where they can differ: the CAM's ASPP image-pool branch averages the whole input, so a tile sees the mean of its
640×512 patch and a whole frame the mean of the frame (and of its zero padding); tiles also cut persons at their
borders, which the overlap and the merge repair. The script measures the first directly: the pooled vector of
each tile against the whole frame's (relative L2 difference), on a few frames, with the PyTorch model.

    python bench/full_frame_agreement.py [--synthetic 12] [--data D1 --data D2 --split SPLIT.json]

Writes bench-out/full_frame_agreement.json; headline ``max_ap50_tiny_delta`` (goal <= 0.5) over the data sets.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from error_analysis import load_records  # noqa: E402
from stream_common import OUT, TRAINED, bench_model, machine, sh, write_result  # noqa: E402

GOAL = 0.5


def agreement(a: dict, b: dict, thr: float) -> dict:
    """Share of ``a``'s detections (score >= thr) with a detection of ``b`` at IoU >= 0.5, and the median |Δscore|
    of those pairs."""
    from sspnet.boxes import box_iou
    found, total, deltas = 0, 0, []
    for image_id, (boxes, scores) in a.items():
        keep = scores >= thr
        other_boxes, other_scores = b[image_id]
        total += int(keep.sum())
        if not keep.any() or not len(other_boxes):
            continue
        iou = box_iou(boxes[keep], other_boxes)
        best = iou.argmax(1)
        hit = iou[np.arange(len(best)), best] >= 0.5
        found += int(hit.sum())
        deltas += list(np.abs(scores[keep][hit] - other_scores[best[hit]]))
    return {"detections": total, "matched": round(found / total, 4) if total else None,
            "median_abs_score_delta": round(float(np.median(deltas)), 4) if deltas else None}


def compare(records: list, onnx: Path) -> dict:
    from sspnet.evaluation import detect_dataset, evaluate
    from sspnet.runtime.backends import open_backend
    backend = open_backend(str(onnx), "cpu")
    full_frame = backend.full_frame
    dets = {}
    for mode in ("tiled", "full_frame"):
        backend.full_frame = full_frame if mode == "full_frame" else None
        dets[mode] = detect_dataset(records, backend, progress=True)
    thr = backend.postprocess.operating_thr
    backend.close()
    ap = {mode: evaluate(records, d, with_mr=False) for mode, d in dets.items()}
    return {"frames": len(records),
            "AP50_tiny": {m: round(a["AP50_tiny"], 2) for m, a in ap.items()},
            "AP25_tiny": {m: round(a["AP25_tiny"], 2) for m, a in ap.items()},
            "ap50_tiny_delta": round(ap["full_frame"]["AP50_tiny"] - ap["tiled"]["AP50_tiny"], 2),
            "operating_thr": thr,
            "tiled_found_by_full_frame": agreement(dets["tiled"], dets["full_frame"], thr),
            "full_frame_found_by_tiled": agreement(dets["full_frame"], dets["tiled"], thr)}


def pooled_context(records: list, frames: int) -> dict:
    """Relative L2 difference between each tile's ASPP image-pool vector and the whole frame's."""
    import torch

    from sspnet.preprocess import FullFrame, frame_to_tiles
    from sspnet.training.checkpoint import load_checkpoint
    from sspnet.training.predict import TorchDetector
    model, cfg, _ = load_checkpoint(TRAINED, "cpu")
    pre = TorchDetector(model, cfg, "cpu").preprocess
    seen = []
    hook = model.neck.cam.aspp.pool_conv.register_forward_hook(lambda m, inp, out: seen.append(inp[0].flatten(1)))
    diffs = []
    with torch.no_grad():
        for rec in records[:frames]:
            image = rec.load_image()
            whole = frame_to_tiles(image, pre, FullFrame(8192, 8192, 32)).batch
            tiles = frame_to_tiles(image, pre).batch
            seen.clear()
            model(torch.from_numpy(whole))
            model(torch.from_numpy(tiles))
            full, per_tile = seen
            diffs += (torch.linalg.norm(per_tile - full, dim=1) / torch.linalg.norm(full)).tolist()
    hook.remove()
    return {"frames": min(frames, len(records)), "tiles": len(diffs),
            "relative_l2_median": round(float(np.median(diffs)), 4), "relative_l2_max": round(float(max(diffs)), 4)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--synthetic", type=int, default=12, help="synthetic 1920x1080 frames (default 12; 0 = none)")
    ap.add_argument("--data", action="append", help="real dataset (repeatable)")
    ap.add_argument("--split", help="group split: its validation part of --data")
    ap.add_argument("--pool-frames", type=int, default=3, help="frames of each set for the pooled-context "
                                                              "measure (default 3)")
    args = ap.parse_args(argv)
    work = OUT / "full_frame_agreement"
    onnx, what = bench_model(OUT / "stream" / "models", full_frame=True)
    sets = {}
    if args.synthetic:
        synth = work / f"synth{args.synthetic}"
        if not (synth / "annotations.json").is_file():
            sh(Path(sys.executable).parent / "sspnet", "synth", "--out", synth, "--images", args.synthetic,
               "--size", "1920x1080", "--seed", 11)
        sets["synthetic"] = load_records([str(synth / "annotations.json")], None)
    if args.data:
        sets["real"] = load_records(args.data, args.split)
    if not sets:
        ap.error("nothing to compare: --synthetic 0 and no --data")
    results = {}
    for name, records in sets.items():
        print(f"{name}: {len(records)} frames", flush=True)
        results[name] = {**compare(records, onnx), "pooled_context": pooled_context(records, args.pool_frames)}
        r = results[name]
        print(f"{name}: AP50-tiny tiled {r['AP50_tiny']['tiled']:.2f}, full frame {r['AP50_tiny']['full_frame']:.2f} "
              f"(Δ {r['ap50_tiny_delta']:+.2f}); tiled detections found whole "
              f"{r['tiled_found_by_full_frame']['matched']}; pooled context per tile vs frame: median relative "
              f"L2 {r['pooled_context']['relative_l2_median']}", flush=True)
    worst = max(abs(r["ap50_tiny_delta"]) for r in results.values())
    doc = {"headline": {"metric": "max_ap50_tiny_delta", "value": worst, "unit": "AP", "goal": GOAL},
           "model": {"path": onnx.name, "what": what}, "split": args.split, "data": args.data,
           "sets": results, "machine": machine()}
    path = write_result("full_frame_agreement", doc)
    print(f"largest |AP50-tiny full frame − tiled| {worst:.2f} (goal <= {GOAL}) → {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
