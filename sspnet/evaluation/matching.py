"""Detection ↔ ground-truth matching shared by the AP and MR protocols, vectorised over all images.

``prepare()`` turns records + detections into flat arrays: every detection (images in ascending image_id order,
detections of an image by decreasing score, stable) and every positive GT box, plus the sparse candidate pairs
(det, gt) whose IoD >= ``min_overlap`` (IoU <= IoD, so every IoU candidate is among them).

``greedy_match()`` reproduces COCO's greedy assignment (each detection, in score order, takes the still-free GT
with the highest IoU >= t; ties go to the later GT) without a Python loop over detections: it resolves in rounds
every detection whose candidate GTs no higher-ranked unresolved detection competes for. Detections only interact
through shared GTs, so each round's choices are exactly those the sequential loop would make.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sspnet.boxes import box_area


@dataclass
class Prepared:
    """Flat per-detection / per-GT arrays over the whole dataset (D detections, G positive GTs, P pairs)."""
    num_images: int
    det_image: np.ndarray      # [D] int, index of the record (in ascending image_id order)
    det_rank: np.ndarray       # [D] int, rank of the detection inside its image (0 = highest score)
    det_score: np.ndarray      # [D] float64
    det_area: np.ndarray       # [D] float64, w*h of the detection
    det_ignore_iod: np.ndarray  # [D] float64, max IoD of the detection over the image's ignore regions
    gt_image: np.ndarray       # [G] int
    gt_area: np.ndarray        # [G] float64, w*h of the positive GT box
    pair_det: np.ndarray       # [P] int, sorted ascending (then by GT)
    pair_gt: np.ndarray        # [P] int
    pair_iou: np.ndarray       # [P] float64
    pair_iod: np.ndarray       # [P] float64
    score_order: np.ndarray    # [D] int, all detections by decreasing score (stable: COCO's accumulate order)


def _intersection(a_xyxy: np.ndarray, b_xyxy: np.ndarray) -> np.ndarray:
    """Pairwise intersection areas [A, B] with 2-D temporaries only (the evaluator's hot loop)."""
    iw = np.minimum(a_xyxy[:, 2:3], b_xyxy[None, :, 2]) - np.maximum(a_xyxy[:, 0:1], b_xyxy[None, :, 0])
    ih = np.minimum(a_xyxy[:, 3:4], b_xyxy[None, :, 3]) - np.maximum(a_xyxy[:, 1:2], b_xyxy[None, :, 1])
    np.maximum(iw, 0.0, out=iw)
    np.maximum(ih, 0.0, out=ih)
    iw *= ih
    return iw


def _as_det_arrays(dets, image_id) -> tuple[np.ndarray, np.ndarray]:
    if dets is None:
        return np.zeros((0, 4)), np.zeros(0)
    boxes, scores = dets
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    scores = np.asarray(scores, np.float64).reshape(-1)
    if len(boxes) != len(scores):
        raise ValueError(f"image {image_id}: {len(boxes)} detection boxes but {len(scores)} scores")
    return boxes, scores


def prepare(records: list, detections: dict, max_dets: int, min_overlap: float) -> Prepared:
    """records (ImageRecord list) + detections {image_id: (boxes xyxy [K,4], scores [K])} → Prepared.

    Keeps the ``max_dets`` highest-scoring detections per image. Detections for an image_id that is not in
    ``records`` are an error.
    """
    order = sorted(range(len(records)), key=lambda i: records[i].image_id)
    ids = {records[i].image_id for i in order}
    unknown = [k for k in detections if k not in ids]
    if unknown:
        raise ValueError(f"detections for {len(unknown)} image id(s) not in the dataset, e.g. {unknown[:5]}")
    d_img, d_rank, d_score, d_area, d_ign = [], [], [], [], []
    g_img, g_area = [], []
    p_det, p_gt, p_iou, p_iod = [], [], [], []
    n_det = n_gt = 0
    for k, ri in enumerate(order):
        rec = records[ri]
        boxes, scores = _as_det_arrays(detections.get(rec.image_id), rec.image_id)
        srt = np.argsort(-scores, kind="mergesort")[:max_dets]
        boxes, scores = boxes[srt], scores[srt]
        gts = np.asarray(rec.boxes_xyxy, np.float64).reshape(-1, 4)
        ign = np.asarray(rec.ignore_xyxy, np.float64).reshape(-1, 4)
        area_d, area_g = box_area(boxes), box_area(gts)
        d_img.append(np.full(len(boxes), k))
        d_rank.append(np.arange(len(boxes)))
        d_score.append(scores)
        d_area.append(area_d)
        g_img.append(np.full(len(gts), k))
        g_area.append(area_g)
        safe_d = np.maximum(area_d, 1e-12)[:, None]
        if len(ign) and len(boxes):
            d_ign.append((_intersection(boxes, ign) / safe_d).max(axis=1))
        else:
            d_ign.append(np.zeros(len(boxes)))
        if len(gts) and len(boxes):
            inter = _intersection(boxes, gts)                         # [Dk, Gk]
            cand = (inter >= min_overlap * area_d[:, None]) & (inter > 0)
            di, gi = np.nonzero(cand)                                 # row-major: sorted by det, then GT
            inter_p = inter[di, gi]                                   # [Pk]
            p_det.append(di + n_det)
            p_gt.append(gi + n_gt)
            p_iou.append(inter_p / np.maximum(area_d[di] + area_g[gi] - inter_p, 1e-12))
            p_iod.append(inter_p / np.maximum(area_d[di], 1e-12))
        n_det += len(boxes)
        n_gt += len(gts)

    def cat(parts, dtype):
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)
    det_score = cat(d_score, np.float64)
    return Prepared(num_images=len(records), det_image=cat(d_img, np.int64), det_rank=cat(d_rank, np.int64),
                    det_score=det_score, score_order=np.argsort(-det_score, kind="mergesort"),
                    det_area=cat(d_area, np.float64),
                    det_ignore_iod=cat(d_ign, np.float64), gt_image=cat(g_img, np.int64),
                    gt_area=cat(g_area, np.float64), pair_det=cat(p_det, np.int64), pair_gt=cat(p_gt, np.int64),
                    pair_iou=cat(p_iou, np.float64), pair_iod=cat(p_iod, np.float64))


def greedy_match(pair_det: np.ndarray, pair_gt: np.ndarray, pair_iou: np.ndarray, num_dets: int) -> np.ndarray:
    """COCO greedy matching over candidate pairs (already filtered to IoU >= t and to eligible dets/GTs).

    pair_det must be sorted ascending and a lower det index must mean a higher rank within its image (pairs never
    join two images). Returns matched [num_dets] bool.
    """
    matched = np.zeros(num_dets, bool)
    d, g, iou = pair_det, pair_gt, pair_iou
    while len(d):
        # the first (highest-ranked) still-competing detection of each GT
        gts, first = np.unique(g, return_index=True)
        first_det = np.empty(gts.max() + 1, np.int64)
        first_det[gts] = d[first]
        leads = first_det[g] == d                                   # [P] this det leads this GT's queue
        blocked = np.unique(d[~leads])
        ready = ~np.isin(d, blocked)                                # [P] pairs of dets with no competitor above
        rd, rg, ri = d[ready], g[ready], iou[ready]
        pick = np.lexsort((rg, ri, rd))                             # by det, then IoU, then GT index
        last = np.r_[rd[pick][1:] != rd[pick][:-1], True]           # the last pair per det: best IoU, later GT
        chosen_det, chosen_gt = rd[pick][last], rg[pick][last]
        matched[chosen_det] = True
        taken = np.zeros(gts.max() + 1, bool)
        taken[chosen_gt] = True
        keep = ~ready & ~taken[g]
        d, g, iou = d[keep], g[keep], iou[keep]
    return matched


def hits_ignored_gt(pair_det: np.ndarray, pair_gt: np.ndarray, pair_iod: np.ndarray, gt_ignored: np.ndarray,
                    threshold: float, num_dets: int) -> np.ndarray:
    """[num_dets] bool: detections with IoD >= threshold on some GT flagged in ``gt_ignored`` [G]."""
    sel = (pair_iod >= threshold) & gt_ignored[pair_gt]
    out = np.zeros(num_dets, bool)
    out[pair_det[sel]] = True
    return out


def hits_in_score_order(prep: "Prepared", det_ok: np.ndarray, gt_in: np.ndarray, iou_threshold: float,
                        det_excused: np.ndarray | None = None) -> np.ndarray:
    """True/false positive flags, best score first, of the detections that count at one IoU threshold.

    ``det_ok`` [D]: detections taking part; ``gt_in`` [G]: GT of the size range (others act as ignored); a detection
    matched to none counts as a false positive unless it lies on an ignore region or an ignored GT (IoD ≥ the
    threshold) or is flagged in ``det_excused`` [D] (AP: outside the size range).
    """
    n_det = len(prep.det_score)
    thr = min(iou_threshold, 1 - 1e-10)
    sel = det_ok[prep.pair_det] & gt_in[prep.pair_gt] & (prep.pair_iou >= thr)
    matched = greedy_match(prep.pair_det[sel], prep.pair_gt[sel], prep.pair_iou[sel], n_det)
    excused = (prep.det_ignore_iod >= thr) | hits_ignored_gt(prep.pair_det, prep.pair_gt, prep.pair_iod, ~gt_in,
                                                              thr, n_det)
    if det_excused is not None:
        excused |= det_excused
    counted = det_ok & (matched | ~excused)
    return matched[prep.score_order[counted[prep.score_order]]]
