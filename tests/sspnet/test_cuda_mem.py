"""The GPU memory/stream module: error messages (exercised for real with cuda-python where no driver exists) and,
on a GPU machine, pinned/device buffers, async copies and streams through each installed binding."""
import ctypes.util
import importlib.util

import numpy as np
import pytest

from sspnet.gpu import NO_DRIVER, CudaError, NoDriverError, NoGpuBindings, available_impls, hint_for, open_gpu

HAVE_CUDA_PYTHON = importlib.util.find_spec("cuda") is not None and "cuda-python" in available_impls()
HAVE_DRIVER = ctypes.util.find_library("cuda") is not None


@pytest.mark.skipif(not HAVE_CUDA_PYTHON, reason="cuda-python is not installed")
@pytest.mark.skipif(HAVE_DRIVER, reason="an NVIDIA driver (libcuda) is present here")
def test_no_driver_message_from_cuda_python():
    with pytest.raises(NoDriverError) as e:
        open_gpu(0, prefer="cuda-python")
    msg = str(e.value)
    assert msg.startswith(f"{NO_DRIVER}: ") and "nvidia-smi" in msg and "ONNX Runtime" in msg
    assert isinstance(e.value, CudaError)             # callers can catch every GPU failure as CudaError


@pytest.mark.skipif(not HAVE_CUDA_PYTHON, reason="cuda-python is not installed")
def test_every_cuda_runtime_error_code_has_a_message():
    from sspnet.gpu.cudapython_impl import describe_error, import_bindings
    driver, runtime, _ = import_bindings()
    for err in runtime.cudaError_t:
        if int(err) == 0:
            continue
        name, code, text = describe_error(err, runtime, driver)
        msg = str(CudaError("cudaMalloc", name, code, text))
        assert name in msg and text and "What to do:" in msg, msg
    oom = describe_error(runtime.cudaError_t.cudaErrorMemoryAllocation, runtime, driver)
    assert oom[2] == "out of memory" and "--batch" in str(CudaError("cudaMalloc", *oom))


@pytest.mark.skipif(not HAVE_CUDA_PYTHON, reason="cuda-python is not installed")
def test_every_driver_error_code_has_a_message():
    """CUresult strings need libcuda; without it the enum name stands in."""
    from sspnet.gpu.cudapython_impl import describe_error, import_bindings
    driver, runtime, _ = import_bindings()
    for err in driver.CUresult:
        if int(err) == 0:
            continue
        name, code, text = describe_error(err, runtime, driver)
        assert name.startswith("CUDA_ERROR_") and code == int(err) and text


def test_hints_cover_the_common_failures():
    assert "nvidia-smi" in hint_for("CUDA_ERROR_NO_DEVICE") and "nvidia-smi" in hint_for("cudaErrorNoDevice")
    assert "driver" in hint_for("cudaErrorInsufficientDriver")
    assert "--batch" in hint_for("CUDA_ERROR_OUT_OF_MEMORY")
    assert "architecture" in hint_for("cudaErrorNoKernelImageForDevice")
    assert "documentation" in hint_for("cudaErrorSomethingNew")


def test_missing_binding_says_what_to_install():
    if "pycuda" in available_impls():
        pytest.skip("pycuda is installed here")
    with pytest.raises(NoGpuBindings, match="pip install 'cuda-python"):
        open_gpu(0, prefer="pycuda")
    with pytest.raises(ValueError, match="choose from"):
        open_gpu(0, prefer="cupy")


def _roundtrip(impl: str):
    gpu = open_gpu(0, prefer=impl)
    try:
        d = gpu.device
        assert d.name and len(d.compute_capability.split(".")) == 2 and d.total_memory_bytes > 0
        src = gpu.alloc_host((4, 3, 8, 8), np.float32)
        dst = gpu.alloc_host((4, 3, 8, 8), np.float32)
        dev = gpu.alloc_device(src.nbytes)
        stream = gpu.create_stream()
        assert stream.handle != 0 and src.array.flags["C_CONTIGUOUS"]
        for k in range(3):                                   # reuse the same buffers, as the backend does per frame
            src.array[...] = np.arange(src.array.size, dtype=np.float32).reshape(src.array.shape) * (k + 1)
            dst.array[...] = -1
            with gpu.activate():
                gpu.copy_htod_async(dev, src, src.nbytes, stream)
                gpu.copy_dtoh_async(dst, dev, src.nbytes // 2, stream)     # partial copy: the first 2 tiles
                gpu.synchronize(stream)
            np.testing.assert_array_equal(dst.array[:2], src.array[:2])
            assert np.all(dst.array[2:] == -1)
        with pytest.raises(ValueError, match="exceeds"):
            gpu.copy_htod_async(dev, src, src.nbytes + 4, stream)
        with pytest.raises(CudaError, match="device 99 requested"):
            open_gpu(99, prefer=impl)
    finally:
        gpu.close()


@pytest.mark.gpu
@pytest.mark.skipif(not HAVE_CUDA_PYTHON, reason="cuda-python is not installed")
def test_cuda_python_buffers_streams_copies():
    _roundtrip("cuda-python")


@pytest.mark.gpu
@pytest.mark.skipif("pycuda" not in available_impls(), reason="pycuda is not installed")
def test_pycuda_buffers_streams_copies():
    _roundtrip("pycuda")
