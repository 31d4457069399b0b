"""``sspnet eval``: TinyPerson AP/MR of a detections file, or of a model run over a dataset.

    sspnet eval --det DETECTIONS.json --data DATASET [--json OUT] [--format F] [--mr-mode {protocol,official}]
    sspnet eval --model M.{pt,onnx,engine} --data DATASET [--json OUT] [--out DIR] [--device cpu]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from sspnet.data.detect_format import FORMATS, load_dataset
from sspnet.evaluation.detections import load_detections, save_detections
from sspnet.evaluation.metrics import HEADLINE, evaluate, format_table, json_safe
from sspnet.evaluation.mr import MR_MODES
from sspnet.manifest import atomic_write_bytes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--det", help="detections: COCO result JSON (image_id or file_name, bbox xywh, score)")
    src.add_argument("--model", help="model to run: .pt checkpoint, .onnx or .engine")
    parser.add_argument("--data", required=True, help="ground truth: JSON, data.yaml or dataset folder")
    parser.add_argument("--format", choices=FORMATS, default=None, help="dataset format (default: detect)")
    parser.add_argument("--images", default=None, help="folder the JSON file_name entries are relative to")
    parser.add_argument("--json", default=None, help="write the flat metrics JSON here")
    parser.add_argument("--out", default=None,
                        help="folder for detections.json and annotated PNGs (GT green, detections red)")
    parser.add_argument("--device", default="cpu", help="device for --model (cpu, cuda, cuda:0)")
    parser.add_argument("--vis", type=int, default=4, help="number of annotated PNGs written to --out (default 4)")
    parser.add_argument("--vis-score", type=float, default=0.3, help="draw detections with score >= this")
    parser.add_argument("--max-dets", type=int, default=200,
                        help="AP: detections kept per image (protocol: 200; images with more persons cannot "
                             "reach full recall)")
    parser.add_argument("--no-mr", action="store_true", help="AP only (skip the miss-rate protocol)")
    parser.add_argument("--mr-mode", choices=tuple(MR_MODES), default=None,
                        help="protocol (default): MR as the TinyPerson protocol is written. official: as "
                             "TinyBenchmark's eval_MR_multisetup.py computes it, to compare with published MR: it "
                             "also excuses a detection whose IoD x on an ignored GT gives "
                             "x/(1+x)*(1+A_gt/A_det) > 0.5 (at every IoU threshold), reads the final recall at "
                             "FPPI points below a leading false positive, and does not round the FPPI points")
    parser.add_argument("--scale", type=float, default=None,
                        help="--model: frame up-scaling before tiling, instead of the manifest's (e.g. 2.0 for ~5 px persons)")


def _fail(msg: str) -> int:
    print(f"sspnet eval: error: {msg}", file=sys.stderr)
    return 1


def _run_model(args: argparse.Namespace, records: list) -> dict:
    from sspnet.evaluation.run_model import detect_dataset
    detector = args.open_detector(args.model, args.device)
    if args.scale is not None:
        detector.preprocess = dataclasses.replace(detector.preprocess, scale=args.scale)
    try:
        print(f"model: {args.model} backend={getattr(detector, 'name', type(detector).__name__)} "
              f"max_batch={detector.max_batch} scale={detector.preprocess.scale_text()}")
        return detect_dataset(records, detector, progress=True)
    finally:
        detector.close()


def run(args: argparse.Namespace) -> int:
    if args.max_dets < 1 or args.vis < 0:
        print("sspnet eval: error: --max-dets must be >= 1 and --vis >= 0", file=sys.stderr)
        return 2
    if args.scale is not None and (args.det or args.scale <= 0):
        print("sspnet eval: error: --scale needs --model and a value > 0", file=sys.stderr)
        return 2
    if args.no_mr and args.mr_mode is not None:
        print(f"sspnet eval: error: --mr-mode {args.mr_mode} has no effect with --no-mr", file=sys.stderr)
        return 2
    mr_mode = None if args.no_mr else (args.mr_mode or "protocol")
    print(f"eval: data={args.data} format={args.format or 'auto'} "
          + (f"det={args.det}" if args.det else f"model={args.model} device={args.device}")
          + f" max_dets={args.max_dets} mr_mode={mr_mode or 'off'} json={args.json} out={args.out}")
    t0 = time.perf_counter()
    try:
        records = load_dataset(args.data, args.format, check_images=args.model is not None,
                               image_root=args.images)
    except (FileNotFoundError, ValueError) as e:     # a bad --data: a usage error, like sspnet train's
        print(f"sspnet eval: error: {e}", file=sys.stderr)
        return 2
    try:
        detections = load_detections(args.det, records) if args.det else _run_model(args, records)
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        return _fail(str(e))
    n_gt = sum(len(r.boxes_xyxy) for r in records)
    n_ign = sum(len(r.ignore_xyxy) for r in records)
    n_det = sum(len(s) for _, s in detections.values())
    print(f"{len(records)} images, {n_gt} persons, {n_ign} ignore regions, {n_det} detections")
    try:
        metrics = evaluate(records, detections, with_mr=mr_mode is not None, ap_max_dets=args.max_dets,
                           mr_mode=mr_mode or "protocol")
    except ValueError as e:
        return _fail(str(e))
    print(format_table(metrics, mr_mode))
    head = metrics[HEADLINE]
    print(f"{HEADLINE} = {'-' if head != head else f'{head:.2f}'}  ({time.perf_counter() - t0:.1f} s)")
    if args.json:
        record = json_safe(metrics) | ({"mr_mode": mr_mode} if mr_mode else {})
        atomic_write_bytes(args.json, (json.dumps(record, indent=1) + "\n").encode())
        print(f"wrote {args.json}")
    if args.out:
        out = Path(args.out)
        if args.model:
            save_detections(out / "detections.json", detections)
            print(f"wrote {out / 'detections.json'}")
        if args.vis > 0:
            from sspnet.evaluation.visualize import write_examples
            try:
                paths = write_examples(out, records, detections, args.vis, args.vis_score)
            except FileNotFoundError as e:
                return _fail(f"cannot draw examples: {e}")
            print(f"wrote {len(paths)} annotated images to {out}")
    return 0
