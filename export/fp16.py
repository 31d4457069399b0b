"""FP16 ONNX for strongly typed TensorRT (11.x: precision comes from the graph, ``--fp16`` is gone) and FP16 GPUs.

The FP32 graph is converted with ONNX Runtime's ``convert_float_to_float16`` (weights and activations to float16),
with three deliberate exceptions, recorded in the manifest:
- the graph's input and outputs stay float32 (``keep_io_types``; Cast nodes at the edges), so the runtime feeds and
  reads the same tensors for every precision;
- the ``decode/`` scope stays float32: box corners are tile pixels up to 640, where float16's spacing is 0.25–0.5 px,
  too coarse for persons of 2–8 px; exp() of the regression is also safer in float32;
- ops that ONNX Runtime's converter keeps in float32 by default (its block list: NonMaxSuppression, RoiAlign, TopK,
  Min/Max, …; the Faster R-CNN proposal stage).
Parity with PyTorch (FP32) is measured by ``export/onnx.py`` and reported in the manifest, not enforced.
"""
from __future__ import annotations

DECODE_SCOPE = "decode/"


def convert_fp16(model) -> tuple:
    """FP32 ModelProto → (FP16 ModelProto with float32 I/O, names of the nodes kept in float32)."""
    import onnx
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    kept = [n.name for n in model.graph.node if n.name.startswith(DECODE_SCOPE)]
    blocked_ops = set(DEFAULT_OP_BLOCK_LIST)
    kept += [n.name for n in model.graph.node if n.op_type in blocked_ops and n.name not in kept]
    fp16 = convert_float_to_float16(onnx.ModelProto.FromString(model.SerializeToString()), keep_io_types=True,
                                    node_block_list=kept, op_block_list=sorted(blocked_ops))
    _name_casts(fp16)
    onnx.checker.check_model(fp16, full_check=True)
    return fp16, kept


def _name_casts(model) -> None:
    """The converter's Cast nodes get names in our scheme: ``<tensor it casts>/Cast`` (stable across exports)."""
    seen: dict[str, int] = {}
    for node in model.graph.node:
        if node.op_type == "Cast" and not node.name.count("/"):
            base = f"{node.input[0]}/Cast"
            k = seen.get(base, 0)
            seen[base] = k + 1
            node.name = base if k == 0 else f"{base}_{k}"
