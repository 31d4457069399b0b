"""OnnxRuntimeBackend: an exported ONNX model (FP32, FP16 or INT8 Q/DQ) behind the runtime's Backend interface.

Everything about the model comes from its manifest sidecar: input name, batch (fixed or dynamic), tile size,
pre- and post-processing. The ONNX graph is checked against it before the first frame, and the sidecar's sha256
must be this file's. Execution providers: CPU (default; intra-op threads = the cores this process may use),
CUDA, TensorRT. A requested provider that is not available, or that ONNX Runtime drops while loading, is an error:
nothing silently falls back to the CPU.
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import numpy as np

from sspnet.cpu_int8 import cpu_info, mismatch_warning
from sspnet.manifest import manifest_path, read_manifest, sha256_file
from sspnet.postprocess import Postprocess, run_in_batches
from sspnet.preprocess import Preprocess
from sspnet.runtime.backends.base import (MODEL_ARTIFACTS, ManifestMismatch, check_batch, full_frame_spec,
                                          input_spec)

_WARNED: set = set()   # INT8 models already warned about in this process (the CPU-form warning comes once)

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}


def parse_device(device: str | None) -> tuple:
    """'cpu' | 'cuda[:N]' | 'tensorrt[:N]' → (kind, gpu index)."""
    m = re.fullmatch(r"(cpu|cuda|tensorrt)(?::(\d+))?", str(device or "cpu").strip().lower())
    if not m:
        raise ValueError(f"device {device!r}: expected cpu, cuda[:N] or tensorrt[:N]")
    return m.group(1), int(m.group(2) or 0)


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _import_ort():
    try:
        import onnxruntime as ort
    except ImportError as e:
        raise ImportError(f"onnxruntime is not installed ({e}): pip install onnxruntime==1.30.0 (CPU) or "
                          f"onnxruntime-gpu for CUDA/TensorRT providers") from None
    return ort


class OnnxRuntimeBackend:
    name = "onnxruntime"

    def __init__(self, path: str | Path, device: str | None = "cpu", threads: int | None = None):
        self.path = Path(path)
        where = str(manifest_path(self.path))
        self.manifest = read_manifest(self.path)
        artifact = self.manifest.get("artifact")
        if artifact not in MODEL_ARTIFACTS or artifact == "engine":
            raise ManifestMismatch(f"{where}: artifact is {artifact!r}, not an ONNX model; give the .onnx that "
                                   f"'sspnet export' or 'sspnet calibrate' wrote")
        expected_sha = self.manifest.get("sha256")
        if expected_sha and expected_sha != sha256_file(self.path):
            raise ManifestMismatch(f"{where}: sha256 does not match {self.path.name}; the sidecar belongs to another "
                                   f"file: re-export the model (it writes both)")
        self.input_name, batch, width, height = input_spec(self.manifest, where)
        self.preprocess = Preprocess.from_dict(self.manifest["preprocess"])
        self.postprocess = Postprocess.from_dict(self.manifest["postprocess"])
        if (self.preprocess.input_w, self.preprocess.input_h) != (width, height):
            raise ManifestMismatch(f"{where}: preprocess tile {self.preprocess.input_w}x{self.preprocess.input_h} "
                                   f"differs from input {width}x{height}")
        self.output_names = list(self.manifest.get("output_names", ["boxes", "scores"]))
        self.max_batch = batch
        self.full_frame = full_frame_spec(self.manifest, where)
        self.chw = (3, height, width)
        self.device, gpu = parse_device(device)
        self.threads = threads or usable_cores()
        self.session = self._open_session(gpu)
        self._check_graph(where)
        self._warn_cpu_form()

    def _warn_cpu_form(self) -> None:
        """Once per model: an INT8 model whose weights saturate this CPU's int8 kernels (sspnet/cpu_int8.py)."""
        if self.device != "cpu" or self.manifest.get("artifact") != "onnx-int8" or self.path in _WARNED:
            return
        cal = self.manifest.get("calibration") or {}
        # a CPU-form model calibrated before forms existed has 8-bit weights, i.e. the 'vnni' form
        form = (cal.get("cpu_form") or {}).get("name", "vnni") if cal.get("target") == "cpu" else None
        msg = mismatch_warning(self.path.name, form, cpu_info())
        if msg:
            _WARNED.add(self.path)
            print(msg, file=sys.stderr, flush=True)

    def _open_session(self, gpu: int):
        ort = _import_ort()
        wanted = PROVIDERS[self.device]
        available = ort.get_available_providers()
        if wanted not in available:
            raise RuntimeError(f"ONNX Runtime {ort.__version__} here has no {wanted} (available: "
                               f"{', '.join(available)}); install onnxruntime-gpu for cuda/tensorrt, or use --device cpu")
        providers = {"cpu": [wanted],
                     "cuda": [(wanted, {"device_id": gpu}), "CPUExecutionProvider"],
                     "tensorrt": [(wanted, {"device_id": gpu}), ("CUDAExecutionProvider", {"device_id": gpu}),
                                  "CPUExecutionProvider"]}[self.device]
        so = ort.SessionOptions()
        so.intra_op_num_threads = self.threads
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # idle threads spin by default; on a small shared CPU (an edge box, decode in another thread) that costs
        # 25-40 % throughput (bench/int8_cpu.py measures both)
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = ort.InferenceSession(str(self.path), so, providers=providers)
        if session.get_providers()[0] != wanted:
            raise RuntimeError(f"ONNX Runtime could not load {wanted} (session runs on {session.get_providers()}); "
                               f"check the CUDA/cuDNN/TensorRT libraries, or use --device cpu")
        self.providers = session.get_providers()
        return session

    def _check_graph(self, where: str) -> None:
        inputs = self.session.get_inputs()
        if len(inputs) != 1 or inputs[0].name != self.input_name:
            raise ManifestMismatch(f"{where}: manifest input '{self.input_name}' but the model's inputs are "
                                   f"{[i.name for i in inputs]}")
        shape = inputs[0].shape
        graph_batch = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None
        if graph_batch != self.max_batch:
            raise ManifestMismatch(f"{where}: manifest batch {self.max_batch or 'dynamic'} but the model's input "
                                   f"batch is {graph_batch or 'dynamic'}; the sidecar does not describe this model")
        for dim, want, name in ((shape[2], self.chw[1], "height"), (shape[3], self.chw[2], "width")):
            if isinstance(dim, int) and dim != want:
                raise ManifestMismatch(f"{where}: manifest {name} {want} but the model's input has {dim}")
            if self.full_frame is not None and isinstance(dim, int):
                raise ManifestMismatch(f"{where}: manifest input.full_frame but the model's input {name} is fixed "
                                       f"({dim}); the sidecar does not describe this model")
        outputs = [o.name for o in self.session.get_outputs()]
        missing = [n for n in self.output_names if n not in outputs]
        if missing:
            raise ManifestMismatch(f"{where}: outputs {missing} named in the manifest are not in the model "
                                   f"({outputs})")

    def _run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        boxes, scores = self.session.run(["boxes", "scores"], {self.input_name: batch})
        return np.asarray(boxes, np.float32), np.asarray(scores, np.float32)

    def infer(self, batch_nchw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[T, 3, H, W] float32 → (boxes [T, K, 4] xyxy in tile-input px, scores [T, K]); any T >= 1."""
        batch = check_batch(batch_nchw, self.chw, str(self.path), self.full_frame)
        # a fixed-batch model: chunks of its batch, the last padded
        return run_in_batches(self._run, batch, step=self.max_batch, pad=self.max_batch is not None)

    def describe(self) -> str:
        batch = "dynamic" if self.max_batch is None else f"fixed {self.max_batch}"
        whole = (f" full frames up to {self.full_frame.max_w}x{self.full_frame.max_h}" if self.full_frame else "")
        return (f"onnxruntime {self.path.name} providers={','.join(self.providers)} threads={self.threads} "
                f"batch={batch} tile={self.chw[2]}x{self.chw[1]}{whole}")

    def close(self) -> None:
        self.session = None
