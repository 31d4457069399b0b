"""What ``sspnet detect`` writes from its record once the images are done: each output is rebuilt from all of
``detections.jsonl``, written by temp file + rename, so a re-run (or a killed one, re-run) ends with the same files.

    results.coco.json   COCO results: [{"image_id", "category_id": 1, "bbox": [x, y, w, h], "score"}]
    images.coco.json    the COCO "images" those ids name ({"id", "file_name", "width", "height", "path",
                        "frame"}), with "categories": COCO(images.coco.json).loadRes(results.coco.json) reads both
    detections.geojson  a Point per placed detection (score, image, pixel box, uncertainty, chip), and
    detections.kml      the same with chip thumbnails (sspnet.runtime.detect_geo)
    review.html         the review page over chips/ (sspnet.review)
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from sspnet.evaluation.detections import save_detections
from sspnet.manifest import atomic_write_bytes
from sspnet.review import write_review
from sspnet.runtime.detect_geo import write_geo_outputs

RESULTS = "results.coco.json"
IMAGES = "images.coco.json"
CATEGORIES = [{"id": 1, "name": "person", "supercategory": "person"}]


def detected(records: list[dict]) -> list[dict]:
    """The records of stills and video frames that went through the model, in record order."""
    return [r for r in records if r.get("status") == "ok" and r["type"] in ("image", "frame")]


def write_coco(run_dir: Path, records: list[dict]) -> list[Path]:
    """COCO results and the image list they refer to; image ids 1..N in record order."""
    images, dets = [], {}
    for image_id, r in enumerate(detected(records), 1):
        images.append({"id": image_id, "file_name": r["name"], "width": r["width"], "height": r["height"],
                       "path": r["path"], "frame": r.get("frame")})
        dets[image_id] = (np.asarray(r["boxes"], np.float64).reshape(-1, 4), np.asarray(r["scores"], np.float64))
    results = save_detections(run_dir / RESULTS, dets)
    doc = {"info": {"description": "sspnet detect: the images of results.coco.json"}, "images": images,
           "annotations": [], "categories": CATEGORIES}
    atomic_write_bytes(run_dir / IMAGES, (json.dumps(doc, separators=(",", ":")) + "\n").encode())
    return [results, run_dir / IMAGES]


def write_outputs(run_dir: Path, records: list[dict], *, title: str, storage_key: str, tile_url: str | None,
                  cot: tuple | None = None) -> tuple[list[Path], dict, int]:
    """Every output of the run, from ``records``: (paths written, {status: n} of detections without a position,
    Cursor-on-Target events sent to ``cot`` (host, port) when given)."""
    written = write_coco(run_dir, records)
    geo_written, unplaced, sent = write_geo_outputs(run_dir, records, cot, run_id=storage_key)
    written += geo_written
    written.append(write_review(run_dir, records, title=title, storage_key=storage_key, tile_url=tile_url))
    return written, unplaced, sent
