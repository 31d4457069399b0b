"""TensorRTBackend: run a serialized TensorRT engine behind the runtime's Backend interface.

Before deserializing, the engine's manifest is compared with the installed TensorRT and the GPU: an engine built
elsewhere is refused with the ``sspnet build`` line that rebuilds it here. Pinned host and device buffers for the
profile's largest batch, one CUDA stream and the tensor addresses are set up once; each call copies the tiles in,
runs ``execute_async_v3`` (``execute_async_v2`` where a TensorRT lacks it), copies the outputs back, synchronizes.
A batch below the profile minimum is padded, one above the maximum is run in chunks.
GPU memory goes through ``sspnet.gpu`` (cuda-python or pycuda). No torch here.
Written from the documented TensorRT API; not executed on a GPU in this repository's CI (see README).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from sspnet.engine_manifest import EngineMismatch, check_engine_compat, refusal_message, validate_engine_manifest
from sspnet.manifest import manifest_path, read_manifest
from sspnet.postprocess import Postprocess, run_in_batches
from sspnet.preprocess import Preprocess
from sspnet.gpu import open_gpu


def parse_device(device) -> int:
    """None/'cuda'/'gpu' → 0, 'cuda:N'/N → N; 'cpu' is an error (an engine only runs on its GPU)."""
    if device is None or device in ("cuda", "gpu", "auto"):
        return 0
    if isinstance(device, int):
        return device
    m = re.fullmatch(r"(?:cuda:|gpu:)?(\d+)", str(device).strip())
    if m:
        return int(m.group(1))
    if str(device).startswith("cpu"):
        raise ValueError("a TensorRT engine runs on an NVIDIA GPU: pass --device cuda:0, or use the ONNX model "
                         "(ONNX Runtime) on the CPU")
    raise ValueError(f"device {device!r}: expected cuda, cuda:N or N")


def _import_trt(manifest: dict):
    try:
        import tensorrt as trt
    except ImportError as e:
        want = (manifest.get("tensorrt") or {}).get("version", "?")
        raise ImportError(f"TensorRT is not importable ({e}); this engine needs TensorRT {want}: on Jetson "
                          f"'sudo apt install python3-libnvinfer' (venv with --system-site-packages), on a desktop "
                          f"'pip install tensorrt=={want}'; or run the ONNX model with ONNX Runtime") from None
    return trt


class TensorRTBackend:
    name = "tensorrt"
    full_frame = None   # engines have a fixed tile size (sspnet build refuses dynamic height and width)

    def __init__(self, path: str | Path, device=None, gpu_impl: str | None = None):
        self.path = Path(path)
        self.manifest = read_manifest(self.path)
        validate_engine_manifest(self.manifest, where=str(manifest_path(self.path)))
        self.preprocess = Preprocess.from_dict(self.manifest["preprocess"])
        self.postprocess = Postprocess.from_dict(self.manifest["postprocess"])
        trt = _import_trt(self.manifest)
        self.gpu = open_gpu(parse_device(device), prefer=gpu_impl)
        dev = self.gpu.device
        problems = check_engine_compat(self.manifest, trt.__version__, dev.name, dev.compute_capability)
        if problems:
            self.close()
            raise EngineMismatch(refusal_message(self.path, self.manifest, problems))
        self._engine = self._context = self._runtime = None
        try:
            with self.gpu.activate():
                self._load(trt)
        except BaseException:
            self.close()
            raise

    # -- set-up, once ------------------------------------------------------------------------------------------------
    def _load(self, trt) -> None:
        self._trt = trt
        self._runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self._engine = self._runtime.deserialize_cuda_engine(self.path.read_bytes())
        if self._engine is None:
            raise RuntimeError(f"{self.path}: TensorRT {trt.__version__} could not deserialize the engine (see the "
                               f"TensorRT messages above); rebuild it with 'sspnet build'")
        self._context = self._engine.create_execution_context()
        if self._context is None:
            raise RuntimeError(f"{self.path}: could not create an execution context (GPU memory?)")
        self._v3 = hasattr(self._context, "execute_async_v3") and hasattr(self._engine, "num_io_tensors")
        self.input_name = self.manifest["input"]["name"]
        self.output_names = list(self.manifest["output_names"])
        names = self._io_names()
        missing = [n for n in [self.input_name] + self.output_names if n not in names]
        if missing:
            raise RuntimeError(f"{self.path}: tensors {missing} named in the manifest are not in the engine "
                               f"(it has {sorted(names)}); the manifest does not belong to this engine: rebuild")
        shape = self._engine_shape(self.input_name)
        self._chw = tuple(int(d) for d in shape[1:])
        self._dynamic = int(shape[0]) < 0
        if self._dynamic:
            lo, _, hi = self._profile(self.input_name)
            self._min_batch, self.max_batch = int(lo[0]), int(hi[0])
            self._set_batch(self.max_batch)
        else:
            self._min_batch = self.max_batch = int(shape[0])
        self._cur_batch = self.max_batch
        self._bufs = {}
        for name in [self.input_name] + self.output_names:
            full = tuple(int(d) for d in self._resolved_shape(name))
            host = self.gpu.alloc_host(full, self._np_dtype(name))
            dev = self.gpu.alloc_device(host.nbytes)
            self._bufs[name] = (host, dev, host.nbytes // max(full[0], 1))
            if self._v3:
                self._context.set_tensor_address(name, dev.ptr)
        self._stream = self.gpu.create_stream()
        if not self._v3:
            n = self._engine.num_bindings
            self._bindings = [0] * n
            for name, (_, dev, _) in self._bufs.items():
                self._bindings[self._engine.get_binding_index(name)] = dev.ptr

    def _io_names(self) -> set:
        e = self._engine
        if self._v3:
            return {e.get_tensor_name(i) for i in range(e.num_io_tensors)}
        return {e.get_binding_name(i) for i in range(e.num_bindings)}

    def _engine_shape(self, name):
        e = self._engine
        return e.get_tensor_shape(name) if self._v3 else e.get_binding_shape(e.get_binding_index(name))

    def _profile(self, name):
        e = self._engine
        if self._v3:
            return e.get_tensor_profile_shape(name, 0)
        return e.get_profile_shape(0, e.get_binding_index(name))

    def _set_batch(self, n: int) -> None:
        shape = (n,) + self._chw
        if self._v3:
            ok = self._context.set_input_shape(self.input_name, shape)
        else:
            ok = self._context.set_binding_shape(self._engine.get_binding_index(self.input_name), shape)
        if ok is False:
            raise RuntimeError(f"{self.path}: TensorRT refused input shape {shape} (profile batch "
                               f"{self._min_batch}..{self.max_batch})")

    def _resolved_shape(self, name):
        if self._v3:
            return self._context.get_tensor_shape(name)
        return self._context.get_binding_shape(self._engine.get_binding_index(name))

    def _np_dtype(self, name):
        e = self._engine
        dt = e.get_tensor_dtype(name) if self._v3 else e.get_binding_dtype(e.get_binding_index(name))
        return np.dtype(self._trt.nptype(dt))

    # -- per call ----------------------------------------------------------------------------------------------------
    def infer(self, batch_nchw_f32: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[T, 3, H, W] float32 → (boxes [T, K, 4] tile-input pixels, scores [T, K]); T may exceed max_batch."""
        x = np.asarray(batch_nchw_f32)
        if x.ndim != 4 or tuple(x.shape[1:]) != self._chw:
            raise ValueError(f"input shape {list(x.shape)}: this engine takes [N, {', '.join(map(str, self._chw))}]")
        if x.shape[0] == 0:
            return tuple(np.zeros((0,) + self._bufs[n][0].array.shape[1:], np.float32)
                         for n in self._named_outputs())
        named = dict(zip(self.output_names, run_in_batches(self._run, x, step=self.max_batch)))
        return tuple(named[n] for n in self._named_outputs())

    def _named_outputs(self) -> list[str]:
        """(boxes, scores) by name where the manifest uses the contract's names, else in manifest order."""
        if "boxes" in self.output_names and "scores" in self.output_names:
            return ["boxes", "scores"]
        return self.output_names[:2]

    def _run(self, chunk: np.ndarray) -> list[np.ndarray]:
        n = chunk.shape[0]
        nb = max(n, self._min_batch)                  # a profile-valid batch (static engines: min == max)
        host_in, dev_in, per_in = self._bufs[self.input_name]
        np.copyto(host_in.array[:n], chunk, casting="same_kind")
        if nb > n:
            host_in.array[n:nb] = 0
        with self.gpu.activate():
            if self._dynamic and nb != self._cur_batch:
                self._set_batch(nb)
                self._cur_batch = nb
            self.gpu.copy_htod_async(dev_in, host_in, nb * per_in, self._stream)
            if self._v3:
                ok = self._context.execute_async_v3(self._stream.handle)
            else:
                ok = self._context.execute_async_v2(self._bindings, self._stream.handle)
            if not ok:
                raise RuntimeError(f"{self.path}: TensorRT execution failed (see the TensorRT messages above)")
            for name in self.output_names:
                host, dev, per = self._bufs[name]
                self.gpu.copy_dtoh_async(host, dev, nb * per, self._stream)
            self.gpu.synchronize(self._stream)
        # the only per-call allocation: the caller's own float32 copy of the first n results
        return [self._bufs[name][0].array[:n].astype(np.float32, copy=True) for name in self.output_names]

    def close(self) -> None:
        gpu = getattr(self, "gpu", None)
        if gpu is None:
            return
        with gpu.activate():
            self._context = self._engine = self._runtime = None    # TensorRT objects go before their memory
        gpu.close()
        self.gpu = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
