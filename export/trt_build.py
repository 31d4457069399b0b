"""Build a TensorRT engine from a BuildPlan with the Python API, and write its manifest sidecar.

- 11.x: the network is strongly typed; precision comes from the graph (Q/DQ ONNX → INT8, FP16 ONNX → FP16).
- 8.6–10.x: builder flags. INT8 from a Q/DQ ONNX (explicit), or from an FP32 ONNX plus our calibration cache read
  by an ``IInt8*Calibrator`` subclass that only reads the cache and never asks for batches (implicit). FP16 is
  enabled with INT8 so unquantized layers don't fall to FP32, and the nodes the calibration report kept in float
  get a per-layer precision (``PREFER_PRECISION_CONSTRAINTS``).
- One optimization profile: the tile batch and, for a full-frame ONNX, height and width too
  (``BuildPlan.profile_shapes``); a timing cache persisted per device (GPU name + SM + TensorRT version in the file
  name); DLA with GPU fallback. No header is written into the engine file.
Only ``sspnet build`` calls this; it is written from the documented API and has not been run here (no GPU).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from sspnet.engine_manifest import device_key, engine_fields, read_tegra_release
from sspnet.export.trt_plan import CALIBRATORS, BuildPlan
from sspnet.export.trt_versions import import_tensorrt, parse_version
from sspnet.export.trtexec import trtexec_line
from sspnet.manifest import atomic_write_bytes, sha256_file, write_manifest
from sspnet.gpu import open_gpu

JETSON_HINT = ("on Jetson, builds are killed when memory runs out: try --workspace 256..1024, add a 4 GB swapfile, "
               "disable zram or stop the desktop")


class BuildError(RuntimeError):
    pass


def _log(msg: str) -> None:
    print(f"sspnet build: {msg}", file=sys.stderr, flush=True)


def default_timing_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "sspnet" / "trt-timing"


def timing_cache_path(requested: Path | None, key: str) -> Path:
    """A folder (existing, or given with a trailing '/') gets '<device key>.timing-cache' inside; a file name is
    used as given; nothing means the per-user cache folder."""
    if requested is None:
        return default_timing_dir() / f"{key}.timing-cache"
    if requested.is_dir() or str(requested).endswith(os.sep):
        return requested / f"{key}.timing-cache"
    return requested


def calib_cache_bytes(plan: BuildPlan) -> tuple[bytes, str, str]:
    """The cache with its header set to what this TensorRT writes (it may ignore another version's header and then
    try to calibrate without data): (bytes, original header, header used)."""
    raw = plan.calib.path.read_bytes()
    first, _, rest = raw.partition(b"\n")
    used = plan.features.calib_cache_header(plan.calib.algorithm)
    return used.encode() + b"\n" + rest, first.decode("ascii", "replace").strip(), used


def make_cache_calibrator(trt, algorithm: str, cache: bytes, batch_size: int):
    """An IInt8*Calibrator that serves ``cache`` and has no data: if TensorRT rejects the cache it gets no batch,
    and the build fails instead of calibrating on nothing."""
    base = getattr(trt, CALIBRATORS[algorithm], None)
    if base is None:
        raise BuildError(f"this TensorRT has no trt.{CALIBRATORS[algorithm]} (implicit INT8 was removed in 11.0): "
                         f"build the Q/DQ ONNX from 'sspnet calibrate' instead of --calib-cache")

    class CacheOnlyCalibrator(base):
        def __init__(self):
            base.__init__(self)            # a missing base __init__ gives "pure virtual function" errors
            self.asked_for_data = False

        def get_batch_size(self):
            return batch_size

        def get_batch(self, names):
            self.asked_for_data = True     # TensorRT did not accept the cache
            return None

        def read_calibration_cache(self):
            return cache

        def write_calibration_cache(self, data):
            return None

    return CacheOnlyCalibrator()


def _dtype_name(trt, dt) -> str:
    try:
        import numpy as np
        return np.dtype(trt.nptype(dt)).name
    except (TypeError, KeyError):
        return str(dt).split(".")[-1].lower()


def _io(trt, network) -> dict:
    def desc(t):
        return {"name": t.name, "dtype": _dtype_name(trt, t.dtype), "shape": [int(d) for d in t.shape]}
    return {"inputs": [desc(network.get_input(i)) for i in range(network.num_inputs)],
            "outputs": [desc(network.get_output(i)) for i in range(network.num_outputs)]}


def keep_layers_float(trt, network, plan: BuildPlan) -> list[str]:
    """Pin the layers of the nodes the calibration kept in float to FP16/FP32. A layer matches by its name (the
    ONNX parser names layers after nodes) or by producing one of the node's output tensors."""
    nodes = set(plan.keep_float_nodes)
    outputs = {o for n in nodes for o in plan.onnx.node_outputs.get(n, ())}
    dtype = trt.float16 if plan.keep_float_dtype == "fp16" else trt.float32
    floats = {trt.float32, trt.float16}
    pinned = []
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        outs = [layer.get_output(j) for j in range(layer.num_outputs)]
        if layer.name not in nodes and not any(o.name in outputs for o in outs):
            continue
        if not outs or any(o.dtype not in floats for o in outs):
            continue                       # shape/index layers keep their integer types
        layer.precision = dtype
        for j in range(layer.num_outputs):
            layer.set_output_type(j, dtype)
        pinned.append(layer.name)
    return pinned


def _builder(trt, logger):
    try:
        builder = trt.Builder(logger)
    except (TypeError, RuntimeError) as e:  # no GPU: "CUDA initialization failure", "factory function returned nullptr"
        raise BuildError(f"TensorRT could not create a builder ({e}): it needs a working NVIDIA GPU and driver; "
                         f"check `nvidia-smi`") from None
    if builder is None:
        raise BuildError("TensorRT could not create a builder: check the GPU and driver with `nvidia-smi`")
    return builder


def _parse(trt, builder, logger, plan: BuildPlan):
    f = plan.features
    flags = 0
    if f.explicit_batch_flag == "required":
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(plan.onnx.path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise BuildError(f"{plan.onnx.path}: TensorRT {f.version}'s ONNX parser failed: " + " | ".join(errors))
    return network, parser


def build_engine(plan: BuildPlan, gpu_index: int = 0) -> Path:
    """Build ``plan.out`` (+ ``plan.out.json``) and return its path. Raises BuildError with what to do."""
    trt = import_tensorrt()
    installed = parse_version(trt.__version__)
    if installed[:3] != plan.features.version[:3]:
        raise BuildError(f"the plan is for TensorRT {plan.features.version} but {installed} is installed")
    f = plan.features
    gpu = open_gpu(gpu_index)
    try:
        dev = gpu.device
    finally:
        gpu.close()
    key = device_key(dev.name, dev.compute_capability, str(f.version))
    logger = trt.Logger(trt.Logger.WARNING)
    builder = _builder(trt, logger)
    network, _parser = _parse(trt, builder, logger, plan)
    config = builder.create_builder_config()
    if plan.workspace_mb is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, plan.workspace_mb << 20)

    flags, pinned, calib_info, calibrator = [], [], None, None
    if f.weak_typing and plan.precision in ("fp16", "int8"):
        flags.append("FP16")
    if f.weak_typing and plan.precision == "int8":
        flags.append("INT8")
    if plan.quantization == "implicit-cache":
        data, original, used = calib_cache_bytes(plan)
        if original != used:
            _log(f"{plan.calib.path.name}: header {original!r} read as {used!r} (same scales, this TensorRT's header)")
        calibrator = make_cache_calibrator(trt, plan.calib.algorithm, data, (plan.batch or (plan.static_batch,))[0])
        config.int8_calibrator = calibrator
        calib_info = {"path": plan.calib.path.name, "sha256": plan.calib.sha256, "algorithm": plan.calib.algorithm,
                      "header": original, "header_used": used}
        if plan.keep_float_nodes:
            pinned = keep_layers_float(trt, network, plan)
            flags.append("PREFER_PRECISION_CONSTRAINTS")
    for name in flags:
        config.set_flag(getattr(trt.BuilderFlag, name))

    shapes = plan.profile_shapes()
    if shapes is not None:
        profile = builder.create_optimization_profile()
        profile.set_shape(network.get_input(0).name, *shapes)
        config.add_optimization_profile(profile)

    tc_path = timing_cache_path(plan.timing_cache, key)
    old = tc_path.read_bytes() if tc_path.is_file() else b""
    cache = config.create_timing_cache(old)
    if cache is None or not config.set_timing_cache(cache, False):
        _log(f"timing cache {tc_path} does not fit this TensorRT/GPU: starting an empty one")
        config.set_timing_cache(config.create_timing_cache(b""), False)

    if plan.dla_core is not None:
        if plan.dla_core >= builder.num_DLA_cores:
            raise BuildError(f"--dla {plan.dla_core}: this device has {builder.num_DLA_cores} DLA core(s)")
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = plan.dla_core
        config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
        flags.append("GPU_FALLBACK")

    _log(f"building {plan.out.name}: TensorRT {f.version}, {dev.name} (SM {dev.compute_capability}), "
         f"{plan.precision} ({plan.quantization}), builder flags "
         f"{flags or ('none: FP32' if f.weak_typing else 'none: strongly typed, precision from the graph')}")
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        why = ("TensorRT rejected the calibration cache and asked for calibration data (it has none)"
               if calibrator is not None and calibrator.asked_for_data else "see the TensorRT messages above")
        raise BuildError(f"TensorRT {f.version} could not build {plan.out.name}: {why}; {JETSON_HINT}")
    atomic_write_bytes(plan.out, bytes(memoryview(serialized)))
    atomic_write_bytes(tc_path, bytes(memoryview(config.get_timing_cache().serialize())))

    calib_section = ((plan.calib.manifest if plan.calib else None) or plan.onnx_manifest or {}).get("calibration")
    tensorrt = {
        "version": str(f.version), "version_full": trt.__version__, "builder": "python-api",
        "gpu": {"name": dev.name, "compute_capability": dev.compute_capability, "index": dev.index,
                "total_memory_mb": dev.total_memory_bytes >> 20},
        "jetson": read_tegra_release(),
        "precision": plan.precision, "quantization": plan.quantization, "strongly_typed": not f.weak_typing,
        "builder_flags": flags, "nodes_kept_float": list(plan.keep_float_nodes), "layers_kept_float": pinned,
        "keep_float_dtype": plan.keep_float_dtype if pinned else None,
        "profile": plan.profile_record(), "workspace_mb": plan.workspace_mb, "dla_core": plan.dla_core,
        "timing_cache": {"path": str(tc_path), "device_key": key},
        "onnx": {"path": plan.onnx.path.name, "sha256": sha256_file(plan.onnx.path)},
        "calibration_cache": calib_info,
        "calibration_hash": (calib_info or {}).get("sha256") or (calib_section or {}).get("hash"),
        "trtexec": trtexec_line(plan, tc_path), "notes": list(plan.warnings),
    }
    write_manifest(plan.out, engine_fields(plan.onnx_manifest, tensorrt, _io(trt, network)), parent=plan.onnx.path)
    return plan.out
