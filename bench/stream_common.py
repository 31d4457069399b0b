"""Shared by bench/stream.py and bench/latency.py: the benchmark model, machine facts, running stream.py."""
from __future__ import annotations

import importlib.metadata as md
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench-out"
STREAM = ROOT / "runtime" / "stream.py"
TRAINED = ROOT / "models" / "sspnet_edge.pt"
EDGE_CONFIG = ROOT / "configs" / "sspnet_edge.yaml"


def bench_model(out_dir: Path, given: str | None = None, full_frame: bool = False) -> tuple[Path, str]:
    """(ONNX path, description): ``given`` as is; else the export of models/sspnet_edge.pt; else the export of an
    untrained edge model (same graph and cost, random weights: fine for speed, meaningless for accuracy).
    ``full_frame``: the export with dynamic height and width (``sspnet export --full-frame``)."""
    if given:
        return Path(given), f"given: {given}"
    out_dir.mkdir(parents=True, exist_ok=True)
    if TRAINED.is_file():
        ckpt, what = TRAINED, "trained models/sspnet_edge.pt"
    else:
        ckpt, what = out_dir / "untrained_edge.pt", "untrained sspnet_edge (random weights; speed only)"
        if not ckpt.is_file():
            import torch

            from sspnet.config import load_config
            from sspnet.training.build import build_model
            from sspnet.training.checkpoint import save_checkpoint
            torch.manual_seed(0)
            cfg = load_config(EDGE_CONFIG)
            save_checkpoint(ckpt, model=build_model(cfg).eval(), cfg=cfg)
    onnx = out_dir / (ckpt.stem + ("_full.onnx" if full_frame else "_dyn.onnx"))
    if not onnx.is_file() or onnx.stat().st_mtime < ckpt.stat().st_mtime:
        # own process: torch's ONNX exporter aborts in a process that has loaded GStreamer
        r = subprocess.run([sys.executable, "-m", "sspnet.cli", "export", "--checkpoint", str(ckpt), "--out", str(onnx),
                            "--dynamic-batch"] + (["--full-frame"] if full_frame else []), capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"export of {ckpt} failed:\n{(r.stdout + r.stderr)[-2000:]}")
    return onnx, what


def calibration_frames(folder: Path, size: tuple = (1920, 1080)) -> Path:
    """``folder`` with 4 frames of a synthetic 1.2 s clip (seed 3) of ``size``, rendered directly (no encode): the
    INT8 calibration images of the benchmarks; at 1080p, the frames bench/stream.py decodes from its clip."""
    if not folder.is_dir():
        import cv2

        from sspnet.synth.video import Clip
        folder.mkdir(parents=True)
        clip = Clip(1.2, 10.0, size, seed=3)
        for i in range(0, clip.n_frames, max(1, clip.n_frames // 4)):
            cv2.imwrite(str(folder / f"frame_{i:03d}.png"), clip.frame(i)[1])
    return folder


def int8_cpu_model(onnx: Path, images: Path) -> Path:
    """The ``--target cpu`` INT8 calibration of ``onnx`` on ``images`` (cached beside it; the form exact here)."""
    out = onnx.with_suffix(".int8.onnx")
    if not out.is_file() or out.stat().st_mtime < onnx.stat().st_mtime:
        sh(BIN / "sspnet", "calibrate", "--onnx", onnx, "--images", images, "--count", "64", "--target", "cpu",
           "--out", out)
    return out


def machine() -> dict:
    def version(pkg):
        try:
            return md.version(pkg)
        except md.PackageNotFoundError:
            return None
    gst = None
    try:
        from sspnet.gst import gst as _gst
        gst = _gst().version_string()
    except (ImportError, RuntimeError):
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    from sspnet.cpu_int8 import cpu_info
    cpu = cpu_info()
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_model": cpu.model, "isa_flags": list(cpu.flags), "int8_saturates_without_7bit": cpu.saturates,
            "cores": cores, "python": platform.python_version(), "load_avg_1m": os.getloadavg()[0],
            "versions": {"onnxruntime": version("onnxruntime"), "numpy": version("numpy"),
                         "opencv": version("opencv-python-headless") or version("opencv-python"),
                         "pygobject": version("pygobject"), "gstreamer": gst}}


BIN = Path(sys.executable).parent


def sh(*cmd) -> str:
    """Run one of the project's commands (argument list, no shell); exit with its output tail on failure."""
    r = subprocess.run([str(c) for c in cmd], cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed ({r.returncode}):\n{(r.stdout + r.stderr)[-2000:]}")
    return r.stdout


def run_stream(*args, timeout: float = 1800) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, str(STREAM), *map(str, args)], capture_output=True, text=True,
                       timeout=timeout, cwd=ROOT)
    if r.returncode != 0:
        raise SystemExit(f"runtime/stream.py {' '.join(map(str, args))} failed ({r.returncode}):\n{r.stderr[-2000:]}")
    return r


def write_result(name: str, doc: dict) -> Path:
    from sspnet.manifest import atomic_write_bytes
    path = OUT / f"{name}.json"
    atomic_write_bytes(path, (json.dumps(doc, indent=2) + "\n").encode())
    return path
