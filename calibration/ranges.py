"""Activation ranges: collected once with ONNX Runtime's calibrators, stored with the key they depend on.

``collect_ranges`` drives ``onnxruntime.quantization.calibrate.create_calibrator`` (MinMax, Entropy or Percentile;
ORT's own histogram code, nothing hand-written) over the calibration tiles in small chunks, so memory stays bounded
(ORT keeps every intermediate output of a ``collect_data`` call; the histograms and min/max merge across calls).

The result is stored in ONNX Runtime's calibration-cache JSON (``save_tensors_data``; ``quantize_static`` reads it
through ``calibration_cache_path``) and a sidecar manifest holding the cache key (ONNX sha256, pre-processing
digest, image hash, count, method, calibrator options, ONNX Runtime version). ONNX Runtime itself would reuse any
cache file it finds; ``load_cached_ranges`` never does that silently: a cache whose key differs is reported as stale,
naming the fields that changed, and the caller recalibrates or fails.
"""
from __future__ import annotations

import contextlib
import io
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sspnet.manifest import manifest_path, read_manifest, write_manifest

METHODS = ("entropy", "minmax", "percentile")
# ONNX Runtime calibrator options per method (its defaults, written out so that they are part of the cache key)
CALIBRATOR_OPTIONS = {
    # no max_intermediate_outputs: ORT 1.30 drops the collected outputs when that count is reached without merging
    # them into the range; memory is bounded anyway because each collect_data call gets at most CHUNK_TILES tiles
    "minmax": {"symmetric": False},
    "entropy": {"symmetric": False, "num_bins": 128, "num_quantized_bins": 128},
    "percentile": {"symmetric": False, "num_bins": 2048, "percentile": 99.999},
}
CHUNK_TILES = 4     # tiles per collect_data call: bounds the memory of ORT's intermediate outputs


class StaleCacheError(RuntimeError):
    """A stored calibration does not match the request; the message names the fields that differ."""


def ort_method(method: str):
    from onnxruntime.quantization import CalibrationMethod
    if method not in METHODS:
        raise ValueError(f"--method {method!r}: choose from {', '.join(METHODS)}")
    return {"entropy": CalibrationMethod.Entropy, "minmax": CalibrationMethod.MinMax,
            "percentile": CalibrationMethod.Percentile}[method]


def quantizable_op_types() -> list[str]:
    """Every op type ONNX Runtime's QDQ quantizer can quantize (what it calibrates for by default)."""
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry
    return sorted(set(QLinearOpsRegistry) | set(QDQRegistry))


class _Batches:
    """ONNX Runtime CalibrationDataReader over a list of NCHW batches."""

    def __init__(self, input_name: str, batches: list):
        self.input_name, self.batches, self.i = input_name, batches, 0

    def get_next(self):
        if self.i >= len(self.batches):
            return None
        self.i += 1
        return {self.input_name: self.batches[self.i - 1]}

    def __iter__(self):
        for b in self.batches:
            yield {self.input_name: b}


def _quiet(call, *args):
    """Run an ORT calibrator call without its per-call progress prints on stdout."""
    with contextlib.redirect_stdout(io.StringIO()):
        return call(*args)


def collect_ranges(model_path: str | Path, calib, method: str, input_name: str = "images",
                   batch: int | None = None, log=print):
    """ORT ``TensorsData`` (per tensor: lowest/highest, histograms for entropy/percentile) from ``calib`` tiles."""
    from onnxruntime.quantization.calibrate import create_calibrator

    with tempfile.TemporaryDirectory(prefix="sspnet-calib-") as tmp:
        calibrator = create_calibrator(Path(model_path), quantizable_op_types(),
                                       augmented_model_path=str(Path(tmp) / "augmented.onnx"),
                                       calibrate_method=ort_method(method),
                                       extra_options=dict(CALIBRATOR_OPTIONS[method]))
        size = batch or CHUNK_TILES
        per_call = max(1, CHUNK_TILES // size)
        pending, seen = [], 0
        for b in calib.batches(size, pad_to_size=batch is not None):
            pending.append(b)
            if len(pending) == per_call:
                _quiet(calibrator.collect_data, _Batches(input_name, pending))
                seen += sum(len(p) for p in pending)
                pending = []
                if seen % 64 < size * per_call:
                    log(f"  calibration: {seen}/{calib.count} tiles")
        if pending:
            _quiet(calibrator.collect_data, _Batches(input_name, pending))
        log(f"  calibration: {calib.count}/{calib.count} tiles ({method})")
        ranges = _quiet(calibrator.compute_data)
        del calibrator
    return ranges


@dataclass(frozen=True)
class RangesCache:
    """The ORT calibration-cache JSON at ``path`` and its sidecar ``<path>.json`` (key, key digest)."""
    path: Path

    def save(self, ranges, key: dict, key_hash: str) -> Path:
        from onnxruntime.quantization.calibrate import save_tensors_data
        save_tensors_data(ranges, self.path)
        write_manifest(self.path, {"artifact": "calibration-ranges", "calibration_key": key, "hash": key_hash,
                                   "tensors": len(ranges.data),
                                   "content": "onnxruntime calibration cache (quantize_static calibration_cache_path)"})
        return self.path

    def stale_fields(self, key: dict) -> list[str] | None:
        """None when no cache exists; [] when it matches ``key``; else the differing fields."""
        if not self.path.is_file():
            return None
        if not manifest_path(self.path).is_file():
            return ["sidecar missing"]
        stored = read_manifest(self.path).get("calibration_key") or {}
        return [k for k in sorted(set(key) | set(stored)) if stored.get(k) != key.get(k)]

    def load(self, key: dict):
        """The stored ranges if their key equals ``key``; StaleCacheError naming the differing fields otherwise."""
        from onnxruntime.quantization.calibrate import load_tensors_data
        stale = self.stale_fields(key)
        if stale is None:
            raise FileNotFoundError(f"{self.path}: no calibration cache")
        if stale:
            raise StaleCacheError(f"{self.path}: calibration cache is stale ({', '.join(stale)} differ from this "
                                  f"request); recalibrate (drop --require-cache) or restore the original inputs")
        return load_tensors_data(self.path)


def symmetric_ranges(amax_by_tensor: dict[str, float]):
    """ORT ``TensorsData`` (MinMax) of [-amax, amax] per tensor: how TensorRT cache scales become Q/DQ scales."""
    import numpy as np
    from onnxruntime.quantization import CalibrationMethod
    from onnxruntime.quantization.calibrate import TensorData, TensorsData
    data = {name: TensorData(lowest=np.array(-amax, np.float32), highest=np.array(amax, np.float32))
            for name, amax in amax_by_tensor.items()}
    return TensorsData(CalibrationMethod.MinMax, data)
