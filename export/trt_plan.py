"""What to build: one validated plan per ``sspnet build`` call, shared by the Python builder and the trtexec line.

The plan reads the ONNX (input name/shape, Q/DQ or FP16 graph), the sidecar manifests of the ONNX and of the
calibration cache, and the TensorRT feature table; every option a version does not support is an error that says
what to do instead. Nothing is silently changed (STYLE.md habit 13).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from sspnet.export.trt_versions import TrtFeatures
from sspnet.manifest import manifest_path, read_manifest, sha256_file
from sspnet.preprocess import FullFrame, Preprocess

PRECISIONS = ("fp32", "fp16", "int8")
DEFAULT_BATCH = (1, 8, 16)      # tiles per call: a 1080p frame at scale 1 is 12 tiles of 640x512
# whole frames per call: TensorRT reserves activation memory for max batch x the largest frame (16 4K frames)
FULL_FRAME_BATCH = (1, 1, 1)
OPT_FRAME_WH = (1920, 1080)     # the frame the full-frame profile is tuned for, before the manifest's scale
QUANT_OPS = {"QuantizeLinear", "DequantizeLinear"}
# calibration-cache header algorithm (line 1: TRT-<version>-<algorithm>) → the TensorRT calibrator class that reads it
CALIBRATORS = {"EntropyCalibration2": "IInt8EntropyCalibrator2", "MinMaxCalibration": "IInt8MinMaxCalibrator",
               "EntropyCalibration": "IInt8EntropyCalibrator"}


class PlanError(ValueError):
    """A request that cannot be built as asked; the message says what to do."""


@dataclass(frozen=True)
class OnnxInfo:
    path: Path
    input_name: str
    input_shape: tuple          # dims as int, or None where symbolic
    input_dtype: str            # "float32" | "float16"
    output_names: tuple
    has_qdq: bool
    fp16_graph: bool            # FP16 input, or FP16 initializers outweigh FP32 ones
    opset: int
    node_outputs: dict          # node name → tuple of output tensor names


@dataclass(frozen=True)
class CalibCache:
    path: Path
    version_int: int
    algorithm: str              # key of CALIBRATORS
    sha256: str
    manifest: dict | None


@dataclass(frozen=True)
class FrameProfile:
    """Height and width range of a full-frame engine's profile, each (w, h) px. Defaults (``frame_profile``):
    min = the tile size (frames beyond max run as tiles through the same profile; the backend pads a smaller
    whole frame up to min), opt = a 1080p frame at the manifest's scale padded to ``multiple`` and clipped to
    [min, max], max = the ONNX manifest's ``input.full_frame`` rounded down to ``multiple``."""
    min_wh: tuple
    opt_wh: tuple
    max_wh: tuple
    multiple: int

    def accepted(self) -> dict:
        """The engine's ``input.full_frame``: the largest whole frame it takes, in the ONNX manifest's form."""
        return FullFrame(*self.max_wh, self.multiple).to_dict()


@dataclass(frozen=True)
class BuildPlan:
    onnx: OnnxInfo
    out: Path
    precision: str                          # fp32 | fp16 | int8
    quantization: str                       # none | qdq | implicit-cache
    features: TrtFeatures
    batch: tuple | None                     # (min, opt, max) for a dynamic batch, None for a static one
    static_batch: int | None
    full_frame: FrameProfile | None = None  # dynamic height and width (sspnet export --full-frame)
    workspace_mb: int | None = None
    timing_cache: Path | None = None
    dla_core: int | None = None
    calib: CalibCache | None = None
    keep_float_nodes: tuple = ()            # ONNX nodes the calibration report kept in float
    keep_float_dtype: str = "fp16"
    onnx_manifest: dict | None = None
    warnings: tuple = field(default=())

    def profile_shapes(self) -> tuple | None:
        """(min, opt, max) input shapes [N, C, H, W] of the one optimization profile; None for a static input."""
        if self.batch is None and self.full_frame is None:
            return None
        batches = self.batch or (self.static_batch,) * 3
        if self.full_frame is None:
            return tuple((b,) + tuple(self.onnx.input_shape[1:]) for b in batches)
        f, c = self.full_frame, self.onnx.input_shape[1]
        return tuple((b, c, h, w) for b, (w, h) in zip(batches, (f.min_wh, f.opt_wh, f.max_wh)))

    def profile_record(self) -> dict | None:
        """The engine manifest's ``tensorrt.profile``: the shapes TensorRT was given, and for a full-frame engine
        the ``input.full_frame`` the runtime reads."""
        shapes = self.profile_shapes()
        if shapes is None:
            return None
        return {"input": self.onnx.input_name, "batch": list(self.batch) if self.batch else None,
                "min": list(shapes[0]), "opt": list(shapes[1]), "max": list(shapes[2]),
                "full_frame": self.full_frame.accepted() if self.full_frame else None}


def _dims(value_info) -> tuple:
    dims = value_info.type.tensor_type.shape.dim
    return tuple(d.dim_value if d.HasField("dim_value") else None for d in dims)


def inspect_onnx(path: str | Path) -> OnnxInfo:
    """Read the graph structure (not the external weights) of an ONNX file."""
    import onnx
    from onnx import TensorProto

    path = Path(path)
    if not path.is_file():
        raise PlanError(f"{path}: no such ONNX file (make one with 'sspnet export' or 'sspnet calibrate')")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # onnx raises DecodeError/ValueError/OSError depending on the damage
        raise PlanError(f"{path}: not a readable ONNX model: {e}") from None
    g = model.graph
    init_names = {t.name for t in g.initializer}
    inputs = [i for i in g.input if i.name not in init_names]
    if len(inputs) != 1:
        raise PlanError(f"{path}: expected one image input, found {[i.name for i in inputs]}")
    elem = inputs[0].type.tensor_type.elem_type
    sizes = {TensorProto.FLOAT: 0, TensorProto.FLOAT16: 0}
    for t in g.initializer:
        if t.data_type in sizes:
            n = 1
            for d in t.dims:
                n *= d
            sizes[t.data_type] += n
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    return OnnxInfo(
        path=path, input_name=inputs[0].name, input_shape=_dims(inputs[0]),
        input_dtype="float16" if elem == TensorProto.FLOAT16 else "float32",
        output_names=tuple(o.name for o in g.output),
        has_qdq=any(n.op_type in QUANT_OPS for n in g.node),
        fp16_graph=elem == TensorProto.FLOAT16 or sizes[TensorProto.FLOAT16] > sizes[TensorProto.FLOAT],
        opset=opset, node_outputs={n.name: tuple(n.output) for n in g.node if n.name})


def parse_batch(text: str) -> tuple:
    """'1:8:16' → (1, 8, 16); 'N' → (N, N, N)."""
    parts = str(text).split(":")
    if len(parts) not in (1, 3) or not all(p.strip().isdigit() for p in parts):
        raise PlanError(f"--batch {text!r}: expected min:opt:max (e.g. 1:8:16) or one number")
    b = tuple(int(p) for p in parts) * (3 if len(parts) == 1 else 1)
    if not 1 <= b[0] <= b[1] <= b[2]:
        raise PlanError(f"--batch {text!r}: need 1 <= min <= opt <= max")
    return b


def _wh(wh: tuple) -> str:
    return f"{wh[0]}x{wh[1]}"


def _clip(wh: tuple, lo: tuple, hi: tuple) -> tuple:
    return tuple(min(max(v, a), b) for v, a, b in zip(wh, lo, hi))


def _manifest_frame(info: OnnxInfo, manifest: dict | None) -> tuple:
    """(FullFrame, tile (w, h), scale_xy) from the ONNX manifest of a full-frame ONNX, or a PlanError saying why not."""
    where = manifest_path(info.path).name
    d = ((manifest or {}).get("input") or {}).get("full_frame")
    if d is None:
        raise PlanError(f"{info.path.name}: input {info.input_name} {list(info.input_shape)} has dynamic height and "
                        f"width, but {where} has no input.full_frame to size the profile from; re-export with "
                        f"'sspnet export --full-frame WxH' (it writes both)")
    try:
        ff = FullFrame.from_dict(d)
        tile = (int(manifest["input"]["width"]), int(manifest["input"]["height"]))
        scale_xy = Preprocess.from_dict(manifest.get("preprocess") or {}).scale_xy
    except (KeyError, TypeError, ValueError) as e:
        raise PlanError(f"{where}: input.full_frame or the tile size is malformed ({e!r}); re-export the "
                        f"model") from None
    return ff, tile, scale_xy


def frame_profile(info: OnnxInfo, manifest: dict | None, min_wh: tuple | None = None, opt_wh: tuple | None = None,
                  max_wh: tuple | None = None) -> FrameProfile | None:
    """The height/width profile of a full-frame ONNX (dynamic H and W), None for a fixed-size one. ``*_wh``:
    --full-frame-min/-opt/-max overrides, (w, h) px; the defaults are FrameProfile's."""
    given = [f"--full-frame-{k}" for k, v in (("min", min_wh), ("opt", opt_wh), ("max", max_wh)) if v is not None]
    shape = info.input_shape
    if all(d is not None for d in shape[1:]):
        if given:
            raise PlanError(f"{', '.join(given)}: {info.path.name} has a fixed input size {list(shape)}; these set "
                            f"the profile of a full-frame ONNX ('sspnet export --full-frame')")
        if ((manifest or {}).get("input") or {}).get("full_frame") is not None:
            raise PlanError(f"{manifest_path(info.path).name}: input.full_frame, but {info.path.name}'s input "
                            f"{list(shape)} has a fixed height and width; the sidecar does not describe this model")
        return None
    if len(shape) != 4 or shape[1] is None or shape[2] is not None or shape[3] is not None:
        raise PlanError(f"{info.path.name}: input {info.input_name} {list(shape)}: only the batch, or height and "
                        f"width together ('sspnet export --full-frame'), may be dynamic")
    ff, tile, scale_xy = _manifest_frame(info, manifest)
    m = ff.multiple
    top = (ff.max_w // m * m, ff.max_h // m * m)        # the largest padded frame ff.fits() accepts
    lo, hi = min_wh or tile, max_wh or top
    frame = FullFrame.of_frame(*OPT_FRAME_WH, scale_xy, m)
    opt = opt_wh or _clip((frame.max_w, frame.max_h), lo, hi)
    _check_frames(info.path.name, ff, tile, top, lo, opt, hi)
    return FrameProfile(min_wh=tuple(lo), opt_wh=tuple(opt), max_wh=tuple(hi), multiple=m)


def _check_frames(name: str, ff: FullFrame, tile: tuple, top: tuple, lo: tuple, opt: tuple, hi: tuple) -> None:
    """A PlanError unless min <= tile <= max, min <= opt <= max <= the export's maximum ``top``, and opt and max
    are sizes a padded whole frame can have (multiples of ``ff.multiple``)."""
    for key, wh in (("max", hi), ("opt", opt)):
        if ff.padded(*wh) != tuple(wh):
            raise PlanError(f"full-frame {key} {_wh(wh)}: whole frames are padded to multiples of {ff.multiple} "
                            f"(input.full_frame.multiple); use --full-frame-{key} {_wh(ff.padded(*wh))}")
    if hi[0] > top[0] or hi[1] > top[1]:
        raise PlanError(f"--full-frame-max {_wh(hi)}: {name} was exported for whole frames up to {_wh(top)}; "
                        f"re-export with 'sspnet export --full-frame WxH' for larger ones")
    if not all(a <= t <= b for a, t, b in zip(lo, tile, hi)):
        raise PlanError(f"full-frame min {_wh(lo)}, max {_wh(hi)}: the tile size {_wh(tile)} must lie between "
                        f"them (frames beyond the maximum run as tiles through the same profile)")
    if not all(a <= o <= b for a, o, b in zip(lo, opt, hi)):
        raise PlanError(f"full-frame min {_wh(lo)}, opt {_wh(opt)}, max {_wh(hi)}: need min <= opt <= max in "
                        f"width and height (set them with --full-frame-min/-opt/-max WxH)")


def read_calib_cache(path: str | Path) -> CalibCache:
    path = Path(path)
    if not path.is_file():
        raise PlanError(f"--calib-cache {path}: no such file (write one with 'sspnet calibrate ... --trt-cache')")
    first = path.read_bytes().split(b"\n", 1)[0].decode("ascii", "replace").strip()
    m = re.fullmatch(r"TRT-(\d+)-(\w+)", first)
    if not m or m.group(2) not in CALIBRATORS:
        raise PlanError(f"{path}:1: header {first!r} is not a TensorRT calibration cache header "
                        f"(expected TRT-<version>-{'|'.join(CALIBRATORS)})")
    manifest = read_manifest(path) if manifest_path(path).is_file() else None
    return CalibCache(path=path, version_int=int(m.group(1)), algorithm=m.group(2), sha256=sha256_file(path),
                      manifest=manifest)


def _excluded_nodes(manifest: dict | None) -> tuple:
    nodes = ((manifest or {}).get("calibration") or {}).get("excluded_nodes") or []
    return tuple(n["name"] if isinstance(n, dict) else str(n) for n in nodes)


def _check_cache_matches(cache: CalibCache, onnx_path: Path) -> None:
    m = cache.manifest
    if m is None:
        return
    want = sha256_file(onnx_path)
    made_for = [v for v in ((m.get("parent") or {}).get("sha256"), (m.get("calibration") or {}).get("onnx_sha256"))
                if v]
    if made_for and want not in made_for:
        raise PlanError(f"--calib-cache {cache.path}: its manifest says it was calibrated on another ONNX "
                        f"(sha256 {made_for[0][:12]}…, {onnx_path.name} is {want[:12]}…); a stale cache is never "
                        f"reused: recalibrate with 'sspnet calibrate --onnx {onnx_path} --trt-cache {cache.path}'")


def _resolve_precision(info: OnnxInfo, precision: str | None, cache: CalibCache | None) -> str:
    if precision is None:
        return "int8" if info.has_qdq or cache else "fp16" if info.fp16_graph else "fp32"
    if precision not in PRECISIONS:
        raise PlanError(f"--precision {precision!r}: choose from {', '.join(PRECISIONS)}")
    if info.has_qdq and precision != "int8":
        raise PlanError(f"{info.path.name} is an INT8 Q/DQ graph; build it with --precision int8, or pass the "
                        f"FP32/FP16 ONNX for --precision {precision}")
    if info.fp16_graph and precision == "fp32":
        raise PlanError(f"{info.path.name} is an FP16 graph; pass the FP32 ONNX for --precision fp32")
    return precision


def plan_build(onnx: str | Path, out: str | Path, *, features: TrtFeatures, precision: str | None = None,
               calib_cache: str | Path | None = None, batch: str | None = None, workspace_mb: int | None = None,
               timing_cache: str | Path | None = None, dla_core: int | None = None,
               full_frame_min: tuple | None = None, full_frame_opt: tuple | None = None,
               full_frame_max: tuple | None = None, preview: bool = False) -> BuildPlan:
    """Validate a build request against the ONNX and the TensorRT version. ``preview`` (for --print-trtexec) turns
    the graph-content checks that only matter at build time into warnings; option errors stay errors.
    ``full_frame_*``: (w, h) overrides of a full-frame ONNX's height/width profile (see ``frame_profile``)."""
    info = inspect_onnx(onnx)
    cache = read_calib_cache(calib_cache) if calib_cache is not None else None
    v = features.version
    warnings: list[str] = list(features.notes)
    if cache is not None and not features.implicit_int8:
        raise PlanError(f"--calib-cache: TensorRT {v} removed implicit INT8 calibration (11.0); build INT8 from the "
                        f"Q/DQ ONNX that 'sspnet calibrate' writes (model.int8.onnx) and drop --calib-cache")
    precision = _resolve_precision(info, precision, cache)
    if cache is not None and precision != "int8":
        raise PlanError(f"--calib-cache applies to --precision int8 only (got --precision {precision})")
    if cache is not None and info.has_qdq:
        raise PlanError(f"{info.path.name} already carries its INT8 scales as Q/DQ nodes; drop --calib-cache")

    def graph_problem(msg: str) -> None:
        if not preview:
            raise PlanError(msg)
        warnings.append(msg)

    quantization = "none"
    if precision == "int8":
        if info.has_qdq:
            quantization = "qdq"
        elif cache is not None:
            quantization = "implicit-cache"
            _check_cache_matches(cache, info.path)
        elif features.implicit_int8:
            raise PlanError(f"--precision int8 with {info.path.name} (no Q/DQ nodes) needs --calib-cache C, or pass "
                            f"the Q/DQ ONNX from 'sspnet calibrate' (model.int8.onnx)")
        else:
            graph_problem(f"{info.path.name} has no Q/DQ nodes: TensorRT {v} is strongly typed and would build it "
                          f"in FP32; for INT8 pass the Q/DQ ONNX from 'sspnet calibrate' (model.int8.onnx)")
    if precision == "fp16" and not features.weak_typing and not info.fp16_graph:
        graph_problem(f"{info.path.name} is an FP32 graph: TensorRT {v} is strongly typed and would build it in "
                      f"FP32; export an FP16 ONNX with 'sspnet export --fp16' (or ModelOpt AutoCast)")
    if quantization == "qdq" and info.opset < 13:
        raise PlanError(f"{info.path.name}: opset {info.opset} < 13; TensorRT's explicit quantization needs "
                        f"per-channel Q/DQ from opset 13")

    onnx_manifest = read_manifest(info.path) if manifest_path(info.path).is_file() else None
    frames = frame_profile(info, onnx_manifest, full_frame_min, full_frame_opt, full_frame_max)
    shape = info.input_shape
    requested = parse_batch(batch) if batch is not None else None
    if shape and shape[0] is not None:
        static = shape[0]
        if requested is not None and requested != (static,) * 3:
            raise PlanError(f"--batch {batch}: {info.path.name} has a fixed batch of {static}; re-export with "
                            f"'sspnet export --dynamic-batch' for a batch profile")
        profile = None
    else:
        static, profile = None, requested or (FULL_FRAME_BATCH if frames else DEFAULT_BATCH)

    if workspace_mb is not None and workspace_mb <= 0:
        raise PlanError(f"--workspace {workspace_mb}: must be a positive number of MiB")
    if dla_core is not None:
        if dla_core < 0:
            raise PlanError(f"--dla {dla_core}: DLA core index must be >= 0")
        if precision == "fp32":
            raise PlanError("--dla: DLA runs FP16 or INT8 only; pass --precision fp16 or int8")
        if cache is not None and cache.algorithm != "EntropyCalibration2":
            raise PlanError(f"--dla with {cache.path.name}: DLA needs an EntropyCalibration2 cache, this one is "
                            f"{cache.algorithm}; recalibrate with --method entropy")

    keep = _excluded_nodes(cache.manifest if cache is not None else None) or _excluded_nodes(onnx_manifest)
    if keep:
        unknown = [n for n in keep if n not in info.node_outputs]
        if unknown:
            warnings.append(f"nodes kept in float by the calibration report are not in {info.path.name}: {unknown}")
    return BuildPlan(onnx=info, out=Path(out), precision=precision, quantization=quantization, features=features,
                     batch=profile, static_batch=static, full_frame=frames, workspace_mb=workspace_mb,
                     timing_cache=Path(timing_cache) if timing_cache is not None else None, dla_core=dla_core,
                     calib=cache, keep_float_nodes=keep, onnx_manifest=onnx_manifest, warnings=tuple(warnings))
