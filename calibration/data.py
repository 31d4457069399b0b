"""Calibration tiles: exactly what the runtime feeds the model, from a folder of images or any dataset.

Every tile comes out of ``sspnet.preprocess.frame_to_tiles`` with the ONNX manifest's ``Preprocess`` (resize by
``scale``, 640×512 tiles with overlap, colour order, mean/std) — the one pre-processing function of the runtime, so
calibration cannot drift from inference (a mismatch is a common cause of broken INT8 models). ``count`` tiles are
spread evenly over all tiles of all images (deterministic: sorted files, no randomness). The set is identified by a
hash of the image bytes of the images it uses (and the sub-image corners, for tiled datasets); the calibration cache
key adds the pre-processing digest and the ONNX sha256 (``cache_key``).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from sspnet.data.image_size import IMAGE_SUFFIXES, folder_images, image_size
from sspnet.manifest import sha256_file
from sspnet.preprocess import Preprocess, frame_to_tiles, tile_count


@dataclass(frozen=True)
class CalibImage:
    path: str
    width: int
    height: int
    corner_xyxy: tuple | None = None      # sub-image of a tiled dataset record
    record: object = field(default=None, compare=False, repr=False)   # the dataset's ImageRecord, if any

    def load(self) -> np.ndarray:
        """HWC uint8 BGR (a dataset record loads itself, corner crop included)."""
        if self.record is not None:
            return self.record.load_image()
        import cv2
        img = cv2.imread(self.path, cv2.IMREAD_COLOR)
        if img is None:
            raise FileNotFoundError(f"{self.path}: image missing or unreadable")
        return img


@dataclass
class CalibrationSet:
    """``count`` tiles: which images, which of their tiles, and the hash that names the set."""
    pre: Preprocess
    source: str
    picks: list = field(default_factory=list)      # [(CalibImage, [tile index, ...])]
    images_sha256: str = ""

    @property
    def count(self) -> int:
        return sum(len(t) for _, t in self.picks)

    def iter_tiles(self) -> Iterator[np.ndarray]:
        """Tiles one by one, [3, H, W] float32, in a fixed order."""
        for image, idx in self.picks:
            batch = frame_to_tiles(image.load(), self.pre).batch
            for i in idx:
                yield batch[i]

    def batches(self, size: int, pad_to_size: bool = False) -> Iterator[np.ndarray]:
        """[≤size, 3, H, W] batches; ``pad_to_size`` fills the last one with tiles from the start (fixed-batch
        models) instead of zeros, so padding does not skew the ranges."""
        buf: list[np.ndarray] = []
        first: list[np.ndarray] = []
        for tile in self.iter_tiles():
            buf.append(tile)
            if len(first) < size:
                first.append(tile)
            if len(buf) == size:
                yield np.stack(buf)
                buf = []
        if buf:
            if pad_to_size:
                buf += (first * size)[:size - len(buf)]
            yield np.stack(buf)

    def tiles(self, limit: int | None = None) -> np.ndarray:
        out = []
        for tile in self.iter_tiles():
            out.append(tile)
            if limit is not None and len(out) >= limit:
                break
        return np.stack(out)


class TileArrays:
    """In-memory NCHW batches with the ``CalibrationSet`` interface that ``collect_ranges`` uses."""

    def __init__(self, batches: list[np.ndarray]):
        self.arrays = [np.ascontiguousarray(b, dtype=np.float32) for b in batches]

    @property
    def count(self) -> int:
        return sum(len(b) for b in self.arrays)

    def batches(self, size: int, pad_to_size: bool = False) -> Iterator[np.ndarray]:
        yield from self.arrays


def list_images(source: str | Path) -> list[CalibImage]:
    """Images of a folder (sorted by name) or of a dataset (``sspnet.data.load_dataset``: TinyPerson/COCO JSON,
    VisDrone, YOLO folder or data.yaml, tiled corner JSON)."""
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"--images {path}: no such folder or dataset")
    files = folder_images(path)
    if files:
        return [CalibImage(str(p), *image_size(p)) for p in files]
    from sspnet.data import load_dataset
    records = load_dataset(path)
    return [CalibImage(r.image_path, int(r.width), int(r.height),
                       tuple(int(v) for v in r.corner_xyxy) if r.corner_xyxy is not None else None, record=r)
            for r in sorted(records, key=lambda r: (r.image_path, str(r.corner_xyxy)))]


def tiles_per_image(image: CalibImage, pre: Preprocess) -> int:
    """How many tiles ``frame_to_tiles`` cuts from this image (computed without decoding)."""
    return tile_count((image.width, image.height), pre)


def calibration_set(source: str | Path, pre: Preprocess, count: int = 512) -> CalibrationSet:
    """``count`` tiles spread evenly over all tiles of all images of ``source`` (all of them if fewer)."""
    if count < 1:
        raise ValueError(f"--count {count}: need at least one calibration tile")
    images = list_images(source)
    if not images:
        raise ValueError(f"--images {source}: no images found (looked for {', '.join(IMAGE_SUFFIXES)} files or a "
                         f"dataset)")
    per_image = [tiles_per_image(im, pre) for im in images]
    offsets = np.cumsum([0] + per_image)
    total = int(offsets[-1])
    chosen = np.unique(np.linspace(0, total - 1, num=min(count, total)).round().astype(int))
    picks = []
    for k, image in enumerate(images):
        lo, hi = offsets[k], offsets[k + 1]
        idx = [int(i - lo) for i in chosen[(chosen >= lo) & (chosen < hi)]]
        if idx:
            picks.append((image, idx))
    h = hashlib.sha256()
    for image, idx in picks:
        h.update(f"{Path(image.path).name}\t{sha256_file(image.path)}\t{image.corner_xyxy}\t{idx}\n".encode())
    return CalibrationSet(pre=pre, source=str(source), picks=picks, images_sha256=h.hexdigest())


def cache_key(calib: CalibrationSet, onnx_sha256: str, method: str, calibrator_options: dict) -> dict:
    """Everything the collected ranges depend on; any change makes a stored cache stale."""
    import onnxruntime
    return {"onnx_sha256": onnx_sha256, "preprocess_digest": calib.pre.digest(),
            "images_sha256": calib.images_sha256, "count": calib.count, "method": method,
            "calibrator": dict(sorted(calibrator_options.items())), "onnxruntime": onnxruntime.__version__}


def key_digest(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
