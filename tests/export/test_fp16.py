"""FP16 ONNX: float16 weights and activations, float32 I/O, decode kept in float32, parity reported (not hidden),
runs in ONNX Runtime and through the runtime backend."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto

from sspnet.manifest import read_manifest
from sspnet_test_models import TILE, export_edge


def test_fp16_export(tmp_path: Path, frames_dir: Path, edge_dyn: Path):
    path = export_edge(tmp_path / "edge.fp16.onnx", batch=None, fp16=True, parity_images=str(frames_dir))
    m = read_manifest(path)
    assert m["artifact"] == "onnx-fp16" and m["input"]["dtype"] == "float32"
    g = onnx.load(str(path)).graph
    assert g.input[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert all(o.type.tensor_type.elem_type == TensorProto.FLOAT for o in g.output)
    sizes = Counter()
    for t in g.initializer:
        sizes[t.data_type] += int(np.prod(t.dims))
    assert sizes[TensorProto.FLOAT16] > 50 * sizes[TensorProto.FLOAT], sizes      # weights are float16
    kept = m["export"]["fp16"]["kept_float32_nodes"]
    assert {n for n in kept if n.startswith("decode/")} == {n.name for n in g.node if n.name.startswith("decode/")}
    casts = [n for n in g.node if n.op_type == "Cast"]
    assert all("/" in n.name for n in casts)                                         # named in our scheme
    # no float16 round trip inside the float32 decode: nothing there reads a Cast-to-float16 output
    producer = {o: n for n in g.node for o in n.output}
    for n in g.node:
        if n.name.startswith("decode/"):
            for i in n.input:
                p = producer.get(i)
                assert p is None or p.op_type != "Cast" or p.attribute[0].i == TensorProto.FLOAT, (n.name, i)

    p16, p32 = m["export"]["parity"]["fp16"], m["export"]["parity"]["fp32"]
    assert p16["atol"] is None and p16["ok"] and set(p16["max_abs_diff"]) >= {"boxes", "scores", "logits", "reg"}
    assert p16["max_abs_diff"]["scores"] < 0.05 and p32["max_abs_diff"]["scores"] < 1e-5

    x = np.random.default_rng(0).normal(size=(2, 3, TILE[1], TILE[0])).astype(np.float32)
    b16, s16 = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"images": x})
    b32, s32 = ort.InferenceSession(str(edge_dyn), providers=["CPUExecutionProvider"]).run(None, {"images": x})
    assert b16.dtype == np.float32 and b16.shape == b32.shape
    assert np.abs(s16 - s32).max() < 0.05

    from sspnet.runtime.backends import open_backend
    backend = open_backend(path, "cpu")
    boxes, scores = backend.infer(x)
    assert boxes.shape == b16.shape
    backend.close()
