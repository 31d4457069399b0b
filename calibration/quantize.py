"""Q/DQ insertion with ONNX Runtime's ``quantize_static`` from stored ranges, for two targets.

``qdq_from_ranges`` is the step ``sspnet calibrate`` repeats (the accuracy gate re-quantizes with other exclusions
without recalibrating); ``quantize_qdq(onnx, out, batches, method)`` is the one-call form for in-memory batches.

``tensorrt`` (default): the form TensorRT's explicit quantization accepts (8.6–11.x) and ONNX Runtime runs:
  symmetric int8 activations and weights (zero points 0), per-channel weight scales on axis 0 of conv weights,
  float biases (TensorRT cannot parse int32-quantized biases), float weights with a Q→DQ pair (TensorRT 8.6).
``cpu``: ONNX Runtime on x86 with VNNI (U8S8): asymmetric uint8 activations, symmetric per-channel int8 weights,
  int32 biases. The asymmetric ranges let ONNX Runtime drop ReLU/ReLU6 into the quantization range and fuse every
  conv into QLinearConv; with symmetric activations ONNX Runtime on x86 keeps each ReLU6 in float between
  DequantizeLinear/QuantizeLinear, converts int8→uint8 only where a tensor has a single consumer, and leaves about
  half the convs in float (measured: about FP32 speed). Not for TensorRT (uint8 zero points are rejected).
Both come from the same ranges (one calibration); ``TARGETS`` is the one table of their options.

Nodes kept in float by default (``default_exclusions``): the export wrapper's ``flatten/`` and ``decode/`` scopes —
box corners in pixels and probabilities stay float32 (an int8 step of a 640 px coordinate is 5 px).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

TARGETS = {
    "tensorrt": {"activation": "QInt8", "weight": "QInt8",
                 "extra_options": {"ActivationSymmetric": True, "WeightSymmetric": True, "QuantizeBias": False,
                                   "AddQDQPairToWeight": True},
                 "note": "TensorRT explicit quantization (8.6-11.x) and ONNX Runtime: symmetric int8, zero points 0, "
                         "per-channel conv weights (axis 0), float biases"},
    "cpu": {"activation": "QUInt8", "weight": "QInt8",
            "extra_options": {"ActivationSymmetric": False, "WeightSymmetric": True, "QuantizeBias": True},
            "note": "ONNX Runtime CPU (x86 VNNI, U8S8): asymmetric uint8 activations, symmetric per-channel int8 "
                    "weights, int32 biases; not accepted by TensorRT"},
}
# scope → why its nodes always stay in float (scopes of export/wrapper.py)
FLOAT_SCOPES = {
    "flatten": "raw head outputs reshaped for decoding (float to keep the logits/regression exact)",
    "decode": "box decoding in tile pixels and the score sigmoid: an int8 step of a 640 px coordinate is 5 px",
    "proposals": "Faster R-CNN proposal decoding, top-k and NMS (pixel coordinates, data-dependent)",
    "roi": "Faster R-CNN multi-level RoIAlign and level selection (float features into the box head)",
}


def default_exclusions(model) -> dict[str, str]:
    """{node name: reason} for the nodes of ``FLOAT_SCOPES`` in ``model`` (ModelProto)."""
    out = {}
    for node in model.graph.node:
        scope = node.name.split("/", 1)[0]
        if scope in FLOAT_SCOPES and "/" in node.name:
            out[node.name] = FLOAT_SCOPES[scope]
    return out


WEIGHTED_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")


def with_weight_sharers(model, excluded: dict[str, str]) -> dict[str, str]:
    """``excluded`` plus every conv/matmul that shares its weight initializer with an excluded one (a head shared by
    all pyramid levels is one weight used by 4-5 convs: keeping one in float means keeping its weight float)."""
    inits = {t.name for t in model.graph.initializer}
    users: dict[str, list[str]] = {}
    for node in model.graph.node:
        if node.op_type in WEIGHTED_OPS and len(node.input) > 1 and node.input[1] in inits:
            users.setdefault(node.input[1], []).append(node.name)
    out = dict(excluded)
    for node in model.graph.node:
        if node.name in excluded and node.op_type in WEIGHTED_OPS and len(node.input) > 1:
            for other in users.get(node.input[1], []):
                out.setdefault(other, f"shares its weight with {node.name}: {excluded[node.name]}")
    return out


def prepare(onnx_path: str | Path, out_path: str | Path) -> Path:
    """ORT's ``quant_pre_process`` with ONNX shape inference only: no graph optimisation, so every node and tensor
    keeps the exported name (TensorRT caches and the excluded-node list refer to the FP32 ONNX's names); no symbolic
    shape inference (it gives up on the dynamic-batch reshapes of the decode, and the convolutional graph has static
    shapes apart from the batch)."""
    from onnxruntime.quantization.shape_inference import quant_pre_process
    quant_pre_process(str(onnx_path), str(out_path), skip_optimization=True, skip_symbolic_shape=True)
    return Path(out_path)


def qdq_from_ranges(prepared: str | Path, out: str | Path, ranges, target: str = "tensorrt",
                    nodes_to_exclude: list[str] | tuple = (), reduce_range: bool = False) -> Path:
    """Write the Q/DQ ONNX ``out`` from ``prepared`` (see ``prepare``) and ``ranges`` (ORT TensorsData).
    ``reduce_range``: 7-bit weights (see ``cpu_form``)."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.calibrate import save_tensors_data

    if target not in TARGETS:
        raise ValueError(f"--target {target!r}: choose from {', '.join(TARGETS)}")
    t = TARGETS[target]
    with tempfile.TemporaryDirectory(prefix="sspnet-qdq-") as tmp:
        cache = Path(tmp) / "ranges.json"
        save_tensors_data(ranges, cache)
        quantize_static(str(prepared), str(out), calibration_data_reader=None, quant_format=QuantFormat.QDQ,
                        per_channel=True, reduce_range=reduce_range, activation_type=getattr(QuantType, t["activation"]),
                        weight_type=getattr(QuantType, t["weight"]), nodes_to_exclude=list(nodes_to_exclude),
                        calibrate_method=ranges.calibration_method, extra_options=dict(t["extra_options"]),
                        calibration_cache_path=cache)
    return Path(out)


def quantize_qdq(onnx_path: str | Path, out: str | Path, batches: list, method: str,
                 target: str = "tensorrt", nodes_to_exclude: list[str] | tuple = ()) -> Path:
    """One call for in-memory data: FP32 ONNX + NCHW float32 batches (the model's input) → Q/DQ ONNX ``out``.
    The pipeline of ``sspnet calibrate`` without images, caches or report (tests, notebooks)."""
    import onnx

    from sspnet.calibration.data import TileArrays
    from sspnet.calibration.ranges import collect_ranges
    model = onnx.load(str(onnx_path))
    input_name = model.graph.input[0].name
    excluded = dict(default_exclusions(model), **{n: "requested" for n in nodes_to_exclude})
    with tempfile.TemporaryDirectory(prefix="sspnet-qdq-") as tmp:
        prepared = prepare(onnx_path, Path(tmp) / "prepared.onnx")
        ranges = collect_ranges(prepared, TileArrays(batches), method, input_name, log=lambda *a: None)
        return qdq_from_ranges(prepared, out, ranges, target, sorted(with_weight_sharers(model, excluded)))


def activation_scales(qdq_model) -> dict[str, tuple[float, int]]:
    """{float tensor name: (scale, zero point)} of every activation QuantizeLinear in a Q/DQ model (weights
    excluded): what the model quantizes, by the names of the FP32 graph."""
    from onnx import numpy_helper
    g = qdq_model.graph
    consts = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    out = {}
    for node in g.node:
        if node.op_type != "QuantizeLinear" or node.input[0] in consts:
            continue
        scale = consts.get(node.input[1])
        zp = consts.get(node.input[2]) if len(node.input) > 2 else None
        if scale is None or scale.size != 1:
            continue
        out[node.input[0]] = (float(scale.reshape(())), int(zp.reshape(())) if zp is not None else 0)
    return out


def quantized_nodes(float_model, qdq_model) -> list[str]:
    """Names of the FP32 graph's nodes that read at least one dequantized input in the Q/DQ graph."""
    produced_by_dq = {o for n in qdq_model.graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    names = {n.name for n in float_model.graph.node}
    return [n.name for n in qdq_model.graph.node
            if n.name in names and any(i in produced_by_dq for i in n.input)]
