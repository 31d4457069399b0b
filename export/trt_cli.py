"""``sspnet build``: build a TensorRT engine from an ONNX (Python API), or print the equivalent trtexec line.

    sspnet build --onnx model.onnx|model.int8.onnx --out model.engine [--precision fp32|fp16|int8]
                 [--calib-cache C] [--batch min:opt:max] [--workspace MB] [--timing-cache F] [--dla N]
                 [--full-frame-min WxH] [--full-frame-opt WxH] [--full-frame-max WxH]
                 [--print-trtexec] [--trt-version X]

A full-frame ONNX ('sspnet export --full-frame') gets height and width in its profile: min the tile size, opt a
1080p frame at the manifest's scale padded to its multiple, max the manifest's input.full_frame (see
``trt_plan.FrameProfile``); the --full-frame-* options override them, as trtexec's --minShapes/--optShapes/--maxShapes.

``--print-trtexec --trt-version X`` needs no TensorRT: it prints the trtexec command for version X on stdout
(notes go to stderr). Without TensorRT and without --print-trtexec, the command says how to install it.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from sspnet.data.image_size import parse_wh
from sspnet.export.trt_plan import PRECISIONS, PlanError, plan_build
from sspnet.export.trt_versions import TensorRTMissing, detect, features, parse_version


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--onnx", required=True, type=Path,
                        help="FP32/FP16 ONNX, or the INT8 Q/DQ ONNX from 'sspnet calibrate'")
    parser.add_argument("--out", required=True, type=Path, help="engine file to write (model.engine)")
    parser.add_argument("--precision", choices=PRECISIONS,
                        help="default: from the graph (Q/DQ → int8, FP16 graph → fp16, else fp32)")
    parser.add_argument("--calib-cache", type=Path,
                        help="TensorRT calibration cache for implicit INT8 from an FP32 ONNX (TensorRT <= 10 only)")
    parser.add_argument("--batch", help="tile-batch profile min:opt:max for a dynamic-batch ONNX (default 1:8:16)")
    for key, default in (("min", "the tile size"), ("opt", "1080p at the manifest's scale, padded"),
                         ("max", "the ONNX manifest's input.full_frame")):
        parser.add_argument(f"--full-frame-{key}", type=parse_wh, metavar="WxH",
                            help=f"{key} width x height of a full-frame ONNX's profile (default {default})")
    parser.add_argument("--workspace", type=int, metavar="MB", help="builder workspace limit in MiB")
    parser.add_argument("--timing-cache", metavar="F",
                        help="timing cache file, or a folder (existing, or ending in /) for per-device files "
                             "named after GPU, SM and TensorRT version (default ~/.cache/sspnet/trt-timing/)")
    parser.add_argument("--dla", type=int, metavar="N", help="build for DLA core N with GPU fallback (Jetson)")
    parser.add_argument("--print-trtexec", action="store_true",
                        help="print the equivalent trtexec command instead of building")
    parser.add_argument("--trt-version", metavar="X",
                        help="TensorRT version to target with --print-trtexec (e.g. 8.6, 10.3, 11.4)")


def _usage_error(msg: str) -> int:
    print(f"sspnet build: error: {msg}", file=sys.stderr)
    return 2


def _features(args):
    """(features, error exit code or None)."""
    if args.trt_version is not None:
        try:
            wanted = features(args.trt_version)
        except ValueError as e:
            return None, _usage_error(f"--trt-version: {e}")
        if not args.print_trtexec:
            try:
                installed = detect()
            except TensorRTMissing as e:
                return None, _fail(f"{e}; or print the trtexec line only: add --print-trtexec")
            if installed.version[:3] != parse_version(args.trt_version)[:3]:
                return None, _usage_error(f"--trt-version {args.trt_version} but TensorRT {installed.version} is "
                                          f"installed; the Python builder uses the installed one (drop "
                                          f"--trt-version, or add --print-trtexec)")
            return installed, None
        return wanted, None
    try:
        return detect(), None
    except TensorRTMissing as e:
        if args.print_trtexec:
            return None, _usage_error(f"{e}; to print the trtexec line without it, name the target version: "
                                      f"--trt-version 10.3 (JetPack 6) or 11.4")
        return None, _fail(f"{e}; or print the equivalent trtexec command: add --print-trtexec --trt-version X")


def _fail(msg: str) -> int:
    print(f"sspnet build: {msg}", file=sys.stderr)
    return 1


def _is_folder(raw: str | None) -> bool:
    return raw is not None and (raw.endswith(("/", os.sep)) or Path(raw).is_dir())


def _frames(plan) -> str:
    f = plan.full_frame
    if f is None:
        return "tiles only"
    return "full frames " + " / ".join(f"{k} {w}x{h}" for k, (w, h) in
                                       (("min", f.min_wh), ("opt", f.opt_wh), ("max", f.max_wh)))


def _print_trtexec(plan, timing_raw: str | None) -> int:
    from sspnet.export.trtexec import trtexec_line, trtexec_notes
    timing = plan.timing_cache
    if _is_folder(timing_raw):  # no GPU to name here: the file is named after the TensorRT version only
        timing = timing / f"sspnet-trt{plan.features.version}.timing-cache"
    notes = list(plan.warnings) + trtexec_notes(plan)
    if plan.quantization == "qdq":   # what 'sspnet build' would refuse, said before the line is pasted
        from sspnet.export.qdq_check import check_qdq
        notes += [f"Q/DQ check: {f}" for f in check_qdq(plan.onnx.path, kept_float=plan.keep_float_nodes,
                                                       trt_major=plan.features.version.major) if f.level != "info"]
    for note in notes:
        print(f"sspnet build: note: {note}", file=sys.stderr)
    print(trtexec_line(plan, timing))
    return 0


def run(args: argparse.Namespace) -> int:
    f, code = _features(args)
    if code is not None:
        return code
    if _is_folder(args.timing_cache) and not args.print_trtexec:
        Path(args.timing_cache).mkdir(parents=True, exist_ok=True)   # build_engine names the file per device
    try:
        plan = plan_build(args.onnx, args.out, features=f, precision=args.precision, calib_cache=args.calib_cache,
                          batch=args.batch, workspace_mb=args.workspace, timing_cache=args.timing_cache,
                          dla_core=args.dla, full_frame_min=args.full_frame_min, full_frame_opt=args.full_frame_opt,
                          full_frame_max=args.full_frame_max, preview=args.print_trtexec)
    except PlanError as e:
        return _usage_error(str(e))
    print(f"sspnet build: TensorRT {f.version} ({f.family}), {plan.onnx.path.name} → {plan.out}, "
          f"precision {plan.precision} ({plan.quantization}), "
          f"batch {':'.join(map(str, plan.batch)) if plan.batch else f'static {plan.static_batch}'}, "
          f"{_frames(plan)}, "
          f"workspace {plan.workspace_mb or 'default'} MiB, dla {plan.dla_core if plan.dla_core is not None else 'off'}",
          file=sys.stderr)
    if args.print_trtexec:
        return _print_trtexec(plan, args.timing_cache)
    for w in plan.warnings:
        print(f"sspnet build: note: {w}", file=sys.stderr)
    from sspnet.export.qdq_check import check_qdq, errors
    if plan.quantization == "qdq":
        problems = errors(check_qdq(plan.onnx.path, kept_float=plan.keep_float_nodes,
                                    trt_major=plan.features.version.major))
        if problems:
            return _fail(f"{plan.onnx.path}: the Q/DQ graph is not what TensorRT's explicit quantization accepts:\n  "
                         + "\n  ".join(str(p) for p in problems))
    from sspnet.export.trt_build import BuildError, build_engine
    from sspnet.gpu import CudaError, NoGpuBindings
    try:
        out = build_engine(plan)
    except (BuildError, CudaError, NoGpuBindings) as e:
        return _fail(str(e))
    print(f"sspnet build: wrote {out} and {out}.json")
    print(f"next: sspnet stream test:// --model {out}    or    sspnet eval --model {out} --data DATASET")
    return 0
