"""Still images → a TinyPerson-format COCO dataset (``DIR/images/*.jpg`` + ``DIR/annotations.json``).

Image ``i`` is drawn from ``numpy.random.default_rng([seed, STILLS_STREAM, i])``: it does not depend on how many
images are rendered, and the same seed gives the same pixels and the same annotation bytes.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from ..data.record import SYNTH_GENERATOR
from ..manifest import atomic_write_bytes
from .ignore_regions import add_ignore_regions
from .world import PersonBox, build_world, render_view

STILLS_STREAM = 0  # seed-sequence key of still images; video uses 1
IGNORE_STREAM = 2  # ignore regions of stills: their own stream, so the frames without them stay the same
JPEG_QUALITY = 95
IMAGE_FORMATS = ("jpg", "png")
CATEGORIES = [{"id": 1, "name": "person", "supercategory": "person"}]


def round_px(v: float) -> float:
    """Coordinates in the JSON: 3 decimals (boxes are exact multiples of 1/8 px anyway)."""
    return round(float(v), 3)


def coco_annotation(ann_id: int, image_id: int, box_xyxy, pose: str, ignore: bool = False,
                    track_id: int | None = None) -> dict:
    """One TinyPerson/COCO annotation: bbox xywh px, area = w*h, TinyPerson flags."""
    x1, y1, x2, y2 = (round_px(v) for v in box_xyxy)
    w, h = round_px(x2 - x1), round_px(y2 - y1)
    ann = {"id": ann_id, "image_id": image_id, "category_id": 1, "bbox": [x1, y1, w, h],
           "area": round_px(w * h), "iscrowd": 0, "ignore": bool(ignore), "uncertain": False,
           "in_dense_image": False, "pose": pose}
    if track_id is not None:
        ann["track_id"] = track_id
    return ann


def coco_document(images: list, annotations: list, info: dict) -> dict:
    """The TinyPerson/COCO top level."""
    return {"info": info, "images": images, "annotations": annotations, "categories": CATEGORIES}


def json_bytes(doc: dict) -> bytes:
    """Deterministic JSON bytes (key order as built, compact, trailing newline)."""
    return (json.dumps(doc, separators=(",", ":"), ensure_ascii=True) + "\n").encode()


def encode_image(image_bgr: np.ndarray, image_format: str) -> bytes:
    """JPEG (quality 95, 4:4:4 chroma so 2-px persons keep their colour) or PNG bytes."""
    if image_format == "jpg":
        params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY,
                  cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
        ok, buf = cv2.imencode(".jpg", image_bgr, params)
    elif image_format == "png":
        ok, buf = cv2.imencode(".png", image_bgr, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    else:
        raise ValueError(f"image format '{image_format}' unknown; choose from {', '.join(IMAGE_FORMATS)}")
    if not ok:
        raise RuntimeError(f"OpenCV could not encode a {image_format} image")
    return buf.tobytes()


def render_image(size_wh: tuple, seed: int, index: int, scene_kind: str | None = None,
                 ignore_regions: bool = False) -> tuple:
    """Render still ``index`` of ``seed``: (image [h, w, 3] uint8 BGR, list of PersonBox, scene kind).

    ``scene_kind`` (one of ``scene.SCENE_KINDS``) fixes the scene; ``None`` draws it from the seed.
    ``ignore_regions``: maybe one TinyPerson-style ignore region (crowd, reflection, blur, flat fill) over a person
    cluster, returned as a PersonBox with pose ``"ignore_region"`` and ``ignore`` set (``ignore_regions.py``).
    """
    rng = np.random.default_rng([seed, STILLS_STREAM, index])
    world = build_world(size_wh, rng, duration_s=0.0, scene_kind=scene_kind)
    image, boxes = render_view(world, 0.0, (0, 0), size_wh)
    if ignore_regions:
        boxes, regions = add_ignore_regions(image, boxes, np.random.default_rng([seed, IGNORE_STREAM, index]))
        boxes = boxes + [PersonBox(-1, "ignore_region", region, True) for region, _kind in regions]
    return image, boxes, world.scene_kind


def render_dataset(out_dir: str | Path, n_images: int, size: tuple = (1920, 1080), seed: int = 0,
                   image_format: str = "jpg", scene_kind: str | None = None, ignore_regions: bool = True) -> Path:
    """Write ``n_images`` stills to ``out_dir/images/`` and ``out_dir/annotations.json``; returns the JSON path.
    About half the stills get an ignore region (``render_image``) unless ``ignore_regions`` is False."""
    out_dir = Path(out_dir)
    w, h = int(size[0]), int(size[1])
    if w < 16 or h < 16:
        raise ValueError(f"image size {w}x{h} is too small; use at least 16x16")
    if n_images < 0:
        raise ValueError(f"n_images must be >= 0, got {n_images}")
    images, annotations = [], []
    for i in range(n_images):
        image, boxes, kind = render_image((w, h), seed, i, scene_kind, ignore_regions)
        file_name = f"images/synth_{i:06d}.{image_format}"
        atomic_write_bytes(out_dir / file_name, encode_image(image, image_format))
        image_id = i + 1
        images.append({"id": image_id, "file_name": file_name, "width": w, "height": h, "scene": kind})
        for b in boxes:
            annotations.append(coco_annotation(len(annotations) + 1, image_id, b.box_xyxy, b.pose, b.ignore))
    info = {"description": "sspnet synthetic aerial tiny persons (not for accuracy claims)", "seed": seed,
            "generator": SYNTH_GENERATOR, "version": 1}
    ann_path = out_dir / "annotations.json"
    atomic_write_bytes(ann_path, json_bytes(coco_document(images, annotations, info)))
    return ann_path


def size_stats(doc: dict) -> dict:
    """Persons per image and box-size percentiles (height and sqrt(w*h), px) of a COCO document."""
    anns = [a for a in doc["annotations"] if not a.get("ignore")]
    per_image = np.bincount([a["image_id"] for a in anns], minlength=len(doc["images"]) + 1)
    per_image = per_image[[im["id"] for im in doc["images"]]] if doc["images"] else np.zeros(0, int)
    wh = np.array([a["bbox"][2:] for a in anns], np.float64).reshape(-1, 2)  # [A, 2]
    pct = (5, 25, 50, 75, 95)

    def percentiles(v):
        return {f"p{p}": round(float(np.percentile(v, p)), 1) for p in pct} if len(v) else {}

    poses = {}
    for a in anns:
        poses[a.get("pose", "?")] = poses.get(a.get("pose", "?"), 0) + 1
    return {"images": len(doc["images"]), "persons": len(anns),
            "ignored": len(doc["annotations"]) - len(anns),
            "persons_per_image": {"mean": round(float(per_image.mean()), 1) if len(per_image) else 0.0,
                                  "min": int(per_image.min()) if len(per_image) else 0,
                                  "max": int(per_image.max()) if len(per_image) else 0},
            "height_px": percentiles(wh[:, 1]), "sqrt_area_px": percentiles(np.sqrt(wh[:, 0] * wh[:, 1])),
            "poses": dict(sorted(poses.items()))}
