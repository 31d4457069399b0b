"""Copy-paste of real persons onto real backgrounds (the accuracy issue's augmentation for 2–30 px persons).

A ``PersonBank`` cuts every isolated person of the real (not ``synthetic``) training frames (no other person or
ignore region within a margin of its own size) out of its frame with a context margin. ``paste_persons`` puts up
to N of them into a training crop of a real frame, resized by the crop's up-scale factor so they keep the size
statistics of the data, where they overlap no person, ignore region or black padding. So that the detector cannot
learn a rectangular seam, the patch's colours are shifted by the mean difference between its margin and the
destination under it (the zero-frequency part of Poisson blending; OpenCV's ``seamlessClone`` washes patches of a
few pixels out), then it is blended in with a feathered border. The pasted boxes become ordinary positives.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from sspnet.boxes import box_intersection
from sspnet.data.record import ImageRecord

MIN_SIDE_PX, MAX_SIDE_PX = 2.0, 64.0   # source-frame box sides a bank keeps (TinyPerson's tiny and small range)
MARGIN_FRAC, MIN_MARGIN_PX = 0.5, 2    # context cut around a box: half its size, at least 2 px, feathered to 0
PLACE_TRIES = 10                       # random positions tried per pasted person


@dataclass(frozen=True)
class Patch:
    """Pixels (HWC uint8 BGR) around one person; ``box`` is the person's xyxy inside them."""
    pixels: np.ndarray
    box: np.ndarray


def _expanded(boxes: np.ndarray, frac: float, min_px: float) -> np.ndarray:
    """xyxy boxes grown on every side by ``frac`` of their size (at least ``min_px``)."""
    wh = boxes[:, 2:] - boxes[:, :2]
    pad = np.maximum(wh * frac, min_px)
    return np.concatenate([boxes[:, :2] - pad, boxes[:, 2:] + pad], axis=1)


def _intersects(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """[K] bool: does xyxy ``box`` overlap each of ``others`` [K, 4] (touching edges do not count)."""
    return box_intersection(box[None], np.asarray(others, np.float32).reshape(-1, 4))[0] > 0


def isolated_boxes(rec: ImageRecord) -> np.ndarray:
    """Indices of ``rec``'s persons of bank size whose context (margin of their own size) holds no other person
    and no ignore region, so a cut-out carries exactly one person."""
    boxes = np.asarray(rec.boxes_xyxy, np.float32).reshape(-1, 4)
    ignore = np.asarray(rec.ignore_xyxy, np.float32).reshape(-1, 4)
    wh = boxes[:, 2:] - boxes[:, :2]
    keep = []
    for i in np.flatnonzero((wh.min(axis=1) >= MIN_SIDE_PX) & (wh.max(axis=1) <= MAX_SIDE_PX)):
        context = _expanded(boxes[i:i + 1], 1.0, MIN_MARGIN_PX)[0]
        others = np.delete(boxes, i, axis=0)
        inside = (context[0] >= 0 and context[1] >= 0 and context[2] <= rec.width and context[3] <= rec.height)
        if inside and not _intersects(context, others).any() and not _intersects(context, ignore).any():
            keep.append(int(i))
    return np.asarray(keep, np.int64)


def cut_patch(img_bgr: np.ndarray, box_xyxy: np.ndarray) -> Patch:
    """The person at ``box_xyxy`` with a context margin, cut at integer pixels."""
    x1, y1, x2, y2 = _expanded(np.asarray(box_xyxy, np.float32).reshape(1, 4), MARGIN_FRAC, MIN_MARGIN_PX)[0]
    h, w = img_bgr.shape[:2]
    x1, y1 = max(0, int(np.floor(x1))), max(0, int(np.floor(y1)))
    x2, y2 = min(w, int(np.ceil(x2))), min(h, int(np.ceil(y2)))
    box = np.asarray(box_xyxy, np.float32) - np.array([x1, y1, x1, y1], np.float32)
    return Patch(np.ascontiguousarray(img_bgr[y1:y2, x1:x2]), box)


class PersonBank:
    """Cut-outs of the isolated persons of a set of training frames."""

    def __init__(self, patches: list[Patch]):
        if not patches:
            raise ValueError("copy-paste: the real training frames hold no isolated person of 2–64 px to paste "
                             "(set train.copy_paste=0)")
        self.patches = patches

    @classmethod
    def from_records(cls, records: list[ImageRecord], image_of) -> "PersonBank":
        """``image_of(i)`` → the HWC BGR pixels of ``records[i]`` (the training crops' image cache). Synthetic
        records give no persons."""
        patches = []
        for i, rec in enumerate(records):
            idx = np.zeros(0, np.int64) if rec.synthetic else isolated_boxes(rec)
            if len(idx):
                img = image_of(i)
                patches += [cut_patch(img, rec.boxes_xyxy[j]) for j in idx]
        return cls(patches)

    def __len__(self) -> int:
        return len(self.patches)


def feather(h: int, w: int, box: np.ndarray) -> np.ndarray:
    """[h, w, 1] float32 alpha: 1 on the person's box, falling linearly to 0 at the patch border."""
    def ramp(n: int, lo: float, hi: float) -> np.ndarray:
        c = np.arange(n, dtype=np.float32) + 0.5
        up = np.clip(c / max(lo, 1e-3), 0.0, 1.0)
        down = np.clip((n - c) / max(n - hi, 1e-3), 0.0, 1.0)
        return np.minimum(up, down)
    return (ramp(h, box[1], box[3])[:, None] * ramp(w, box[0], box[2])[None, :])[..., None]


def match_margin(pixels: np.ndarray, under: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``pixels`` shifted per channel so that their margin (alpha < 1) has the mean colour of ``under``."""
    ring = alpha[..., 0] < 1.0
    if not ring.any():
        return pixels
    shift = (under[ring] - pixels[ring]).mean(axis=0)
    return np.clip(pixels + shift, 0.0, 255.0)


def paste_persons(crop_bgr: np.ndarray, boxes: np.ndarray, ignore: np.ndarray, bank: PersonBank,
                  scale_xy: tuple, max_count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Paste 0..``max_count`` bank persons, resized by ``scale_xy`` (across, down), into ``crop_bgr`` (in place).

    Returns (crop, boxes + pasted boxes). A person is placed only where its context overlaps no existing or
    pasted person, no ignore region and no black padding; a person that finds no such place is skipped.
    """
    ch, cw = crop_bgr.shape[:2]
    taken = np.concatenate([np.asarray(boxes, np.float32).reshape(-1, 4),
                            np.asarray(ignore, np.float32).reshape(-1, 4)])
    pasted = []
    for _ in range(int(rng.integers(0, max_count + 1))):
        patch = bank.patches[int(rng.integers(len(bank)))]
        ph, pw = max(1, round(patch.pixels.shape[0] * scale_xy[1])), max(1, round(patch.pixels.shape[1] * scale_xy[0]))
        if ph >= ch or pw >= cw:
            continue
        sy, sx = ph / patch.pixels.shape[0], pw / patch.pixels.shape[1]
        box = patch.box * np.array([sx, sy, sx, sy], np.float32)
        for _ in range(PLACE_TRIES):
            x0, y0 = int(rng.integers(0, cw - pw + 1)), int(rng.integers(0, ch - ph + 1))
            placed = box + np.array([x0, y0, x0, y0], np.float32)
            context = _expanded(placed[None], 1.0, MIN_MARGIN_PX)[0]
            region = crop_bgr[y0:y0 + ph, x0:x0 + pw]
            if _intersects(context, taken).any() or (region.max(axis=2) == 0).mean() > 0.1:
                continue
            pixels = cv2.resize(patch.pixels, (pw, ph), interpolation=cv2.INTER_LINEAR).astype(np.float32)
            alpha = feather(ph, pw, box)
            pixels = match_margin(pixels, region.astype(np.float32), alpha)
            region[:] = (alpha * pixels + (1.0 - alpha) * region).round().astype(np.uint8)
            pasted.append(placed)
            taken = np.concatenate([taken, placed[None]])
            break
    if not pasted:
        return crop_bgr, boxes
    return crop_bgr, np.concatenate([np.asarray(boxes, np.float32).reshape(-1, 4),
                                     np.stack(pasted)]).astype(np.float32)
