"""Box operations in numpy: format conversions, overlaps and NMS.

Every function names its box format: ``xyxy`` = (x1, y1, x2, y2) and ``xywh`` = (x, y, w, h), in pixels.
"""
from __future__ import annotations

import heapq

import numpy as np


def xywh_to_xyxy(boxes_xywh: np.ndarray) -> np.ndarray:
    b = np.asarray(boxes_xywh, dtype=np.float64).reshape(-1, 4)
    return np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)


def xyxy_to_xywh(boxes_xyxy: np.ndarray) -> np.ndarray:
    b = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    return np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], axis=1)


def box_area(boxes_xyxy: np.ndarray) -> np.ndarray:
    b = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    return np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)


def box_intersection(a_xyxy: np.ndarray, b_xyxy: np.ndarray) -> np.ndarray:
    """Pairwise intersection areas, shape [len(a), len(b)]."""
    a = np.asarray(a_xyxy, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b_xyxy, dtype=np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])  # [A, B, 2]
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    return wh[..., 0] * wh[..., 1]


def box_iou(a_xyxy: np.ndarray, b_xyxy: np.ndarray) -> np.ndarray:
    """Intersection over union, [len(a), len(b)]."""
    inter = box_intersection(a_xyxy, b_xyxy)
    union = box_area(a_xyxy)[:, None] + box_area(b_xyxy)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def box_iof(a_xyxy: np.ndarray, b_xyxy: np.ndarray) -> np.ndarray:
    """Intersection over the area of the *first* argument (mmdet's 'iof'), [len(a), len(b)]; with detections first
    and ignore regions second, TinyPerson's ignore rule (intersection over the detection's area)."""
    inter = box_intersection(a_xyxy, b_xyxy)
    area_a = box_area(a_xyxy)[:, None]
    return np.where(area_a > 0, inter / np.maximum(area_a, 1e-12), 0.0)


def overlapping_pairs(b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, IoU) of every pair of boxes ``b`` [n, 4] that overlap at all, i != j, each pair once.

    Frames hold thousands of tiny, mostly disjoint boxes, so instead of an O(n²) IoU matrix this finds the pairs
    with a sweep along x (sorted x1 + searchsorted) and computes their IoU vectorised.
    """
    n = len(b)
    by_x = np.argsort(b[:, 0], kind="stable")
    x1_sorted = b[by_x, 0]
    # boxes after k (in x order) whose x1 lies left of k's x2 are the only ones that can overlap k
    ends = np.searchsorted(x1_sorted, b[by_x, 2], side="left")
    counts = np.clip(ends - np.arange(n) - 1, 0, None)
    total = int(counts.sum())
    first = np.repeat(np.arange(n), counts)
    offset = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    i, j = by_x[first], by_x[first + 1 + offset]
    lt = np.maximum(b[i, :2], b[j, :2])
    rb = np.minimum(b[i, 2:], b[j, 2:])
    wh = (rb - lt).clip(0)
    inter = wh[:, 0] * wh[:, 1]
    area = (b[:, 2] - b[:, 0]).clip(0) * (b[:, 3] - b[:, 1]).clip(0)
    return i, j, inter / np.maximum(area[i] + area[j] - inter, 1e-12)


def _ranked(boxes_xyxy, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    boxes = np.asarray(boxes_xyxy, dtype=np.float32).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    order = np.argsort(-scores, kind="stable")
    return boxes[order], scores[order], order          # rank r = position in score order (0 = best)


def nms(boxes_xyxy: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy NMS; returns the kept indices sorted by decreasing score. Only the few pairs above the threshold
    (``overlapping_pairs``) enter the greedy pass."""
    b, _, order = _ranked(boxes_xyxy, scores)
    if len(b) == 0:
        return np.zeros(0, np.int64)
    r1, r2, iou = overlapping_pairs(b)
    hit = iou > iou_threshold
    better, worse = np.minimum(r1[hit], r2[hit]), np.maximum(r1[hit], r2[hit])
    keep = np.ones(len(b), bool)
    # visit pairs by their worse box: when (worse, better) is read, whether 'better' survives is already final
    by_worse = np.argsort(worse, kind="stable")
    for w, bt in zip(worse[by_worse].tolist(), better[by_worse].tolist()):
        if keep[bt]:
            keep[w] = False
    return order[keep]


def soft_nms(boxes_xyxy: np.ndarray, scores: np.ndarray, sigma: float, score_thr: float,
             max_keep: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian Soft-NMS (Bodla et al., ICCV 2017): each box, taken best first, decays the scores of the boxes it
    overlaps by exp(-IoU² / sigma) instead of removing them; boxes decayed below ``score_thr`` are dropped.
    Returns (kept indices, their new scores), sorted by new score, at most ``max_keep``.

    Scores only decrease, so boxes leave the heap in their final order and the pass stops after ``max_keep``;
    neighbours come from ``overlapping_pairs`` (only pairs that do overlap), so the cost grows with the overlaps,
    not with n²."""
    b, s, order = _ranked(boxes_xyxy, scores)
    n = len(b)
    i, j, iou = overlapping_pairs(b) if n else (np.zeros(0, np.int64),) * 3
    touch = iou > 0
    src, dst = np.r_[i[touch], j[touch]], np.r_[j[touch], i[touch]]
    by_src = np.argsort(src, kind="stable")
    dst, decay = dst[by_src], np.exp(-(np.r_[iou[touch], iou[touch]][by_src] ** 2) / sigma)
    starts = np.searchsorted(src[by_src], np.arange(n + 1))
    current = s.astype(np.float64)
    heap = [(-v, r) for r, v in enumerate(current.tolist())]   # already in heap order: sorted by -score
    done = np.zeros(n, bool)
    kept: list[int] = []
    limit = n if max_keep is None else max_keep
    while heap and len(kept) < limit:
        v, r = heapq.heappop(heap)
        if done[r] or -v != current[r]:                         # stale entry: this box was decayed since
            continue
        if -v < score_thr:
            break
        done[r] = True
        kept.append(r)
        nb, d = dst[starts[r]:starts[r + 1]], decay[starts[r]:starts[r + 1]]
        live = ~done[nb]
        nb = nb[live]
        current[nb] *= d[live]
        for c, v2 in zip(nb.tolist(), current[nb].tolist()):
            heapq.heappush(heap, (-v2, c))
    keep = np.asarray(kept, np.int64)
    return order[keep], current[keep].astype(np.float32)


def box_vote(boxes_xyxy: np.ndarray, scores: np.ndarray, kept: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Box voting (Gidaris & Komodakis, ICCV 2015): the boxes ``kept`` (indices into the NMS input ``boxes_xyxy``
    [N, 4], ``scores`` [N]) each become the score-weighted mean of themselves and every candidate overlapping them
    with IoU >= ``iou_threshold``; returns them [len(kept), 4]. A dense head predicts one person from several
    neighbouring cells, and their mean places a 2-6 px box better than the best cell alone. Pairs come from
    ``overlapping_pairs``, so a whole frame's thousands of candidates need no N² matrix."""
    b = np.asarray(boxes_xyxy, np.float32).reshape(-1, 4)
    s = np.asarray(scores, np.float64).reshape(-1)
    kept = np.asarray(kept, np.int64).reshape(-1)
    slot = np.full(len(b), -1, np.int64)
    slot[kept] = np.arange(len(kept))
    i, j, iou = overlapping_pairs(b) if len(b) else (np.zeros(0, np.int64),) * 3
    close = iou >= iou_threshold
    # each close pair votes both ways: j into i's kept box and i into j's
    dst, src = np.r_[slot[i[close]], slot[j[close]]], np.r_[j[close], i[close]]
    dst, src = np.r_[np.arange(len(kept)), dst[dst >= 0]], np.r_[kept, src[dst >= 0]]
    total = np.bincount(dst, weights=s[src], minlength=len(kept))
    summed = np.stack([np.bincount(dst, weights=s[src] * b[src, c], minlength=len(kept)) for c in range(4)], axis=1)
    voted = summed / np.maximum(total, 1e-12)[:, None]
    return np.where(total[:, None] > 0, voted, b[kept]).astype(np.float32)


def scale_boxes(boxes_xyxy: np.ndarray, scale_xy: tuple) -> np.ndarray:
    """Boxes [N, 4] float32 times (sx, sy) across and down."""
    sx, sy = scale_xy
    return np.asarray(boxes_xyxy, np.float32).reshape(-1, 4) * np.float32([sx, sy, sx, sy])


def clip_boxes(boxes_xyxy: np.ndarray, width: float, height: float) -> np.ndarray:
    b = np.array(boxes_xyxy, dtype=np.float32).reshape(-1, 4)
    b[:, [0, 2]] = b[:, [0, 2]].clip(0, width)
    b[:, [1, 3]] = b[:, [1, 3]].clip(0, height)
    return b
