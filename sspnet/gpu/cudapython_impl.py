"""The GPU interface on NVIDIA's cuda-python: ``cuda.bindings.driver``/``runtime`` (cuda-python ≥ 12.6, 13.x) or the
older ``from cuda import cuda, cudart`` layout (cuda-python 11.x–12.5).

The driver API gives device facts and the clear "no driver" error (``cuInit``); the runtime API allocates, copies
and makes streams, so TensorRT (which uses the runtime API) shares the same primary context.
"""
from __future__ import annotations

import ctypes
from contextlib import contextmanager

import numpy as np

from sspnet.gpu.base import CudaError, DeviceBuffer, DeviceInfo, Gpu, HostBuffer, NoDriverError, Stream


def import_bindings():
    """(driver, runtime, layout) from whichever cuda-python layout is installed; ImportError if none."""
    try:
        from cuda.bindings import driver, runtime
        return driver, runtime, "cuda.bindings"
    except ImportError:
        from cuda import cuda as driver, cudart as runtime  # cuda-python < 12.6
        return driver, runtime, "cuda.cuda/cuda.cudart"


def describe_error(err, runtime=None, driver=None) -> tuple[str, int | None, str]:
    """(name, code, text) of a CUresult / cudaError_t, using the library's own strings where it can."""
    name = getattr(err, "name", str(err))
    try:
        code = int(err)
    except (TypeError, ValueError):
        code = None
    text = ""
    if runtime is not None and type(err).__name__ == "cudaError_t":
        status, s = runtime.cudaGetErrorString(err)
        text = s.decode() if isinstance(s, bytes) else str(s)
    elif driver is not None and type(err).__name__ == "CUresult":
        try:  # needs libcuda; without it the name has to do
            status, s = driver.cuGetErrorString(err)
            if s:
                text = s.decode() if isinstance(s, bytes) else str(s)
        except RuntimeError:
            pass
    return name, code, text or name


class CudaPythonGpu(Gpu):
    impl = "cuda-python"

    def __init__(self, index: int = 0):
        self.cu, self.rt, self.layout = import_bindings()
        self._index = index
        self._init_driver()
        super().__init__(self._device_info(index))
        self._call("cudaSetDevice", self.rt.cudaSetDevice(index))
        self._call("cudaFree(0)", self.rt.cudaFree(0))        # create the primary context now, not mid-frame

    # -- errors --------------------------------------------------------------------------------------------------
    def _call(self, name: str, result):
        """cuda-python returns (err, *values); raise CudaError on failure, else return the value(s)."""
        err, values = result[0], result[1:]
        if int(err) != 0:
            raise CudaError(name, *describe_error(err, self.rt, self.cu))
        return values[0] if len(values) == 1 else values if values else None

    def _init_driver(self) -> None:
        try:
            result = self.cu.cuInit(0)
        except RuntimeError as e:  # cuda-python 13: DynamicLibNotFoundError; 12.x: "Failed to dlopen libcuda.so.1"
            raise NoDriverError(str(e)) from None
        err = result[0]
        if int(err) != 0:
            name, code, text = describe_error(err, self.rt, self.cu)
            if name == "CUDA_ERROR_STUB_LIBRARY":  # the toolkit's link stub was found instead of a driver
                raise NoDriverError(f"cuInit returned {name} ({code}): {text}")
            raise CudaError("cuInit", name, code, text)

    def _device_info(self, index: int) -> DeviceInfo:
        count = self._call("cuDeviceGetCount", self.cu.cuDeviceGetCount())
        if not 0 <= index < count:
            raise CudaError("cuDeviceGet", "CUDA_ERROR_INVALID_DEVICE", 101,
                            f"device {index} requested, {count} device(s) visible")
        dev = self._call("cuDeviceGet", self.cu.cuDeviceGet(index))
        raw = self._call("cuDeviceGetName", self.cu.cuDeviceGetName(256, dev))
        name = (raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)).split("\x00", 1)[0].strip()
        attr = self.cu.CUdevice_attribute
        major = self._call("cuDeviceGetAttribute", self.cu.cuDeviceGetAttribute(
            attr.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev))
        minor = self._call("cuDeviceGetAttribute", self.cu.cuDeviceGetAttribute(
            attr.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev))
        total = self._call("cuDeviceTotalMem", self.cu.cuDeviceTotalMem(dev))
        return DeviceInfo(index=index, name=name, compute_capability=f"{major}.{minor}", total_memory_bytes=int(total))

    # -- the interface -------------------------------------------------------------------------------------------
    @contextmanager
    def activate(self):
        self._call("cudaSetDevice", self.rt.cudaSetDevice(self._index))   # per thread in the runtime API
        yield self

    def alloc_host(self, shape: tuple, dtype) -> HostBuffer:
        dtype = np.dtype(dtype)
        count = int(np.prod(shape, dtype=np.int64))
        nbytes = max(count * dtype.itemsize, 1)
        ptr = int(self._call("cudaMallocHost", self.rt.cudaMallocHost(nbytes)))
        raw = (ctypes.c_uint8 * nbytes).from_address(ptr)
        array = np.frombuffer(raw, dtype=dtype, count=count).reshape(shape)
        buf = HostBuffer(array=array, ptr=ptr, nbytes=nbytes)
        self._host.append(buf)
        return buf

    def alloc_device(self, nbytes: int) -> DeviceBuffer:
        ptr = int(self._call("cudaMalloc", self.rt.cudaMalloc(max(int(nbytes), 1))))
        buf = DeviceBuffer(ptr=ptr, nbytes=int(nbytes))
        self._dev.append(buf)
        return buf

    def create_stream(self) -> Stream:
        native = self._call("cudaStreamCreate", self.rt.cudaStreamCreate())
        s = Stream(handle=int(native), native=native)
        self._streams.append(s)
        return s

    def copy_htod_async(self, dst: DeviceBuffer, src: HostBuffer, nbytes: int, stream: Stream) -> None:
        self._check_copy(nbytes, dst, src)
        kind = self.rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        self._call("cudaMemcpyAsync(H2D)", self.rt.cudaMemcpyAsync(dst.ptr, src.ptr, nbytes, kind, stream.native))

    def copy_dtoh_async(self, dst: HostBuffer, src: DeviceBuffer, nbytes: int, stream: Stream) -> None:
        self._check_copy(nbytes, dst, src)
        kind = self.rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self._call("cudaMemcpyAsync(D2H)", self.rt.cudaMemcpyAsync(dst.ptr, src.ptr, nbytes, kind, stream.native))

    def synchronize(self, stream: Stream) -> None:
        self._call("cudaStreamSynchronize", self.rt.cudaStreamSynchronize(stream.native))

    def _free_host(self, buf: HostBuffer) -> None:
        self._call("cudaFreeHost", self.rt.cudaFreeHost(buf.ptr))

    def _free_device(self, buf: DeviceBuffer) -> None:
        self._call("cudaFree", self.rt.cudaFree(buf.ptr))

    def _destroy_stream(self, stream: Stream) -> None:
        self._call("cudaStreamDestroy", self.rt.cudaStreamDestroy(stream.native))
