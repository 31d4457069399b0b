"""Positive/negative sampling of training candidates (anchors or proposals) for the Faster R-CNN head.

The RPN draws its negatives with the weighted negative sampler (ICNegSampler): weights exp(0.6·IoF_gt), where
IoF_gt = max over GTs of intersection / area(GT) — how much of a person the anchor covers — so negatives that
partly cover a person are up to e^0.6 ≈ 1.82× likelier. ``weighted=False`` draws negatives uniformly.
"""
from __future__ import annotations

import torch

WNS_LAMBDA = 0.6


@torch.no_grad()
def iof_gt(candidates_xyxy: torch.Tensor, gt_xyxy: torch.Tensor) -> torch.Tensor:
    """Max over GTs of intersection / area(GT) per candidate: [C, 4], [G, 4] → [C] (0 when G = 0)."""
    if gt_xyxy.numel() == 0:
        return candidates_xyxy.new_zeros(len(candidates_xyxy))
    lt = torch.maximum(gt_xyxy[:, None, :2], candidates_xyxy[None, :, :2])      # [G, C, 2]
    rb = torch.minimum(gt_xyxy[:, None, 2:], candidates_xyxy[None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]                                              # [G, C]
    area = ((gt_xyxy[:, 2] - gt_xyxy[:, 0]) * (gt_xyxy[:, 3] - gt_xyxy[:, 1])).clamp(min=1e-6)
    return (inter / area[:, None]).amax(dim=0)


@torch.no_grad()
def wns_weights(candidates_xyxy: torch.Tensor, gt_xyxy: torch.Tensor, conf: torch.Tensor | None = None) -> torch.Tensor:
    """exp(λ·IoF_gt + (1-λ)·conf), λ = 0.6; conf ≡ 0 for anchors (they carry no confidence)."""
    w = WNS_LAMBDA * iof_gt(candidates_xyxy, gt_xyxy)
    if conf is not None:
        w = w + (1 - WNS_LAMBDA) * conf
    return torch.exp(w)


@torch.no_grad()
def sample_pos_neg(labels: torch.Tensor, num: int, pos_fraction: float, neg_weights: torch.Tensor | None = None,
                   generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """labels [C]: 1 positive, 0 negative, -1 ignored → (pos_idx, neg_idx).

    Up to ``num·pos_fraction`` positives uniformly, then ``num - #pos`` negatives: uniformly, or — with
    ``neg_weights`` [C] — drawn without replacement with probability ∝ weight (torch.multinomial, on-device).
    """
    pos = torch.nonzero(labels == 1).flatten()
    neg = torch.nonzero(labels == 0).flatten()
    n_pos = min(int(num * pos_fraction), pos.numel())
    if pos.numel() > n_pos:
        pos = pos[torch.randperm(pos.numel(), device=pos.device, generator=generator)[:n_pos]]
    n_neg = min(num - pos.numel(), neg.numel())
    if neg.numel() > n_neg:
        if neg_weights is not None:
            pick = torch.multinomial(neg_weights[neg].float(), n_neg, replacement=False, generator=generator)
        else:
            pick = torch.randperm(neg.numel(), device=neg.device, generator=generator)[:n_neg]
        neg = neg[pick]
    return pos, neg
