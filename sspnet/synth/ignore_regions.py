"""TinyPerson-style ignore regions on synthetic stills: the parts of a frame whose persons cannot be labelled one by
one, marked as regions that neither reward nor punish a detector.

TinyPerson annotates three kinds: dense crowds (too many overlapping persons to box), reflections of persons in
water, and areas too blurred to tell (motion blur, defocus); it blanks many of them with a flat mean colour. Each
kind is drawn here over a cluster of persons already in the frame: the persons inside leave the positives, and one
ignore box covering the region goes into the annotations (``ignore: true``, pose ``"ignore_region"``).
"""
from __future__ import annotations

import cv2
import numpy as np

KINDS = ("crowd", "reflection", "blur", "flat_fill")
REGION_PROBABILITY = 0.5        # chance that a still gets one ignore region
MARGIN_PX = 4.0                 # the region reaches this far beyond the persons it covers


def _region_around(boxes: list, seed_box, frame_wh: tuple, rng: np.random.Generator) -> tuple:
    """A box around ``seed_box`` grown by 2–6 person heights, clipped to the frame (int px)."""
    x1, y1, x2, y2 = seed_box
    grow = float(rng.uniform(2, 6)) * max(y2 - y1, 4.0)
    w, h = frame_wh
    return (int(max(0, x1 - grow)), int(max(0, y1 - grow)), int(min(w, x2 + grow)), int(min(h, y2 + grow)))


def _inside(box, region) -> bool:
    """The person's centre lies in the region."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return region[0] <= cx < region[2] and region[1] <= cy < region[3]


def _draw(image: np.ndarray, region: tuple, kind: str, rng: np.random.Generator) -> None:
    x1, y1, x2, y2 = region
    patch = image[y1:y2, x1:x2]
    if kind == "flat_fill":
        patch[:] = patch.reshape(-1, 3).mean(axis=0).astype(np.uint8)
    elif kind == "blur":
        k = int(rng.integers(3, 6)) * 2 + 1
        patch[:] = cv2.GaussianBlur(patch, (k, k), 0)
    elif kind == "reflection":   # a vertically mirrored, darkened, blurred copy: persons seen in the water
        patch[:] = cv2.GaussianBlur((patch[::-1] * 0.7).astype(np.uint8), (3, 3), 0)
    elif kind == "crowd":        # dense, overlapping person-coloured blobs
        n = int(rng.integers(15, 40))
        for _ in range(n):
            cx, cy = int(rng.integers(0, max(1, x2 - x1))), int(rng.integers(0, max(1, y2 - y1)))
            r = int(rng.integers(1, 3))
            colour = tuple(int(c) for c in rng.integers(20, 230, 3))
            cv2.ellipse(patch, (cx, cy), (r, 2 * r), 0, 0, 360, colour, -1)
    else:
        raise ValueError(f"ignore region kind {kind!r}: choose from {', '.join(KINDS)}")


def add_ignore_regions(image: np.ndarray, boxes: list, rng: np.random.Generator,
                       probability: float = REGION_PROBABILITY) -> tuple[list, list]:
    """Maybe draw one ignore region over a person cluster of ``image`` (in place).

    ``boxes``: PersonBox list of the frame. Returns (boxes left outside the region, [(region xyxy, kind)]).
    """
    persons = [b for b in boxes if not b.ignore]
    if not persons or rng.random() >= probability:
        return boxes, []
    kind = KINDS[int(rng.integers(len(KINDS)))]
    seed = persons[int(rng.integers(len(persons)))].box_xyxy
    h, w = image.shape[:2]
    region = _region_around(persons, seed, (w, h), rng)
    _draw(image, region, kind, rng)
    kept = [b for b in boxes if not _inside(b.box_xyxy, region)]
    return kept, [(tuple(float(v) for v in region), kind)]
