"""TensorRT calibration cache (implicit INT8, TensorRT ≤ 10; DeepStream ``int8-calib-file``; trtexec ``--calib``).

Format (what TensorRT's IInt8 calibrators read and write): ASCII; line 1 ``TRT-<NV_TENSORRT_VERSION>-<algorithm>``, e.g.
``TRT-100300-EntropyCalibration2``; then one ``<tensor name>: <8 hex digits>`` line per tensor, the hex being the
big-endian IEEE-754 float32 **scale**, scale = amax / 127 (symmetric int8). Tensor names are the FP32 ONNX's (the
exporter's stable names), so the cache fits the ONNX it was calibrated on and nothing else.

The scales come from the same calibration as the Q/DQ ONNX: for the TensorRT-form Q/DQ model they are its
activation Q/DQ scales themselves (ONNX Runtime's quantizer may give a tensor the range of the activation that
follows it, e.g. a conv feeding ReLU6; the cache then carries the same scale); for the CPU form (asymmetric uint8)
amax = max(|lowest|, |highest|) of the stored range of each tensor the model quantizes. ``import_ranges`` turns a cache back into ranges for
``qdq_from_ranges`` (the bridge to explicit Q/DQ on TensorRT ≥ 10/11, as ModelOpt's ``import_scales_from_calib_cache``
does). The sidecar ``<cache>.json`` holds the calibration key; ``check_cache`` refuses a stale one.
"""
from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sspnet.manifest import atomic_write_bytes, manifest_path, read_manifest, write_manifest

# calibration method → header algorithm (TensorRT has no percentile calibrator: its cache reads as Entropy2)
ALGORITHMS = {"entropy": "EntropyCalibration2", "percentile": "EntropyCalibration2", "minmax": "MinMaxCalibration"}
KNOWN_ALGORITHMS = ("EntropyCalibration2", "EntropyCalibration", "MinMaxCalibration", "LegacyCalibration")
HEADER_RE = re.compile(r"TRT-(\d+)-([A-Za-z0-9]+)")
LINE_RE = re.compile(r"(.+): ([0-9a-fA-F]{8})")


class CacheFormatError(ValueError):
    """Not a TensorRT calibration cache; the message names file and line."""


def trt_version_int(version: str) -> int:
    """NV_TENSORRT_VERSION: '10.3' → 100300 (major·10000 + minor·100 + patch from 10.0), '8.6.1' → 8601."""
    m = re.fullmatch(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:\.\d+)?", str(version).strip())
    if not m:
        raise ValueError(f"--trt-version {version!r}: expected MAJOR.MINOR[.PATCH], e.g. 10.3 or 8.6.1")
    major, minor, patch = (int(g or 0) for g in m.groups())
    if major < 7 or minor > 99 or patch > 99:
        raise ValueError(f"--trt-version {version!r}: TensorRT 7.x-10.x writes calibration caches")
    return major * 10000 + minor * 100 + patch if major >= 10 else major * 1000 + minor * 100 + patch


def scale_to_hex(scale: float) -> str:
    """float32 scale → 8 lowercase hex digits of its big-endian bytes (1.0 → '3f800000')."""
    return struct.pack(">f", scale).hex()


def hex_to_scale(text: str) -> float:
    return struct.unpack(">f", bytes.fromhex(text))[0]


@dataclass
class TrtCache:
    version_int: int
    algorithm: str
    scales: dict = field(default_factory=dict)     # tensor name → scale (amax / 127)

    @property
    def header(self) -> str:
        return f"TRT-{self.version_int}-{self.algorithm}"

    def amax(self) -> dict[str, float]:
        return {k: v * 127.0 for k, v in self.scales.items()}

    def text(self) -> str:
        return "\n".join([self.header] + [f"{k}: {scale_to_hex(v)}" for k, v in self.scales.items()]) + "\n"


def cache_from_amax(amax_by_tensor: dict[str, float], trt_version: str, method: str) -> TrtCache:
    """Scales amax/127 per tensor (zero or non-finite ranges are left out: TensorRT then keeps that tensor in
    higher precision)."""
    if method not in ALGORITHMS:
        raise ValueError(f"method {method!r}: choose from {', '.join(ALGORITHMS)}")
    scales = {k: float(a) / 127.0 for k, a in amax_by_tensor.items() if math.isfinite(a) and a > 0}
    return TrtCache(trt_version_int(trt_version), ALGORITHMS[method], scales)


def amax_from_ranges(ranges, tensors) -> dict[str, float]:
    """amax = max(|lowest|, |highest|) of the ORT ranges, for ``tensors`` (the ones the Q/DQ model quantizes)."""
    out = {}
    for name in tensors:
        if name in ranges.data:
            lo, hi = ranges.data[name].range_value
            out[name] = float(max(np.abs(np.asarray(lo, np.float64)).max(), np.abs(np.asarray(hi, np.float64)).max()))
    return out


def read_trt_cache(path: str | Path) -> TrtCache:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: TensorRT calibration cache not found")
    lines = path.read_text(encoding="ascii", errors="replace").splitlines()
    m = HEADER_RE.fullmatch(lines[0].strip()) if lines else None
    if not m or m.group(2) not in KNOWN_ALGORITHMS:
        raise CacheFormatError(f"{path}:1: {lines[0].strip() if lines else ''!r} is not a TensorRT calibration "
                               f"cache header (TRT-<version>-{'|'.join(KNOWN_ALGORITHMS)})")
    cache = TrtCache(int(m.group(1)), m.group(2))
    for no, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        lm = LINE_RE.fullmatch(line.strip())
        if not lm:
            raise CacheFormatError(f"{path}:{no}: expected '<tensor>: <8 hex digits>', got {line.strip()!r}")
        cache.scales[lm.group(1)] = hex_to_scale(lm.group(2))
    return cache


def write_trt_cache(path: str | Path, cache: TrtCache, calibration: dict, parent: str | Path) -> Path:
    """Write the cache and its sidecar (``calibration`` section: key fields, excluded nodes; parent = FP32 ONNX)."""
    path = Path(path)
    atomic_write_bytes(path, cache.text().encode("ascii"))
    write_manifest(path, {"artifact": "trt-calibration-cache", "header": cache.header, "tensors": len(cache.scales),
                          "calibration": calibration,
                          "use": "TensorRT <= 10 implicit INT8 (trtexec --int8 --calib, DeepStream int8-calib-file, "
                                 "sspnet build --calib-cache) with the FP32 ONNX it names as parent"},
                   parent=parent)
    return path


def check_cache(path: str | Path, expected: dict) -> TrtCache:
    """Read a cache whose sidecar key must equal ``expected`` on every field ``expected`` gives; a stale or
    unkeyed cache raises (never reused silently)."""
    from sspnet.calibration.ranges import StaleCacheError
    cache = read_trt_cache(path)
    if not manifest_path(path).is_file():
        raise StaleCacheError(f"{path}: no sidecar {manifest_path(path).name} saying what the cache was calibrated "
                              f"on; recalibrate with 'sspnet calibrate --trt-cache {path}'")
    stored = (read_manifest(path).get("calibration") or {})
    differ = [k for k, v in expected.items() if stored.get(k) != v]
    if differ:
        raise StaleCacheError(f"{path}: stale calibration cache: {', '.join(differ)} differ(s) from this model/data; "
                              f"recalibrate with 'sspnet calibrate --trt-cache {path}'")
    return cache


def import_ranges(cache: TrtCache):
    """The cache as ORT ranges ([-amax, amax] per tensor) for ``qdq_from_ranges``: its scales become Q/DQ scales."""
    from sspnet.calibration.ranges import symmetric_ranges
    return symmetric_ranges(cache.amax())
