"""The GPU interface on pycuda (what many Jetson toolchains still ship). The device's primary context is retained
and pushed around each use, so TensorRT (runtime API) and pycuda work in the same context on any thread.
"""
from __future__ import annotations

import re
from contextlib import contextmanager

import numpy as np

from sspnet.gpu.base import CudaError, DeviceBuffer, DeviceInfo, Gpu, HostBuffer, NoDriverError, Stream

# pycuda raises "cuXxx failed: <driver text>"; map the driver text to the CUDA error name our hints use
_TEXT_TO_NAME = {
    "out of memory": "CUDA_ERROR_OUT_OF_MEMORY",
    "no cuda-capable device is detected": "CUDA_ERROR_NO_DEVICE",
    "cuda driver version is insufficient for cuda runtime version": "CUDA_ERROR_INSUFFICIENT_DRIVER",
    "invalid device ordinal": "CUDA_ERROR_INVALID_DEVICE",
    "an illegal memory access was encountered": "CUDA_ERROR_ILLEGAL_ADDRESS",
    "unspecified launch failure": "CUDA_ERROR_LAUNCH_FAILED",
    "initialization error": "CUDA_ERROR_NOT_INITIALIZED",
    "invalid argument": "CUDA_ERROR_INVALID_VALUE",
}


def _translate(e: Exception, call: str) -> CudaError:
    msg = str(e)
    m = re.match(r"\s*(\w+) failed: (.*)", msg)
    call, text = (m.group(1), m.group(2)) if m else (call, msg)
    name = _TEXT_TO_NAME.get(text.strip().lower(), type(e).__name__)
    return CudaError(call, name, None, text)


class PyCudaGpu(Gpu):
    impl = "pycuda"

    def __init__(self, index: int = 0):
        try:
            import pycuda.driver as cuda
        except ImportError as e:
            if "libcuda" in str(e):
                raise NoDriverError(str(e)) from None
            raise
        self.cuda = cuda
        try:
            cuda.init()
            count = cuda.Device.count()
            if not 0 <= index < count:
                raise CudaError("cuDeviceGet", "CUDA_ERROR_INVALID_DEVICE", 101,
                                f"device {index} requested, {count} device(s) visible")
            dev = cuda.Device(index)
            major, minor = dev.compute_capability()
            info = DeviceInfo(index=index, name=dev.name(), compute_capability=f"{major}.{minor}",
                              total_memory_bytes=int(dev.total_memory()))
            self._ctx = dev.retain_primary_context()
        except cuda.Error as e:
            raise _translate(e, "cuInit") from None
        super().__init__(info)
        self._allocs: dict[int, object] = {}

    @contextmanager
    def activate(self):
        self._ctx.push()
        try:
            yield self
        finally:
            self.cuda.Context.pop()

    def _guard(self, call: str, fn, *args):
        try:
            return fn(*args)
        except self.cuda.Error as e:
            raise _translate(e, call) from None

    def alloc_host(self, shape: tuple, dtype) -> HostBuffer:
        with self.activate():
            array = self._guard("cuMemHostAlloc", self.cuda.pagelocked_empty, tuple(shape), np.dtype(dtype))
        buf = HostBuffer(array=array, ptr=int(array.ctypes.data), nbytes=int(array.nbytes))
        self._host.append(buf)
        return buf

    def alloc_device(self, nbytes: int) -> DeviceBuffer:
        with self.activate():
            alloc = self._guard("cuMemAlloc", self.cuda.mem_alloc, max(int(nbytes), 1))
        buf = DeviceBuffer(ptr=int(alloc), nbytes=int(nbytes))
        self._allocs[buf.ptr] = alloc
        self._dev.append(buf)
        return buf

    def create_stream(self) -> Stream:
        with self.activate():
            native = self._guard("cuStreamCreate", self.cuda.Stream)
        s = Stream(handle=int(native.handle), native=native)
        self._streams.append(s)
        return s

    def copy_htod_async(self, dst: DeviceBuffer, src: HostBuffer, nbytes: int, stream: Stream) -> None:
        self._check_copy(nbytes, dst, src)
        view = src.array.reshape(-1).view(np.uint8)[:nbytes]
        self._guard("cuMemcpyHtoDAsync", self.cuda.memcpy_htod_async, dst.ptr, view, stream.native)

    def copy_dtoh_async(self, dst: HostBuffer, src: DeviceBuffer, nbytes: int, stream: Stream) -> None:
        self._check_copy(nbytes, dst, src)
        view = dst.array.reshape(-1).view(np.uint8)[:nbytes]
        self._guard("cuMemcpyDtoHAsync", self.cuda.memcpy_dtoh_async, view, src.ptr, stream.native)

    def synchronize(self, stream: Stream) -> None:
        self._guard("cuStreamSynchronize", stream.native.synchronize)

    def _free_host(self, buf: HostBuffer) -> None:
        base = buf.array.base
        while base is not None and not hasattr(base, "free"):
            base = getattr(base, "base", None)
        if base is not None:
            self._guard("cuMemFreeHost", base.free)

    def _free_device(self, buf: DeviceBuffer) -> None:
        alloc = self._allocs.pop(buf.ptr, None)
        if alloc is not None:
            self._guard("cuMemFree", alloc.free)

    def _destroy_stream(self, stream: Stream) -> None:
        stream.native = None          # pycuda destroys the stream when the object goes

    def close(self) -> None:
        super().close()
        if getattr(self, "_ctx", None) is not None:
            self._ctx.detach()        # release the primary-context retain
            self._ctx = None
