"""What each TensorRT version means for building an engine: one feature table for 8.5/8.6, 10.x and 11.x, a version
parser, and detection from an installed ``tensorrt`` module (the table, corrected by probing the module: never
assume, look).

Facts (TensorRT migration guides 8.x→10.x and 10.x→11.x, TensorRT changelog):
- 8.5 added the name-based I/O API (``num_io_tensors``, ``set_tensor_address``, ``set_input_shape``,
  ``execute_async_v3``); the binding API and ``execute_async_v2`` were removed in 10.0.
- Implicit INT8 (``IInt8*Calibrator``, ``config.int8_calibrator``) is deprecated from 10.1 and removed in 11.0,
  together with ``BuilderFlag.FP16/INT8/OBEY_PRECISION_CONSTRAINTS/PREFER_PRECISION_CONSTRAINTS``: 11.x networks
  are always strongly typed, precision comes from the ONNX (Q/DQ for INT8, FP16 tensors for FP16).
- ``EXPLICIT_BATCH`` is required on 8.x, ignored from 10.0. ``STRONGLY_TYPED`` is optional on 10.x, always on in 11.
- trtexec 11 removed ``--int8 --fp16 --best --calib``; ``--stronglyTyped`` is no longer needed there.
- Calibration-cache headers carry NV_TENSORRT_VERSION: major*1000+minor*100+patch on 8.x (``TRT-8601-...``),
  major*10000+minor*100+patch from 10.0 (``TRT-100300-...``).
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from types import ModuleType
from typing import NamedTuple

LOWEST = (8, 5)        # the name-based I/O API exists from 8.5; the project targets 8.6–11.x
KNOWN_MAJORS = (8, 10, 11)

INSTALL_HINT = ("install TensorRT's Python bindings: on Jetson (JetPack 6 → TensorRT 10.3) "
                "'sudo apt install python3-libnvinfer' and a venv made with --system-site-packages; on a desktop "
                "GPU 'pip install tensorrt' (11.x) or 'pip install \"tensorrt<11\"' (10.x, keeps implicit INT8)")


class TrtVersion(NamedTuple):
    major: int
    minor: int
    patch: int = 0
    build: int = 0

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    @property
    def nv_version_int(self) -> int:
        """NV_TENSORRT_VERSION as written in calibration-cache headers."""
        if self.major >= 10:
            return self.major * 10000 + self.minor * 100 + self.patch
        return self.major * 1000 + self.minor * 100 + self.patch


def parse_version(text: str) -> TrtVersion:
    """'10.3', '10.3.0.30', '8.6.1.post1', '11.4.0.106' → TrtVersion. Anything else is a ValueError."""
    m = re.fullmatch(r"\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:\.(\d+))?(?:[.+\-]?(?:post|dev|rc|a|b)\w*)?\s*", str(text))
    if not m:
        raise ValueError(f"not a TensorRT version: {text!r} (expected e.g. 8.6, 10.3 or 11.4.0.106)")
    major, minor, patch, build = (int(g) if g is not None else 0 for g in m.groups())
    return TrtVersion(major, minor, patch, build)


@dataclass(frozen=True)
class TrtexecFlags:
    """Which trtexec options the printed command may use in this version."""
    int8: bool                    # --int8 (gone in 11)
    layer_precisions: bool        # --layerPrecisions / --precisionConstraints (gone in 11)


@dataclass(frozen=True)
class TrtFeatures:
    """What the engine builder and the trtexec line need to know about a version (the runtime TensorRT backend
    probes the module it loads for itself)."""
    version: TrtVersion
    family: str                   # "8.x" | "10.x" | "11.x"
    explicit_batch_flag: str      # "required" | "ignored"
    builder_flag_fp16: bool       # BuilderFlag.FP16 (weakly typed networks; removed in 11)
    builder_flag_int8: bool
    int8_calibrators: str         # "available" | "deprecated" | "removed"
    trtexec: TrtexecFlags
    notes: tuple = field(default=())  # probe results that disagreed with the table

    @property
    def implicit_int8(self) -> bool:
        """FP32 ONNX + calibration cache through an IInt8 calibrator (TensorRT ≤ 10)."""
        return self.int8_calibrators != "removed" and self.builder_flag_int8

    @property
    def weak_typing(self) -> bool:
        """Builder flags choose precision (≤ 10); False means the graph's types decide (11)."""
        return self.builder_flag_fp16

    def calib_cache_header(self, algorithm: str = "EntropyCalibration2") -> str:
        return f"TRT-{self.version.nv_version_int}-{algorithm}"


# The table. One row per family; features() picks the row and applies the minor-version rules below it.
_FAMILY_ROWS = {
    "8.x": dict(explicit_batch_flag="required", builder_flag_fp16=True, builder_flag_int8=True,
                int8_calibrators="available", trtexec=TrtexecFlags(int8=True, layer_precisions=True)),
    "10.x": dict(explicit_batch_flag="ignored", builder_flag_fp16=True, builder_flag_int8=True,
                 int8_calibrators="deprecated", trtexec=TrtexecFlags(int8=True, layer_precisions=True)),
    "11.x": dict(explicit_batch_flag="ignored", builder_flag_fp16=False, builder_flag_int8=False,
                 int8_calibrators="removed", trtexec=TrtexecFlags(int8=False, layer_precisions=False)),
}


def features(version: str | TrtVersion) -> TrtFeatures:
    """The table row for ``version``. Versions below 8.5 and the 9.x limited releases are refused."""
    v = version if isinstance(version, TrtVersion) else parse_version(version)
    if (v.major, v.minor) < LOWEST:
        raise ValueError(f"TensorRT {v} is older than 8.5: the name-based I/O API this project uses does not exist "
                         f"there; use TensorRT 8.6, 10.x or 11.x")
    if v.major == 9:
        raise ValueError(f"TensorRT {v} (9.x) was a limited release for LLM work and is not in the feature table; "
                         f"use TensorRT 8.6, 10.x or 11.x")
    family = "8.x" if v.major == 8 else "10.x" if v.major == 10 else "11.x"
    row = dict(_FAMILY_ROWS[family])
    notes = ()
    if v.major == 10 and v.minor == 0:
        row["int8_calibrators"] = "available"        # deprecated from 10.1
    if v.major > 11:
        notes = (f"TensorRT {v} is newer than the feature table (8.6/10.x/11.x): assuming the 11.x rules",)
    return TrtFeatures(version=v, family=family, notes=notes, **row)


def _has(obj, name: str) -> bool:
    return obj is not None and hasattr(obj, name)


def probe(trt: ModuleType) -> dict:
    """Look at what the installed module really exposes (TensorRT#4357: CalibrationAlgoType was missing in a 10.8)."""
    flag = getattr(trt, "BuilderFlag", None)
    ncf = getattr(trt, "NetworkDefinitionCreationFlag", None)
    return {
        "builder_flag_fp16": _has(flag, "FP16"),
        "builder_flag_int8": _has(flag, "INT8"),
        "calibrator_class": hasattr(trt, "IInt8EntropyCalibrator2"),
        "explicit_batch_flag": _has(ncf, "EXPLICIT_BATCH"),
    }


def apply_probe(f: TrtFeatures, found: dict) -> TrtFeatures:
    """Trust the module over the table where they disagree, and say so in ``notes``."""
    changes, notes = {}, list(f.notes)
    for key in ("builder_flag_fp16", "builder_flag_int8"):
        if key in found and found[key] != getattr(f, key):
            changes[key] = found[key]
            notes.append(f"{key}: table says {getattr(f, key)}, module says {found[key]}")
    if "calibrator_class" in found and not found["calibrator_class"] and f.int8_calibrators != "removed":
        changes["int8_calibrators"] = "removed"
        notes.append("int8_calibrators: IInt8EntropyCalibrator2 is missing from this module")
    if "explicit_batch_flag" in found and f.explicit_batch_flag == "required" and not found["explicit_batch_flag"]:
        changes["explicit_batch_flag"] = "ignored"
        notes.append("explicit_batch_flag: NetworkDefinitionCreationFlag.EXPLICIT_BATCH is missing")
    return dataclasses.replace(f, notes=tuple(notes), **changes) if changes else f


class TensorRTMissing(ImportError):
    pass


def import_tensorrt() -> ModuleType:
    """Import ``tensorrt`` or raise TensorRTMissing saying how to install it (a half-installed wheel raises
    ImportError, not ModuleNotFoundError: both land here)."""
    try:
        import tensorrt
    except ImportError as e:
        raise TensorRTMissing(f"TensorRT is not importable ({e}); {INSTALL_HINT}") from None
    return tensorrt


def detect(trt: ModuleType | None = None) -> TrtFeatures:
    """Features of the installed TensorRT (or of ``trt``): the table row for its ``__version__``, then probed."""
    trt = import_tensorrt() if trt is None else trt
    version = getattr(trt, "__version__", None)
    if version is None:
        raise TensorRTMissing(f"the module {getattr(trt, '__file__', trt)!r} has no __version__: not TensorRT's "
                              f"Python bindings; {INSTALL_HINT}")
    return apply_probe(features(version), probe(trt))

