"""Static check that a Q/DQ ONNX is what TensorRT's explicit quantization accepts, without TensorRT.

Rules (TensorRT developer guide "Explicit Quantization"; onnx-tensorrt#850, onnxruntime#14229):
- INT8 is symmetric: every zero point is int8 and 0 (uint8 / asymmetric ranges are rejected).
- Scales are constants, finite and > 0. Activations are quantized per tensor (one scale).
- Per-channel weight scales sit on the output-channel axis: axis 0 of a Conv weight [K, C/g, kh, kw] with K scales;
  the N axis of a Gemm/MatMul weight.
- Every QuantizeLinear feeds DequantizeLinear (Q/DQ pairs); Conv/Gemm/MatMul get a DQ on both the data and the
  weight input, the data DQ fed by a Q.
- DequantizeLinear takes int8 only: an int32-quantized bias (ONNX Runtime's default QuantizeBias=True) fails to parse
  ("only activation types allowed as input to this layer"); quantize with extra_options QuantizeBias=False.
- Pre-quantized int8 weight initializers into DQ: TensorRT ≥ 10 accepts them; 8.x wants float weights with a Q→DQ
  pair (onnxruntime extra_options AddQDQPairToWeight=True). A warning, an error when ``trt_major`` is 8.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

LINEAR_OPS = {"Conv", "Gemm", "MatMul", "ConvTranspose"}


@dataclass(frozen=True)
class Finding:
    level: str       # "error" | "warning" | "info"
    node: str
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.node}: {self.message}"


def errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.level == "error"]


class _Graph:
    def __init__(self, model):
        from onnx import numpy_helper

        g = model.graph
        self.consts = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        for n in g.node:
            if n.op_type == "Constant":
                for a in n.attribute:
                    if a.name == "value":
                        self.consts[n.output[0]] = numpy_helper.to_array(a.t)
        self.producer = {o: n for n in g.node for o in n.output}
        self.consumers: dict[str, list] = {}
        for n in g.node:
            for i in n.input:
                self.consumers.setdefault(i, []).append(n)
        self.graph_outputs = {o.name for o in g.output}
        self.nodes = [n for n in g.node if n.op_type != "Constant"]

    def produced_by(self, tensor: str, op: str):
        n = self.producer.get(tensor)
        return n if n is not None and n.op_type == op else None


def _name(node) -> str:
    return node.name or f"{node.op_type}({node.output[0]})"


def _attr(node, name: str, default):
    for a in node.attribute:
        if a.name == name:
            return a.i
    return default


def _check_qdq_node(g: _Graph, node, opset: int, trt_major: int | None) -> list[Finding]:
    out, name = [], _name(node)
    if len(node.input) < 2 or node.input[1] not in g.consts:
        return [Finding("error", name, "scale is not a constant (initializer); TensorRT needs constant scales")]
    scale = np.asarray(g.consts[node.input[1]], dtype=np.float64)
    if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
        out.append(Finding("error", name, f"scale must be finite and > 0, got min {scale.min():.3g}"))
    zp_name = node.input[2] if len(node.input) > 2 and node.input[2] else None
    x_const = g.consts.get(node.input[0])
    if node.op_type == "DequantizeLinear" and x_const is not None and x_const.dtype == np.int32:
        return out + [Finding("error", name, "dequantizes an int32 constant (a quantized bias): TensorRT's "
                                             "DequantizeLinear takes int8 only; quantize with "
                                             "extra_options QuantizeBias=False")]
    if zp_name is None:
        if node.op_type == "QuantizeLinear" or (x_const is not None and x_const.dtype != np.int8):
            out.append(Finding("error", name, "no zero point: the quantized type defaults to uint8; TensorRT needs "
                                              "int8 with zero point 0 (symmetric, QInt8)"))
    elif zp_name not in g.consts:
        out.append(Finding("error", name, "zero point is not a constant"))
    else:
        zp = g.consts[zp_name]
        if zp.dtype != np.int8:
            out.append(Finding("error", name, f"zero point is {zp.dtype}, TensorRT needs int8 (symmetric QInt8 "
                                              f"activations and weights)"))
        elif np.any(zp != 0):
            out.append(Finding("error", name, "zero point is not 0: TensorRT INT8 is symmetric "
                                              "(ActivationSymmetric/WeightSymmetric)"))
        if zp.size != scale.size:
            out.append(Finding("error", name, f"zero point has {zp.size} values, scale {scale.size}"))
    if node.op_type == "DequantizeLinear" and x_const is not None and x_const.dtype == np.int8:
        level = "error" if trt_major == 8 else "warning"
        out.append(Finding(level, name, "pre-quantized int8 weights: TensorRT >= 10 accepts them, 8.x needs "
                                        "float weights with a Q->DQ pair (AddQDQPairToWeight=True)"))
    if scale.size > 1:
        if opset < 13:
            out.append(Finding("error", name, f"per-channel scale needs opset >= 13 (model has {opset})"))
        source = x_const if x_const is not None else _float_source(g, node)
        if source is None:
            out.append(Finding("error", name, f"per-channel scale ({scale.size}) on an activation: TensorRT "
                                              f"quantizes activations per tensor"))
        else:
            axis = _attr(node, "axis", 1)
            axis = axis + source.ndim if axis < 0 else axis
            if not 0 <= axis < source.ndim or source.shape[axis] != scale.size:
                out.append(Finding("error", name, f"per-channel scale of {scale.size} does not match axis {axis} "
                                                  f"of the weight {list(source.shape)}"))
    return out


def _float_source(g: _Graph, dq_node):
    """The constant a DQ ultimately dequantizes (through a Q of a float initializer), else None."""
    q = g.produced_by(dq_node.input[0], "QuantizeLinear")
    if q is not None:
        return g.consts.get(q.input[0])
    return None


def _weight_dq(g: _Graph, tensor: str):
    dq = g.produced_by(tensor, "DequantizeLinear")
    if dq is None:
        return None, None
    if dq.input[0] in g.consts:
        return dq, g.consts[dq.input[0]]
    return dq, _float_source(g, dq)


def _check_linear(g: _Graph, node) -> list[Finding]:
    name = _name(node)
    data_dq = g.produced_by(node.input[0], "DequantizeLinear")
    w_dq, w = _weight_dq(g, node.input[1]) if len(node.input) > 1 else (None, None)
    if data_dq is None and w_dq is None:
        return [Finding("warning", name, f"{node.op_type} has no Q/DQ inputs and runs in float; if intended, "
                                         f"list it in the calibration manifest's excluded_nodes")]
    out = []
    if data_dq is None or w_dq is None:
        missing = "data" if data_dq is None else "weight"
        out.append(Finding("error", name, f"only one input is quantized (the {missing} input has no "
                                          f"DequantizeLinear): TensorRT cannot run it in INT8"))
    if data_dq is not None and data_dq.input[0] not in g.consts \
            and g.produced_by(data_dq.input[0], "QuantizeLinear") is None:
        out.append(Finding("error", name, "the data DequantizeLinear is not fed by a QuantizeLinear (no Q/DQ pair)"))
    if len(node.input) > 2 and g.produced_by(node.input[2], "DequantizeLinear") is not None:
        out.append(Finding("warning", name, "the bias is quantized; TensorRT expects a float bias"))
    if w_dq is None or w is None:
        return out
    if w_dq.input[1] in g.consts and np.asarray(g.consts[w_dq.input[1]]).size > 1:
        axis = _attr(w_dq, "axis", 1)
        axis = axis + w.ndim if axis < 0 else axis
        if node.op_type == "Conv":
            want = 0
        elif node.op_type == "ConvTranspose":
            want = 1
        elif node.op_type == "Gemm":
            want = 0 if _attr(node, "transB", 0) else 1
        else:  # MatMul: B is [..., K, N]
            want = w.ndim - 1
        if axis != want:
            out.append(Finding("error", name, f"per-channel weight scale on axis {axis}; TensorRT needs the "
                                              f"output-channel axis {want} for {node.op_type} weights {list(w.shape)}"))
    return out


def check_qdq(model, kept_float=(), trt_major: int | None = None) -> list[Finding]:
    """Findings for a Q/DQ ONNX (path or ModelProto). ``kept_float``: node names meant to stay in float."""
    import onnx

    if isinstance(model, (str, Path)):
        model = onnx.load(str(model), load_external_data=True)
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    g = _Graph(model)
    kept = set(kept_float)
    findings: list[Finding] = []
    n_q = 0
    for node in g.nodes:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            n_q += 1
            findings += _check_qdq_node(g, node, opset, trt_major)
        if node.op_type == "QuantizeLinear":
            users = g.consumers.get(node.output[0], [])
            bad = [u.op_type for u in users if u.op_type != "DequantizeLinear"]
            if bad or node.output[0] in g.graph_outputs:
                findings.append(Finding("error", _name(node), f"QuantizeLinear output goes to {bad or ['graph output']}"
                                                              f"; TensorRT needs every Q followed by a DQ"))
        if node.op_type in LINEAR_OPS and node.name not in kept:
            findings += _check_linear(g, node)
    if n_q == 0:
        findings.append(Finding("error", "graph", "no QuantizeLinear/DequantizeLinear nodes: not a Q/DQ model"))
    return findings
