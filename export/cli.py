"""``sspnet export``: checkpoint → ONNX (parity-checked, simplified, stably named, with manifest).

    sspnet export --checkpoint RUN/best.pt --out model.onnx [--input 640x512] [--batch N | --dynamic-batch]
                  [--full-frame [WxH]] [--opset 17] [--fp16] [--parity-images DIR|DATASET]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from sspnet.data.image_size import parse_wh

FULL_FRAME_AUTO = "1080p"   # --full-frame alone (or "1080p"): a 1080p frame at the checkpoint's scale


def parse_full_frame(text: str):
    return FULL_FRAME_AUTO if text.lower() == FULL_FRAME_AUTO else parse_wh(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="checkpoint written by sspnet train (RUN/best.pt)")
    parser.add_argument("--out", required=True, help="ONNX file to write (its manifest goes to OUT.json)")
    parser.add_argument("--input", type=parse_wh, default=None, metavar="WxH",
                        help="tile size (default: the checkpoint config's input, 640x512 for the edge model)")
    batch = parser.add_mutually_exclusive_group()
    batch.add_argument("--batch", type=int, default=None, help="fixed batch (default 1)")
    batch.add_argument("--dynamic-batch", action="store_true", help="dynamic batch (tiles of a frame in one call)")
    parser.add_argument("--full-frame", type=parse_full_frame, nargs="?", const=FULL_FRAME_AUTO, default=None,
                        metavar="WxH",
                        help="dynamic height and width: the runtime runs a frame whole (after the manifest's scale, "
                             "padded to the largest stride) up to WxH (default, or '1080p': a 1080p frame at the "
                             "checkpoint's scale, 3840x2176 at scale 2) and tiles only larger ones")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    parser.add_argument("--fp16", action="store_true",
                        help="write an FP16 graph (float32 I/O, decode in float32) for strongly typed TensorRT")
    parser.add_argument("--parity-images", default=None,
                        help="images (folder or dataset) for the parity check (default: rendered synthetic frames)")


def run(args: argparse.Namespace) -> int:
    from sspnet.export.onnx import ExportError, export_onnx
    from sspnet.preprocess import FullFrame

    if args.batch is not None and args.batch < 1:
        print(f"sspnet export: error: --batch {args.batch}: must be >= 1", file=sys.stderr)
        return 2
    batch = None if args.dynamic_batch else (args.batch or 1)
    ckpt = Path(args.checkpoint)
    if not ckpt.is_file():
        print(f"sspnet export: error: --checkpoint {ckpt}: no such file", file=sys.stderr)
        return 2
    out = Path(args.out)
    if out.suffix.lower() != ".onnx":
        print(f"sspnet export: error: --out {out}: use a .onnx file name (the runtime dispatches on it)",
              file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    try:
        full_frame = args.full_frame if args.full_frame in (None, FULL_FRAME_AUTO) else FullFrame(*args.full_frame)
        path = export_onnx(ckpt, out, input_wh=args.input, batch=batch, opset=args.opset, fp16=args.fp16,
                           full_frame=full_frame, parity_images=args.parity_images)
    except (ExportError, ValueError, FileNotFoundError, TypeError) as e:
        print(f"sspnet export: error: {e}", file=sys.stderr)
        return 1
    m = json.loads(Path(str(path) + ".json").read_text())
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) and {path.name}.json in {time.perf_counter() - t0:.1f} s")
    print(f"inputs: images [{m['input']['batch']},3,{m['input']['height']},{m['input']['width']}] float32; "
          f"outputs: {', '.join(f'{k} {v}' for k, v in m['outputs'].items())}")
    if "full_frame" in m["input"]:
        ff = m["input"]["full_frame"]
        print(f"        or whole frames [N,3,H,W] up to {ff['max_width']}x{ff['max_height']}, multiples of "
              f"{ff['multiple']}: the runtime runs frames that fit in one call")
    if args.fp16:
        print(f"next: sspnet build --onnx {path} --out {path.with_suffix('.engine')}    (TensorRT, strongly typed)")
    else:
        print(f"next: sspnet calibrate --onnx {path} --images DIR --out {path.with_suffix('.int8.onnx')} "
              f"--trt-cache {path.with_suffix('.calib')}")
        print(f"      sspnet eval --model {path} --data DATASET    |    sspnet stream test:// --model {path}")
    return 0
