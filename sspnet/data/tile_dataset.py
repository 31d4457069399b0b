"""Tile a dataset into fixed-size sub-images (TinyPerson corner records) with TinyBenchmark's box keep rule.

Each image is covered by ``sspnet.tiling.tile_layout`` (last tile shifted inside the frame). A person box goes to a
tile when sqrt(clipped area / original area) >= keep_ratio and is clipped to it; otherwise it is dropped from that
tile (not turned into ignore). Ignore regions are clipped to each tile and kept whenever any part lies inside, so a
detection on a partly visible ignore region is still excused.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sspnet.boxes import box_area
from sspnet.data.record import ImageRecord
from sspnet.tiling import boxes_in_tile, tile_layout


@dataclass
class TileStats:
    images: int = 0
    tiles: int = 0
    boxes_in: int = 0
    boxes_kept: int = 0            # box placements summed over tiles (a box in an overlap counts twice)
    boxes_lost: int = 0            # boxes that reach no tile at all with the keep rule
    per_image_tiles: list = field(default_factory=list)


def clip_to_tile(boxes_xyxy: np.ndarray, corner_xyxy) -> np.ndarray:
    """Clip boxes [N, 4] to the tile, shift into tile coordinates and keep those with area > 0; [K, 4]."""
    x1, y1, x2, y2 = (float(v) for v in corner_xyxy)
    b = np.asarray(boxes_xyxy, np.float32).reshape(-1, 4).copy()
    b[:, [0, 2]] = b[:, [0, 2]].clip(x1, x2) - x1
    b[:, [1, 3]] = b[:, [1, 3]].clip(y1, y2) - y1
    return b[box_area(b) > 0]


def tile_record(rec: ImageRecord, tile_wh: tuple[int, int] = (640, 512), overlap: int = 50,
                keep_ratio: float = 0.7) -> tuple[list[ImageRecord], np.ndarray]:
    """One full image → (corner records without ids, bool [N] which of its boxes landed in at least one tile)."""
    if rec.corner_xyxy is not None:
        raise ValueError(f"{rec.file_name} (image id {rec.image_id}) is already a sub-image (corner "
                         f"{list(rec.corner_xyxy)}); tile the full-image annotations instead")
    tw, th = tile_wh
    corners = tile_layout(rec.width, rec.height, tw, th, overlap)  # [T, 4] int xyxy
    landed = np.zeros(len(rec.boxes_xyxy), bool)
    tiles = []
    for corner in corners:
        boxes, kept = boxes_in_tile(rec.boxes_xyxy, corner, keep_ratio)
        landed[kept] = True
        tiles.append(ImageRecord(image_path=rec.image_path, width=tw, height=th, image_id=0,
                                 file_name=rec.file_name, boxes_xyxy=boxes.astype(np.float32),
                                 ignore_xyxy=clip_to_tile(rec.ignore_xyxy, corner),
                                 flags={k: np.asarray(v)[kept] for k, v in rec.flags.items()},
                                 corner_xyxy=tuple(int(v) for v in corner), synthetic=rec.synthetic))
    return tiles, landed


def tile_records(records: list[ImageRecord], tile_wh: tuple[int, int] = (640, 512), overlap: int = 50,
                 keep_ratio: float = 0.7) -> tuple[list[ImageRecord], TileStats]:
    """All images → corner records with image ids 1..T (in input order), plus counts for the log."""
    out: list[ImageRecord] = []
    stats = TileStats()
    for rec in records:
        tiles, landed = tile_record(rec, tile_wh, overlap, keep_ratio)
        for t in tiles:
            t.image_id = len(out) + 1
            out.append(t)
        stats.images += 1
        stats.tiles += len(tiles)
        stats.boxes_in += len(rec.boxes_xyxy)
        stats.boxes_kept += sum(len(t.boxes_xyxy) for t in tiles)
        stats.boxes_lost += int((~landed).sum())
        stats.per_image_tiles.append(len(tiles))
    return out, stats
