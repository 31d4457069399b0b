"""TinyPerson JSON (TinyBenchmark's annotation files): COCO-like with per-box flags and corner sub-images.

Reading: ``ignore``, ``iscrowd`` and ``uncertain`` boxes → ignore regions (the benchmark's ignore_uncertain=True);
``logo`` and ``in_dense_image`` stay positives and are kept as per-box flags. An image with ``corner`` [x1,y1,x2,y2]
is a sub-image of ``file_name`` whose width/height are the tile size and whose boxes are in tile coordinates.
Writing: records (e.g. tiles) → the same layout, ``file_name`` relative to the output JSON's folder.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from sspnet.boxes import xyxy_to_xywh
from sspnet.data.coco import parse_coco_doc, read_json
from sspnet.data.record import ImageRecord
from sspnet.manifest import atomic_write_bytes

IGNORE_KEYS = ("ignore", "iscrowd", "uncertain")
FLAG_KEYS = ("logo", "in_dense_image")
CORNER_KEY = "corner"
# Keys whose presence marks a COCO-like JSON as TinyPerson (used by format detection)
MARKER_KEYS = ("ignore", "uncertain", "logo", "in_dense_image")


def looks_like_tinyperson(doc: object) -> bool:
    """True when a COCO-like document uses TinyPerson's per-box flags or corner sub-images."""
    if not isinstance(doc, dict):
        return False
    # not lists: no TinyPerson marks here; the reader says what is wrong
    images, anns = (v if isinstance(v, list) else [] for v in (doc.get("images"), doc.get("annotations")))
    if any(isinstance(im, dict) and CORNER_KEY in im for im in images[:1000]):
        return True
    return any(isinstance(a, dict) and any(k in a for k in MARKER_KEYS) for a in anns[:1000])


def read_tinyperson_json(path: str | Path, *, doc: object = None, check_images: bool = True,
                         image_root: str | Path | None = None) -> list[ImageRecord]:
    """TinyPerson (or corner) JSON → records; see the module docstring for the flag semantics."""
    path = Path(path)
    doc = read_json(path) if doc is None else doc
    return parse_coco_doc(doc, path, ignore_keys=IGNORE_KEYS, flag_keys=FLAG_KEYS, corner_key=CORNER_KEY,
                          check_images=check_images, image_root=image_root)


def _annotation(ann_id: int, image_id: int, box_xyxy: np.ndarray, ignore: bool, flags: dict) -> dict:
    x, y, w, h = (round(float(v), 3) for v in xyxy_to_xywh(box_xyxy)[0])
    ann = {"id": ann_id, "image_id": image_id, "category_id": 1, "bbox": [x, y, w, h], "area": round(w * h, 3),
           "iscrowd": 0, "ignore": ignore, "uncertain": False, "logo": False, "in_dense_image": False,
           "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]]}
    ann.update(flags)
    return ann


def tinyperson_document(records: list[ImageRecord], out_dir: str | Path) -> dict:
    """Records → a TinyPerson JSON document whose ``file_name`` entries are relative to ``out_dir``."""
    images, anns = [], []
    for rec in records:
        rel = os.path.relpath(os.path.abspath(rec.image_path), os.path.abspath(out_dir))
        im = {"id": int(rec.image_id), "file_name": rel.replace(os.sep, "/"),
              "width": int(rec.width), "height": int(rec.height)}
        if rec.corner_xyxy is not None:
            im[CORNER_KEY] = [int(v) for v in rec.corner_xyxy]
        images.append(im)
        for j, box in enumerate(np.asarray(rec.boxes_xyxy).reshape(-1, 4)):
            flags = {k: bool(v[j]) for k, v in rec.flags.items() if k in FLAG_KEYS}
            anns.append(_annotation(len(anns) + 1, int(rec.image_id), box, False, flags))
        for box in np.asarray(rec.ignore_xyxy).reshape(-1, 4):
            anns.append(_annotation(len(anns) + 1, int(rec.image_id), box, True, {}))
    return {"type": "instance", "images": images, "annotations": anns,
            "categories": [{"id": 1, "name": "person", "supercategory": "person"}]}


def write_tinyperson_json(records: list[ImageRecord], out_path: str | Path) -> Path:
    """Write records as TinyPerson JSON (atomically); returns the path."""
    out_path = Path(out_path)
    doc = tinyperson_document(records, out_path.parent)
    atomic_write_bytes(out_path, (json.dumps(doc, separators=(",", ":")) + "\n").encode())
    return out_path
