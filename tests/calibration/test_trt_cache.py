"""TensorRT calibration cache: hand-checked hex lines, version header, writer/reader round trip, malformed files,
the cache written by sspnet calibrate, and its import back into Q/DQ scales."""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import onnx
import pytest

from sspnet.calibration.trt_cache import (CacheFormatError, TrtCache, cache_from_amax, hex_to_scale, read_trt_cache,
                                          scale_to_hex, trt_version_int, write_trt_cache)


def test_hand_checked_hex():
    # amax 127 → scale 1.0 = 0x3F800000 (sign 0, exponent 127, mantissa 0)
    assert scale_to_hex(127.0 / 127.0) == "3f800000"
    # amax 63.5 → scale 0.5 = 2^-1: exponent 126 = 0x7E → 0 01111110 000… = 0x3F000000
    assert scale_to_hex(63.5 / 127.0) == "3f000000"
    # amax 127·2^-7 → scale 2^-7: exponent 120 = 0x78 → 0 01111000 0… = 0x3C000000
    assert scale_to_hex(127 * 2 ** -7 / 127) == "3c000000"
    # scale 0.75 = 1.5·2^-1: exponent 126, mantissa .1 → 0x3F400000
    assert scale_to_hex(0.75) == "3f400000" and hex_to_scale("3f400000") == 0.75
    cache = cache_from_amax({"images": 127.0, "conv_out": 63.5}, "10.3", "entropy")
    assert cache.text() == "TRT-100300-EntropyCalibration2\nimages: 3f800000\nconv_out: 3f000000\n"


def test_versions_and_algorithms():
    assert trt_version_int("10.3") == 100300 and trt_version_int("10.16.1") == 101601
    assert trt_version_int("8.6.1") == 8601 and trt_version_int("8.5.2.2") == 8502
    assert cache_from_amax({"t": 1.0}, "8.6", "minmax").header == "TRT-8600-MinMaxCalibration"
    assert cache_from_amax({"t": 1.0}, "10.3", "percentile").header == "TRT-100300-EntropyCalibration2"
    for bad in ("ten", "11.x", "6.0"):
        with pytest.raises(ValueError):
            trt_version_int(bad)
    assert cache_from_amax({"zero": 0.0, "nan": float("nan"), "ok": 2.0}, "10.3", "entropy").scales == \
        {"ok": pytest.approx(2.0 / 127)}


def test_round_trip(tmp_path: Path):
    rng = np.random.default_rng(0)
    amax = {f"backbone/_blocks.{i}/_expand_conv/Conv_0": float(a) for i, a in enumerate(rng.uniform(1e-3, 50, 40))}
    amax["images"] = 2.64
    cache = cache_from_amax(amax, "10.3", "entropy")
    path = write_trt_cache(tmp_path / "m.calib", cache, {"onnx_sha256": "ab" * 32}, parent=__file__)
    back = read_trt_cache(path)
    assert back.header == cache.header and list(back.scales) == list(cache.scales)
    for k, s in cache.scales.items():       # exact float32 round trip; amax = 127 · scale
        assert back.scales[k] == struct.unpack(">f", struct.pack(">f", s))[0]
        assert back.amax()[k] == pytest.approx(amax[k], rel=1e-6)


def test_malformed(tmp_path: Path):
    p = tmp_path / "bad.calib"
    p.write_text("TRT-100300-Banana\nx: 3f800000\n")
    with pytest.raises(CacheFormatError, match=r"bad.calib:1:"):
        read_trt_cache(p)
    p.write_text("TRT-100300-EntropyCalibration2\nx: 3f800000\ny 3f80\n")
    with pytest.raises(CacheFormatError, match=r"bad.calib:3:"):
        read_trt_cache(p)
    with pytest.raises(FileNotFoundError):
        read_trt_cache(tmp_path / "missing.calib")
    assert read_trt_cache(_write(tmp_path / "ok.calib", TrtCache(8601, "EntropyCalibration2", {"a:b": 0.5}))) \
        .scales == {"a:b": 0.5}


def _write(path: Path, cache: TrtCache) -> Path:
    path.write_text(cache.text())
    return path


def test_calibrate_cache_and_import_into_qdq(tmp_path: Path, fp32_onnx: Path, calib_frames: Path):
    from sspnet.calibration.calibrate import Request, calibrate
    from sspnet.calibration.quantize import activation_scales
    from sspnet.export.qdq_check import check_qdq, errors
    from sspnet.manifest import read_manifest, sha256_file
    quiet = {"log": lambda *a, **k: None}
    out, calib = tmp_path / "a.int8.onnx", tmp_path / "a.calib"
    calibrate(Request(onnx=fp32_onnx, out=out, images=str(calib_frames), count=8, method="entropy", trt_cache=calib,
                      trt_version="10.3"), **quiet)
    cache = read_trt_cache(calib)
    assert cache.header == "TRT-100300-EntropyCalibration2"
    fp32_names = {o for n in onnx.load(str(fp32_onnx)).graph.node for o in n.output} | {"images"}
    assert "images" in cache.scales and set(cache.scales) <= fp32_names        # names of the FP32 graph
    scales = activation_scales(onnx.load(str(out)))
    assert set(cache.scales) == set(scales)                                     # the same tensors …
    for k, s in cache.scales.items():                                           # … with the same scales
        assert s == pytest.approx(scales[k][0], rel=1e-6)
    side = read_manifest(calib)
    assert side["parent"]["sha256"] == sha256_file(fp32_onnx) and side["calibration"]["onnx_sha256"] == \
        sha256_file(fp32_onnx)
    assert side["calibration"]["excluded_nodes"]

    imported = tmp_path / "b.int8.onnx"                                         # the bridge: cache → Q/DQ scales
    report = calibrate(Request(onnx=fp32_onnx, out=imported, from_trt_cache=calib), **quiet)
    assert "imported from TensorRT cache" in report["source"]
    q = onnx.load(str(imported))
    assert not errors(check_qdq(q, kept_float=[e["name"] for e in report["excluded_nodes"]], trt_major=10))
    again = activation_scales(q)
    for k, s in cache.scales.items():
        assert again[k][0] == pytest.approx(s, rel=1e-6) and again[k][1] == 0
