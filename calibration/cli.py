"""``sspnet calibrate``: INT8 Q/DQ ONNX (+ TensorRT calibration cache, + accuracy gate) from an FP32 ONNX.

    sspnet calibrate --onnx model.onnx --images DIR|DATASET [--count 512] --method entropy|minmax|percentile
                     --out model.int8.onnx [--target tensorrt|cpu] [--cpu-form auto|vnni|avx2] [--trt-cache model.calib] [--trt-version 10.3]
                     [--eval DATASET] [--max-drop 1.0] [--require-cache] [--from-trt-cache CACHE] [--exclude NODE]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sspnet.calibration.quantize import TARGETS
from sspnet.calibration.ranges import METHODS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--onnx", required=True, help="FP32 ONNX written by 'sspnet export' (with its manifest)")
    parser.add_argument("--images", default=None,
                        help="calibration images: a folder of images or a dataset (JSON, data.yaml, folder)")
    parser.add_argument("--count", type=int, default=512, help="calibration tiles (default 512)")
    parser.add_argument("--method", choices=METHODS, default="entropy", help="range calibration (default entropy)")
    parser.add_argument("--out", required=True, help="INT8 Q/DQ ONNX to write (e.g. model.int8.onnx)")
    parser.add_argument("--target", choices=sorted(TARGETS), default="tensorrt",
                        help="tensorrt: symmetric int8 Q/DQ for TensorRT >= 8.6 and ONNX Runtime (default); "
                             "cpu: uint8 activations, fastest on ONNX Runtime x86, not for TensorRT")
    parser.add_argument("--cpu-form", choices=("auto", "vnni", "avx2"), default="auto",
                        help="--target cpu: vnni = 8-bit weights, exact only on CPUs with VNNI/AMX; avx2 = 7-bit "
                             "weights, exact on every x86 CPU; auto (default) = the form exact on this CPU")
    parser.add_argument("--trt-cache", default=None, help="also write a TensorRT calibration cache (TensorRT <= 10)")
    parser.add_argument("--trt-version", default="10.3", help="TensorRT version for the cache header (default 10.3, "
                                                              "JetPack 6)")
    parser.add_argument("--eval", dest="eval_data", default=None,
                        help="dataset for the accuracy gate (FP32 vs INT8 AP50-tiny through ONNX Runtime)")
    parser.add_argument("--max-drop", type=float, default=1.0, help="allowed AP50-tiny drop in points (default 1.0)")
    parser.add_argument("--require-cache", action="store_true",
                        help="use the stored ranges (<out>.ranges) or fail; never recalibrate")
    parser.add_argument("--from-trt-cache", default=None,
                        help="take the ranges from a TensorRT calibration cache (written by sspnet calibrate for this "
                             "ONNX) instead of calibrating")
    parser.add_argument("--exclude", action="append", default=[], metavar="NODE",
                        help="keep this ONNX node in float (repeatable)")


def run(args: argparse.Namespace) -> int:
    from sspnet.calibration.calibrate import CalibrationError, Request, calibrate
    from sspnet.calibration.ranges import StaleCacheError
    from sspnet.calibration.trt_cache import CacheFormatError, trt_version_int

    def usage(msg: str) -> int:
        print(f"sspnet calibrate: error: {msg}", file=sys.stderr)
        return 2

    if args.count < 1:
        return usage(f"--count {args.count}: must be >= 1")
    if args.images is None and args.from_trt_cache is None:
        return usage("give --images DIR|DATASET (or --from-trt-cache CACHE)")
    if args.from_trt_cache and args.require_cache:
        return usage("--require-cache applies to stored ranges; it cannot be combined with --from-trt-cache")
    if args.max_drop < 0:
        return usage(f"--max-drop {args.max_drop}: must be >= 0")
    try:
        trt_version_int(args.trt_version)
    except ValueError as e:
        return usage(str(e))
    req = Request(onnx=Path(args.onnx), out=Path(args.out), images=args.images, method=args.method, count=args.count,
                  target=args.target, trt_cache=Path(args.trt_cache) if args.trt_cache else None,
                  trt_version=args.trt_version, eval_data=args.eval_data, max_drop=args.max_drop,
                  require_cache=args.require_cache,
                  from_trt_cache=Path(args.from_trt_cache) if args.from_trt_cache else None,
                  exclude=tuple(args.exclude), cpu_form=args.cpu_form,
                  open_backend=lambda path: args.open_detector(path, "cpu"))
    print(f"calibrate: onnx={req.onnx} images={req.images} count={req.count} method={req.method} "
          f"target={req.target} out={req.out} trt_cache={req.trt_cache} (TensorRT {req.trt_version}) "
          f"eval={req.eval_data} max_drop={req.max_drop}")
    try:
        report = calibrate(req)
    except (CalibrationError, StaleCacheError, CacheFormatError, FileNotFoundError, ValueError) as e:
        print(f"sspnet calibrate: error: {e}", file=sys.stderr)
        return 1
    gate = report.get("gate")
    if gate:
        print(f"gate: {gate['metric']} FP32 {gate['fp32']['AP50_tiny']} INT8 {gate['int8']['AP50_tiny']} "
              f"drop {gate['drop']} -> {'passed' if gate['passed'] else 'FAILED'}")
    print(f"kept in float: {len(report['excluded_nodes'])} nodes (see {report['report_files'][1]})")
    out = Path(report["out"])
    print(f"wrote {out} (+ {out.name}.json, {', '.join(Path(p).name for p in report['report_files'])})")
    if gate and not gate["passed"]:
        print(f"sspnet calibrate: error: the accuracy gate failed (drop {gate['drop']} > --max-drop {req.max_drop}); "
              f"{req.out} was not written or replaced; the rejected candidate and its report are at {out}",
              file=sys.stderr)
        return 1
    if req.target == "tensorrt":
        print(f"next: sspnet build --onnx {req.out} --out {req.out.with_suffix('').with_suffix('')}.engine"
              f"    # or: sspnet eval --model {req.out} --data DATASET")
    else:
        print(f"next: sspnet eval --model {req.out} --data DATASET    # or: sspnet stream test:// --model {req.out}")
    return 0
