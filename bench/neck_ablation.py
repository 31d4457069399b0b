"""SSPNet neck vs plain FPN neck, edge-sized, with the same training budget: accuracy (AP) and cost.

    python bench/neck_ablation.py                                   # train both on synthetic data, same budget
    python bench/neck_ablation.py --checkpoints A.pt B.pt --data D  # evaluate two given checkpoints on D

Cost: parameters and GMAC per 640x512 tile (``sspnet info``, counted on the traced model) and ms per tile in
ONNX Runtime on this CPU (FP32, batch of 4 tiles, median).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from stream_common import BIN, OUT, ROOT, machine, sh, write_result

CONFIGS = {"sspnet_edge": ROOT / "configs" / "sspnet_edge.yaml", "fpn_edge": ROOT / "configs" / "fpn_edge.yaml"}


def ms_per_tile(onnx: Path, tiles: int = 4, repeats: int = 7) -> float:
    import onnxruntime as ort
    sess = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((tiles, 3, 512, 640)).astype(np.float32)
    sess.run(None, {"images": x})
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        sess.run(None, {"images": x})
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times)) / tiles


def train_same_budget(work: Path, steps: int) -> tuple[dict, str]:
    data = work / "synth"
    if not (data / "train" / "annotations.json").is_file():
        sh(BIN / "sspnet", "synth", "--out", data / "train", "--images", 12, "--size", "960x540", "--seed", 5)
        sh(BIN / "sspnet", "synth", "--out", data / "val", "--images", 4, "--size", "960x540", "--seed", 6)
    ckpts = {}
    for name, cfg in CONFIGS.items():
        run = work / f"run-{name}"
        if not (run / "last.pt").is_file():
            sh(BIN / "sspnet", "train", "--config", cfg, "--data", data / "train" / "annotations.json",
               "--val", data / "val" / "annotations.json", "--out", run, "--epochs", 1000, "--max-steps", steps,
               "--batch", 4, "--set", "train.crop_w=320", "--set", "train.crop_h=256",
               "--set", "train.warmup_iters=50", "--set", "train.seed=0")
        ckpts[name] = run / "last.pt"
    return ckpts, f"synthetic 960x540: 12 train / 4 val images, {steps} steps of batch 4 each, same seed"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoints", nargs=2, metavar=("SSPNET_PT", "FPN_PT"), default=None)
    ap.add_argument("--data", default=None, help="evaluation dataset for --checkpoints")
    ap.add_argument("--steps", type=int, default=150, help="training steps per model in the default mode")
    args = ap.parse_args(argv)
    if bool(args.checkpoints) != bool(args.data):
        ap.error("--checkpoints and --data go together")
    work = OUT / "neck_ablation"
    work.mkdir(parents=True, exist_ok=True)
    if args.checkpoints:
        ckpts, budget = dict(zip(CONFIGS, map(Path, args.checkpoints))), "given checkpoints"
        data = args.data
    else:
        ckpts, budget = train_same_budget(work, args.steps)
        data = str(work / "synth" / "val" / "annotations.json")
    rows = {}
    for name, ckpt in ckpts.items():
        info = json.loads(sh(BIN / "sspnet", "info", CONFIGS[name], "--json"))
        onnx = work / f"{name}.onnx"
        sh(BIN / "sspnet", "export", "--checkpoint", ckpt, "--out", onnx, "--dynamic-batch")
        sh(BIN / "sspnet", "eval", "--model", onnx, "--data", data, "--json", work / f"{name}.eval.json")
        m = json.loads((work / f"{name}.eval.json").read_text())
        rows[name] = {"AP50_tiny": m["AP50_tiny"], "AP25_tiny": m["AP25_tiny"], "AP50_all": m["AP50_all"],
                      "MR50_tiny": m.get("MR50_tiny"), "params": info["params"], "gmac": info["gmac"],
                      "ms_per_tile_ort_fp32": round(ms_per_tile(onnx), 1), "checkpoint": str(ckpt)}
    delta = (None if rows["sspnet_edge"]["AP50_tiny"] is None or rows["fpn_edge"]["AP50_tiny"] is None
             else round(rows["sspnet_edge"]["AP50_tiny"] - rows["fpn_edge"]["AP50_tiny"], 2))
    doc = {"bench": "neck_ablation", "date": time.strftime("%Y-%m-%d"), "machine": machine(), "budget": budget,
           "data": data, "models": rows,
           "headline": {"metric": "AP50_tiny SSPNet neck - FPN neck (same budget)", "value": delta,
                        "unit": "AP points", "goal": "> 0"}}
    path = write_result("neck_ablation", doc)
    for name, r in rows.items():
        print(f"{name:<12} AP50-tiny {r['AP50_tiny']}  {r['gmac']:.2f} GMAC  {r['params'] / 1e6:.2f} M params  "
              f"{r['ms_per_tile_ort_fp32']} ms/tile")
    print(f"→ {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
