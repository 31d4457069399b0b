"""TensorRTBackend: run a serialized TensorRT engine behind the runtime's Backend interface.

Before deserializing, the engine's manifest is compared with the installed TensorRT and the GPU: an engine built
elsewhere is refused with the ``sspnet build`` line that rebuilds it here. Pinned host and device buffers for the
profile's largest input shape, one CUDA stream and the tensor addresses are set up once; each call sets the input
shape when it changed, copies the tiles in, runs ``execute_async_v3`` (``execute_async_v2`` where a TensorRT lacks
it), copies the outputs back, synchronizes. A batch below the profile minimum is padded, one above the maximum is
run in chunks. A full-frame engine (manifest ``input.full_frame``, dynamic height and width) also takes whole frames
up to its maximum; one smaller than the profile minimum runs padded with black, as a tile past the frame edge is.
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
from sspnet.preprocess import FullFrame, Preprocess, normalize
from sspnet.gpu import open_gpu
from sspnet.runtime.backends.base import check_batch, full_frame_spec


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


def black_pixel(pre: Preprocess) -> np.ndarray:
    """[3, 1, 1]: a black pixel as ``normalize`` writes it, which is how ``crop_tiles`` pads past the frame edge."""
    return normalize(np.zeros((1, 1, 3), np.uint8), pre)


def call_shape(batch_shape: tuple, min_shape: tuple) -> tuple:
    """The input shape a chunk runs at: each dim raised to the profile minimum (the batch; height and width of a
    whole frame smaller than the minimum), the excess padded."""
    return tuple(max(int(d), int(lo)) for d, lo in zip(batch_shape, min_shape))


def fill_padded(dst: np.ndarray, chunk: np.ndarray, black: np.ndarray) -> None:
    """``chunk`` [n, C, h, w] into the top-left of ``dst`` [N, C, H, W] (N >= n, H >= h, W >= w): each image's
    margin is ``black`` [C, 1, 1], as if the frame had been padded further; the extra batch slots are zero."""
    n, _, h, w = chunk.shape
    if dst.shape[2:] != chunk.shape[2:]:
        dst[:n] = black
    dst[n:] = 0
    np.copyto(dst[:n, :, :h, :w], chunk, casting="same_kind")


def check_input(batch: np.ndarray, chw: tuple, full_frame: FullFrame | None, where: str) -> np.ndarray:
    """``check_batch``; a whole frame beyond a full-frame engine's maximum gets a message that says what to do."""
    if full_frame is not None and batch.ndim == 4 and tuple(batch.shape[2:]) != tuple(chw[1:]):
        h, w = batch.shape[2:]
        if not full_frame.fits(w, h):
            raise ValueError(f"{where}: a whole frame of {w}x{h} is beyond this engine's maximum "
                             f"{full_frame.max_w}x{full_frame.max_h} (manifest input.full_frame): pass it as "
                             f"{chw[2]}x{chw[1]} tiles (the runtime tiles frames that do not fit), or rebuild with "
                             f"'sspnet build --full-frame-max WxH' up to the ONNX's input.full_frame")
    return check_batch(batch, chw, where, full_frame)


def frames_problem(full_frame: FullFrame | None, dims: tuple, max_shape: tuple) -> str | None:
    """How the manifest's ``input.full_frame`` and the engine's input [N, C, H, W] (-1: dynamic) disagree, or None."""
    dynamic_hw = dims[2] < 0 or dims[3] < 0
    if full_frame is None and dynamic_hw:
        return "the engine's height and width are dynamic but the manifest has no input.full_frame"
    if full_frame is not None and not dynamic_hw:
        return f"the manifest has input.full_frame but the engine's input {list(dims)} has a fixed height and width"
    if full_frame is not None and (full_frame.max_h, full_frame.max_w) != tuple(max_shape[2:]):
        return (f"the manifest's input.full_frame goes up to {full_frame.max_w}x{full_frame.max_h} but the "
                f"engine's profile up to {max_shape[3]}x{max_shape[2]}")
    return None


class TensorRTBackend:
    name = "tensorrt"

    def __init__(self, path: str | Path, device=None, gpu_impl: str | None = None):
        self.path = Path(path)
        self.manifest = read_manifest(self.path)
        where = str(manifest_path(self.path))
        validate_engine_manifest(self.manifest, where=where)
        self.preprocess = Preprocess.from_dict(self.manifest["preprocess"])
        self.postprocess = Postprocess.from_dict(self.manifest["postprocess"])
        self.full_frame = full_frame_spec(self.manifest, where)
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
        dims = tuple(int(d) for d in self._engine_shape(self.input_name))
        lo, hi = self._shape_range(dims)
        self._min_shape, self._max_shape = lo, hi
        self.max_batch = hi[0]
        # the tile the manifest names; a full-frame engine takes whole frames as well (check_input)
        self._chw = (dims[1], self.preprocess.input_h, self.preprocess.input_w) if self.full_frame else dims[1:]
        self._black = black_pixel(self.preprocess)
        self._cur_shape = hi
        if any(d < 0 for d in dims):
            self._set_shape(hi)         # buffers for the largest input: the outputs are largest there too
        else:
            self._resolve()
        self._alloc_buffers()

    def _shape_range(self, dims: tuple) -> tuple:
        """(min, max) input shapes: the profile's for a dynamic input, else the one shape; checked against the
        manifest's ``input.full_frame``."""
        if any(d < 0 for d in dims):
            lo, _, hi = (tuple(int(d) for d in s) for s in self._profile(self.input_name))
        else:
            lo = hi = dims
        problem = frames_problem(self.full_frame, dims, hi)
        if problem:
            raise RuntimeError(f"{self.path}: {problem}; the manifest does not belong to this engine: rebuild it "
                               f"with 'sspnet build'")
        return lo, hi

    def _alloc_buffers(self) -> None:
        """Pinned host + device memory per tensor at the shapes of the largest input, their addresses bound once."""
        self._bufs = {}
        for name, shape in self._shapes.items():
            host = self.gpu.alloc_host(shape, self._np_dtype(name))
            dev = self.gpu.alloc_device(host.nbytes)
            self._bufs[name] = (host, dev)
            if self._v3:
                self._context.set_tensor_address(name, dev.ptr)
        self._stream = self.gpu.create_stream()
        if not self._v3:
            self._bindings = [0] * self._engine.num_bindings
            for name, (_, dev) in self._bufs.items():
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

    def _set_shape(self, shape: tuple) -> None:
        if self._v3:
            ok = self._context.set_input_shape(self.input_name, shape)
        else:
            ok = self._context.set_binding_shape(self._engine.get_binding_index(self.input_name), shape)
        if ok is False:
            raise RuntimeError(f"{self.path}: TensorRT refused input shape {list(shape)} (profile "
                               f"{list(self._min_shape)}..{list(self._max_shape)})")
        self._resolve()

    def _resolve(self) -> None:
        """The shapes of the input and the outputs at the current input shape."""
        self._shapes = {name: tuple(int(d) for d in self._resolved_shape(name))
                        for name in [self.input_name] + self.output_names}

    def _view(self, name: str) -> np.ndarray:
        """``name`` at its current shape: the start of its buffer, where TensorRT reads or writes it packed."""
        shape = self._shapes[name]
        return self._bufs[name][0].array.reshape(-1)[:int(np.prod(shape))].reshape(shape)

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
        """[T, 3, H, W] float32 tiles, or whole frames up to ``full_frame`` → (boxes [T, K, 4] input pixels,
        scores [T, K]); T may exceed max_batch. A whole frame padded up to the profile minimum has the K of the
        padded input (the extra cells see only black)."""
        x = np.asarray(batch_nchw_f32)
        if x.ndim == 4 and x.shape[0] == 0:
            return tuple(np.zeros((0,) + self._shapes[n][1:], np.float32) for n in self._named_outputs())
        x = check_input(x, self._chw, self.full_frame, str(self.path))
        named = dict(zip(self.output_names, run_in_batches(self._run, x, step=self.max_batch)))
        return tuple(named[n] for n in self._named_outputs())

    def _named_outputs(self) -> list[str]:
        """(boxes, scores) by name where the manifest uses the contract's names, else in manifest order."""
        if "boxes" in self.output_names and "scores" in self.output_names:
            return ["boxes", "scores"]
        return self.output_names[:2]

    def _run(self, chunk: np.ndarray) -> list[np.ndarray]:
        n = chunk.shape[0]
        shape = call_shape(chunk.shape, self._min_shape)      # static engines: always their one shape
        host_in, dev_in = self._bufs[self.input_name]
        with self.gpu.activate():
            if shape != self._cur_shape:
                self._set_shape(shape)
                self._cur_shape = shape
            x = self._view(self.input_name)
            fill_padded(x, chunk, self._black)
            self.gpu.copy_htod_async(dev_in, host_in, x.nbytes, self._stream)
            if self._v3:
                ok = self._context.execute_async_v3(self._stream.handle)
            else:
                ok = self._context.execute_async_v2(self._bindings, self._stream.handle)
            if not ok:
                raise RuntimeError(f"{self.path}: TensorRT execution failed (see the TensorRT messages above)")
            for name in self.output_names:
                host, dev = self._bufs[name]
                self.gpu.copy_dtoh_async(host, dev, self._view(name).nbytes, self._stream)
            self.gpu.synchronize(self._stream)
        # the only per-call allocation: the caller's own float32 copy of the first n results
        return [self._view(name)[:n].astype(np.float32, copy=True) for name in self.output_names]

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
