"""Tiling of large frames into fixed-size model inputs and merging of tile detections.

Layout follows TinyBenchmark's split: tiles of ``tile_w × tile_h`` with ``overlap`` pixels of overlap, the last
tile of each axis shifted back inside the frame so every tile is full size. A frame smaller than a tile gets one
tile that is zero-padded on the right/bottom.
"""
from __future__ import annotations

import math

import numpy as np

from sspnet.boxes import box_area, nms, soft_nms


def tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    """Start offsets along one axis; the last start is shifted so the tile ends at ``size``."""
    if tile <= overlap:
        raise ValueError(f"tile size {tile} must exceed the overlap {overlap}")
    if size <= tile:
        return [0]
    stride = tile - overlap
    n = math.ceil((size - overlap) / stride)
    starts = [i * stride for i in range(n)]
    starts[-1] = size - tile
    return sorted(set(starts))


def tile_layout(width: int, height: int, tile_w: int = 640, tile_h: int = 512, overlap: int = 50) -> np.ndarray:
    """Tile corners as int xyxy, shape [T, 4], row-major (y outer, x inner)."""
    corners = [(x, y, x + tile_w, y + tile_h)
               for y in tile_starts(height, tile_h, overlap)
               for x in tile_starts(width, tile_w, overlap)]
    return np.asarray(corners, dtype=np.int64).reshape(-1, 4)


def crop_tiles(image: np.ndarray, corners_xyxy: np.ndarray) -> np.ndarray:
    """Crop [T, tile_h, tile_w, C] tiles from an HWC image, zero-padding past the image border."""
    h, w = image.shape[:2]
    tile_w = int(corners_xyxy[0, 2] - corners_xyxy[0, 0])
    tile_h = int(corners_xyxy[0, 3] - corners_xyxy[0, 1])
    out = np.zeros((len(corners_xyxy), tile_h, tile_w) + image.shape[2:], dtype=image.dtype)
    for i, (x1, y1, x2, y2) in enumerate(corners_xyxy):
        cw, ch = min(x2, w) - x1, min(y2, h) - y1
        out[i, :ch, :cw] = image[y1:y1 + ch, x1:x1 + cw]
    return out


def boxes_in_tile(boxes_xyxy: np.ndarray, corner_xyxy, keep_ratio: float = 0.7) -> tuple[np.ndarray, np.ndarray]:
    """TinyPerson keep rule: clip boxes to the tile, keep those with sqrt(clipped/original area) >= keep_ratio.

    Returns (boxes in tile coordinates [K, 4], indices of the kept input boxes [K]).
    """
    b = np.asarray(boxes_xyxy, dtype=np.float32).reshape(-1, 4)
    x1, y1, x2, y2 = (float(v) for v in corner_xyxy)
    clipped = b.copy()
    clipped[:, [0, 2]] = clipped[:, [0, 2]].clip(x1, x2)
    clipped[:, [1, 3]] = clipped[:, [1, 3]].clip(y1, y2)
    area, area_clipped = box_area(b), box_area(clipped)
    ratio = np.sqrt(np.where(area > 0, area_clipped / np.maximum(area, 1e-12), 0.0))
    keep = np.nonzero((ratio >= keep_ratio) & (area_clipped > 0))[0]
    shifted = clipped[keep] - np.array([x1, y1, x1, y1], dtype=np.float32)
    return shifted, keep


def merge_tile_detections(boxes_per_tile: list[np.ndarray], scores_per_tile: list[np.ndarray],
                          corners_xyxy: np.ndarray, iou_threshold: float = 0.5, max_det: int = 1000,
                          soft_sigma: float = 0.0, score_thr: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Shift tile detections by their corner and suppress duplicates across tiles with NMS (``soft_sigma`` > 0:
    Gaussian Soft-NMS, dropping what decays below ``score_thr``).

    Returns (boxes xyxy [K, 4] float32 in frame pixels, scores [K] float32), sorted by score.
    """
    shifted = [np.asarray(b, np.float32).reshape(-1, 4) + np.tile(np.asarray(c[:2], np.float32), 2)
               for b, c in zip(boxes_per_tile, corners_xyxy)]
    boxes = np.concatenate(shifted) if shifted else np.zeros((0, 4), np.float32)
    scores = (np.concatenate([np.asarray(s, np.float32).reshape(-1) for s in scores_per_tile])
              if scores_per_tile else np.zeros(0, np.float32))
    if soft_sigma > 0:
        keep, decayed = soft_nms(boxes, scores, soft_sigma, score_thr, max_det)
        return boxes[keep], decayed
    keep = nms(boxes, scores, iou_threshold)[:max_det]
    return boxes[keep], scores[keep]
