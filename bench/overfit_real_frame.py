"""Proof of the chain on real 2–6 px boxes: train the edge model on one dense real frame until it finds its persons.

    python bench/overfit_real_frame.py [--frame NAME] [--steps 300] [--scale 1.0]

Takes the densest frame of the dev split's training part (or ``--frame``), trains from the shipped weights with the
real loop (crops around persons, no augmentation; lr 0.01, a tenth of it for the last quarter so the boxes settle)
and evaluates that frame with the core's tiling and the TinyPerson evaluator at maxDets 1000 every 50 steps. If AP50
cannot reach 90 on the frame it was trained on, targets, decoding or evaluation are wrong for boxes this small.
Writes bench-out/overfit_real_frame.json.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stream_common import OUT, ROOT, machine, write_result  # noqa: E402

DEV = ROOT.parent / "shared" / "data" / "tinyperson-rpi-dev"
SPLIT = ROOT / "configs" / "splits" / "tinyperson-rpi-dev.json"


def densest_train_frame() -> str:
    train = set(json.loads(SPLIT.read_text())["files"]["train"])
    rows = [r for r in csv.DictReader(open(DEV / "manifest.csv", newline="")) if r["file"] in train]
    return max(rows, key=lambda r: int(r["n_boxes"]) - int(r["n_flatfill_boxes"]))["file"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frame", help="file name of a dev frame (default: the densest of the train split)")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--scale", type=float, default=1.0, help="frame scale at training and evaluation")
    args = ap.parse_args(argv)
    import torch

    from sspnet.config import load_config
    from sspnet.data import load_dataset
    from sspnet.evaluation import detect_dataset, evaluate
    from sspnet.training.checkpoint import load_checkpoint
    from sspnet.training.fit import TrainOptions, fit
    from sspnet.training.predict import TorchDetector

    if not DEV.is_dir():
        raise SystemExit(f"{DEV}: the real dev frames are not next to this checkout")
    name = args.frame or densest_train_frame()
    rec = next((r for r in load_dataset(str(DEV)) if Path(r.file_name).name == name), None)
    if rec is None:
        raise SystemExit(f"--frame {name}: not a frame of {DEV}")
    rec = dataclasses.replace(rec, image_id=1)
    sizes = ((rec.boxes_xyxy[:, 2:] - rec.boxes_xyxy[:, :2]).prod(axis=1) ** 0.5)
    cfg = load_config(ROOT / "configs" / "sspnet_edge.yaml")
    evals = max(1, args.steps // 50)
    cfg = dataclasses.replace(
        cfg, input=dataclasses.replace(cfg.input, scale=args.scale),
        postprocess=dataclasses.replace(cfg.postprocess, max_det=2000),
        train=dataclasses.replace(cfg.train, crop_w=320, crop_h=256, upscale=(args.scale, args.scale), flip=False,
                                  photometric=False, empty_tile_ratio=0.0, crops_per_image=8 * 50, batch_size=8,
                                  epochs=evals, lr=0.01, warmup_iters=20, lr_steps=(max(1, evals * 3 // 4),),
                                  val_every=evals + 1, seed=0))
    work = OUT / "overfit_real_frame"
    history = []
    t0 = time.perf_counter()
    for epoch in range(1, evals + 1):       # one "epoch" = 50 steps; evaluate after each at maxDets 1000
        run = work / "run"
        fit(TrainOptions(cfg=dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, epochs=epoch)),
                         train_records=[rec], out_dir=run, resume=epoch > 1,
                         init=None if epoch > 1 else str(ROOT / "models" / "sspnet_edge.pt"), progress=False))
        model, loaded, _ = load_checkpoint(run / "last.pt")
        m = evaluate([rec], detect_dataset([rec], TorchDetector(model, loaded, "cpu")), with_mr=False,
                     ap_max_dets=1000)
        history.append({"steps": 50 * epoch, "AP50_all": round(m["AP50_all"], 2), "AP25_all": round(m["AP25_all"], 2),
                        "AP50_tiny": round(m["AP50_tiny"], 2), "seconds": round(time.perf_counter() - t0)})
        print(history[-1], flush=True)
        if m["AP50_all"] >= 90:
            break
    best = max(h["AP50_all"] for h in history)
    doc = {"headline": {"metric": "AP50_all on the trained frame, maxDets 1000", "value": best, "goal": 90},
           "frame": name, "persons": int(len(rec.boxes_xyxy)), "ignore": int(len(rec.ignore_xyxy)),
           "median_person_px": round(float(sorted(sizes)[len(sizes) // 2]), 2), "scale": args.scale,
           "history": history, "machine": machine()}
    print(f"{name}: {len(rec.boxes_xyxy)} persons (median {doc['median_person_px']} px), best AP50 {best} "
          f"→ {write_result('overfit_real_frame', doc)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
