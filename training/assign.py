"""Target assignment, pure and without gradients: FoveaBox cell targets and attention-map targets.

Boxes are xyxy in input pixels. Cell (i, j) of a level with stride s has its centre at ((j+0.5)·s, (i+0.5)·s), the
same points the core's ``sspnet.postprocess.fovea_points`` decodes from.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class FoveaTargets:
    labels: torch.Tensor        # [N, K] long: 1 person, 0 background, -1 ignored; K = Σ_l H_l·W_l (levels concatenated)
    reg_ltrb: torch.Tensor      # [N, K, 4] log(clamp(distance / base_edge, 1/16, 16)); meaningful where labels == 1
    reg_valid: torch.Tensor     # [N, K] bool: positive and the cell centre strictly inside its box


@torch.no_grad()
def fovea_targets_single(boxes_xyxy: torch.Tensor, ignore_xyxy: torch.Tensor, sizes_hw: list[tuple[int, int]],
                         strides: list[int], base_edges: list[float], scale_ranges: list[tuple[float, float]],
                         sigma: float = 0.4, center_fallback: bool = False,
                         use_ignore: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One image. boxes [G, 4], ignore [I, 4] → (labels [K], reg [K, 4], reg_valid [K]).

    Per level: GTs with √area in [lo, hi] (inclusive); positive cells are the fovea (the central σ fraction of the box):
    cols ceil(x1/s + (1-σ)w/2s - 0.5) … floor(x1/s + (1+σ)w/2s - 0.5), rows likewise, clamped to the map. Where
    several GTs claim a cell the smallest wins (mmdet sorts large → small and overwrites). ``center_fallback`` gives a
    box whose fovea is empty along an axis (a box smaller than about a stride) the cell under its centre on that axis
    — not in the paper, which simply leaves such tiny boxes without positives. ``use_ignore`` marks non-positive
    cells whose centre lies in an ignore box as -1 (not in the paper either, which ignores ignore boxes).
    ``reg_valid``: the positives whose cell centre lies inside the box. The decoder places the box edges at positive
    distances around the cell centre, so a box narrower than a stride whose centre cell (the fallback) has its centre
    outside the box cannot be drawn exactly: its clamped target is the smallest box that holds both the cell centre
    and the person. At scale 1 that is a third of the positives of TinyPerson-like data, at scale 2 a sixth;
    ``model.regress_outside`` chooses whether the criterion regresses them.
    """
    device = boxes_xyxy.device
    labels_all, reg_all, valid_all = [], [], []
    boxes = boxes_xyxy.float().reshape(-1, 4)
    sqrt_area = ((boxes[:, 2] - boxes[:, 0]).clamp(min=0) * (boxes[:, 3] - boxes[:, 1]).clamp(min=0)).sqrt()
    for (h, w), s, base, (lo, hi) in zip(sizes_hw, strides, base_edges, scale_ranges):
        labels = torch.zeros(h, w, dtype=torch.long, device=device)
        reg = torch.zeros(h, w, 4, device=device)
        valid = torch.zeros(h, w, dtype=torch.bool, device=device)
        ys = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) * s     # [H]
        xs = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) * s     # [W]
        hit = torch.nonzero((sqrt_area >= lo) & (sqrt_area <= hi)).flatten()
        if hit.numel():
            hit = hit[torch.argsort(-sqrt_area[hit], stable=True)]               # large → small
            b = boxes[hit] / s                                                   # [H', 4] in cells
            half_w, half_h = 0.5 * (b[:, 2] - b[:, 0]), 0.5 * (b[:, 3] - b[:, 1])
            x1 = torch.ceil(b[:, 0] + (1 - sigma) * half_w - 0.5).long().clamp(0, w - 1)
            x2 = torch.floor(b[:, 0] + (1 + sigma) * half_w - 0.5).long().clamp(0, w - 1)
            y1 = torch.ceil(b[:, 1] + (1 - sigma) * half_h - 0.5).long().clamp(0, h - 1)
            y2 = torch.floor(b[:, 1] + (1 + sigma) * half_h - 0.5).long().clamp(0, h - 1)
            if center_fallback:
                cx = torch.floor(b[:, 0] + half_w).long().clamp(0, w - 1)
                cy = torch.floor(b[:, 1] + half_h).long().clamp(0, h - 1)
                empty_x, empty_y = x1 > x2, y1 > y2
                x1, x2 = torch.where(empty_x, cx, x1), torch.where(empty_x, cx, x2)
                y1, y2 = torch.where(empty_y, cy, y1), torch.where(empty_y, cy, y2)
            cols = torch.arange(w, device=device)
            rows = torch.arange(h, device=device)
            in_x = (cols[None] >= x1[:, None]) & (cols[None] <= x2[:, None])        # [H', W]
            in_y = (rows[None] >= y1[:, None]) & (rows[None] <= y2[:, None])        # [H', H]
            cover = in_y[:, :, None] & in_x[:, None, :]                             # [H', H, W]
            rank = torch.arange(1, len(hit) + 1, device=device)[:, None, None]
            winner = (cover.long() * rank).amax(dim=0)                              # [H, W], 0 = none
            pos = winner > 0
            g = boxes[hit][(winner - 1).clamp(min=0)]                               # [H, W, 4] px
            cx_px, cy_px = xs[None, :].expand(h, w), ys[:, None].expand(h, w)
            dist = torch.stack([cx_px - g[..., 0], cy_px - g[..., 1], g[..., 2] - cx_px, g[..., 3] - cy_px], -1)
            reg = torch.where(pos[..., None], torch.log((dist / base).clamp(1 / 16, 16)), reg)
            labels[pos] = 1
            valid = pos & (dist > 0).all(dim=-1)
        if use_ignore and ignore_xyxy.numel():
            ig = ignore_xyxy.float().reshape(-1, 4)
            inside = ((xs[None, None, :] >= ig[:, 0, None, None]) & (xs[None, None, :] <= ig[:, 2, None, None])
                      & (ys[None, :, None] >= ig[:, 1, None, None]) & (ys[None, :, None] <= ig[:, 3, None, None]))
            labels[inside.any(dim=0) & (labels == 0)] = -1
        labels_all.append(labels.reshape(-1))
        reg_all.append(reg.reshape(-1, 4))
        valid_all.append(valid.reshape(-1))
    return torch.cat(labels_all), torch.cat(reg_all), torch.cat(valid_all)


@torch.no_grad()
def fovea_targets(targets: list[dict], sizes_hw: list[tuple[int, int]], strides: list[int],
                  base_edges: list[float], scale_ranges: list[tuple[float, float]], sigma: float = 0.4,
                  center_fallback: bool = False, use_ignore: bool = False) -> FoveaTargets:
    """Batch of per-image {"boxes": [G, 4], "ignore": [I, 4]} → FoveaTargets (levels concatenated, row-major)."""
    per_image = [fovea_targets_single(t["boxes"], t.get("ignore", t["boxes"][:0]), sizes_hw, strides, base_edges,
                                      scale_ranges, sigma, center_fallback, use_ignore) for t in targets]
    return FoveaTargets(*(torch.stack([p[i] for p in per_image]) for i in range(3)))


def attention_level_values(sqrt_area: torch.Tensor, level: int, num_levels: int = 4) -> torch.Tensor:
    """±1 per box for attention level k (stride 2^(k+2)): +1 if 2^(k+2) < s < 2^(k+5), also +1 below the range on
    the first level and above its lower bound on the last; -1 otherwise (object of another level)."""
    lo, hi = 2.0 ** (level + 2), 2.0 ** (level + 5)
    pos = (sqrt_area > lo) & (sqrt_area < hi)
    if level == 0:
        pos |= sqrt_area < lo
    if level == num_levels - 1:
        pos |= sqrt_area > lo
    return torch.where(pos, 1.0, -1.0)


@torch.no_grad()
def attention_targets(boxes_per_image: list[torch.Tensor], input_hw: tuple[int, int],
                      num_levels: int = 4) -> list[torch.Tensor]:
    """GT boxes (xyxy input px, annotation order, no ignore boxes) → [T_0..T_3], each [N, 1, H/2^(k+2), W/2^(k+2)]
    in [-1, 1]: the per-level ±1 canvas painted at input resolution (later boxes overwrite earlier ones; box
    l = floor(x1), t = floor(y1), r = min(ceil(x2), W-1), b = min(ceil(y2), H-1), rows t..b-1, cols l..r-1),
    then bilinearly down-sampled (half-pixel centres, no antialias — OpenCV INTER_LINEAR)."""
    H, W = input_hw
    device = boxes_per_image[0].device if boxes_per_image else torch.device("cpu")
    index_maps, tables = [], []
    for boxes in boxes_per_image:
        b = boxes.float().reshape(-1, 4)
        left, top = torch.floor(b[:, 0]), torch.floor(b[:, 1])
        right = torch.minimum(torch.ceil(b[:, 2]), torch.tensor(W - 1.0, device=b.device))
        bottom = torch.minimum(torch.ceil(b[:, 3]), torch.tensor(H - 1.0, device=b.device))
        s = ((right - left).clamp(min=0) * (bottom - top).clamp(min=0)).sqrt()
        canvas = torch.zeros(H, W, dtype=torch.long, device=device)
        for i, (l, t, r, bt) in enumerate(torch.stack([left, top, right, bottom], 1).long().tolist()):
            canvas[max(t, 0):max(bt, 0), max(l, 0):max(r, 0)] = i + 1
        index_maps.append(canvas)
        tables.append(s)
    out = []
    for k in range(num_levels):
        stride = 2 ** (k + 2)
        full = torch.stack([torch.cat([torch.zeros(1, device=device), attention_level_values(s, k, num_levels)])[m]
                            for s, m in zip(tables, index_maps)])[:, None]            # [N, 1, H, W]
        out.append(F.interpolate(full, size=(H // stride, W // stride), mode="bilinear", align_corners=False,
                                 antialias=False))
    return out


@torch.no_grad()
def max_iou_assign(candidates_xyxy: torch.Tensor, gt_xyxy: torch.Tensor, pos_iou: float, neg_iou: float,
                   min_pos_iou: float, low_quality: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """mmdet's MaxIoUAssigner: [C, 4], [G, 4] → (labels [C]: 1 pos / 0 neg / -1 ignore, matched GT index [C]).

    neg: max IoU < ``neg_iou``; pos: max IoU ≥ ``pos_iou``; with ``low_quality`` every candidate whose IoU with a GT
    equals that GT's best IoU (if ≥ ``min_pos_iou``) becomes positive for that GT. No GT: everything negative.
    """
    c = len(candidates_xyxy)
    labels = torch.zeros(c, dtype=torch.long, device=candidates_xyxy.device)
    matched = torch.zeros(c, dtype=torch.long, device=candidates_xyxy.device)
    if gt_xyxy.numel() == 0 or c == 0:
        return labels, matched
    from torchvision.ops import box_iou
    iou = box_iou(gt_xyxy.float(), candidates_xyxy.float())         # [G, C]
    max_iou, matched = iou.max(dim=0)
    labels.fill_(-1)
    labels[max_iou < neg_iou] = 0
    labels[max_iou >= pos_iou] = 1
    if low_quality:
        gt_best = iou.max(dim=1).values                              # [G]
        for g in range(len(gt_xyxy)):
            if gt_best[g] >= min_pos_iou:
                hit = iou[g] == gt_best[g]
                labels[hit] = 1
                matched[hit] = g
    return labels, matched
