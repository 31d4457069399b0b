"""What gets traced: the detector wrapped from outside, with FoveaBox box decoding in the graph.

``FoveaExport(detector, input_wh)``: images [N, 3, H, W] → (boxes [N, K, 4] xyxy in tile-input pixels, scores [N, K]
person probability), K = Σ_l H_l·W_l over the pyramid levels, levels concatenated in order (P2 first), cells
row-major inside a level — the order of ``sspnet.postprocess.fovea_points``. The decode is the core's
``decode_fovea`` written in torch: point ∓ base_edge·exp(reg), clipped to the input; the points and per-cell base
edges follow from the level maps' shapes (constants after onnxslim in a fixed-size export; computed in the graph
when height and width are dynamic, for full-frame inference).

The sub-module names give the ONNX scopes that the rest of the pipeline relies on: ``model/…`` (the detector),
``flatten/…`` (per-level maps → [N, K] logits and [N, K, 4] regression, the raw outputs the parity check compares)
and ``decode/…`` (box decoding and sigmoid, always kept in float by calibration).
The model class knows nothing about export (STYLE.md habit 9).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.onnx.operators import shape_as_tensor


class LevelFlatten(nn.Module):
    """Per-level maps → all cells: cls [[N, 1, H_l, W_l]] → logits [N, K]; reg [[N, 4, H_l, W_l]] → [N, K, 4]."""

    def forward(self, cls: list[torch.Tensor], reg: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        logits = torch.cat([c.flatten(1) for c in cls], dim=1)                    # [N, K]
        reg_ltrb = torch.cat([r.flatten(2) for r in reg], dim=2).transpose(1, 2)  # [N, 4, K] → [N, K, 4]
        return logits, reg_ltrb


class FoveaDecode(nn.Module):
    """logits [N, K], reg [N, K, 4] (log-space l, t, r, b in base-edge units) → boxes [N, K, 4] xyxy px, scores [N, K].

    The cell centres come from the level maps' shapes, so one graph decodes a 640×512 tile or a whole frame (an
    export with dynamic height and width); with a fixed input size onnxslim folds them into constants."""

    def __init__(self, strides: list[int], base_edges: list[float]):
        super().__init__()
        self.strides, self.base_edges = list(strides), [float(b) for b in base_edges]

    def cells(self, maps: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Centres [1, K, 2] (x, y) and base edges [1, K, 1] of every cell, in ``fovea_points`` order."""
        points, base = [], []
        for m, s, b in zip(maps, self.strides, self.base_edges):
            shape = shape_as_tensor(m)            # traced as the graph's Shape, not as constants
            h, w = shape[-2], shape[-1]
            ys = (torch.arange(h, device=m.device).float() + 0.5) * s
            xs = (torch.arange(w, device=m.device).float() + 0.5) * s
            yy, xx = torch.meshgrid(ys, xs, indexing="ij")
            points.append(torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1))
            base.append(torch.full_like(xx.reshape(-1), b))
        return torch.cat(points)[None], torch.cat(base)[None, :, None]

    def forward(self, logits: torch.Tensor, reg_ltrb: torch.Tensor,
                maps: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        points_xy, base_edge = self.cells(maps)
        d = base_edge * torch.exp(reg_ltrb)                                       # [N, K, 4]
        boxes = torch.cat([points_xy - d[..., :2], points_xy + d[..., 2:]], dim=-1)
        hw = shape_as_tensor(maps[0])[-2:].float().to(boxes.device) * self.strides[0]   # the input's size
        upper = hw.flip(0).repeat(2)                                              # [w, h, w, h]
        boxes = torch.minimum(torch.clamp(boxes, min=0.0), upper)
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
        self.decode = FoveaDecode(strides, base_edges)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outputs = self.model(images)
        logits, reg_ltrb = self.flatten(outputs["cls"], outputs["reg"])
        return self.decode(logits, reg_ltrb, outputs["cls"])

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
