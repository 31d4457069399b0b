"""Criteria: ``criterion(outputs, targets) -> dict[str, Tensor]`` of unweighted named loss terms, and
``criterion.weights``, the one table of their weights (the loop sums weight × term and logs each weighted term).

targets: list (one per image) of {"boxes": Tensor[G, 4] xyxy input px, "ignore": Tensor[I, 4]}.
"""
from __future__ import annotations

import math

import torch

from sspnet.training.assign import attention_targets, fovea_targets
from sspnet.training.losses import (attention_bce, attention_dice, giou_ltrb_sum, sigmoid_focal_loss_sum,
                                   smooth_l1_sum)

# the paper's loss weights: λ = 0.01 on the attention BCE, 1 on every other term
ATTENTION_WEIGHTS = {"loss_attn_bce": 0.01, "loss_attn_dice": 1.0}


def _boxes(targets: list[dict], key: str, device: torch.device) -> list[torch.Tensor]:
    return [torch.as_tensor(t.get(key, torch.zeros(0, 4)), dtype=torch.float32, device=device).reshape(-1, 4)
            for t in targets]


def attention_losses(attn: list[torch.Tensor], gt_boxes: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Σ over levels of the OHEM BCE and of the batch-mean Dice (unweighted); attn [A_k [N, 1, h_k, w_k]]."""
    h, w = attn[0].shape[-2:]
    stride0 = 4
    tgt = attention_targets(gt_boxes, (h * stride0, w * stride0), num_levels=len(attn))
    bce = sum(attention_bce(a, t) for a, t in zip(attn, tgt))
    dice = sum(attention_dice(a, t) for a, t in zip(attn, tgt))
    return {"loss_attn_bce": bce, "loss_attn_dice": dice}


class FoveaCriterion:
    """FoveaBox focal (γ 1.5, α 0.4) / (num_pos + N) and SmoothL1 (β 0.11) / the regressed positives, plus the
    attention losses. ``regress_outside`` False regresses only the positives whose cell centre lies inside the box
    (``FoveaTargets.reg_valid``). ``box_loss`` "giou" replaces SmoothL1 on the log distances by 1 − GIoU of the
    decoded boxes (distances base_edge·exp(reg)), which weighs an error by what it costs the box's IoU.

    Returns {"loss_cls", "loss_box"} and, when the model has attention maps and ``attn_loss``,
    {"loss_attn_bce", "loss_attn_dice"}. An image set without positives gives loss_box exactly 0.
    """

    weights = {"loss_cls": 1.0, "loss_box": 1.0, **ATTENTION_WEIGHTS}

    def __init__(self, *, strides: list[int], base_edges: list[float], scale_ranges: list[tuple[float, float]],
                 sigma: float = 0.4, center_fallback: bool = False, use_ignore: bool = False,
                 regress_outside: bool = True, box_loss: str = "smooth_l1", attn_loss: bool = True,
                 gamma: float = 1.5, alpha: float = 0.4, beta: float = 0.11):
        self.strides, self.base_edges, self.scale_ranges = list(strides), list(base_edges), list(scale_ranges)
        self.sigma, self.center_fallback, self.use_ignore = sigma, center_fallback, use_ignore
        self.regress_outside, self.box_loss = regress_outside, box_loss
        self.attn_loss, self.gamma, self.alpha, self.beta = attn_loss, gamma, alpha, beta

    def __call__(self, outputs: dict, targets: list[dict]) -> dict[str, torch.Tensor]:
        cls_levels, reg_levels = outputs["cls"], outputs["reg"]
        device = cls_levels[0].device
        n = cls_levels[0].shape[0]
        gt = _boxes(targets, "boxes", device)
        ignore = _boxes(targets, "ignore", device)
        sizes = [tuple(c.shape[-2:]) for c in cls_levels]
        assigned = fovea_targets([{"boxes": g, "ignore": i} for g, i in zip(gt, ignore)], sizes, self.strides,
                                 self.base_edges, self.scale_ranges, self.sigma, self.center_fallback,
                                 self.use_ignore)
        cls = torch.cat([c.reshape(n, -1) for c in cls_levels], dim=1)                         # [N, K]
        reg = torch.cat([r.reshape(n, 4, -1) for r in reg_levels], dim=2).permute(0, 2, 1)     # [N, K, 4]
        valid = assigned.labels >= 0
        pos = assigned.labels == 1
        num_pos = int(pos.sum())
        loss_cls = sigmoid_focal_loss_sum(cls[valid], assigned.labels[valid], self.gamma, self.alpha) / (num_pos + n)
        regressed = pos if self.regress_outside else assigned.reg_valid
        num_reg = int(regressed.sum())
        if num_reg and self.box_loss == "giou":
            base = torch.cat([torch.full((c.shape[-2] * c.shape[-1],), b, device=device)
                              for c, b in zip(cls_levels, self.base_edges)]).expand(n, -1)[regressed][:, None]
            # the clamp keeps exp finite early in training; targets are clamped to [1/16, 16] base edges
            pred = base * torch.exp(reg[regressed].float().clamp(max=math.log(64)))
            loss_box = giou_ltrb_sum(pred, base * torch.exp(assigned.reg_ltrb[regressed])) / num_reg
        elif num_reg:
            loss_box = smooth_l1_sum(reg[regressed], assigned.reg_ltrb[regressed], self.beta) / num_reg
        else:
            loss_box = reg.sum() * 0.0
        losses = {"loss_cls": loss_cls, "loss_box": loss_box}
        if self.attn_loss and outputs.get("attn"):
            losses.update(attention_losses(outputs["attn"], gt))
        return losses


class FasterRCNNCriterion:
    """Faster R-CNN losses (RPN and R-CNN, as in the paper's config) plus the attention losses.

    RPN: MaxIoU 0.7 / 0.3 (low-quality matches ≥ 0.3), 256 samples, half positive, negatives by the weighted
    negative sampler (``wns``) or uniformly; sigmoid BCE and L1 on deltas (stds 1), both / #samples.
    R-CNN: proposals assigned with MaxIoU 0.5, 512 samples, a quarter positive; softmax CE and L1 on deltas
    (stds 0.1/0.1/0.2/0.2), both / #samples. Returns {"loss_rpn_cls", "loss_rpn_box", "loss_rcnn_cls",
    "loss_rcnn_box"} (+ attention terms). Images without GT give box losses exactly 0.
    """

    weights = {"loss_rpn_cls": 1.0, "loss_rpn_box": 1.0, "loss_rcnn_cls": 1.0, "loss_rcnn_box": 1.0,
               **ATTENTION_WEIGHTS}

    def __init__(self, *, wns: bool = True, attn_loss: bool = True, rpn_num: int = 256, rpn_pos_fraction: float = 0.5,
                 rcnn_num: int = 512, rcnn_pos_fraction: float = 0.25):
        self.wns, self.attn_loss = wns, attn_loss
        self.rpn_num, self.rpn_pos_fraction = rpn_num, rpn_pos_fraction
        self.rcnn_num, self.rcnn_pos_fraction = rcnn_num, rcnn_pos_fraction

    def __call__(self, outputs: dict, targets: list[dict]) -> dict[str, torch.Tensor]:
        from sspnet.training.assign import max_iou_assign
        from sspnet.training.heads.faster_rcnn import RCNN_STDS, RPN_STDS, encode_deltas, grid_anchors
        from sspnet.training.losses import l1_sum
        from sspnet.training.sampler import sample_pos_neg, wns_weights

        rpn_cls, rpn_reg = outputs["rpn_cls"], outputs["rpn_reg"]
        device, n = rpn_cls[0].device, rpn_cls[0].shape[0]
        gt = _boxes(targets, "boxes", device)
        anchors = torch.cat(grid_anchors([tuple(c.shape[-2:]) for c in rpn_cls], device))           # [M, 4]
        cls = torch.cat([c.permute(0, 2, 3, 1).reshape(n, -1) for c in rpn_cls], dim=1)           # [N, M]
        reg = torch.cat([r.permute(0, 2, 3, 1).reshape(n, -1, 4) for r in rpn_reg], dim=1)         # [N, M, 4]
        logits, labels, box_pred, box_tgt = [], [], [], []
        for i in range(n):
            lab, match = max_iou_assign(anchors, gt[i], 0.7, 0.3, 0.3, low_quality=True)
            weights = wns_weights(anchors, gt[i]) if self.wns else None
            pos, neg = sample_pos_neg(lab, self.rpn_num, self.rpn_pos_fraction, weights)
            logits.append(cls[i, torch.cat([pos, neg])])
            labels.append(torch.cat([torch.ones_like(pos), torch.zeros_like(neg)]).float())
            box_pred.append(reg[i, pos])
            box_tgt.append(encode_deltas(anchors[pos], gt[i][match[pos]], RPN_STDS))
        n_rpn = max(sum(len(x) for x in labels), 1)
        loss_rpn_cls = torch.nn.functional.binary_cross_entropy_with_logits(
            torch.cat(logits).float(), torch.cat(labels), reduction="sum") / n_rpn
        loss_rpn_box = l1_sum(torch.cat(box_pred), torch.cat(box_tgt)) / n_rpn if sum(map(len, box_pred)) \
            else reg.sum() * 0.0

        proposals = outputs["proposals"]
        roi_cls = outputs["roi_cls"].split([len(p) for p in proposals])
        roi_reg = outputs["roi_reg"].split([len(p) for p in proposals])
        logits, labels, box_pred, box_tgt = [], [], [], []
        for i, props in enumerate(proposals):
            lab, match = max_iou_assign(props, gt[i], 0.5, 0.5, 0.5, low_quality=False)
            pos, neg = sample_pos_neg(lab, self.rcnn_num, self.rcnn_pos_fraction)
            logits.append(roi_cls[i][torch.cat([pos, neg])])
            labels.append(torch.cat([torch.ones_like(pos), torch.zeros_like(neg)]))
            box_pred.append(roi_reg[i][pos])
            box_tgt.append(encode_deltas(props[pos], gt[i][match[pos]], RCNN_STDS))
        n_rcnn = max(sum(len(x) for x in labels), 1)
        loss_rcnn_cls = torch.nn.functional.cross_entropy(torch.cat(logits).float(), torch.cat(labels),
                                                          reduction="sum") / n_rcnn
        loss_rcnn_box = l1_sum(torch.cat(box_pred), torch.cat(box_tgt)) / n_rcnn if sum(map(len, box_pred)) \
            else outputs["roi_reg"].sum() * 0.0
        losses = {"loss_rpn_cls": loss_rpn_cls, "loss_rpn_box": loss_rpn_box,
                  "loss_rcnn_cls": loss_rcnn_cls, "loss_rcnn_box": loss_rcnn_box}
        if self.attn_loss and outputs.get("attn"):
            losses.update(attention_losses(outputs["attn"], gt))
        return losses
