"""``sspnet doctor``: what this machine can run — versions, GStreamer elements, GPU, TensorRT INT8 path."""
from __future__ import annotations

import argparse
import ctypes.util
import importlib.metadata as md
import json
import platform
import shutil
import subprocess

PACKAGES = ["numpy", "opencv-python-headless", "torch", "torchvision", "onnx", "onnxruntime", "onnxslim",
            "tensorrt", "pycuda", "cuda-python", "PyGObject"]
DECODERS = ["nvv4l2decoder", "avdec_h264", "openh264dec", "avdec_h265", "decodebin", "nvarguscamerasrc", "v4l2src",
            "rtspsrc", "souphttpsrc"]
CONVERTERS = ["nvvidconv", "videoconvert", "videoscale"]
ENCODERS = ["nvv4l2h264enc", "x264enc", "openh264enc", "mp4mux"]


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def gstreamer_report() -> dict:
    from sspnet.gst import GstMissing, gst, rtsp_server_module
    try:
        Gst = gst()
    except GstMissing as e:
        return {"available": False, "error": str(e)}
    have = lambda names: {n: Gst.ElementFactory.find(n) is not None for n in names}  # noqa: E731
    try:
        rtsp_server_module()
        rtsp = True
    except GstMissing:
        rtsp = False
    return {"available": True, "version": Gst.version_string(), "decoders": have(DECODERS),
            "converters": have(CONVERTERS), "encoders": have(ENCODERS), "rtsp_server": rtsp,
            "jetson_hw": all(have(["nvv4l2decoder", "nvvidconv"]).values())}


def gpu_report() -> dict:
    if ctypes.util.find_library("cuda") is None or shutil.which("nvidia-smi") is None:
        return {"available": False, "reason": "no NVIDIA driver (libcuda / nvidia-smi not found)"}
    out = subprocess.run(["nvidia-smi", "--query-gpu=name,compute_cap,driver_version", "--format=csv,noheader"],
                         capture_output=True, text=True, timeout=20)
    if out.returncode != 0:
        return {"available": False, "reason": out.stderr.strip() or "nvidia-smi failed"}
    return {"available": True, "gpus": [line.strip() for line in out.stdout.splitlines() if line.strip()]}


def int8_path(trt_version: str | None) -> str:
    if trt_version is None:
        return "no TensorRT: INT8 runs as a Q/DQ ONNX on ONNX Runtime (CPU)"
    major = int(trt_version.split(".")[0])
    if major >= 11:
        return f"TensorRT {trt_version}: explicit Q/DQ only (implicit calibration removed in 11)"
    if major == 10:
        return f"TensorRT {trt_version}: Q/DQ ONNX (preferred) or calibration cache (implicit, deprecated in 10)"
    return f"TensorRT {trt_version}: calibration cache (implicit) or Q/DQ ONNX"


def collect() -> dict:
    versions = {p: _version(p) for p in PACKAGES}
    return {"python": platform.python_version(), "machine": platform.machine(), "packages": versions,
            "gstreamer": gstreamer_report(), "gpu": gpu_report(),
            "tensorrt_int8_path": int8_path(versions["tensorrt"])}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    r = collect()
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    print(f"python                  {r['python']} ({r['machine']})")
    for name, v in r["packages"].items():
        print(f"{name:<24}{v or '-'}")
    g = r["gstreamer"]
    if g["available"]:
        print(f"gstreamer               {g['version']}  rtsp-server: {'yes' if g['rtsp_server'] else 'no'}  "
              f"jetson hw decode/convert: {'yes' if g['jetson_hw'] else 'no'}")
        for kind in ("decoders", "converters", "encoders"):
            print(f"  {kind:<11} " + "  ".join(f"{n}{'' if ok else ' (missing)'}" for n, ok in g[kind].items()))
    else:
        print(f"gstreamer               not available: {g['error']}")
    gpu = r["gpu"]
    print("gpu                     " + ("; ".join(gpu["gpus"]) if gpu["available"] else gpu["reason"]))
    print(f"int8 path               {r['tensorrt_int8_path']}")
    return 0
