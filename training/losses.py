"""Loss functions (pure tensor maths, on-device, any batch size): attention BCE + Dice with OHEM,
sigmoid focal loss, SmoothL1 and GIoU (FoveaBox), L1 (Faster R-CNN).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

ATTN_NEG_WEIGHT = 3.0       # weight of "object of another level" pixels
OHEM_RATIO = 3              # background pixels kept per positive pixel
OHEM_EMPTY_FRACTION = 0.05  # background pixels kept on an image without positives


@torch.no_grad()
def ohem_weights(prob: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-pixel weights of the attention BCE for one level. prob, target [N, 1, h, w] → weights [N, 1, h, w].

    Per image: pos = target > 0, hardneg = target < 0, bg = target == 0; K = min(3·|pos|, |bg|) if |pos| > 0 else
    floor(0.05·h·w) (at most |bg|); τ = K-th largest prob among bg; selected = pos ∪ hardneg ∪ {bg with prob ≥ τ}.
    Weight 3 on hardneg, 1 on other selected pixels, 0 elsewhere.
    """
    n = prob.shape[0]
    p = prob.detach().reshape(n, -1).float()                    # [N, P]
    t = target.reshape(n, -1)
    pos, neg, bg = t > 0, t < 0, t == 0
    n_pos, n_bg = pos.sum(1), bg.sum(1)                          # [N]
    k = torch.where(n_pos > 0, 3 * n_pos, torch.full_like(n_pos, int(OHEM_EMPTY_FRACTION * p.shape[1])))
    k = torch.minimum(k, n_bg)
    bg_prob = torch.where(bg, p, torch.full_like(p, -1.0))      # probabilities are ≥ 0, so -1 sorts last
    sorted_prob = bg_prob.sort(dim=1, descending=True).values   # [N, P]
    tau = sorted_prob.gather(1, (k - 1).clamp(min=0)[:, None])  # [N, 1] K-th largest
    tau = torch.where(k[:, None] > 0, tau, torch.full_like(tau, 2.0))   # K = 0: select no background
    sel_bg = bg & (p >= tau)
    w = pos.float() + sel_bg.float() + ATTN_NEG_WEIGHT * neg.float()
    return w.reshape_as(prob)


def attention_bce(prob: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Σ w·BCE(p, max(T, 0)) / N_sel over the batch (one level), unweighted (λ is in the criterion's weight
    table). prob, target [N, 1, h, w] → scalar."""
    w = ohem_weights(prob, target)
    p = prob.float()
    t = target.float().clamp(min=0.0)
    # clamp before the log: a saturated fp16 sigmoid is exactly 0 or 1, and log'(0)·0 would give NaN gradients
    bce = -(t * torch.log(p.clamp(min=1e-12)) + (1 - t) * torch.log((1 - p).clamp(min=1e-12)))
    n_sel = (w > 0).sum().clamp(min=1)
    return (w * bce).sum() / n_sel


def attention_dice(prob: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per image over positive pixels only: 1 - 2a/(b + c), a = Σp + 1, b = Σp² + 1, c = |pos| + 1; batch mean.
    An image without positives gives exactly 0."""
    n = prob.shape[0]
    p = prob.float().reshape(n, -1)
    pos = (target.reshape(n, -1) > 0).float()
    a = (p * pos).sum(1) + 1
    b = (p * p * pos).sum(1) + 1
    c = pos.sum(1) + 1
    return (1 - 2 * a / (b + c)).mean()


def sigmoid_focal_loss_sum(logits: torch.Tensor, labels: torch.Tensor, gamma: float = 1.5,
                           alpha: float = 0.4) -> torch.Tensor:
    """Σ focal loss of sigmoid logits [M] against binary labels [M] (1 person, 0 background)."""
    x = logits.float()
    t = labels.float()
    p = torch.sigmoid(x)
    ce = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    p_t = p * t + (1 - p) * (1 - t)
    alpha_t = alpha * t + (1 - alpha) * (1 - t)
    return (alpha_t * (1 - p_t).pow(gamma) * ce).sum()


def smooth_l1_sum(pred: torch.Tensor, target: torch.Tensor, beta: float = 0.11) -> torch.Tensor:
    """Σ SmoothL1(pred - target) with transition β (mmdet form: 0.5·d²/β below β, d - 0.5β above)."""
    d = (pred.float() - target.float()).abs()
    return torch.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta).sum()


def giou_ltrb_sum(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Σ (1 − GIoU) of boxes given as distances [M, 4] (left, top, right, bottom ≥ 0) from one shared point each,
    as FCOS-style heads predict them: the two boxes overlap by the per-side minimum and are enclosed by the
    per-side maximum."""
    p, t = pred.float(), target.float()
    area_p = (p[:, 0] + p[:, 2]) * (p[:, 1] + p[:, 3])
    area_t = (t[:, 0] + t[:, 2]) * (t[:, 1] + t[:, 3])
    lo, hi = torch.minimum(p, t), torch.maximum(p, t)
    inter = (lo[:, 0] + lo[:, 2]) * (lo[:, 1] + lo[:, 3])
    enclose = (hi[:, 0] + hi[:, 2]) * (hi[:, 1] + hi[:, 3])
    union = area_p + area_t - inter
    giou = inter / union.clamp(min=1e-6) - (enclose - union) / enclose.clamp(min=1e-6)
    return (1 - giou).sum()


def l1_sum(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Σ |pred - target| (Faster R-CNN box losses on normalised deltas)."""
    return (pred.float() - target.float()).abs().sum()
