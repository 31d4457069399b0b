"""A stale calibration is never reused silently: same request → stored ranges reused; changed pre-processing,
images or ONNX → recalibrated (and said so), or an error with --require-cache; a stale TensorRT cache is refused."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sspnet.calibration.calibrate import Request, calibrate
from sspnet.calibration.ranges import StaleCacheError
from sspnet.calibration.trt_cache import check_cache
from sspnet.manifest import manifest_path, read_manifest, sha256_file, write_manifest


def _with_preprocess(src: Path, dst: Path, **changes) -> Path:
    """A copy of the FP32 ONNX whose manifest asks for a different pre-processing (same graph, same sha256)."""
    shutil.copyfile(src, dst)
    m = read_manifest(src)
    m["preprocess"] = dict(m["preprocess"], **changes)
    fields = {k: v for k, v in m.items() if k not in ("format", "created", "sha256", "parent")}
    write_manifest(dst, fields)
    return dst


def test_changed_preprocessing_invalidates(tmp_path: Path, fp32_onnx: Path, calib_frames: Path):
    logs: list[str] = []
    log = lambda *a, **k: logs.append(" ".join(map(str, a)))                 # noqa: E731
    out, calib = tmp_path / "m.int8.onnx", tmp_path / "m.calib"
    req = Request(onnx=fp32_onnx, out=out, images=str(calib_frames), count=8, method="minmax", trt_cache=calib)
    first = calibrate(req, log=log)
    assert first["source"] == "calibrated"
    again = calibrate(req, log=log)
    assert again["source"].startswith("reused") and again["hash"] == first["hash"]
    assert any("reusing" in line for line in logs)

    other = _with_preprocess(fp32_onnx, tmp_path / "other.onnx", mean=[100.0, 100.0, 100.0])
    assert sha256_file(other) == sha256_file(fp32_onnx)                       # only the pre-processing differs
    req2 = Request(onnx=other, out=out, images=str(calib_frames), count=8, method="minmax", trt_cache=calib,
                   require_cache=True)
    with pytest.raises(StaleCacheError, match="preprocess_digest"):
        calibrate(req2, log=log)
    with pytest.raises(StaleCacheError, match="preprocess_digest"):          # the TensorRT cache refuses too
        check_cache(calib, {"onnx_sha256": sha256_file(other),
                            "preprocess_digest": first["preprocess_digest"][::-1]})
    with pytest.raises(StaleCacheError, match="preprocess_digest"):
        calibrate(Request(onnx=other, out=tmp_path / "imp.onnx", from_trt_cache=calib), log=log)

    logs.clear()
    redo = calibrate(Request(onnx=other, out=out, images=str(calib_frames), count=8, method="minmax",
                             trt_cache=calib), log=log)
    assert redo["source"] == "recalibrated (stale cache)" and redo["hash"] != first["hash"]
    assert any("stale" in line and "preprocess_digest" in line for line in logs)
    stored = json.loads(manifest_path(calib).read_text())["calibration"]
    assert stored["preprocess_digest"] == redo["preprocess_digest"] != first["preprocess_digest"]


def test_changed_images_count_or_method_invalidate(tmp_path: Path, fp32_onnx: Path, calib_frames: Path,
                                                   test_frames: Path):
    out = tmp_path / "m.int8.onnx"
    quiet = {"log": lambda *a, **k: None}
    calibrate(Request(onnx=fp32_onnx, out=out, images=str(calib_frames), count=4, method="minmax"), **quiet)
    for change, field in (({"images": str(test_frames)}, "images_sha256"), ({"count": 3}, "count"),
                          ({"method": "percentile"}, "method")):
        req = Request(onnx=fp32_onnx, out=out, **dict({"images": str(calib_frames), "count": 4, "method": "minmax"},
                                                       **change), require_cache=True)
        with pytest.raises(StaleCacheError, match=field):
            calibrate(req, **quiet)


def test_unkeyed_trt_cache_is_refused(tmp_path: Path):
    p = tmp_path / "foreign.calib"
    p.write_text("TRT-8502-EntropyCalibration2\nimages: 3c010204\n")
    with pytest.raises(StaleCacheError, match="no sidecar"):
        check_cache(p, {"onnx_sha256": "0" * 64})
