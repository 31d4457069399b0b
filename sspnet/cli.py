"""``sspnet <command>``: a thin front door. Each command lives in the module named in COMMANDS, which provides
``add_arguments(parser)`` and ``run(args) -> int``; heavy stage packages are imported only when their command runs.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# command → (module, one-line help). The one explicit table of commands.
COMMANDS = {
    "synth": ("sspnet.synth.cli", "render a synthetic aerial dataset and/or H.264 clip"),
    "eval": ("sspnet.evaluation.cli", "TinyPerson AP/MR of detections or of a model on a dataset"),
    "tile": ("sspnet.data.tile_cli", "tile a dataset into 640x512 sub-images (corner JSON)"),
    "doctor": ("sspnet.doctor", "report installed versions, GStreamer elements, GPU and TensorRT INT8 path"),
    "info": ("sspnet.training.info", "parameters, GMAC per tile, inputs and outputs of a config or checkpoint"),
    "train": ("sspnet.training.cli", "train a model"),
    "export": ("sspnet.export.cli", "export a checkpoint to ONNX (with parity check and manifest)"),
    "calibrate": ("sspnet.calibration.cli", "INT8 calibration: Q/DQ ONNX + TensorRT cache + accuracy gate"),
    "build": ("sspnet.export.trt_cli", "build a TensorRT engine or print the trtexec command"),
    "stream": ("sspnet.runtime.stream", "stream video (file, RTSP, camera, test) through a model"),
    "bench": ("sspnet.bench_cli", "run the benchmark suite"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="sspnet", description="SSPNet tiny-person detection, training to edge.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if argv else 2
    name = argv[0]
    if name not in COMMANDS:
        parser.error(f"unknown command '{name}'; choose from {', '.join(COMMANDS)}")
    module = importlib.import_module(COMMANDS[name][0])
    cmd = argparse.ArgumentParser(prog=f"sspnet {name}", description=COMMANDS[name][1])
    module.add_arguments(cmd)
    args = cmd.parse_args(argv[1:])
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
