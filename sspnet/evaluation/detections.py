"""Detections files: COCO result JSON, a list of {"image_id" | "file_name", "bbox": [x, y, w, h], "score"}.

In memory detections are {image_id: (boxes xyxy [K, 4] float32 pixels, scores [K] float32)}, keyed like the
dataset's records. A file may name images by ``image_id`` (as in the dataset) or by ``file_name``.
"""
from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from sspnet.boxes import xywh_to_xyxy, xyxy_to_xywh
from sspnet.manifest import atomic_write_bytes


def _by_file_name(records: list) -> dict[str, int]:
    """file_name (and its basename, when unique) → image_id; sub-image records (corners) are not addressable."""
    names: dict[str, list[int]] = defaultdict(list)
    for rec in records:
        names[rec.file_name].append(rec.image_id)
        base = Path(rec.file_name).name
        if base != rec.file_name:
            names[base].append(rec.image_id)
    return {k: v[0] for k, v in names.items() if len(v) == 1}


def parse_detections(items: object, records: list, source: str = "detections") -> dict:
    """A COCO result list → {image_id: (boxes xyxy [K, 4], scores [K])}; errors name the entry index."""
    if not isinstance(items, list):
        raise ValueError(f"{source}: expected a JSON list of detections (COCO result format), "
                         f"got {type(items).__name__}")
    ids = {rec.image_id for rec in records}
    by_name = None
    boxes: dict[int, list] = defaultdict(list)
    scores: dict[int, list] = defaultdict(list)
    for i, d in enumerate(items):
        where = f"{source}[{i}]"
        if not isinstance(d, dict) or "bbox" not in d or "score" not in d:
            raise ValueError(f"{where}: expected an object with 'bbox' [x, y, w, h] and 'score'")
        if "image_id" in d:
            image_id = d["image_id"]
            if image_id not in ids:
                raise ValueError(f"{where}: image_id {image_id!r} is not in the dataset "
                                 f"({len(ids)} images, ids {min(ids) if ids else '-'}..{max(ids) if ids else '-'})")
        elif "file_name" in d:
            by_name = _by_file_name(records) if by_name is None else by_name
            name = str(d["file_name"])
            image_id = by_name.get(name, by_name.get(Path(name).name))
            if image_id is None:
                raise ValueError(f"{where}: file_name '{name}' is not (uniquely) in the dataset")
        else:
            raise ValueError(f"{where}: needs 'image_id' or 'file_name'")
        b, s = d["bbox"], d["score"]
        if not isinstance(b, (list, tuple)) or len(b) != 4 or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in [*b, s]):
            raise ValueError(f"{where}: 'bbox' must be 4 finite numbers [x, y, w, h] and 'score' a number")
        boxes[image_id].append(b)
        scores[image_id].append(s)
    return {k: (xywh_to_xyxy(np.asarray(boxes[k], np.float64)), np.asarray(scores[k], np.float64)) for k in boxes}


def load_detections(path: str | Path, records: list) -> dict:
    """Read a COCO result JSON for ``records``; unknown image or malformed entry → ValueError naming it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: detections file not found")
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{e.lineno}:{e.colno}: invalid JSON ({e.msg})") from None
    return parse_detections(items, records, str(path))


def detections_to_coco(detections: dict, category_id: int = 1) -> list[dict]:
    """{image_id: (boxes xyxy, scores)} → COCO result list (bbox rounded to 0.01 px, score to 1e-5)."""
    out = []
    for image_id in sorted(detections):
        boxes, scores = detections[image_id]
        for b, s in zip(xyxy_to_xywh(boxes), np.asarray(scores).reshape(-1)):
            out.append({"image_id": int(image_id), "category_id": category_id,
                        "bbox": [round(float(v), 2) for v in b], "score": round(float(s), 5)})
    return out


def save_detections(path: str | Path, detections: dict) -> Path:
    """Write detections as COCO result JSON (atomically); returns the path."""
    path = Path(path)
    atomic_write_bytes(path, (json.dumps(detections_to_coco(detections)) + "\n").encode())
    return path
