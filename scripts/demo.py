"""`make demo`: the whole pipeline on this machine's defaults, as a new user would run it step by step.

synthesize a 1080p drone clip → export the shipped model to ONNX → INT8-calibrate on synthetic images →
(TensorRT engine where TensorRT and a GPU exist) → stream the clip through runtime/stream.py → summary.
Every step is one of the project's own commands, printed before it runs.
"""
from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from sspnet.boxes import box_iou, xywh_to_xyxy
from sspnet.doctor import collect

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "demo-out"
MODEL = ROOT / "models" / "sspnet_edge.pt"
BIN = Path(sys.executable).parent
SCORE_THR = 0.3     # a detection counts as "found" at this score
MATCH_IOU = 0.25    # TinyPerson's loosest IoU: tiny boxes are a few pixels


def step(title: str, cmd: list) -> None:
    print(f"\n== {title}\n$ {shlex.join(str(c) for c in cmd)}", flush=True)
    t0 = time.perf_counter()
    r = subprocess.run([str(c) for c in cmd], cwd=ROOT)
    if r.returncode != 0:
        sys.exit(f"demo: step '{title}' failed with exit code {r.returncode}")
    print(f"   ({time.perf_counter() - t0:.1f} s)", flush=True)


def found_vs_truth(jsonl: Path, gt_json: Path) -> tuple[int, int, int]:
    """(ground-truth persons, of them found, detections) over all frames, at SCORE_THR / MATCH_IOU."""
    gt = json.loads(gt_json.read_text())
    by_frame: dict[int, list] = {}
    frame_of_image = {im["id"]: im.get("frame_index", i) for i, im in enumerate(gt["images"])}
    for a in gt["annotations"]:
        if not a.get("ignore") and not a.get("uncertain"):
            by_frame.setdefault(frame_of_image[a["image_id"]], []).append(a["bbox"])
    n_gt = n_found = n_det = 0
    for line in jsonl.read_text().splitlines():
        rec = json.loads(line)
        boxes, scores = np.asarray(rec["boxes"]).reshape(-1, 4), np.asarray(rec["scores"])
        dets = boxes[scores >= SCORE_THR] if len(scores) else boxes
        truth = xywh_to_xyxy(np.asarray(by_frame.get(rec["frame"], []), np.float64).reshape(-1, 4))
        n_gt += len(truth)
        n_det += len(dets)
        if len(truth) and len(dets):
            n_found += int((box_iou(truth, dets).max(axis=1) >= MATCH_IOU).sum())
    return n_gt, n_found, n_det


def main() -> int:
    if not MODEL.is_file():
        sys.exit(f"demo: {MODEL} missing — the shipped model is part of the repository; restore it with git")
    OUT.mkdir(exist_ok=True)
    t_start = time.perf_counter()
    env = collect()
    gpu_trt = env["gpu"]["available"] and env["packages"]["tensorrt"] is not None
    print(f"demo: {'TensorRT + GPU found: the engine path is used' if gpu_trt else 'no TensorRT/GPU: ONNX Runtime on the CPU (the embedded default)'}")

    sspnet = BIN / "sspnet"
    step("synthesize a 1080p drone clip (beach, walking persons, camera drift)",
         [sspnet, "synth", "--out", OUT / "clip", "--video", 6, "--fps", 10, "--size", "1920x1080",
          "--seed", 7, "--scene", "beach"])
    step("synthesize calibration frames (synthetic only: nothing a user would lack)",
         [sspnet, "synth", "--out", OUT / "calib", "--images", 16, "--size", "1920x1080", "--seed", 11])
    onnx, int8 = OUT / "sspnet_edge.onnx", OUT / "sspnet_edge.int8.onnx"
    step("export the shipped model to ONNX (parity-checked)",
         [sspnet, "export", "--checkpoint", MODEL, "--out", onnx, "--dynamic-batch"])
    step("calibrate INT8 (Q/DQ ONNX for ONNX Runtime / TensorRT >= 10, cache for TensorRT <= 10)",
         [sspnet, "calibrate", "--onnx", onnx, "--images", OUT / "calib", "--count", 96, "--method", "entropy", "--target", "tensorrt" if gpu_trt else "cpu",
          "--out", int8, "--trt-cache", OUT / "sspnet_edge.calib"])
    model = int8
    if gpu_trt:
        engine = OUT / "sspnet_edge.engine"
        step("build a TensorRT INT8 engine", [sspnet, "build", "--onnx", int8, "--out", engine, "--precision", "int8"])
        model = engine
    jsonl, video = OUT / "detections.jsonl", OUT / "annotated.mp4"
    for stale in (jsonl, video):
        stale.unlink(missing_ok=True)
    t_stream = time.perf_counter()
    # live video on a CPU: the manifest's mirrored second view (flip TTA) would double the network time
    step("stream the clip through runtime/stream.py",
         [sys.executable, ROOT / "runtime" / "stream.py", OUT / "clip" / "clip.mp4", "--model", model,
          "--json", jsonl, "--video", video, "--score-thr", SCORE_THR, "--no-flip-tta"])
    stream_s = time.perf_counter() - t_stream

    from sspnet.synth.h264 import read_mp4_frames
    n_frames, frames = read_mp4_frames(video)
    png = OUT / "annotated_frame.png"
    cv2.imwrite(str(png), frames[len(frames) // 2])
    n_gt, n_found, n_det = found_vs_truth(jsonl, OUT / "clip" / "clip.json")
    n_lines = len(jsonl.read_text().splitlines())
    print("\n== summary")
    print(f"frames streamed      {n_lines} (annotated video decodes to {n_frames} frames)")
    print(f"end-to-end FPS       {n_lines / stream_s:.2f} (incl. start-up; runtime's own figure is printed above)")
    print(f"persons found        {n_found} of {n_gt} ground-truth boxes ({100 * n_found / max(n_gt, 1):.0f} %), "
          f"{n_det} detections at score >= {SCORE_THR}, IoU >= {MATCH_IOU}")
    print(f"outputs              {video.relative_to(ROOT)}, {jsonl.relative_to(ROOT)}, {png.relative_to(ROOT)}")
    print(f"demo took            {time.perf_counter() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
