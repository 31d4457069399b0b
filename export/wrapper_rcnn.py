"""Faster R-CNN-SSPNet export: the head's inference path as a static graph, adapted from outside.

The head's ``forward`` keeps data-dependent Python (per-level ``if idx.numel()`` around RoIAlign, proposal counts
read back as ints) that a tracer would freeze at the sizes seen while tracing. This wrapper calls the head's own
methods where they trace as they are (``rpn``, ``image_proposals``, ``predict_rois``) and replaces only the RoI
pooling and the per-image bookkeeping with shape-free ops:

- proposals per image: ``FasterRCNNHead.image_proposals`` with the anchors as constant buffers (per level top-k
  with a static k → decode → NMS per level, torchvision ``batched_nms`` → ONNX NonMaxSuppression → the best
  ``max_proposals``);
- RoIAlign (``roi_pool_level``) on every level for all proposals, then each proposal keeps its own level's result
  (``where``): 4× the RoIAlign work, no dynamic indexing;
- outputs padded with zero-score rows to K = ``max_proposals`` per image: boxes [N, K, 4], scores [N, K].
The batch is fixed (per-image proposals are unrolled); the ONNX needs RoiAlign and NonMaxSuppression, which
TensorRT parses from 8.6 (INMSLayer) — the manifest says so.
"""
from __future__ import annotations

import torch
from torch import nn

from sspnet.training.heads.faster_rcnn import (RCNN_STDS, ROI_STRIDES, FasterRCNNHead, decode_deltas, grid_anchors,
                                               roi_levels, roi_pool_level)


class Proposals(nn.Module):
    """RPN maps of one image → proposals [P, 4] xyxy (P ≤ max_proposals, data-dependent), by the head's own
    ``image_proposals`` on constant anchors."""

    def __init__(self, anchors: list[torch.Tensor], image_hw: tuple[int, int]):
        super().__init__()
        for lvl, a in enumerate(anchors):
            self.register_buffer(f"anchors_{lvl}", a)
        self.num_levels, self.image_hw = len(anchors), image_hw

    def forward(self, head: FasterRCNNHead, rpn_cls: list[torch.Tensor], rpn_reg: list[torch.Tensor]) -> torch.Tensor:
        anchors = [getattr(self, f"anchors_{lvl}") for lvl in range(self.num_levels)]
        return head.image_proposals(rpn_cls, rpn_reg, anchors, self.image_hw)


class RoiFeatures(nn.Module):
    """Multi-level RoIAlign 7×7: every level for all rois, each roi keeps its own level's result (mmdet mapping)."""

    def forward(self, pyramid: list[torch.Tensor], rois: torch.Tensor) -> torch.Tensor:
        levels = roi_levels(rois[:, 1:])[:, None, None, None]                       # [R, 1, 1, 1]
        pooled = None
        for lvl in range(len(ROI_STRIDES)):
            p = roi_pool_level(pyramid[lvl], rois, lvl)
            pooled = p if pooled is None else torch.where(levels == lvl, p, pooled)
        return pooled                                                               # [R, C, 7, 7]


class RcnnDecode(nn.Module):
    """Box-head outputs of one image → boxes [K, 4] xyxy px, scores [K], zero-padded to K = ``num_dets``."""

    def __init__(self, num_dets: int, image_hw: tuple[int, int]):
        super().__init__()
        self.num_dets, self.image_hw = num_dets, image_hw

    def forward(self, proposals: torch.Tensor, logits: torch.Tensor, deltas: torch.Tensor):
        scores = torch.softmax(logits, dim=1)[:, 1]
        boxes = decode_deltas(proposals, deltas, RCNN_STDS, self.image_hw)
        boxes = torch.cat([boxes, boxes.new_zeros(self.num_dets, 4)])[: self.num_dets]
        scores = torch.cat([scores, scores.new_zeros(self.num_dets)])[: self.num_dets]
        return boxes, scores


class FasterRCNNExport(nn.Module):
    """A Faster R-CNN ``SSPNetDetector`` → (boxes [N, K, 4] xyxy tile px, scores [N, K]), K = max_proposals.

    ONNX scopes: ``backbone/``, ``neck/``, ``rpn_conv*``/``rpn_cls*``/``rpn_reg*`` (the head's RPN convs, one scope
    per level), ``proposals/``, ``roi/`` (RoIAlign), ``fc1``/``fc2``/``cls_score``/``bbox_pred``, ``decode/``.
    """

    def __init__(self, model: nn.Module, input_wh: tuple[int, int]):
        super().__init__()
        self.model = model
        head = model.head
        w, h = input_wh
        sizes = [(h // s, w // s) for s in model.strides]
        self.proposals = Proposals(grid_anchors(sizes, torch.device("cpu")), (h, w))
        self.roi = RoiFeatures()
        self.decode = RcnnDecode(head.max_proposals, (h, w))

    def rpn(self, images: torch.Tensor) -> tuple[list, list, list]:
        """(pyramid, rpn class logits [[N, A, H, W]], rpn deltas [[N, 4A, H, W]]) per level."""
        feats = self.model.backbone(images)
        pyramid, _ = self.model.neck(feats)
        return (pyramid, *self.model.head.rpn(pyramid))

    @torch.no_grad()
    def raw(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """The RPN maps {rpn_cls_<l>, rpn_reg_<l>} for the parity check (deterministic, before top-k/NMS)."""
        _, rpn_cls, rpn_reg = self.rpn(images)
        out = {f"rpn_cls_{lvl}": c for lvl, c in enumerate(rpn_cls)}
        out.update({f"rpn_reg_{lvl}": r for lvl, r in enumerate(rpn_reg)})
        return out

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pyramid, rpn_cls, rpn_reg = self.rpn(images)
        head = self.model.head
        boxes_out, scores_out = [], []
        for i in range(images.shape[0]):
            props = self.proposals(head, [c[i] for c in rpn_cls], [r[i] for r in rpn_reg])   # [P, 4]
            rois = torch.cat([torch.zeros_like(props[:, :1]), props], dim=1)                # [P, 5]
            pooled = self.roi([p[i:i + 1] for p in pyramid], rois)
            boxes, scores = self.decode(props, *head.predict_rois(pooled))
            boxes_out.append(boxes)
            scores_out.append(scores)
        return torch.stack(boxes_out), torch.stack(scores_out)
