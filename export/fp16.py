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
    _cancel_cast_pairs(fp16)
    _dedupe_casts(fp16)
    _name_casts(fp16)
    _toposort(fp16)
    onnx.checker.check_model(fp16, full_check=True)
    return fp16, kept


def _cancel_cast_pairs(model) -> None:
    """The converter casts between every two adjacent float32 nodes (fp32 → Cast fp16 → Cast fp32 → next), which
    rounds through float16 inside the float32 region and duplicates a Cast per consumer. Drop such pairs: a
    Cast-to-float32 of a Cast-to-float16 of a float32 tensor is that tensor."""
    from onnx import TensorProto
    g = model.graph

    def cast_to(node):
        return next((a.i for a in node.attribute if a.name == "to"), None) if node.op_type == "Cast" else None

    producer = {o: n for n in g.node for o in n.output}
    replace = {}
    for node in g.node:
        if cast_to(node) != TensorProto.FLOAT:
            continue
        first = producer.get(node.input[0])
        if first is not None and cast_to(first) == TensorProto.FLOAT16:
            replace[node.output[0]] = first.input[0]
    if not replace:
        return
    outputs = {o.name for o in g.output}
    for node in g.node:            # a graph output keeps its name: the second Cast becomes an Identity
        if node.output and node.output[0] in replace and node.output[0] in outputs:
            node.op_type = "Identity"
            del node.attribute[:]
            node.input[:] = [replace.pop(node.output[0])]
    keep = [n for n in g.node if not (n.output and n.output[0] in replace)]
    for node in keep:
        node.input[:] = [replace.get(i, i) for i in node.input]
    used = {i for n in keep for i in n.input} | outputs
    keep = [n for n in keep if cast_to(n) != TensorProto.FLOAT16 or n.output[0] in used]
    del g.node[:]
    g.node.extend(keep)


def _dedupe_casts(model) -> None:
    """The converter adds one identical Cast per consumer of a shared float16 initializer that a float32 node
    reads, all writing the same tensor name: keep the first."""
    seen, keep = set(), []
    for node in model.graph.node:
        if node.op_type == "Cast" and node.output[0] in seen:
            continue
        seen.update(node.output)
        keep.append(node)
    del model.graph.node[:]
    model.graph.node.extend(keep)


def _toposort(model) -> None:
    """The converter appends its Cast nodes at the end; ONNX wants producers before consumers (stable order)."""
    g = model.graph
    ready = {i.name for i in g.input} | {t.name for t in g.initializer} | {""}
    pending, ordered = list(g.node), []
    while pending:
        rest = []
        for node in pending:
            if all(i in ready for i in node.input):
                ordered.append(node)
                ready.update(node.output)
            else:
                rest.append(node)
        if len(rest) == len(pending):
            raise ValueError(f"FP16 graph has a cycle or a missing input at {rest[0].name}")
        pending = rest
    del g.node[:]
    g.node.extend(ordered)


def _name_casts(model) -> None:
    """The converter's Cast nodes get names in our scheme: ``<tensor it casts>/Cast`` (stable across exports); the
    output Identities ``<output>/Identity``."""
    seen: dict[str, int] = {}
    for node in model.graph.node:
        if node.op_type in ("Cast", "Identity") and not node.name.count("/"):
            base = f"{node.input[0]}/Cast" if node.op_type == "Cast" else f"{node.output[0]}/Identity"
            k = seen.get(base, 0)
            seen[base] = k + 1
            node.name = base if k == 0 else f"{base}_{k}"
