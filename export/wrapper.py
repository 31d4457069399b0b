"""What gets traced: the detector wrapped from outside, with FoveaBox box decoding in the graph.

``FoveaExport(detector, input_wh)``: images [N, 3, H, W] → (boxes [N, K, 4] xyxy in tile-input pixels, scores [N, K]
person probability), K = Σ_l H_l·W_l over the pyramid levels, levels concatenated in order (P2 first), cells
row-major inside a level — the order of ``sspnet.postprocess.fovea_points``. The decode is the core's
``decode_fovea`` written in torch: point ∓ base_edge·exp(reg), clipped to the tile; the points and per-cell base
edges are constant buffers computed once from the same core function, so the graph has no shape arithmetic.

The sub-module names give the ONNX scopes that the rest of the pipeline relies on: ``model/…`` (the detector),
``flatten/…`` (per-level maps → [N, K] logits and [N, K, 4] regression, the raw outputs the parity check compares)
and ``decode/…`` (box decoding and sigmoid, always kept in float by calibration).
The model class knows nothing about export (STYLE.md habit 9).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from sspnet.postprocess import fovea_points


class LevelFlatten(nn.Module):
    """Per-level maps → all cells: cls [[N, 1, H_l, W_l]] → logits [N, K]; reg [[N, 4, H_l, W_l]] → [N, K, 4]."""

    def forward(self, cls: list[torch.Tensor], reg: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        logits = torch.cat([c.flatten(1) for c in cls], dim=1)                    # [N, K]
        reg_ltrb = torch.cat([r.flatten(2) for r in reg], dim=2).transpose(1, 2)  # [N, 4, K] → [N, K, 4]
        return logits, reg_ltrb


class FoveaDecode(nn.Module):
    """logits [N, K], reg [N, K, 4] (log-space l, t, r, b in base-edge units) → boxes [N, K, 4] xyxy px, scores [N, K]."""

    def __init__(self, strides: list[int], base_edges: list[float], input_wh: tuple[int, int]):
        super().__init__()
        w, h = input_wh
        points = fovea_points(w, h, list(strides))                               # per level [H_l·W_l, 2]
        base = np.concatenate([np.full(len(p), b, np.float32) for p, b in zip(points, base_edges)])
        self.register_buffer("points_xy", torch.from_numpy(np.concatenate(points))[None])      # [1, K, 2]
        self.register_buffer("base_edge", torch.from_numpy(base)[None, :, None])              # [1, K, 1]
        self.register_buffer("upper_xyxy", torch.tensor([w, h, w, h], dtype=torch.float32))  # [4]
        self.num_cells = int(base.size)

    def forward(self, logits: torch.Tensor, reg_ltrb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        d = self.base_edge * torch.exp(reg_ltrb)                                  # [N, K, 4]
        boxes = torch.cat([self.points_xy - d[..., :2], self.points_xy + d[..., 2:]], dim=-1)
        boxes = torch.minimum(torch.clamp(boxes, min=0.0), self.upper_xyxy)
        return boxes, torch.sigmoid(logits)


class FoveaExport(nn.Module):
    """A FoveaBox-family ``SSPNetDetector`` (``strides``, ``base_edges``) → (boxes, scores) with in-graph decode."""

    def __init__(self, model: nn.Module, input_wh: tuple[int, int]):
        super().__init__()
        strides, base_edges = list(model.strides), list(model.base_edges)
        if len(base_edges) != len(strides):
            raise ValueError(f"FoveaBox export needs one base edge per level: strides {strides}, "
                             f"base_edges {base_edges}")
        w, h = input_wh
        worst = max(strides)
        if w % worst or h % worst:
            raise ValueError(f"input {w}x{h}: width and height must be multiples of the largest stride {worst}")
        self.model = model
        self.flatten = LevelFlatten()
        self.decode = FoveaDecode(strides, base_edges, input_wh)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outputs = self.model(images)
        logits, reg_ltrb = self.flatten(outputs["cls"], outputs["reg"])
        return self.decode(logits, reg_ltrb)

    @torch.no_grad()
    def raw(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """The undecoded outputs {logits [N, K], reg [N, K, 4]} for the parity check."""
        outputs = self.model(images)
        logits, reg_ltrb = self.flatten(outputs["cls"], outputs["reg"])
        return {"logits": logits, "reg": reg_ltrb}


def wrap_for_export(model: nn.Module, input_wh: tuple[int, int]) -> nn.Module:
    """The export module for a detector, in eval mode: FoveaBox family or Faster R-CNN."""
    from sspnet.training.heads.fovea import FoveaHead

    head = getattr(model, "head", None)
    if isinstance(head, FoveaHead):
        return FoveaExport(model, input_wh).eval()
    from sspnet.training.heads.faster_rcnn import FasterRCNNHead
    if isinstance(head, FasterRCNNHead):
        from sspnet.export.wrapper_rcnn import FasterRCNNExport
        return FasterRCNNExport(model, input_wh).eval()
    raise TypeError(f"cannot export {type(model).__name__} with head {type(head).__name__}: expected a FoveaBox "
                    f"or Faster R-CNN SSPNetDetector")
