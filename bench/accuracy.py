"""AP50-tiny (and tiny1/2/3, MR50-tiny) of the shipped model in FP32 and INT8 ONNX on one dataset.

    python bench/accuracy.py [--data DATASET] [--scale S]

Without --data it renders a synthetic 1080p validation set (say so in the JSON: synthetic figures are a smoke
test, not real-world accuracy). Both models go through the same runtime backend, tiling and merge.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from stream_common import BIN, OUT, bench_model, machine, sh, write_result

KEYS = ["AP50_tiny", "AP50_tiny1", "AP50_tiny2", "AP50_tiny3", "AP25_tiny", "AP50_small", "MR50_tiny"]


def evaluate(model: Path, data: str, scale: float | None, out_json: Path) -> dict:
    cmd = [BIN / "sspnet", "eval", "--model", model, "--data", data, "--json", out_json]
    if scale:
        cmd += ["--scale", scale]
    t0 = time.perf_counter()
    sh(*cmd)
    m = json.loads(out_json.read_text())
    return {**{k: m.get(k) for k in KEYS}, "seconds": round(time.perf_counter() - t0, 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="dataset to evaluate on (default: synthetic 1080p set)")
    ap.add_argument("--scale", type=float, default=None, help="frame up-scaling (default: the manifest's)")
    ap.add_argument("--images", type=int, default=8, help="synthetic images when --data is not given")
    args = ap.parse_args(argv)
    work = OUT / "accuracy"
    work.mkdir(parents=True, exist_ok=True)
    onnx, what = bench_model(work)
    data, data_what = args.data, f"given: {args.data}"
    if data is None:
        synth = work / "synth-val"
        if not (synth / "annotations.json").is_file():
            sh(BIN / "sspnet", "synth", "--out", synth, "--images", args.images, "--size", "1920x1080", "--seed", 2024)
        data, data_what = str(synth / "annotations.json"), f"synthetic 1080p, {args.images} images, seed 2024"
        calib_src = work / "synth-calib"
        if not calib_src.is_dir():
            sh(BIN / "sspnet", "synth", "--out", calib_src, "--images", 16, "--size", "1920x1080", "--seed", 11)
    else:
        calib_src = Path(args.data)
    int8 = work / (onnx.stem + ".int8.onnx")
    sh(BIN / "sspnet", "calibrate", "--onnx", onnx, "--images", calib_src, "--count", 96, "--method", "percentile",
       "--out", int8)
    fp32 = evaluate(onnx, data, args.scale, work / "fp32.json")
    q = evaluate(int8, data, args.scale, work / "int8.json")
    drop = None if fp32["AP50_tiny"] is None or q["AP50_tiny"] is None else fp32["AP50_tiny"] - q["AP50_tiny"]
    doc = {"bench": "accuracy", "date": time.strftime("%Y-%m-%d"), "machine": machine(), "model": what,
           "data": data_what, "scale": args.scale or "manifest", "fp32": fp32, "int8": q,
           "headline": {"metric": "AP50_tiny drop FP32 -> INT8", "value": None if drop is None else round(drop, 2),
                        "unit": "AP points", "goal": "<= 1.0"}}
    path = write_result("accuracy", doc)
    print(f"FP32 AP50-tiny {fp32['AP50_tiny']}  INT8 {q['AP50_tiny']}  drop {drop}  → {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
