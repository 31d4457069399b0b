"""The one small GPU interface the TensorRT builder and backend use: device info, pinned host and device buffers,
async copies, streams. Two implementations (cuda-python, pycuda) live beside this file; ``open_gpu`` picks one.

Every CUDA error becomes a ``CudaError`` whose message names the call, the CUDA error name and text, and what to do.
"""
from __future__ import annotations

import re
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

NO_DRIVER = "no NVIDIA driver (libcuda.so.1) found"

# what to do, keyed by the error name with its 'CUDA_ERROR_' / 'cudaError' prefix and underscores removed
_HINTS = {
    "nodevice": "no CUDA-capable GPU is visible: check `nvidia-smi`, CUDA_VISIBLE_DEVICES and container --gpus",
    "insufficientdriver": "the NVIDIA driver is older than this CUDA runtime: update the driver, or install the "
                          "cuda-python major that matches it (JetPack 6 / CUDA 12: pip install 'cuda-python>=12,<13')",
    "notinitialized": "CUDA was not initialised (no driver, or cuInit failed earlier)",
    "outofmemory": "GPU memory exhausted: use a smaller batch profile (--batch) or workspace (--workspace), or "
                   "close other GPU processes",
    "memoryallocation": "GPU memory exhausted: use a smaller batch profile (--batch) or close other GPU processes",
    "invaliddevice": "the device index is out of range: see `nvidia-smi -L`",
    "nokernelimagefordevice": "this build has no kernels for this GPU's architecture (compute capability): use a "
                              "TensorRT/CUDA build that supports it and rebuild the engine on this GPU",
    "nobinaryforgpu": "this build has no kernels for this GPU's architecture (compute capability)",
    "illegaladdress": "a kernel read or wrote outside its buffers: the engine and the buffers disagree on a shape; "
                      "rebuild the engine and report the failing command",
    "launchfailure": "a kernel failed; the CUDA context is unusable now: restart the process",
    "systemdrivermismatch": "the kernel driver and the user-space driver (libcuda) versions differ: reboot, or "
                            "reinstall the driver",
    "compatnotsupportedondevice": "forward compatibility is not supported on this device: update the driver",
    "devicesunavailable": "the GPU is busy or in exclusive-process mode: stop the other process",
    "deviceunavailable": "the GPU is busy or in exclusive-process mode: stop the other process",
    "operatingsystem": "the OS refused the CUDA call (often a missing /dev/nvidia* in a container)",
    "invalidvalue": "a CUDA call got an invalid argument (a bug in the caller): report the command",
    "invalidresourcehandle": "a stream or buffer was used after it was freed (a bug in the caller): report it",
}


def _key(name: str) -> str:
    return re.sub(r"^(cuda_error_|cudaerror)", "", name.lower()).replace("_", "")


def hint_for(error_name: str) -> str:
    return _HINTS.get(_key(error_name), "see the CUDA documentation for this error; `nvidia-smi` shows the GPU state")


class CudaError(RuntimeError):
    def __init__(self, call: str, name: str, code: int | None, text: str):
        self.call, self.name, self.code, self.text = call, name, code, text
        code_s = f" ({code})" if code is not None else ""
        super().__init__(f"CUDA call {call} failed: {name}{code_s}: {text}. What to do: {hint_for(name)}")


class NoDriverError(CudaError):
    def __init__(self, detail: str):
        self.call, self.name, self.code, self.text = "cuInit", "no driver", None, detail
        RuntimeError.__init__(self, f"{NO_DRIVER}: {detail.rstrip('. ')}. Install the NVIDIA driver (desktop: the distribution's "
                                    f"nvidia-driver package; Jetson: JetPack), check `nvidia-smi`, or use the ONNX "
                                    f"model with ONNX Runtime on the CPU")


class NoGpuBindings(ImportError):
    pass


@dataclass(frozen=True)
class DeviceInfo:
    index: int
    name: str
    compute_capability: str      # "8.7"
    total_memory_bytes: int


@dataclass
class HostBuffer:
    """Pinned (page-locked) host memory seen as a numpy array; allocated once, reused every frame."""
    array: np.ndarray
    ptr: int
    nbytes: int


@dataclass
class DeviceBuffer:
    ptr: int
    nbytes: int


@dataclass
class Stream:
    handle: int                  # cudaStream_t as an int: what TensorRT's execute_async_* take
    native: object = None        # the binding's own stream object


class Gpu(ABC):
    """One device, its buffers and streams. ``close()`` frees everything allocated through this object."""
    impl: str = "?"

    def __init__(self, device: DeviceInfo):
        self.device = device
        self._host: list[HostBuffer] = []
        self._dev: list[DeviceBuffer] = []
        self._streams: list[Stream] = []

    # allocation (once, at start-up)
    @abstractmethod
    def alloc_host(self, shape: tuple, dtype) -> HostBuffer: ...

    @abstractmethod
    def alloc_device(self, nbytes: int) -> DeviceBuffer: ...

    @abstractmethod
    def create_stream(self) -> Stream: ...

    # per frame
    @abstractmethod
    def copy_htod_async(self, dst: DeviceBuffer, src: HostBuffer, nbytes: int, stream: Stream) -> None: ...

    @abstractmethod
    def copy_dtoh_async(self, dst: HostBuffer, src: DeviceBuffer, nbytes: int, stream: Stream) -> None: ...

    @abstractmethod
    def synchronize(self, stream: Stream) -> None: ...

    @contextmanager
    def activate(self):
        """Make this device's (primary) context current on the calling thread for the duration."""
        yield self

    # teardown
    @abstractmethod
    def _free_host(self, buf: HostBuffer) -> None: ...

    @abstractmethod
    def _free_device(self, buf: DeviceBuffer) -> None: ...

    @abstractmethod
    def _destroy_stream(self, stream: Stream) -> None: ...

    def close(self) -> None:
        with self.activate():
            for s in self._streams:
                self._destroy_stream(s)
            for d in self._dev:
                self._free_device(d)
            for h in self._host:
                self._free_host(h)
        self._streams, self._dev, self._host = [], [], []

    @staticmethod
    def _check_copy(nbytes: int, *bufs) -> None:
        for b in bufs:
            if nbytes > b.nbytes:
                raise ValueError(f"copy of {nbytes} bytes exceeds a buffer of {b.nbytes} bytes")
