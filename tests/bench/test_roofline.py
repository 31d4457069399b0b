"""bench/roofline.py: op counting on a hand-sized graph, profiler parsing on real ONNX Runtime output, CPU peaks."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import roofline  # noqa: E402

BATCH = [2, 3, 8, 8]
# 2 × MACs at N = 2: conv 3→8 3x3 pad 1 at 8x8: 2·(2·8·8·8)·(3·3·3); depthwise 3x3 stride 2 to 4x4:
# 2·(2·8·4·4)·9; matmul [2, 128] × [128, 5]: 2·(2·5)·128
OPS = {"backbone/conv/Conv_0": 55296, "backbone/dw/Conv_0": 4608, "head/fc/MatMul_0": 2560}


def tiny_model() -> onnx.ModelProto:
    """x [N, 3, 8, 8] → conv 3x3 → relu → depthwise 3x3 stride 2 → flatten → matmul → y [N, 5]."""
    rng = np.random.default_rng(0)
    init = [numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), n) for n, s in
            (("w1", (8, 3, 3, 3)), ("w2", (8, 1, 3, 3)), ("fc", (128, 5)))]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], "backbone/conv/Conv_0", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"], "backbone/act/Relu_0"),
             helper.make_node("Conv", ["r1", "w2"], ["c2"], "backbone/dw/Conv_0", group=8, pads=[1, 1, 1, 1],
                              strides=[2, 2]),
             helper.make_node("Flatten", ["c2"], ["f"], "head/Flatten_0"),
             helper.make_node("MatMul", ["f", "fc"], ["y"], "head/fc/MatMul_0")]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])], init)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_ops_conv_shape_and_level_of_each_node():
    model = tiny_model()
    shapes = roofline.concrete_shapes(model, BATCH)
    got = {n.name: (roofline.node_ops(n, shapes), roofline.conv_shape(n, shapes), roofline.level(n, shapes, 8))
           for n in model.graph.node}
    assert got == {"backbone/conv/Conv_0": (55296, "dense 3x3", "backbone/P0"),
                   "backbone/act/Relu_0": (0, "", "backbone/P0"),
                   "backbone/dw/Conv_0": (4608, "depthwise 3x3", "backbone/P1"),
                   "head/Flatten_0": (0, "", "head"), "head/fc/MatMul_0": (2560, "", "head")}


def test_ops_of_a_node_ort_fused_away_go_down_its_chain():
    model = tiny_model()
    ops = {n.name: roofline.node_ops(n, roofline.concrete_shapes(model, BATCH)) for n in model.graph.node}
    executed = {"backbone/act/Relu_0", "backbone/dw/Conv_0", "head/fc/MatMul_0"}   # conv fused under the relu's name
    sources, lost = roofline.attribute_ops(model.graph, ops, executed)
    assert {k: [n.name for n in v] for k, v in sources.items()} == {
        "backbone/act/Relu_0": ["backbone/conv/Conv_0"], "backbone/dw/Conv_0": ["backbone/dw/Conv_0"],
        "head/fc/MatMul_0": ["head/fc/MatMul_0"]}
    assert lost == 0
    sources, _ = roofline.attribute_ops(model.graph, ops, {"head/fc/MatMul_0"})   # one node ran the whole chain
    assert [n.name for n in sources["head/fc/MatMul_0"]] == list(OPS)
    _, lost = roofline.attribute_ops(model.graph, ops, set())
    assert lost == sum(OPS.values())


def test_real_profile_parses_into_runs_and_keeps_every_op(tmp_path):
    model = tiny_model()
    path = tmp_path / "tiny.onnx"
    onnx.save(model, path)
    batch = np.random.default_rng(1).standard_normal(BATCH).astype(np.float32)
    trace = roofline.profile(path, batch, threads=1, warmup=1, runs=2, prefix=tmp_path / "profile")
    per_run, run_us, op_name = roofline.node_times(json.loads(trace.read_text()), skip=1)
    assert len(per_run) == len(run_us) == 2 and all(u > 0 for u in run_us)
    assert all(set(r) == set(op_name) for r in per_run)
    assert all(sum(r.values()) <= u for r, u in zip(per_run, run_us))
    peaks = roofline.peak({"avx2", "fma"}, 2.0, 1)
    rows, lost = roofline.node_rows(model, roofline.concrete_shapes(model, BATCH), per_run, op_name, peaks, 8)
    assert lost == 0
    assert sorted(r["ops"] for r in rows if r["ops"]) == sorted(OPS.values())
    assert {r["kind"] for r in rows} == {"fp32"}


def test_peaks_from_isa_flags():
    avx2 = roofline.peak({"avx2", "fma"}, 2.0, 2)
    assert (avx2["fp32_gflops"], avx2["int8_gops"]) == (128.0, 256.0)       # 2·2·(2·8·2); 2·2·(2·32·2/2)
    vnni256 = roofline.peak({"avx2", "fma", "avx_vnni"}, 2.0, 2)
    assert (vnni256["fp32_gflops"], vnni256["int8_gops"]) == (128.0, 512.0)  # vpdpbusd ymm: 2·32·2 per cycle
    avx512 = roofline.peak({"avx2", "fma", "avx512f", "avx512_vnni"}, 2.0, 2)
    assert (avx512["fp32_gflops"], avx512["int8_gops"]) == (256.0, 1024.0)   # 2·16·2; vpdpbusd zmm: 2·64·2
