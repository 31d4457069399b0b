"""A tiny but real detector-shaped ONNX model + manifest for runtime tests (built with onnx.helper).

input "images" [N, 3, H, W] → "scores" [N, K]: sigmoid of each cell's mean brightness (cells of ``cell`` px),
"boxes" [N, K, 4]: the cell rectangles in tile-input pixels. Bright blobs become detections, so detections depend
on the pixels (batched vs one-by-one is a meaningful comparison). ``slow_convs`` adds a conv tower whose output
feeds the scores with a tiny weight, to make inference take measurable time.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sspnet.manifest import write_manifest
from sspnet.postprocess import Postprocess
from sspnet.preprocess import Preprocess


def make_tiny_model(path: str | Path, tile_wh: tuple = (160, 128), batch: int | None = None, cell: int = 16,
                    overlap: int = 16, slow_convs: int = 0, score_thr: float = 0.5, scale: float = 1.0,
                   person_px: float = 0.0) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w, h = tile_wh
    gw, gh = w // cell, h // cell
    k = gw * gh
    ys, xs = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
    cells = np.stack([xs * cell, ys * cell, (xs + 1) * cell, (ys + 1) * cell], -1).reshape(1, k, 4).astype(np.float32)
    n = batch if batch else "N"
    inits = [numpy_helper.from_array(cells, "cells"), numpy_helper.from_array(np.array([0, -1], np.int64), "flat"),
             numpy_helper.from_array(np.array([-1], np.int64), "last"),
             numpy_helper.from_array(np.array(2.0, np.float32), "gain"),
             numpy_helper.from_array(np.array(-1.0, np.float32), "bias"),
             numpy_helper.from_array(np.array(0.0, np.float32), "zero")]
    nodes = [helper.make_node("ReduceMean", ["images"], ["gray"], axes=[1], keepdims=1),
             helper.make_node("AveragePool", ["gray"], ["pooled"], kernel_shape=[cell, cell], strides=[cell, cell]),
             helper.make_node("Reshape", ["pooled", "flat"], ["cellmean"])]
    logit_in = "cellmean"
    if slow_convs:
        rng = np.random.default_rng(0)
        prev, ch = "images", 3
        for i in range(slow_convs):
            wname = f"conv{i}_w"
            inits.append(numpy_helper.from_array((rng.standard_normal((16, ch, 3, 3)) * 0.1).astype(np.float32), wname))
            nodes.append(helper.make_node("Conv", [prev, wname], [f"conv{i}"], pads=[1, 1, 1, 1]))
            nodes.append(helper.make_node("Relu", [f"conv{i}"], [f"relu{i}"]))
            prev, ch = f"relu{i}", 16
        inits.append(numpy_helper.from_array(np.array(1e-6, np.float32), "tiny"))
        nodes += [helper.make_node("ReduceMean", [prev], ["towermean"], axes=[1, 2, 3], keepdims=0),
                  helper.make_node("Unsqueeze", ["towermean", "last"], ["tower1"]),
                  helper.make_node("Mul", ["tower1", "tiny"], ["towersmall"]),
                  helper.make_node("Add", ["cellmean", "towersmall"], ["withtower"])]
        logit_in = "withtower"
    nodes += [helper.make_node("Mul", [logit_in, "gain"], ["scaled"]),
              helper.make_node("Add", ["scaled", "bias"], ["logit"]),
              helper.make_node("Sigmoid", ["logit"], ["scores"]),
              helper.make_node("Unsqueeze", ["scores", "last"], ["scores3"]),
              helper.make_node("Mul", ["scores3", "zero"], ["zeros3"]),
              helper.make_node("Add", ["zeros3", "cells"], ["boxes"])]
    graph = helper.make_graph(
        nodes, "tiny_detector",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [n, 3, h, w])],
        [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [n, k, 4]),
         helper.make_tensor_value_info("scores", TensorProto.FLOAT, [n, k])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    pre = Preprocess(input_w=w, input_h=h, overlap=overlap, scale=scale, person_px=person_px)
    post = Postprocess(score_thr=score_thr, nms_iou=0.5, merge_iou=0.5, max_det=100)
    write_manifest(path, {
        "artifact": "onnx", "model": {"name": "tiny-test-detector", "backbone": "none", "neck": "none", "head": "cells"},
        "input": {"name": "images", "layout": "NCHW", "dtype": "float32", "batch": batch or "dynamic",
                  "width": w, "height": h},
        "preprocess": pre.to_dict(), "postprocess": post.to_dict(),
        "outputs": {"boxes": "[N,K,4] xyxy, tile-input pixels", "scores": "[N,K] person probability"},
        "output_names": ["boxes", "scores"], "classes": ["person"]})
    return path
