"""Build and run real TensorRT engines (GPU + TensorRT only): FP32/FP16/INT8 builds of a tiny detection-shaped ONNX,
TensorRTBackend against ONNX Runtime, dynamic batch padding/chunking, timing cache, manifest and refusal."""
import json

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper, save

from sspnet.manifest import read_manifest, write_manifest
from sspnet.postprocess import Postprocess
from sspnet.preprocess import Preprocess

pytestmark = pytest.mark.gpu
RNG = np.random.default_rng(0)
HW = 32


def _detector_onnx(path):
    """images [N,3,32,32] → Conv3x3(8)+Relu → boxes [N,1024,4] (1x1 conv, reshape, transpose) and
    scores [N,1024] (1x1 conv, reshape, sigmoid); with the manifest the export stage would write."""
    def w(name, shape, scale=0.3):
        return numpy_helper.from_array((RNG.normal(size=shape) * scale).astype(np.float32), name)
    inits = [w("w1", (8, 3, 3, 3)), w("b1", (8,), 0.1), w("w_reg", (4, 8, 1, 1)), w("w_cls", (1, 8, 1, 1)),
             numpy_helper.from_array(np.array([0, 4, -1], np.int64), "shape_reg"),
             numpy_helper.from_array(np.array([0, -1], np.int64), "shape_cls")]
    nodes = [helper.make_node("Conv", ["images", "w1", "b1"], ["f1"], name="/backbone/conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["f1"], ["f1r"], name="/backbone/relu"),
             helper.make_node("Conv", ["f1r", "w_reg"], ["reg"], name="/head/reg"),
             helper.make_node("Reshape", ["reg", "shape_reg"], ["reg_flat"], name="/head/reg_flat"),
             helper.make_node("Transpose", ["reg_flat"], ["boxes"], name="/head/boxes", perm=[0, 2, 1]),
             helper.make_node("Conv", ["f1r", "w_cls"], ["cls"], name="/head/cls"),
             helper.make_node("Reshape", ["cls", "shape_cls"], ["cls_flat"], name="/head/cls_flat"),
             helper.make_node("Sigmoid", ["cls_flat"], ["scores"], name="/head/attn/Sigmoid")]
    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 3, HW, HW])
    outs = [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, ["N", HW * HW, 4]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", HW * HW])]
    model = helper.make_model(helper.make_graph(nodes, "tiny", [x], outs, inits),
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    save(model, str(path))
    write_manifest(path, {
        "artifact": "onnx", "model": {"name": "tiny", "backbone": "none", "neck": "none", "head": "fovea"},
        "input": {"name": "images", "layout": "NCHW", "dtype": "float32", "batch": "dynamic", "width": HW,
                  "height": HW},
        "preprocess": Preprocess(input_w=HW, input_h=HW).to_dict(), "postprocess": Postprocess().to_dict(),
        "outputs": {"boxes": "[N,K,4]", "scores": "[N,K]"}, "output_names": ["boxes", "scores"],
        "classes": ["person"]})
    return path


def _reference(onnx_path, x):
    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    return sess.run(["boxes", "scores"], {"images": x})


@pytest.fixture(scope="module")
def trt():
    return pytest.importorskip("tensorrt", exc_type=ImportError)


def _build(tmp_path, onnx_path, trt_module, **kw):
    from sspnet.export.trt_build import build_engine
    from sspnet.export.trt_plan import plan_build
    from sspnet.export.trt_versions import detect
    (tmp_path / "tc").mkdir(exist_ok=True)
    plan = plan_build(onnx_path, tmp_path / f"{kw.get('precision', 'auto')}.engine", features=detect(trt_module),
                      batch="2:3:4", timing_cache=tmp_path / "tc", **kw)
    return build_engine(plan)


def test_fp32_engine_matches_onnxruntime(tmp_path, trt):
    from sspnet.runtime.backends.tensorrt import TensorRTBackend
    onnx_path = _detector_onnx(tmp_path / "tiny.onnx")
    engine = _build(tmp_path, onnx_path, trt, precision="fp32")
    m = read_manifest(engine)
    t = m["tensorrt"]
    assert m["artifact"] == "engine" and m["input"]["name"] == "images" and m["output_names"] == ["boxes", "scores"]
    assert t["version"] and t["gpu"]["name"] and t["gpu"]["compute_capability"] and t["precision"] == "fp32"
    assert t["profile"]["batch"] == [2, 3, 4] and t["onnx"]["path"] == "tiny.onnx" and "trtexec" in t
    assert list((tmp_path / "tc").glob("*-sm*-trt*.timing-cache"))
    with TensorRTBackend(engine) as be:
        assert be.max_batch == 4 and be.preprocess.input_w == HW
        for n in (1, 3, 4, 7):        # below the profile minimum (padded), inside it, at max, above (chunked)
            x = RNG.normal(size=(n, 3, HW, HW)).astype(np.float32)
            boxes, scores = be.infer(x)
            ref_boxes, ref_scores = _reference(onnx_path, x)
            assert boxes.shape == (n, HW * HW, 4) and scores.shape == (n, HW * HW)
            np.testing.assert_allclose(boxes, ref_boxes, rtol=1e-3, atol=1e-3)
            np.testing.assert_allclose(scores, ref_scores, rtol=1e-3, atol=1e-3)


def test_refuses_an_engine_from_another_tensorrt(tmp_path, trt):
    from sspnet.engine_manifest import EngineMismatch
    from sspnet.runtime.backends.tensorrt import TensorRTBackend
    engine = _build(tmp_path, _detector_onnx(tmp_path / "tiny.onnx"), trt, precision="fp32")
    side = tmp_path / (engine.name + ".json")
    m = json.loads(side.read_text())
    m["tensorrt"]["version"] = "7.2.3"
    side.write_text(json.dumps(m))
    with pytest.raises(EngineMismatch, match="built with TensorRT 7.2.3.*sspnet build --onnx"):
        TensorRTBackend(engine)
    m["tensorrt"]["version"] = trt.__version__
    m["tensorrt"]["gpu"]["compute_capability"] = "1.0"
    side.write_text(json.dumps(m))
    with pytest.raises(EngineMismatch, match="compute capability 1.0"):
        TensorRTBackend(engine)


def test_fp16_engine(tmp_path, trt):
    from sspnet.export.trt_versions import detect
    from sspnet.runtime.backends.tensorrt import TensorRTBackend
    if not detect(trt).weak_typing:
        pytest.skip(f"TensorRT {trt.__version__} is strongly typed: FP16 needs an FP16 ONNX (export stage)")
    onnx_path = _detector_onnx(tmp_path / "tiny.onnx")
    engine = _build(tmp_path, onnx_path, trt, precision="fp16")
    x = RNG.normal(size=(2, 3, HW, HW)).astype(np.float32)
    with TensorRTBackend(engine) as be:
        boxes, scores = be.infer(x)
    ref_boxes, ref_scores = _reference(onnx_path, x)
    np.testing.assert_allclose(scores, ref_scores, atol=2e-2)
    np.testing.assert_allclose(boxes, ref_boxes, atol=5e-2)


def test_int8_qdq_engine(tmp_path, trt):
    pytest.importorskip("onnxruntime")
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)

    from sspnet.export.qdq_check import check_qdq, errors
    from sspnet.runtime.backends.tensorrt import TensorRTBackend
    onnx_path = _detector_onnx(tmp_path / "tiny.onnx")
    data = [RNG.normal(size=(1, 3, HW, HW)).astype(np.float32) for _ in range(8)]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter({"images": d} for d in data)

        def get_next(self):
            return next(self.it, None)

    q = tmp_path / "tiny.int8.onnx"
    quantize_static(str(onnx_path), str(q), Reader(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8, per_channel=True, calibrate_method=CalibrationMethod.MinMax,
                    extra_options={"ActivationSymmetric": True, "WeightSymmetric": True, "QuantizeBias": False,
                                   "AddQDQPairToWeight": True})
    assert errors(check_qdq(q)) == []
    write_manifest(q, read_manifest(onnx_path) | {"artifact": "onnx-int8"}, parent=onnx_path)
    engine = _build(tmp_path, q, trt, precision="int8")
    assert read_manifest(engine)["tensorrt"]["quantization"] == "qdq"
    x = np.concatenate(data[:2])
    with TensorRTBackend(engine) as be:
        boxes, scores = be.infer(x)
    ref_boxes, ref_scores = _reference(q, x)            # the same Q/DQ graph on ONNX Runtime's CPU kernels
    np.testing.assert_allclose(scores, ref_scores, atol=5e-2)
    assert np.abs(boxes - ref_boxes).mean() < 0.1


def test_implicit_int8_from_calibration_cache(tmp_path, trt):
    import struct

    from sspnet.export.trt_versions import detect
    from sspnet.runtime.backends.tensorrt import TensorRTBackend
    if not detect(trt).implicit_int8:
        pytest.skip(f"TensorRT {trt.__version__} has no implicit INT8 (removed in 11.0)")
    onnx_path = _detector_onnx(tmp_path / "tiny.onnx")
    amax = {"images": 4.0, "f1": 6.0, "f1r": 6.0, "reg": 6.0, "cls": 6.0, "reg_flat": 6.0, "cls_flat": 6.0,
            "boxes": 6.0, "scores": 1.0}
    lines = ["TRT-8601-EntropyCalibration2"] + [f"{k}: {struct.pack('>f', v / 127).hex()}" for k, v in amax.items()]
    cache = tmp_path / "tiny.calib"
    cache.write_text("\n".join(lines) + "\n")
    write_manifest(cache, {"artifact": "trt-calibration-cache",
                           "calibration": {"excluded_nodes": ["/head/attn/Sigmoid"]}}, parent=onnx_path)
    engine = _build(tmp_path, onnx_path, trt, precision="int8", calib_cache=cache)
    t = read_manifest(engine)["tensorrt"]
    assert t["quantization"] == "implicit-cache" and "INT8" in t["builder_flags"] and "FP16" in t["builder_flags"]
    assert t["calibration_cache"]["header_used"].startswith(f"TRT-{detect(trt).version.nv_version_int}-")
    assert t["layers_kept_float"], "the Sigmoid kept in float by the calibration report was not matched to a layer"
    x = RNG.normal(size=(2, 3, HW, HW)).astype(np.float32)
    with TensorRTBackend(engine) as be:
        boxes, scores = be.infer(x)
    ref_boxes, ref_scores = _reference(onnx_path, x)
    np.testing.assert_allclose(scores, ref_scores, atol=0.1)
    assert np.isfinite(boxes).all()
