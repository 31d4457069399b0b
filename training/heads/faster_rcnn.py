"""Faster R-CNN head (the paper's anchor-based variant): RPN on P2-P6 with the paper's anchors, proposals by
per-level NMS, multi-level RoIAlign 7×7 (P2-P5, mmdet's level mapping) and a 2-FC box head (person vs background,
class-specific deltas).

``forward`` has no targets: it always returns the RPN maps, the proposals it kept (no gradient) and the box head's
outputs for every proposal. The criterion assigns and samples proposals afterwards (RoI losses on the sampled
subset; unlike mmdet, GT boxes are not added as proposals, because the model never sees targets).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import batched_nms, roi_align

ANCHOR_STRIDES = (4, 8, 16, 32, 64)
ANCHOR_SCALES = (1.5, 2.5, 3.7, 8.0)
ANCHOR_RATIOS = (0.4, 0.8, 1.4)          # h / w
RPN_STDS = (1.0, 1.0, 1.0, 1.0)
RCNN_STDS = (0.1, 0.1, 0.2, 0.2)
ROI_STRIDES = (4, 8, 16, 32)
ROI_SIZE = 7
MAX_LOG_RATIO = abs(math.log(16 / 1000))


def base_anchors(stride: int) -> torch.Tensor:
    """[A, 4] xyxy centred on (0, 0), A = 12, ratio-major like mmdet: w = s·scale/√r, h = s·scale·√r."""
    h_ratios = torch.tensor(ANCHOR_RATIOS).sqrt()
    scales = torch.tensor(ANCHOR_SCALES)
    ws = (stride / h_ratios[:, None] * scales[None, :]).reshape(-1)
    hs = (stride * h_ratios[:, None] * scales[None, :]).reshape(-1)
    return torch.stack([-0.5 * ws, -0.5 * hs, 0.5 * ws, 0.5 * hs], dim=1)


def grid_anchors(sizes_hw: list[tuple[int, int]], device: torch.device) -> list[torch.Tensor]:
    """Per level [H·W·A, 4] xyxy, centres at (x·stride, y·stride), ordered (row, col, anchor)."""
    out = []
    for (h, w), s in zip(sizes_hw, ANCHOR_STRIDES):
        ys, xs = torch.meshgrid(torch.arange(h, device=device) * s, torch.arange(w, device=device) * s,
                                indexing="ij")
        shifts = torch.stack([xs, ys, xs, ys], dim=-1).reshape(-1, 1, 4).float()       # [HW, 1, 4]
        out.append((shifts + base_anchors(s).to(device)[None]).reshape(-1, 4))
    return out


def encode_deltas(boxes_xyxy: torch.Tensor, gt_xyxy: torch.Tensor, stds: tuple) -> torch.Tensor:
    """DeltaXYWH (means 0): (dx, dy, dw, dh) / stds, [M, 4]."""
    pw, ph = boxes_xyxy[:, 2] - boxes_xyxy[:, 0], boxes_xyxy[:, 3] - boxes_xyxy[:, 1]
    px, py = boxes_xyxy[:, 0] + 0.5 * pw, boxes_xyxy[:, 1] + 0.5 * ph
    gw, gh = gt_xyxy[:, 2] - gt_xyxy[:, 0], gt_xyxy[:, 3] - gt_xyxy[:, 1]
    gx, gy = gt_xyxy[:, 0] + 0.5 * gw, gt_xyxy[:, 1] + 0.5 * gh
    d = torch.stack([(gx - px) / pw, (gy - py) / ph, torch.log(gw / pw), torch.log(gh / ph)], dim=1)
    return d / d.new_tensor(stds)


def decode_deltas(boxes_xyxy: torch.Tensor, deltas: torch.Tensor, stds: tuple, image_hw: tuple[int, int]) -> torch.Tensor:
    """Inverse of ``encode_deltas``, clipped to the image: [M, 4], [M, 4] → [M, 4] xyxy."""
    d = deltas.float() * deltas.new_tensor(stds).float()
    pw, ph = boxes_xyxy[:, 2] - boxes_xyxy[:, 0], boxes_xyxy[:, 3] - boxes_xyxy[:, 1]
    px, py = boxes_xyxy[:, 0] + 0.5 * pw, boxes_xyxy[:, 1] + 0.5 * ph
    dw, dh = d[:, 2].clamp(-MAX_LOG_RATIO, MAX_LOG_RATIO), d[:, 3].clamp(-MAX_LOG_RATIO, MAX_LOG_RATIO)
    cx, cy, w, h = px + d[:, 0] * pw, py + d[:, 1] * ph, pw * dw.exp(), ph * dh.exp()
    boxes = torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=1)
    H, W = image_hw
    return torch.stack([boxes[:, 0].clamp(0, W), boxes[:, 1].clamp(0, H), boxes[:, 2].clamp(0, W),
                        boxes[:, 3].clamp(0, H)], dim=1)


def roi_levels(rois_xyxy: torch.Tensor) -> torch.Tensor:
    """mmdet's mapping: floor(log2(√(wh)/56 + 1e-6)) clamped to [0, 3] (0 = P2)."""
    scale = ((rois_xyxy[:, 2] - rois_xyxy[:, 0]) * (rois_xyxy[:, 3] - rois_xyxy[:, 1])).clamp(min=0).sqrt()
    return torch.floor(torch.log2(scale / 56 + 1e-6)).clamp(0, 3).long()


def roi_pool_level(feature: torch.Tensor, rois: torch.Tensor, level: int) -> torch.Tensor:
    """RoIAlign 7×7 of rois [R, 5] (batch index, xyxy input px) on pyramid level ``level`` (0 = P2) [N, C, H, W] →
    [R, C, 7, 7]."""
    return roi_align(feature, rois.to(feature.dtype), ROI_SIZE, spatial_scale=1.0 / ROI_STRIDES[level],
                     sampling_ratio=0, aligned=True)


class FasterRCNNHead(nn.Module):
    """Pyramid P2..P6 [N, C, H_l, W_l] →
    {"rpn_cls": [[N, A, H_l, W_l] logits], "rpn_reg": [[N, 4A, H_l, W_l]],
     "proposals": [[P_i, 4] xyxy per image, no gradient], "roi_cls": [ΣP_i, 2] logits (background, person),
     "roi_reg": [ΣP_i, 4] deltas (stds 0.1/0.1/0.2/0.2)}.
    Proposals: per level the top ``nms_pre`` (2000 training, 1000 eval) → decode → NMS 0.7 per level → top 1000.
    """

    def __init__(self, *, in_channels: int, fc_channels: int = 1024,
                 nms_pre_train: int = 2000, nms_pre_test: int = 1000, max_proposals: int = 1000,
                 rpn_nms_iou: float = 0.7):
        super().__init__()
        a = len(ANCHOR_SCALES) * len(ANCHOR_RATIOS)
        self.num_anchors = a
        self.rpn_conv = nn.Conv2d(in_channels, in_channels, 3, padding=1)
        self.rpn_cls = nn.Conv2d(in_channels, a, 1)
        self.rpn_reg = nn.Conv2d(in_channels, 4 * a, 1)
        for m in (self.rpn_conv, self.rpn_cls, self.rpn_reg):
            nn.init.normal_(m.weight, std=0.01)
            nn.init.zeros_(m.bias)
        self.fc1 = nn.Linear(in_channels * ROI_SIZE * ROI_SIZE, fc_channels)
        self.fc2 = nn.Linear(fc_channels, fc_channels)
        self.cls_score = nn.Linear(fc_channels, 2)
        self.bbox_pred = nn.Linear(fc_channels, 4)
        nn.init.normal_(self.cls_score.weight, std=0.01)
        nn.init.normal_(self.bbox_pred.weight, std=0.001)
        nn.init.zeros_(self.cls_score.bias)
        nn.init.zeros_(self.bbox_pred.bias)
        self.nms_pre_train, self.nms_pre_test = nms_pre_train, nms_pre_test
        self.max_proposals, self.rpn_nms_iou = max_proposals, rpn_nms_iou

    def rpn(self, pyramid: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Pyramid → RPN class logits [[N, A, H_l, W_l]] and deltas [[N, 4A, H_l, W_l]] per level."""
        feats = [F.relu(self.rpn_conv(p)) for p in pyramid]
        return [self.rpn_cls(f) for f in feats], [self.rpn_reg(f) for f in feats]

    @torch.no_grad()
    def image_proposals(self, rpn_cls: list[torch.Tensor], rpn_reg: list[torch.Tensor], anchors: list[torch.Tensor],
                        image_hw: tuple[int, int]) -> torch.Tensor:
        """One image: RPN maps [[A, H_l, W_l]], [[4A, H_l, W_l]] and anchors [[H_l·W_l·A, 4]] per level → proposals
        [P, 4] xyxy, P ≤ ``max_proposals``. Per level the top ``nms_pre`` → decode → NMS per level → the best."""
        nms_pre = self.nms_pre_train if self.training else self.nms_pre_test
        boxes, scores, levels = [], [], []
        for lvl, (c, r, anc) in enumerate(zip(rpn_cls, rpn_reg, anchors)):
            s = c.permute(1, 2, 0).reshape(-1).float()                               # [HWA]
            d = r.permute(1, 2, 0).reshape(-1, 4)                                     # [HWA, 4]
            s, idx = s.topk(min(nms_pre, anc.shape[0]))
            boxes.append(decode_deltas(anc[idx], d[idx], RPN_STDS, image_hw))
            scores.append(s)
            levels.append(torch.full_like(idx, lvl))
        b, s, lv = torch.cat(boxes), torch.cat(scores), torch.cat(levels)
        keep = batched_nms(b, s, lv, self.rpn_nms_iou)[: self.max_proposals]
        return b[keep]

    @torch.no_grad()
    def proposals(self, rpn_cls: list[torch.Tensor], rpn_reg: list[torch.Tensor],
                  image_hw: tuple[int, int]) -> list[torch.Tensor]:
        """RPN maps of the batch → proposals [[P_i, 4] xyxy] per image."""
        anchors = grid_anchors([tuple(c.shape[-2:]) for c in rpn_cls], rpn_cls[0].device)
        return [self.image_proposals([c[i] for c in rpn_cls], [r[i] for r in rpn_reg], anchors, image_hw)
                for i in range(rpn_cls[0].shape[0])]

    def predict_rois(self, pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """RoI features [R, C, 7, 7] → class logits [R, 2] (background, person), deltas [R, 4]."""
        x = F.relu(self.fc1(pooled.flatten(1)))
        x = F.relu(self.fc2(x))
        return self.cls_score(x), self.bbox_pred(x)

    def box_head(self, pyramid: list[torch.Tensor], proposals: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Each proposal pooled on its own level (``roi_levels``) → ``predict_rois``."""
        rois = torch.cat([torch.cat([torch.full_like(p[:, :1], i), p], dim=1) for i, p in enumerate(proposals)])
        levels = roi_levels(rois[:, 1:])
        c = pyramid[0].shape[1]
        pooled = rois.new_zeros(len(rois), c, ROI_SIZE, ROI_SIZE, dtype=pyramid[0].dtype)
        for lvl in range(len(ROI_STRIDES)):
            idx = torch.nonzero(levels == lvl).flatten()
            if idx.numel():
                pooled[idx] = roi_pool_level(pyramid[lvl], rois[idx], lvl)
        return self.predict_rois(pooled)

    def forward(self, pyramid: list[torch.Tensor]) -> dict:
        rpn_cls, rpn_reg = self.rpn(pyramid)                                      # [[N, A, H, W]], [[N, 4A, H, W]]
        h, w = pyramid[0].shape[-2:]
        proposals = self.proposals(rpn_cls, rpn_reg, (int(h) * 4, int(w) * 4))
        roi_cls, roi_reg = self.box_head(pyramid, proposals)
        return {"rpn_cls": rpn_cls, "rpn_reg": rpn_reg, "proposals": proposals, "roi_cls": roi_cls,
                "roi_reg": roi_reg}


def detections(outputs: dict, image_hw: tuple[int, int], max_det: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """Box-head outputs → (boxes [N, K, 4] xyxy, scores [N, K] person probability), K = max_det, zero-padded."""
    proposals = outputs["proposals"]
    scores_all = torch.softmax(outputs["roi_cls"].float(), dim=1)[:, 1]
    boxes_all = decode_deltas(torch.cat(proposals), outputs["roi_reg"], RCNN_STDS, image_hw)
    n = len(proposals)
    boxes = boxes_all.new_zeros(n, max_det, 4)
    scores = boxes_all.new_zeros(n, max_det)
    start = 0
    for i, p in enumerate(proposals):
        k = min(len(p), max_det)
        boxes[i, :k] = boxes_all[start:start + k]
        scores[i, :k] = scores_all[start:start + k]
        start += len(p)
    return boxes, scores
