"""Does ONNX Runtime really run INT8 kernels? Read it from the session, don't assume it.

ONNX Runtime's CPU provider turns DQ→op→Q groups into integer kernels (QLinearConv, QLinearAdd, …) while it
optimises the graph; what it cannot fuse stays a float op between DequantizeLinear and QuantizeLinear. Two views:
- the optimised graph that ONNX Runtime writes (``optimized_model_filepath``): node counts of integer kernels, float
  compute ops and leftover Q/DQ nodes;
- a profiled run: the share of kernel time spent in integer kernels.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

INT8_OPS = {"QLinearConv", "QLinearMatMul", "QLinearAdd", "QLinearMul", "QLinearConcat", "QLinearSigmoid",
            "QLinearAveragePool", "QLinearGlobalAveragePool", "QLinearLeakyRelu", "QLinearSoftmax", "QLinearReduceMean",
            "QLinearWhere", "QGemm", "ConvInteger", "MatMulInteger", "MatMulIntegerToFloat", "DynamicQuantizeMatMul",
            "QLinearResize"}
FLOAT_COMPUTE_OPS = {"Conv", "FusedConv", "ConvTranspose", "Gemm", "MatMul", "FusedMatMul"}
QDQ_OPS = {"QuantizeLinear", "DequantizeLinear"}


def session_options(threads: int = 2, optimized_path: str | None = None, profile_prefix: str | None = None):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    if optimized_path:
        so.optimized_model_filepath = optimized_path
    if profile_prefix:
        so.enable_profiling = True
        so.profile_file_prefix = profile_prefix
    return so


def kernel_report(onnx_path: str | Path, sample: np.ndarray | None = None, threads: int = 2, runs: int = 2) -> dict:
    """Op counts of the optimised graph and (with ``sample``, an input batch) the integer-kernel time share."""
    import onnx
    import onnxruntime as ort
    with tempfile.TemporaryDirectory(prefix="sspnet-kernels-") as tmp:
        opt = os.path.join(tmp, "optimized.onnx")
        sess = ort.InferenceSession(str(onnx_path), session_options(threads, opt, os.path.join(tmp, "prof")),
                                    providers=["CPUExecutionProvider"])
        counts = Counter(n.op_type for n in onnx.load(opt).graph.node)
        time_by_op: Counter = Counter()
        if sample is not None:
            name = sess.get_inputs()[0].name
            for _ in range(runs):
                sess.run(None, {name: sample})
            events = json.loads(Path(sess.end_profiling()).read_text())
            for e in events:
                if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
                    time_by_op[e["args"]["op_name"]] += e["dur"]
        else:
            os.remove(sess.end_profiling())
    int8 = {k: v for k, v in counts.items() if k in INT8_OPS}
    flt = {k: v for k, v in counts.items() if k in FLOAT_COMPUTE_OPS}
    report = {"int8_kernels": dict(sorted(int8.items())), "float_compute": dict(sorted(flt.items())),
              "qdq_left": sum(counts[k] for k in QDQ_OPS), "optimized_ops": dict(sorted(counts.items())),
              "int8_conv_fraction": _fraction(counts.get("QLinearConv", 0) + counts.get("ConvInteger", 0),
                                              sum(flt.values()))}
    if time_by_op:
        total = sum(time_by_op.values())
        report["time_share"] = {k: round(v / total, 4) for k, v in time_by_op.most_common()}
        report["int8_time_fraction"] = round(sum(v for k, v in time_by_op.items() if k in INT8_OPS) / total, 4)
    return report


def _fraction(int8: int, flt: int) -> float | None:
    return round(int8 / (int8 + flt), 4) if int8 + flt else None


def summary(report: dict) -> str:
    ints = sum(report["int8_kernels"].values())
    s = (f"{ints} integer kernels ({', '.join(f'{k} {v}' for k, v in report['int8_kernels'].items()) or 'none'}), "
         f"{sum(report['float_compute'].values())} float conv/matmul, {report['qdq_left']} Q/DQ nodes left")
    if "int8_time_fraction" in report:
        s += f"; {100 * report['int8_time_fraction']:.0f}% of kernel time in integer kernels"
    return s
