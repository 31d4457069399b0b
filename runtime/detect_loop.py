"""The loop of ``sspnet detect``: decoded stills and frames → detector → chips → one flushed line each.

Decoding runs ahead in its own threads (``detect_decode``); this loop runs the model, writes the chips of the
image and then its line, so a line on disk means its chips are there too, and a killed run loses at most the
image in flight. ``geo`` (optional) adds the geo step's fields to each line (see ``detect_run``).
"""
from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from sspnet.postprocess import detect_frame
from sspnet.preprocess import tile_count
from sspnet.review import write_chips, write_preview
from sspnet.runtime.detect_decode import Decoded, Decoder
from sspnet.runtime.detect_inputs import InputFile
from sspnet.runtime.detect_progress import Progress
from sspnet.runtime.detect_run import RunFolder

# tiles per inference call when the model takes any batch: a 4000x3000 still at scale 2 has 182 tiles (715 MB
# of float32 at once); 16 x 640x512 x 3 float32 = 63 MB
TILE_BATCH = 16

# geo step: (decoded image, boxes xyxy [K, 4] image px) → {"camera": {...}, "positions": [...]} or {}
GeoFields = Callable[[Decoded, np.ndarray], dict]
# stills' resize: (decoded still, the model's Preprocess) → sspnet.geo.StillScale (None: the model's scale)
StillScaler = Callable[[Decoded, object], object]


@dataclass
class LoopStats:
    """Counts and mean stage times (ms) of this run; running sums, so memory does not grow with the images."""
    stills: int = 0
    frames: int = 0
    videos: int = 0
    errors: int = 0
    detections: int = 0
    sizes: set = field(default_factory=set)      # distinct (width, height)
    tiles: set = field(default_factory=set)      # distinct tiles per image
    ms: dict = field(default_factory=lambda: {"decode": 0.0, "detect": 0.0, "chips": 0.0})
    t0: float = field(default_factory=time.monotonic)
    t_end: float | None = None

    @property
    def images(self) -> int:
        return self.stills + self.frames

    @property
    def elapsed_s(self) -> float:
        return (self.t_end or time.monotonic()) - self.t0

    @property
    def images_per_min(self) -> float:
        return self.images / self.elapsed_s * 60 if self.elapsed_s > 0 else 0.0

    def mean_ms(self) -> dict:
        return {k: round(v / self.images, 1) if self.images else None for k, v in self.ms.items()}


def base_fields(decoded: Decoded) -> dict:
    item = decoded.item
    kind = "frame" if decoded.frame is not None else ("video" if item.kind == "video" else "image")
    doc = {"type": kind, "id": item.uid(decoded.frame), "path": item.path, "name": item.display,
           "size": item.size, "mtime_ns": item.mtime_ns}
    if kind != "video":
        doc.update(frame=decoded.frame, pts=decoded.pts_s)
    return doc


def detect_one(decoded: Decoded, backend, run: RunFolder, max_chips: int, stats: LoopStats,
               geo: GeoFields | None = None, still_scaler: StillScaler | None = None) -> dict:
    """The line of one decoded still or frame (or of a video's end, or of an error). ``still_scaler``: stills are
    resized by its scale instead of the model's (the line records it)."""
    doc = base_fields(decoded)
    if decoded.error is not None:
        run.log(f"skipped {decoded.item.display}: {decoded.error}")
        stats.errors += 1
        return {**doc, "status": "error", "error": decoded.error,
                **({"frames": decoded.end_of_video or 0} if doc["type"] == "video" else {})}
    if decoded.end_of_video is not None:
        stats.videos += 1
        return {**doc, "status": "ok", "frames": decoded.end_of_video}
    image = decoded.image
    t0 = time.perf_counter()
    pre = backend.preprocess
    resize = still_scaler(decoded, pre) if still_scaler is not None and doc["type"] == "image" else None
    if resize is not None:
        pre = dataclasses.replace(pre, scale=resize.scale)
    boxes, scores = detect_frame(image, pre, backend.postprocess, backend.infer, backend.max_batch or TILE_BATCH,
                                 backend.full_frame)
    tiles = tile_count((image.shape[1], image.shape[0]), pre, backend.full_frame)
    t1 = time.perf_counter()
    chips = write_chips(image, boxes[:max_chips], doc["id"], run.chips)
    preview = write_preview(image, doc["id"], run.chips) if chips else None
    stats.ms["decode"] += decoded.decode_ms
    stats.ms["detect"] += (t1 - t0) * 1e3
    stats.ms["chips"] += (time.perf_counter() - t1) * 1e3
    h, w = image.shape[:2]
    stats.sizes.add((w, h))
    stats.tiles.add(tiles)
    stats.detections += len(boxes)
    if doc["type"] == "frame":
        stats.frames += 1
    else:
        stats.stills += 1
    doc.update(status="ok", width=w, height=h, tiles=tiles,
               boxes=[[round(float(v), 2) for v in b] for b in boxes],
               scores=[round(float(s), 4) for s in scores], chips=chips, preview=preview)
    if resize is not None:
        doc["resize"] = resize.to_dict()
    if geo is not None:
        doc.update(geo(decoded, boxes))
    return doc


def still_done(run: RunFolder, item: InputFile) -> bool:
    return (item.path, item.size, item.mtime_ns, "video" if item.kind == "video" else None) in run.done


def detect_all(todo: list[InputFile], backend, run: RunFolder, *, stop: threading.Event, every: int = 1,
               workers: int = 2, max_chips: int = 50, status_interval_s: float = 10.0,
               geo: GeoFields | None = None, still_scaler: StillScaler | None = None) -> LoopStats:
    """Run ``todo`` (stills and videos not finished before) to the end or until ``stop`` is set."""
    stats = LoopStats()
    progress = Progress(sum(1 for i in todo if i.kind == "still"), status_interval_s)

    def frame_done(item: InputFile, index: int) -> bool:
        return (item.path, item.size, item.mtime_ns, index) in run.done

    decoder = Decoder(todo, frame_done=frame_done, every=every, workers=workers).start()
    try:
        for decoded in decoder:
            if stop.is_set():
                break
            doc = detect_one(decoded, backend, run, max_chips, stats, geo, still_scaler)
            run.append(doc)
            if doc["type"] != "video":
                progress.update(frame=doc["type"] == "frame")
            if stop.is_set():
                break
    finally:
        stats.t_end = time.monotonic()
        decoder.close()
        progress.close()
    return stats
