"""The TensorRT feature table (8.6 / 10.x / 11.x), version parsing and detection from a module."""
import importlib.util
import types

import pytest

from sspnet.export.trt_versions import (TensorRTMissing, TrtVersion, apply_probe, detect, features, parse_version,
                                        probe)


@pytest.mark.parametrize("text, want", [
    ("10.3", (10, 3, 0, 0)), ("10.3.0.30", (10, 3, 0, 30)), ("8.6.1.post1", (8, 6, 1, 0)),
    ("11.4.0.106", (11, 4, 0, 106)), ("8.5.3.1", (8, 5, 3, 1)), (" 11 ", (11, 0, 0, 0)),
])
def test_parse_version(text, want):
    assert parse_version(text) == TrtVersion(*want)


@pytest.mark.parametrize("bad", ["", "ten", "10.x", "v10.3", "10..3"])
def test_parse_version_rejects(bad):
    with pytest.raises(ValueError, match="not a TensorRT version"):
        parse_version(bad)


def test_8_6_row():
    f = features("8.6.1")
    assert f.family == "8.x" and f.explicit_batch_flag == "required"
    assert f.builder_flag_int8 and f.builder_flag_fp16
    assert f.int8_calibrators == "available" and f.implicit_int8 and f.weak_typing
    assert f.trtexec.int8 and f.trtexec.layer_precisions
    assert f.calib_cache_header() == "TRT-8601-EntropyCalibration2"


def test_10_x_rows():
    f = features("10.3.0.30")
    assert f.family == "10.x" and f.explicit_batch_flag == "ignored" and f.weak_typing
    assert f.int8_calibrators == "deprecated" and f.implicit_int8          # deprecated in 10.1, still there
    assert f.trtexec.int8 and f.trtexec.layer_precisions
    assert f.calib_cache_header() == "TRT-100300-EntropyCalibration2"
    assert features("10.0.1").int8_calibrators == "available"
    assert features("10.16.1.11").int8_calibrators == "deprecated"


def test_11_x_row():
    f = features("11.4")
    assert f.family == "11.x" and not f.weak_typing
    assert not (f.builder_flag_fp16 or f.builder_flag_int8)
    assert f.int8_calibrators == "removed" and not f.implicit_int8
    assert not (f.trtexec.int8 or f.trtexec.layer_precisions)


def test_refused_and_future_versions():
    with pytest.raises(ValueError, match="older than 8.5"):
        features("8.4.3")
    with pytest.raises(ValueError, match="9.x"):
        features("9.3")
    f = features("12.0")
    assert f.family == "11.x" and "newer than the feature table" in f.notes[0]
    assert features("8.5.3.1").family == "8.x"        # the PyPI wheel for CPython 3.10


def _module(version, *, calibrator=True, fp16=True):
    """A namespace shaped like the parts of ``tensorrt`` that detection looks at (not a TensorRT stand-in)."""
    flag = types.SimpleNamespace(**({"FP16": 1, "INT8": 2, "PREFER_PRECISION_CONSTRAINTS": 3} if fp16 else {}))
    mod = types.SimpleNamespace(__version__=version, BuilderFlag=flag,
                                NetworkDefinitionCreationFlag=types.SimpleNamespace(STRONGLY_TYPED=1))
    if calibrator:
        mod.IInt8EntropyCalibrator2 = object
    return mod


def test_detect_from_module_matches_table():
    f = detect(_module("10.3.0.30"))
    assert f.version == (10, 3, 0, 30) and f.notes == () and f.implicit_int8


def test_detect_trusts_the_module_over_the_table():
    # TensorRT#4357: a 10.8 install without the calibration classes
    f = detect(_module("10.8.0.43", calibrator=False))
    assert f.int8_calibrators == "removed" and not f.implicit_int8
    assert any("IInt8EntropyCalibrator2 is missing" in n for n in f.notes)
    g = apply_probe(features("8.6.1"), probe(_module("8.6.1")))
    assert g.explicit_batch_flag == "ignored"      # the namespace has no EXPLICIT_BATCH: the probe wins, and says so
    assert any("EXPLICIT_BATCH" in n for n in g.notes)


def test_detect_rejects_a_module_without_version():
    with pytest.raises(TensorRTMissing, match="no __version__"):
        detect(types.SimpleNamespace())


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="tensorrt is installed here")
def test_detect_without_tensorrt_says_how_to_install():
    with pytest.raises(TensorRTMissing, match="python3-libnvinfer.*pip install tensorrt"):
        detect()
