"""The static Q/DQ check on hand-built graphs, on ONNX Runtime's real quantize_static output, and on the
calibration stage's output (``sspnet.calibration.quantize``)."""
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from sspnet.export.qdq_check import check_qdq, errors

RNG = np.random.default_rng(0)


def _model(*, x_zp=np.int8(0), x_scale=0.02, w_scale=None, w_axis=0, w_zp_dtype=np.int8, quant_data=True,
           quant_weight=True, int8_weights=False, bias_int32=False, extra_nodes=(), opset=17):
    """images [1,3,8,8] → (Q/DQ) → Conv(w [4,3,3,3], b) → out."""
    w = RNG.normal(size=(4, 3, 3, 3)).astype(np.float32)
    w_scale = np.full(4, 0.01, np.float32) if w_scale is None else np.asarray(w_scale, np.float32)
    inits = [numpy_helper.from_array(np.array(x_scale, np.float32), "s_x"),
             numpy_helper.from_array(np.array(x_zp), "z_x"),
             numpy_helper.from_array(w_scale, "s_w"),
             numpy_helper.from_array(np.zeros(w_scale.shape, w_zp_dtype), "z_w")]
    nodes, data, weight, bias = [], "images", "w", "b"
    if quant_data:
        nodes += [helper.make_node("QuantizeLinear", ["images", "s_x", "z_x"], ["xq"], name="q_x"),
                  helper.make_node("DequantizeLinear", ["xq", "s_x", "z_x"], ["xd"], name="dq_x")]
        data = "xd"
    if quant_weight and int8_weights:
        inits.append(numpy_helper.from_array(np.round(w / 0.01).clip(-127, 127).astype(np.int8), "w_q"))
        nodes.append(helper.make_node("DequantizeLinear", ["w_q", "s_w", "z_w"], ["wd"], name="dq_w", axis=w_axis))
        weight = "wd"
    else:
        inits.append(numpy_helper.from_array(w, "w"))
        if quant_weight:
            nodes += [helper.make_node("QuantizeLinear", ["w", "s_w", "z_w"], ["wq"], name="q_w", axis=w_axis),
                      helper.make_node("DequantizeLinear", ["wq", "s_w", "z_w"], ["wd"], name="dq_w", axis=w_axis)]
            weight = "wd"
    if bias_int32:
        inits += [numpy_helper.from_array(np.arange(4, dtype=np.int32), "b_q"),
                  numpy_helper.from_array(np.full(4, 2e-4, np.float32), "s_b"),
                  numpy_helper.from_array(np.zeros(4, np.int32), "z_b")]
        nodes.append(helper.make_node("DequantizeLinear", ["b_q", "s_b", "z_b"], ["bd"], name="dq_b", axis=0))
        bias = "bd"
    else:
        inits.append(numpy_helper.from_array(np.zeros(4, np.float32), "b"))
    nodes.append(helper.make_node("Conv", [data, weight, bias], ["out"], name="conv", pads=[1, 1, 1, 1]))
    nodes += list(extra_nodes)
    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 4, 8, 8])
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [y], inits),
                              opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8      # what ONNX Runtime 1.30 and TensorRT 8.x parsers read
    return model


def _messages(model, **kw):
    return [str(f) for f in check_qdq(model, **kw)]


def test_tensorrt_shaped_graph_passes():
    assert check_qdq(_model()) == []


@pytest.mark.parametrize("kw, expect", [
    (dict(x_zp=np.uint8(128)), "zero point is uint8"),
    (dict(x_zp=np.int8(3)), "zero point is not 0"),
    (dict(x_scale=-0.5), "scale must be finite and > 0"),
    (dict(x_scale=float("nan")), "scale must be finite and > 0"),
    (dict(w_axis=1), "does not match axis 1"),
    (dict(w_scale=np.full(3, 0.01)), "per-channel scale of 3 does not match axis 0"),
    (dict(w_zp_dtype=np.uint8), "zero point is uint8"),
    (dict(quant_weight=False), "only one input is quantized (the weight input"),
    (dict(quant_data=False), "only one input is quantized (the data input"),
    (dict(bias_int32=True), "int32 constant (a quantized bias)"),
    (dict(opset=12), "needs opset >= 13"),
])
def test_each_rule_fails(kw, expect):
    found = errors(check_qdq(_model(**kw)))
    assert any(expect in str(f) for f in found), [str(f) for f in found]


def test_per_tensor_weight_scale_is_fine():
    assert check_qdq(_model(w_scale=[0.01])) == []


def test_int8_weight_initializers_warn_and_fail_for_8x():
    found = check_qdq(_model(int8_weights=True))
    assert [f.level for f in found] == ["warning"] and "AddQDQPairToWeight" in found[0].message
    assert errors(check_qdq(_model(int8_weights=True), trt_major=8))


def test_q_must_feed_dq():
    extra = [helper.make_node("Relu", ["xq"], ["r"], name="relu_on_int8")]
    assert any("needs every Q followed by a DQ" in m for m in _messages(_model(extra_nodes=extra)))


def test_no_qdq_and_kept_float():
    plain = _model(quant_data=False, quant_weight=False)
    msgs = _messages(plain)
    assert any("not a Q/DQ model" in m for m in msgs) and any("runs in float" in m for m in msgs)
    assert not any("runs in float" in m for m in _messages(plain, kept_float=["conv"]))


def test_per_channel_activation_is_refused():
    m = _model()
    # swap the activation scale for a per-channel one
    for t in m.graph.initializer:
        if t.name == "s_x":
            t.CopyFrom(numpy_helper.from_array(np.full(3, 0.02, np.float32), "s_x"))
        if t.name == "z_x":
            t.CopyFrom(numpy_helper.from_array(np.zeros(3, np.int8), "z_x"))
    assert any("on an activation" in m for m in _messages(m))


def _ort_quantize(tmp_path, extra_options):
    from onnx import save
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    fp32 = _model(quant_data=False, quant_weight=False)
    save(fp32, str(tmp_path / "fp32.onnx"))

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"images": RNG.normal(size=(1, 3, 8, 8)).astype(np.float32)} for _ in range(4)])

        def get_next(self):
            return next(self.batches, None)

    quantize_static(str(tmp_path / "fp32.onnx"), str(tmp_path / "q.onnx"), Reader(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=True,
                    calibrate_method=CalibrationMethod.MinMax,
                    extra_options={"ActivationSymmetric": True, "WeightSymmetric": True, **extra_options})
    return tmp_path / "q.onnx"


def test_onnxruntime_qdq_with_tensorrt_options_passes(tmp_path):
    q = _ort_quantize(tmp_path, {"QuantizeBias": False, "AddQDQPairToWeight": True})
    assert errors(check_qdq(q, trt_major=8)) == [] and errors(check_qdq(q, trt_major=10)) == []


def test_onnxruntime_default_bias_quantization_is_caught(tmp_path):
    q = _ort_quantize(tmp_path, {})
    assert any("QuantizeBias=False" in str(f) for f in errors(check_qdq(q)))


def test_calibration_stage_output_passes(tmp_path):
    from onnx import save

    from sspnet.calibration.quantize import quantize_qdq
    fp32 = tmp_path / "fp32.onnx"
    save(_model(quant_data=False, quant_weight=False), str(fp32))
    batches = [RNG.normal(size=(1, 3, 8, 8)).astype(np.float32) for _ in range(4)]
    q = quantize_qdq(fp32, tmp_path / "q.onnx", batches, "minmax", target="tensorrt")
    assert errors(check_qdq(q, trt_major=10)) == []
