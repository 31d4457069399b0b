"""``sspnet <command>``: a thin front door. Each command lives in the module named in COMMANDS, which provides
``add_arguments(parser)`` and ``run(args) -> int``; heavy stage packages are imported only when their command runs.

This is the one core module that may import the stage packages: it wires them. Commands that run a model of any
kind (``eval``, the accuracy gate of ``calibrate``) receive ``open_detector`` as ``args.open_detector`` instead
of importing training or the runtime themselves.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

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
    "detect": ("sspnet.runtime.detect", "batch detection over stills and videos, resumable, with a review page"),
    "bench": ("sspnet.bench_cli", "run the benchmark suite"),
}

MODEL_SUFFIXES = (".pt", ".onnx", ".engine")


def open_detector(model_path: str | Path, device: str = "cpu"):
    """A detector with the Backend interface for a model file: ``.pt`` checkpoint (needs the train extra),
    ``.onnx`` or ``.engine`` (the runtime's backends)."""
    path = Path(model_path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: model file not found")
    suffix = path.suffix.lower()
    if suffix == ".pt":
        try:
            from sspnet.training.checkpoint import load_checkpoint
            from sspnet.training.predict import TorchDetector
        except ImportError as e:
            raise RuntimeError(f"{path}: evaluating a .pt checkpoint needs PyTorch and sspnet.training "
                               f"(pip install -e '.[train]'): {e}") from None
        model, cfg, _ = load_checkpoint(path, device)
        return TorchDetector(model, cfg, device)
    if suffix in (".onnx", ".engine"):
        try:
            from sspnet.runtime.backends import open_backend
        except ImportError as e:
            raise RuntimeError(f"{path}: running {suffix} models needs sspnet.runtime backends "
                               f"(ONNX Runtime / TensorRT): {e}") from None
        return open_backend(str(path), device)
    raise ValueError(f"{path}: unknown model type '{suffix}'; expected one of {', '.join(MODEL_SUFFIXES)}")


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
    cmd.set_defaults(open_detector=open_detector)
    args = cmd.parse_args(argv[1:])
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
