"""PyTorch checkpoint → ONNX: trace the export wrapper, simplify, give stable names, check, prove parity, write the
manifest. ``export_onnx`` is the one entry point (``sspnet export`` calls it).

Every export runs, in order: ``torch.onnx.export`` (TorchScript tracer, ``dynamo=False``: static graph, scope-named
nodes), the ONNX checker, onnxslim (constant folding, dead code, Identity removal; names kept), ``stable_names``,
the checker again with shape inference, then the parity check of ``export/parity.py`` on real tiles: the ONNX
Runtime outputs against PyTorch's. A parity failure is an error and no artifact is written.
"""
from __future__ import annotations

import io
import re
from pathlib import Path

from sspnet.manifest import INPUT_NAME, OUTPUTS, atomic_write_bytes, model_fields, write_manifest
from sspnet.preprocess import FullFrame, Preprocess

# the one table of ONNX export targets and what each allows (STYLE.md habit 8)
TARGETS = {
    "fovea": {"dynamic_batch": True, "full_frame": True, "min_opset": 13, "fp16": True, "parity": "absolute",
              "tensorrt": "builds on TensorRT 8.6-11.x (no plugins: decode is plain element-wise math; NMS runs "
                          "after the engine in the core)"},
    "faster_rcnn": {"dynamic_batch": False, "full_frame": False, "min_opset": 16, "fp16": True, "parity": "scaled",
                    "tensorrt": "needs TensorRT >= 8.6 for the ONNX RoiAlign and NonMaxSuppression layers "
                                "(INMSLayer); ONNX Runtime runs it on any provider"},
}
MAX_OPSET = 20
OUTPUT_NAMES = tuple(OUTPUTS)


class ExportError(ValueError):
    """An export request that cannot be honoured, or a graph that failed a check; the message says what to do."""


def _load(checkpoint_or_model, cfg):
    """(model in eval mode, Config, parent checkpoint path or None)."""
    import torch
    if isinstance(checkpoint_or_model, torch.nn.Module):
        if cfg is None:
            raise ExportError("export_onnx(model, ...): pass cfg= (the model's Config) with an in-memory model, "
                              "or give a checkpoint path")
        return checkpoint_or_model.eval(), cfg, None
    from sspnet.training.checkpoint import load_checkpoint
    path = Path(checkpoint_or_model)
    model, cfg, _ = load_checkpoint(path)
    return model.float().eval(), cfg, path


def check_options(head: str, batch: int | None, opset: int, fp16: bool, full_frame=None) -> dict:
    """The target's table row, or an ExportError naming the option it does not support."""
    if head not in TARGETS:
        raise ExportError(f"model.head {head!r}: no ONNX export for it; exportable heads: {', '.join(TARGETS)}")
    row = TARGETS[head]
    if full_frame is not None and not row["full_frame"]:
        raise ExportError(f"--full-frame: the {head} export has a fixed input size (static RoI pooling); export "
                          f"tiles")
    if batch is None and not row["dynamic_batch"]:
        raise ExportError(f"--dynamic-batch: the {head} export has a fixed batch (per-image proposals are unrolled); "
                          f"give --batch N")
    if batch is not None and batch < 1:
        raise ExportError(f"--batch {batch}: must be >= 1 (or --dynamic-batch)")
    if not row["min_opset"] <= opset <= MAX_OPSET:
        raise ExportError(f"--opset {opset}: the {head} export needs {row['min_opset']} <= opset <= {MAX_OPSET} "
                          f"(per-channel Q/DQ needs 13, RoiAlign with aligned=True 16)")
    if fp16 and not row["fp16"]:
        raise ExportError(f"--fp16 is not supported for {head}")
    return row


def dynamic_axes(batch: int | None, full_frame: bool) -> dict | None:
    """torch.onnx's ``dynamic_axes``: the batch when it is dynamic, height, width and cell count for full frames."""
    image, cells = {}, {}
    if batch is None:
        image[0] = cells[0] = "N"
    if full_frame:
        image.update({2: "H", 3: "W"})
        cells[1] = "K"
    return {INPUT_NAME: image, OUTPUT_NAMES[0]: cells, OUTPUT_NAMES[1]: cells} if image else None


def trace_to_onnx(wrapper, input_wh: tuple[int, int], batch: int | None, opset: int, full_frame: bool = False):
    """Trace ``wrapper`` and return the checked, simplified, stably named ModelProto."""
    import onnx
    import onnxslim
    import torch

    w, h = input_wh
    dummy = torch.zeros(batch or 2, 3, h, w)
    dynamic = dynamic_axes(batch, full_frame)
    # into memory, not a file: the tracer then cannot write an external-data side file anywhere (a graph over 2 GB
    # fails here instead of leaving one next to the output or in the working directory)
    buf = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(wrapper, (dummy,), buf, dynamo=False, opset_version=opset, input_names=[INPUT_NAME],
                          output_names=list(OUTPUT_NAMES), dynamic_axes=dynamic, do_constant_folding=True)
    model = onnx.load_from_string(buf.getvalue())
    onnx.checker.check_model(model)
    model = onnxslim.slim(model)
    if model is None:
        raise ExportError("onnxslim returned no model (simplification failed); see its log above")
    from sspnet.export.naming import stable_names
    stable_names(model)
    model = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    onnx.checker.check_model(model, full_check=True)
    return model


def raw_output_names(model, head: str) -> dict:
    """{key: tensor name} of the undecoded outputs, matching ``wrapper.raw``: FoveaBox — the inputs of decode's
    Sigmoid and Exp; Faster R-CNN — the RPN convs per level (scopes ``rpn_cls``, ``rpn_cls_1``, …)."""
    found = {}
    for node in model.graph.node:
        in_decode = head == "fovea" and node.name.startswith("decode/")
        if in_decode and node.op_type == "Sigmoid":
            found["logits"] = node.input[0]
        elif in_decode and node.op_type == "Exp":            # by op type: a full-frame decode has Expand nodes
            found["reg"] = node.input[0]
        elif head == "faster_rcnn":
            m = re.fullmatch(r"(?:head/)?(rpn_cls|rpn_reg)(?:_(\d+))?/Conv_0", node.name)
            if m:
                found[f"{m.group(1)}_{int(m.group(2) or 0)}"] = node.output[0]
    return found


def versions() -> dict:
    import onnx
    import onnxruntime
    import onnxslim
    import torch
    return {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__,
            "onnxslim": onnxslim.__version__}


def export_onnx(checkpoint_or_model, out: str | Path, input_wh: tuple[int, int] | None = None, batch: int | None = 1,
                opset: int = 17, fp16: bool = False, *, full_frame: FullFrame | str | None = None, cfg=None,
                parity_images=None, parity_tiles: int = 4, log=print) -> Path:
    """Export a checkpoint (path) or an in-memory model (with ``cfg=``) to ONNX at ``out``; returns ``out``.

    input_wh: tile size (default: the config's input size); batch: fixed batch, or None for a dynamic batch;
    fp16: write an FP16 graph (I/O stay float32; see export/fp16.py). ``full_frame``: dynamic height and width up to
    that size, so the runtime runs whole frames in one call (tiles beyond it); ``"1080p"``: up to a 1080p frame at
    the config's scale. ``parity_images``: folder, dataset or list of
    BGR frames for the parity check (default: rendered synthetic aerial frames). Writes ``out`` + ``out.json``.
    """
    import onnx

    from sspnet.export.parity import check_parity, parity_frame_from, parity_tiles_from
    from sspnet.export.wrapper import wrap_for_export

    model, cfg, parent = _load(checkpoint_or_model, cfg)
    if full_frame == "1080p":
        full_frame = FullFrame.of_frame(1920, 1080, cfg.input.scale_xy, max(model.strides))
    input_wh = tuple(input_wh or (cfg.input.input_w, cfg.input.input_h))
    row = check_options(cfg.model.head, batch, opset, fp16, full_frame)
    wrapper = wrap_for_export(model, input_wh)
    sizes = f" full frames up to {full_frame.max_w}x{full_frame.max_h}" if full_frame else ""
    log(f"export: {cfg.model.name} ({cfg.model.backbone}/{cfg.model.neck}/{cfg.model.head}) "
        f"input {input_wh[0]}x{input_wh[1]}{sizes} batch {batch or 'dynamic'} opset {opset}{' fp16' if fp16 else ''}")
    if full_frame is not None:
        full_frame = FullFrame(full_frame.max_w, full_frame.max_h, max(model.strides))
    proto = trace_to_onnx(wrapper, input_wh, batch, opset, full_frame is not None)
    out = Path(out)
    fields = model_fields(cfg, "onnx-fp16" if fp16 else "onnx", input_wh=input_wh, batch=batch, full_frame=full_frame)
    pre = Preprocess.from_dict(fields["preprocess"])     # the parity tiles are fed as the manifest says
    tiles, source = parity_tiles_from(parity_images, pre, parity_tiles)
    raw_names = raw_output_names(proto, cfg.model.head)
    fp32_bytes = proto.SerializeToString()
    strict = row["parity"] == "absolute"
    parity = check_parity(wrapper, fp32_bytes, tiles, cfg.postprocess, raw_names, batch=batch,
                          scaled=not strict, detections_must_match=strict)
    parity["images"] = source
    log(f"parity fp32 (ONNX Runtime vs PyTorch, {parity['tiles']} tiles from {source}): {parity['summary']}")
    if full_frame is not None and parity["ok"]:
        whole = parity_frame_from(parity_images, pre, full_frame)
        parity["full_frame"] = check_parity(wrapper, fp32_bytes, whole, cfg.postprocess, raw_names, batch=batch,
                                            detections_must_match=strict)
        parity["ok"] = parity["full_frame"]["ok"]
        log(f"parity fp32, one whole frame {whole.shape[3]}x{whole.shape[2]}: {parity['full_frame']['summary']}")
    if not parity["ok"]:
        summary = parity.get("full_frame", parity)["summary"]
        raise ExportError(f"parity check failed: {summary}; the ONNX does not reproduce the PyTorch model, "
                          f"nothing written")
    export_info = {"opset": opset, "exporter": "torch.onnx.export(dynamo=False) + onnxslim + stable names",
                   "raw_outputs": raw_names, "parity": {"fp32": parity}, "tensorrt": row["tensorrt"],
                   "kept_float_scopes": ["decode"], "versions": versions()}
    if fp16:
        from sspnet.export.fp16 import convert_fp16
        proto16, kept = convert_fp16(proto)
        parity16 = check_parity(wrapper, proto16.SerializeToString(), tiles, cfg.postprocess, raw_names,
                                batch=batch, atol=None, detections_must_match=strict)
        parity16["images"] = source
        log(f"parity fp16 (reported, not enforced): {parity16['summary']}")
        export_info["parity"]["fp16"] = parity16
        export_info["fp16"] = {"io_dtype": "float32 (Cast nodes at input and outputs)", "kept_float32_nodes": kept}
        proto = proto16
    atomic_write_bytes(out, proto.SerializeToString())
    onnx.checker.check_model(str(out), full_check=True)
    fields["export"] = export_info
    if parent is None:
        fields["source"] = "in-memory model (no checkpoint file)"
    write_manifest(out, fields, parent=parent)
    return out
