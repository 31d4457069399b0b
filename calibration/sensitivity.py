"""Which quantized tensors hurt most: per-tensor signal-to-quantization-noise ratio with ONNX Runtime's
``qdq_loss_debug`` tooling (the Q/DQ model's activations before and after each Q/DQ pair, and against the FP32
model's activations), mapped to the FP32 node that produces each tensor.

``rank_nodes`` orders those nodes from the noisiest (lowest SQNR of the quantization step itself, ``qdq_err``) to the
cleanest; the accuracy gate excludes them in that order once the structural candidates are used up.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np


class _Reader:
    def __init__(self, input_name: str, batches: list[np.ndarray]):
        self.items = [{input_name: b} for b in batches]
        self.i = 0

    def get_next(self):
        self.i += 1
        return self.items[self.i - 1] if self.i <= len(self.items) else None

    def __iter__(self):
        return iter(self.items)


def _activations(model_path: str | Path, batches: list[np.ndarray], input_name: str, tmp: str, tag: str) -> dict:
    from onnxruntime.quantization.qdq_loss_debug import collect_activations, modify_model_output_intermediate_tensors
    aug = os.path.join(tmp, f"{tag}.onnx")
    modify_model_output_intermediate_tensors(str(model_path), aug)
    return collect_activations(aug, _Reader(input_name, batches))


def rank_nodes(float_path: str | Path, qdq_path: str | Path, batches: list[np.ndarray],
               candidates: set[str] | None = None, input_name: str = "images") -> list[dict]:
    """[{node, tensor, qdq_sqnr_db, model_sqnr_db}] sorted noisiest first, for nodes in ``candidates`` (all FP32
    nodes if None)."""
    import onnx
    from onnxruntime.quantization.qdq_loss_debug import compute_activation_error, create_activation_matching

    producer = {o: n.name for n in onnx.load(str(float_path)).graph.node for o in n.output}
    with tempfile.TemporaryDirectory(prefix="sspnet-sens-") as tmp:
        q_acts = _activations(qdq_path, batches, input_name, tmp, "qdq")
        f_acts = _activations(float_path, batches, input_name, tmp, "float")
    errors = compute_activation_error(create_activation_matching(q_acts, f_acts))
    rows = []
    for tensor, err in errors.items():
        node = producer.get(tensor)
        if node is None or (candidates is not None and node not in candidates):
            continue
        rows.append({"node": node, "tensor": tensor, "qdq_sqnr_db": round(float(err["qdq_err"]), 2),
                     "model_sqnr_db": round(float(err.get("xmodel_err", float("nan"))), 2)})
    rows.sort(key=lambda r: r["qdq_sqnr_db"])
    return rows
