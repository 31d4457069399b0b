"""Criteria: ``criterion(outputs, targets) -> dict[str, Tensor]`` of unweighted named loss terms (the loop sums them).

targets: list (one per image) of {"boxes": Tensor[G, 4] xyxy input px, "ignore": Tensor[I, 4]}.
"""
from __future__ import annotations

import torch

from sspnet.training.assign import attention_targets, fovea_targets
from sspnet.training.losses import (attention_bce, attention_dice, sigmoid_focal_loss_sum, smooth_l1_sum)


def _boxes(targets: list[dict], key: str, device: torch.device) -> list[torch.Tensor]:
    return [torch.as_tensor(t.get(key, torch.zeros(0, 4)), dtype=torch.float32, device=device).reshape(-1, 4)
            for t in targets]


def attention_losses(attn: list[torch.Tensor], gt_boxes: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Σ over levels of the OHEM BCE (λ included) and the batch-mean Dice; attn [A_k [N, 1, h_k, w_k]]."""
    h, w = attn[0].shape[-2:]
    stride0 = 4
    tgt = attention_targets(gt_boxes, (h * stride0, w * stride0), num_levels=len(attn))
    bce = sum(attention_bce(a, t) for a, t in zip(attn, tgt))
    dice = sum(attention_dice(a, t) for a, t in zip(attn, tgt))
    return {"loss_attn_bce": bce, "loss_attn_dice": dice}


class FoveaCriterion:
    """FoveaBox focal (γ 1.5, α 0.4) / (num_pos + N) and SmoothL1 (β 0.11) / num_pos, plus the attention losses.

    Returns {"loss_cls", "loss_box"} and, when the model has attention maps and ``attn_loss``,
    {"loss_attn_bce", "loss_attn_dice"}. An image set without positives gives loss_box exactly 0.
    """

    def __init__(self, *, strides: list[int], base_edges: list[float], scale_ranges: list[tuple[float, float]],
                 sigma: float = 0.4, center_fallback: bool = False, use_ignore: bool = False,
                 attn_loss: bool = True, gamma: float = 1.5, alpha: float = 0.4, beta: float = 0.11):
        self.strides, self.base_edges, self.scale_ranges = list(strides), list(base_edges), list(scale_ranges)
        self.sigma, self.center_fallback, self.use_ignore = sigma, center_fallback, use_ignore
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
        if num_pos:
            loss_box = smooth_l1_sum(reg[pos], assigned.reg_ltrb[pos], self.beta) / num_pos
        else:
            loss_box = reg.sum() * 0.0
        losses = {"loss_cls": loss_cls, "loss_box": loss_box}
        if self.attn_loss and outputs.get("attn"):
            losses.update(attention_losses(outputs["attn"], gt))
        return losses
