"""One large still through the detector in chunks of tiles, so memory is bounded by the chunk, not the image.

The core's ``detect_frame`` pre-processes every tile of a frame at once: for a 4000×3000 still at the shipped
model's scale 2 that is 182 tiles, 715 MB of float32. Here the same core steps (resize, tile layout, crop,
normalise, per-tile selection and merge) run ``tile_batch`` tiles at a time; the detections are the same.
"""
from __future__ import annotations

import numpy as np

from sspnet.postprocess import detections_from_tiles
from sspnet.preprocess import normalize, resize_frame
from sspnet.tiling import crop_tiles, tile_layout

TILE_BATCH = 16     # tiles per inference call when the model takes any batch (16 × 640×512 × 3 float32 = 63 MB)


def detect_image(image_bgr: np.ndarray, backend, tile_batch: int = TILE_BATCH) -> tuple[np.ndarray, np.ndarray, int]:
    """HxWx3 uint8 BGR → (boxes xyxy [K, 4] image px, scores [K], number of tiles)."""
    if image_bgr.ndim != 3 or image_bgr.shape[2] != 3 or image_bgr.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 BGR image, got {image_bgr.shape} {image_bgr.dtype}")
    pre = backend.preprocess
    resized = resize_frame(image_bgr, pre.scale)
    corners = tile_layout(resized.shape[1], resized.shape[0], pre.input_w, pre.input_h, pre.overlap)  # [T, 4]
    step = backend.max_batch or tile_batch
    boxes, scores = [], []
    for i in range(0, len(corners), step):
        b, s = backend.infer(normalize(crop_tiles(resized, corners[i:i + step]), pre))   # [t, K, 4], [t, K]
        boxes.append(b)
        scores.append(s)
    frame_wh = (image_bgr.shape[1], image_bgr.shape[0])
    out_b, out_s = detections_from_tiles(np.concatenate(boxes), np.concatenate(scores), corners, pre.scale,
                                         frame_wh, backend.postprocess)
    return out_b, out_s, len(corners)
