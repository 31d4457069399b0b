"""Inference backends behind one interface (see ``base.Backend``); ``open_backend`` picks one by file suffix.

    .onnx   → OnnxRuntimeBackend (CPU by default; CUDA / TensorRT execution providers on request)
    .engine → TensorRTBackend (a serialized TensorRT engine for this GPU and TensorRT version)
"""
from __future__ import annotations

from pathlib import Path

from sspnet.runtime.backends.base import Backend, ManifestMismatch

__all__ = ["open_backend", "Backend", "ManifestMismatch", "BACKENDS"]

# suffix → (module, class); the one table of backends. Imported lazily: each pulls its own heavy dependency.
BACKENDS = {
    ".onnx": ("sspnet.runtime.backends.onnxruntime", "OnnxRuntimeBackend"),
    ".engine": ("sspnet.runtime.backends.tensorrt", "TensorRTBackend"),
}


def open_backend(path: str | Path, device: str | None = "cpu") -> Backend:
    """Load the model at ``path`` with its manifest sidecar. ``device``: cpu, cuda[:N], tensorrt[:N] (ONNX
    Runtime providers) or cuda[:N] for engines; None picks the suffix's default (ONNX: cpu, engine: cuda:0)."""
    import importlib
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in BACKENDS:
        hint = " (a PyTorch checkpoint: export it first with 'sspnet export')" if suffix == ".pt" else ""
        raise ValueError(f"{path}: unknown model type '{suffix}'{hint}; the runtime loads "
                         f"{', '.join(BACKENDS)} files")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: model file not found; export one with 'sspnet export' "
                                f"(ONNX) or 'sspnet build' (TensorRT engine)")
    module, cls = BACKENDS[suffix]
    return getattr(importlib.import_module(module), cls)(path, device)
