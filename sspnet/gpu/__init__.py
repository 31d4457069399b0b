"""GPU memory, copies and streams behind one small interface (``base.Gpu``), on cuda-python or pycuda.

``open_gpu(index)`` picks the implementation by what is installed: cuda-python first (NVIDIA's current bindings,
installs as wheels everywhere; TensorRT's samples moved to it in 10.13), pycuda otherwise; ``prefer`` forces one.
In the core because the engine builder (export) and the TensorRT backend (runtime) both use it; the bindings are
imported only when a GPU is opened.
"""
from __future__ import annotations

import importlib.util

from sspnet.gpu.base import (NO_DRIVER, CudaError, DeviceBuffer, DeviceInfo, Gpu, HostBuffer, NoDriverError,
                             NoGpuBindings, Stream, hint_for)

IMPLS = ("cuda-python", "pycuda")
INSTALL = ("pip install 'cuda-python>=12,<14' (CUDA 12 / JetPack 6: 'cuda-python>=12,<13'), "
           "or pycuda where your toolchain ships it")

__all__ = ["open_gpu", "available_impls", "Gpu", "DeviceInfo", "HostBuffer", "DeviceBuffer", "Stream", "CudaError",
           "NoDriverError", "NoGpuBindings", "NO_DRIVER", "hint_for", "IMPLS"]


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def available_impls() -> list[str]:
    found = []
    if _installed("cuda.bindings") or _installed("cuda.cudart"):
        found.append("cuda-python")
    if _installed("pycuda"):
        found.append("pycuda")
    return found


def open_gpu(index: int = 0, prefer: str | None = None) -> Gpu:
    """Open device ``index``. Raises NoGpuBindings (neither binding installed), NoDriverError, or CudaError."""
    if prefer is not None and prefer not in IMPLS:
        raise ValueError(f"GPU binding {prefer!r}: choose from {', '.join(IMPLS)}")
    found = available_impls()
    order = [prefer] if prefer else found
    if not order or (prefer and prefer not in found):
        want = prefer or "cuda-python or pycuda"
        raise NoGpuBindings(f"{want} is not installed, and the TensorRT backend needs one for GPU buffers and "
                            f"streams: {INSTALL}")
    if order[0] == "cuda-python":
        from sspnet.gpu.cudapython_impl import CudaPythonGpu
        return CudaPythonGpu(index)
    from sspnet.gpu.pycuda_impl import PyCudaGpu
    return PyCudaGpu(index)
