"""Review chips: a square crop around each detection, with context, up-scaled to ``CHIP_PX`` so a 4-px person
can be judged by eye, and a down-scaled copy of the frame the page shows when a chip is clicked.

A chip's crop is ``CONTEXT`` times the box's longer side (at least ``MIN_CROP_PX``), centred on the box; what
falls outside the image is neutral grey, so the person is always in the middle. A thin outline is drawn a few
pixels outside the box, never over it. Files are written by temp file + rename: a chip that exists is whole.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from sspnet.manifest import atomic_write_bytes

CHIP_PX = 160            # chip side in pixels
CONTEXT = 4.0            # crop side / longer box side
MIN_CROP_PX = 48         # smallest crop side in image pixels (a 2-px box still shows its surroundings)
PREVIEW_MAX_PX = 1600    # longer side of the frame copy the page shows
JPEG_QUALITY = 90
FRAMES = "frames"        # sub-folder of the chips folder holding the frame copies
OUTLINE_BGR = (0, 220, 255)
PAD_GREY = 114


def chip_window(box_xyxy, context: float = CONTEXT, min_px: int = MIN_CROP_PX) -> tuple[int, int, int]:
    """(x0, y0, side) of the square crop in image pixels, centred on the box; it may extend past the image."""
    x1, y1, x2, y2 = (float(v) for v in box_xyxy)
    side = int(np.ceil(max(context * max(x2 - x1, y2 - y1), min_px)))
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return int(np.floor(cx - side / 2)), int(np.floor(cy - side / 2)), side


def render_chip(image_bgr: np.ndarray, box_xyxy, chip_px: int = CHIP_PX) -> np.ndarray:
    """[chip_px, chip_px, 3] uint8 BGR: the crop around ``box_xyxy`` (image pixels), outlined."""
    h, w = image_bgr.shape[:2]
    x0, y0, side = chip_window(box_xyxy)
    crop = np.full((side, side, 3), PAD_GREY, np.uint8)
    sx1, sy1, sx2, sy2 = max(x0, 0), max(y0, 0), min(x0 + side, w), min(y0 + side, h)
    if sx2 > sx1 and sy2 > sy1:
        crop[sy1 - y0:sy2 - y0, sx1 - x0:sx2 - x0] = image_bgr[sy1:sy2, sx1:sx2]
    k = chip_px / side
    chip = cv2.resize(crop, (chip_px, chip_px), interpolation=cv2.INTER_CUBIC if k > 1 else cv2.INTER_AREA)
    x1, y1, x2, y2 = ((float(v) - o) * k for v, o in zip(box_xyxy, (x0, y0, x0, y0)))
    gap = 3
    cv2.rectangle(chip, (int(x1) - gap, int(y1) - gap), (int(np.ceil(x2)) + gap, int(np.ceil(y2)) + gap),
                  OUTLINE_BGR, 1, cv2.LINE_AA)
    return chip


def encode_jpeg(image_bgr: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG")
    return buf.tobytes()


def write_chips(image_bgr: np.ndarray, boxes_xyxy: np.ndarray, uid: str, folder: str | Path) -> list[str]:
    """One chip per box, ``<uid>_<k>.jpg`` in ``folder``; returns the file names in box order."""
    names = []
    for k, box in enumerate(np.asarray(boxes_xyxy, np.float32).reshape(-1, 4)):
        name = f"{uid}_{k}.jpg"
        atomic_write_bytes(Path(folder) / name, encode_jpeg(render_chip(image_bgr, box)))
        names.append(name)
    return names


def write_preview(image_bgr: np.ndarray, uid: str, folder: str | Path, max_px: int = PREVIEW_MAX_PX) -> str:
    """The frame, its longer side at most ``max_px``, as ``frames/<uid>.jpg`` in ``folder``; returns that name."""
    h, w = image_bgr.shape[:2]
    k = min(1.0, max_px / max(w, h))
    small = image_bgr if k == 1.0 else cv2.resize(image_bgr, (max(1, round(w * k)), max(1, round(h * k))),
                                                   interpolation=cv2.INTER_AREA)
    name = f"{FRAMES}/{uid}.jpg"
    atomic_write_bytes(Path(folder) / name, encode_jpeg(small))
    return name
