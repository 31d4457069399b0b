"""Stable, meaningful names for every node, tensor and weight of an exported graph.

TensorRT calibration caches, layer-precision pins and the calibration report all key on tensor and node names, so a
re-export of the same architecture must give the same names, and a name should say where it comes from. torch's
exporter already names nodes after the module scope (``/model/backbone/_blocks.1/_expand_conv/Conv``) but leaves
numbered tensors (``onnx::Conv_726``) and scope-less helpers. ``stable_names`` rewrites, in topological order:

- node ``<scope>/<Op>_<i>``: the module scope without the wrapper's ``model/`` prefix, the op type, and a counter
  per (scope, op) — e.g. ``backbone/_blocks.1/_expand_conv/Conv_0``, ``decode/Exp_0``; nodes without a scope go to
  ``graph/``;
- each node output = its node's name (``<name>:<k>`` for the k-th extra output); graph inputs and outputs keep their
  names (``images``, ``boxes``, ``scores``);
- each initializer ``<first consumer>/<slot>`` (``…/Conv_0/W``, ``…/Conv_0/B``, ``…/Add_0/in1``).
"""
from __future__ import annotations

from collections import Counter

SLOT_NAMES = {"Conv": ("X", "W", "B"), "ConvTranspose": ("X", "W", "B"), "Gemm": ("A", "B", "C")}


def node_scope(raw_name: str, strip_prefix: str = "model") -> str:
    """'/model/backbone/_blocks.1/act/Clip' → 'backbone/_blocks.1/act'; '/Concat_3' or '' → 'graph'."""
    if not raw_name.startswith("/"):
        return "graph"
    parts = raw_name[1:].split("/")[:-1]
    if parts and parts[0] == strip_prefix:
        parts = parts[1:]
    return "/".join(parts) or "graph"


def _subgraph_inputs(node) -> bool:
    return any(a.type in (5, 10) for a in node.attribute)   # GRAPH, GRAPHS


def stable_names(model, strip_prefix: str = "model"):
    """Rename nodes, intermediate tensors and initializers of ``model`` (ModelProto, in place); returns it."""
    g = model.graph
    if any(_subgraph_inputs(n) for n in g.node):
        raise ValueError("stable_names: graphs with sub-graphs (If/Loop/Scan) are not supported; "
                         "the exported detector should have none")
    keep = {i.name for i in g.input} | {o.name for o in g.output}
    counters: Counter = Counter()
    tensor_map: dict[str, str] = {}
    for node in g.node:
        scope = node_scope(node.name, strip_prefix)
        key = (scope, node.op_type)
        node.name = f"{scope}/{node.op_type}_{counters[key]}"
        counters[key] += 1
        for k, out in enumerate(node.output):
            if out and out not in keep:
                tensor_map[out] = node.name if k == 0 else f"{node.name}:{k}"
    init_names = {t.name for t in g.initializer}
    for node in g.node:
        slots = SLOT_NAMES.get(node.op_type, ())
        for k, inp in enumerate(node.input):
            if inp in init_names and inp not in tensor_map and inp not in keep:
                tensor_map[inp] = f"{node.name}/{slots[k] if k < len(slots) else f'in{k}'}"
    unused = [t.name for t in g.initializer if t.name not in tensor_map and t.name not in keep]
    for name in unused:
        tensor_map[name] = f"graph/unused/{name}"
    if len(set(tensor_map.values())) != len(tensor_map):
        dup = [v for v, c in Counter(tensor_map.values()).items() if c > 1][:3]
        raise ValueError(f"stable_names: duplicate names {dup}")

    def rename(name: str) -> str:
        return tensor_map.get(name, name)

    for node in g.node:
        node.input[:] = [rename(i) for i in node.input]
        node.output[:] = [rename(o) for o in node.output]
    for t in g.initializer:
        t.name = rename(t.name)
    for vi in g.value_info:
        vi.name = rename(vi.name)
    return model
