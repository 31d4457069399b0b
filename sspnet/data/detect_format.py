"""One entry point for every dataset format: ``load_dataset(path, fmt=None)`` → list[ImageRecord].

``path`` may be a JSON file (TinyPerson or COCO), a data.yaml (YOLO), or a folder: images/ + labels/ (YOLO),
images/ + annotations/*.txt (VisDrone), or a folder holding one annotation JSON. ``fmt`` overrides detection.
"""
from __future__ import annotations

from pathlib import Path

from sspnet.data.coco import read_coco_json, read_json
from sspnet.data.record import ImageRecord
from sspnet.data.tinyperson import looks_like_tinyperson, read_tinyperson_json
from sspnet.data.visdrone import is_visdrone_root, read_visdrone
from sspnet.data.yolo import is_yolo_root, read_yolo

FORMATS = ("tinyperson", "coco", "visdrone", "yolo")


def _json_in_folder(root: Path) -> Path | None:
    if (root / "annotations.json").is_file():
        return root / "annotations.json"
    found = sorted(root.glob("*.json"))
    return found[0] if len(found) == 1 else None


def detect_format(path: str | Path, doc: object = None) -> str:
    """Name of the dataset format at ``path`` (one of FORMATS); ValueError saying what was expected otherwise."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: dataset not found")
    if path.is_dir():
        if is_yolo_root(path):
            return "yolo"
        if is_visdrone_root(path):
            return "visdrone"
        js = _json_in_folder(path)
        if js is not None:
            return detect_format(js)
        raise ValueError(f"{path}: unknown dataset layout; expected images/ + labels/ (YOLO), images/ + "
                         f"annotations/*.txt (VisDrone) or one annotation JSON (TinyPerson/COCO)")
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return "yolo"
    if suffix == ".json":
        doc = read_json(path) if doc is None else doc
        return "tinyperson" if looks_like_tinyperson(doc) else "coco"
    raise ValueError(f"{path}: unknown dataset file type '{suffix}'; expected .json, data.yaml or a folder")


def load_dataset(path: str | Path, fmt: str | None = None, flat_ignore: bool | None = None, *,
                 check_images: bool = True, image_root: str | Path | None = None,
                 split: str | None = None) -> list[ImageRecord]:
    """Read a dataset into ImageRecords (boxes and ignore regions in pixels of each record's image).

    fmt: None (detect) or one of FORMATS. flat_ignore: treat flat-colour boxes as ignore regions; None means
    "yes for YOLO" (the only format without real ignore annotations). check_images: for JSON formats, require
    every image file to exist (evaluating detections needs only the annotations). image_root: where JSON
    ``file_name`` entries live when not next to the JSON. split: the data.yaml entry to read (default: all).
    Malformed annotations → ValueError naming file and line/record; a missing image → FileNotFoundError.
    """
    path = Path(path)
    if fmt is not None and fmt not in FORMATS:
        raise ValueError(f"unknown dataset format '{fmt}'; choose from {', '.join(FORMATS)}")
    if path.is_dir() and fmt in ("tinyperson", "coco", None) and not is_yolo_root(path) \
            and not is_visdrone_root(path) and _json_in_folder(path) is not None:
        path = _json_in_folder(path)
    doc = read_json(path) if path.is_file() and path.suffix.lower() == ".json" else None
    fmt = fmt or detect_format(path, doc)
    if fmt in ("tinyperson", "coco"):
        if doc is None:
            raise ValueError(f"{path}: format '{fmt}' needs an annotation JSON file")
        reader = read_tinyperson_json if fmt == "tinyperson" else read_coco_json
        records = reader(path, doc=doc, check_images=check_images, image_root=image_root)
        if flat_ignore:
            records = [_apply_flat_ignore(r) for r in records]
        return records
    if fmt == "visdrone":
        records = read_visdrone(path)
        return [_apply_flat_ignore(r) for r in records] if flat_ignore else records
    return read_yolo(path, flat_ignore=True if flat_ignore is None else flat_ignore, split=split)


def _apply_flat_ignore(rec: ImageRecord) -> ImageRecord:
    """Move a record's flat-colour positives to its ignore regions (formats where it is asked for explicitly)."""
    import numpy as np

    from sspnet.data.flat_fill import flat_fill_mask
    if not len(rec.boxes_xyxy):
        return rec
    flat = flat_fill_mask(rec.load_image(), rec.boxes_xyxy)
    rec.ignore_xyxy = np.concatenate([rec.ignore_xyxy, rec.boxes_xyxy[flat]]).astype(np.float32)
    rec.boxes_xyxy = rec.boxes_xyxy[~flat]
    rec.flags = {k: v[~flat] for k, v in rec.flags.items()}
    return rec
