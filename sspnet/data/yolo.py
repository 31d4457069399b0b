"""YOLO txt datasets: ``ROOT/images/**`` + ``ROOT/labels/**/<stem>.txt`` (or a ``data.yaml`` naming image folders).

Label lines are normalised to 0–1 and come in two forms: the box ``class cx cy w h`` and the polygon
``class x1 y1 x2 y2 ... xn yn`` (e.g. Roboflow's ``0 x1 y1 ... x4 y4 x1 y1``), whose box is the points' min/max.
With ``flat_ignore`` a box whose pixels are one flat colour (TinyPerson's blanked ignore regions, see
``flat_fill.py``) becomes an ignore region; ``flags['flat_fill']`` is not kept because such boxes leave the positives.

In a polygon export (any polygon line in the dataset) a line of only four numbers after the class whose box starts
at the left edge is a broken label, not a box: Roboflow's TinyPerson export writes some persons as strips from
x = 0 to the person (``0 cx cy w h`` with cx = w/2, 1–15 px tall). Each such line becomes an ignore region, so the person it hides
is neither a positive nor a false positive; ``read_yolo`` warns once with the count.

Faults: a malformed line (not numbers, a wrong count, a class that is not a non-negative integer, a negative size,
coordinates beyond 0-1 by more than ``NORM_SLACK``: a file in pixels) or a line that is not UTF-8 is a ValueError
naming file and line; a label file without its image, or an image that is missing, empty or unreadable, is a
FileNotFoundError naming it. A box past the image edge within the slack is clipped, a box of zero size (as written,
or once clipped) dropped, both counted in one warning (``label_rules.py``).
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import yaml

from sspnet.config import YAML_ERRORS, yaml_error_text
from sspnet.data.flat_fill import flat_fill_mask
from sspnet.data.image_size import IMAGE_SUFFIXES, image_size, read_image
from sspnet.data.label_rules import BoxCheck, text_lines
from sspnet.data.person_classes import person_class_ids
from sspnet.data.record import ImageRecord

SPLIT_KEYS = ("train", "val", "test")
STRIP_LEFT_EDGE = 1e-3  # normalised x where a broken strip label starts (0 up to rounding)
NORM_SLACK = 0.01  # normalised coordinates may overshoot 0..1 by this much (rounding in exporters)


def is_yolo_root(root: Path) -> bool:
    return (root / "images").is_dir() and (root / "labels").is_dir()


def parse_yolo_line(text: str, where: str) -> tuple[int, np.ndarray]:
    """One label line → (class id, normalised box xyxy [4]); malformed → ValueError naming ``where``."""
    try:
        values = [float(t) for t in text.split()]
    except ValueError:
        raise ValueError(f"{where}: expected numbers 'class cx cy w h' or 'class x1 y1 x2 y2 ...', "
                         f"got {text!r}") from None
    n = len(values)
    if n != 5 and (n < 7 or (n - 1) % 2):
        raise ValueError(f"{where}: expected 5 values (class cx cy w h) or a class and >= 3 x,y points, got {n}")
    if not all(math.isfinite(v) for v in values) or values[0] != int(values[0]) or values[0] < 0:
        raise ValueError(f"{where}: class must be a non-negative integer and coordinates finite: {text!r}")
    cls, coords = int(values[0]), np.asarray(values[1:], np.float64)
    if n == 5:
        cx, cy, w, h = coords
        if w < 0 or h < 0:
            raise ValueError(f"{where}: negative width/height: {text!r}")
        box = np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
    else:
        pts = coords.reshape(-1, 2)  # [P, 2] (x, y)
        box = np.concatenate([pts.min(axis=0), pts.max(axis=0)])
    if box.min() < -NORM_SLACK or box.max() > 1 + NORM_SLACK:
        raise ValueError(f"{where}: coordinates are not normalised to 0-1: {text!r}")
    return cls, box


def read_label_file(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(class ids [N], normalised boxes xyxy [N, 4], polygon line? [N] bool, line numbers [N]); no file = an image
    without persons."""
    classes, boxes, polygon, lines = [], [], [], []
    if path.is_file():
        for lineno, line in text_lines(path):
            if line.strip():
                c, b = parse_yolo_line(line.strip(), f"{path}:{lineno}")
                classes.append(c)
                boxes.append(b)
                polygon.append(len(line.split()) > 5)
                lines.append(lineno)
    return (np.asarray(classes, np.int64), np.asarray(boxes, np.float64).reshape(-1, 4),
            np.asarray(polygon, bool), np.asarray(lines, np.int64))


def labels_dir_for(images_dir: Path) -> Path:
    """Ultralytics convention: the last path component 'images' replaced by 'labels'."""
    parts = list(images_dir.parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            return Path(*parts)
    raise ValueError(f"{images_dir}: a YOLO image folder must be (inside) a folder named 'images'")


def _yaml_names(cfg: dict, where: str) -> dict[int, str]:
    names = cfg.get("names") or {}
    if isinstance(names, list):
        return dict(enumerate(str(n) for n in names))
    if isinstance(names, dict):
        if not all(isinstance(k, int) and not isinstance(k, bool) for k in names):
            raise ValueError(f"{where}: the keys of 'names' must be class ids (integers), got {list(names)}")
        return {k: str(v) for k, v in names.items()}
    raise ValueError(f"{where}: 'names' must be a list or a mapping, got {type(names).__name__}")


def _read_yaml(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            cfg = yaml.safe_load(f) or {}
    except YAML_ERRORS as e:                    # a ValueError too: not UTF-8
        raise ValueError(yaml_error_text(path, e)) from None
    if not isinstance(cfg, dict):
        raise ValueError(f"{path}: expected a mapping with train/val/test and names")
    return cfg


def _yaml_image_dirs(path: Path, split: str | None) -> tuple[list[Path], dict[int, str]]:
    cfg = _read_yaml(path)
    if not isinstance(cfg.get("path") or "", str):
        raise ValueError(f"{path}: 'path' must be a folder name, got {cfg['path']!r}")
    base = Path(cfg.get("path") or path.parent)
    base = base if base.is_absolute() else (path.parent / base)
    keys = [split] if split else [k for k in SPLIT_KEYS if cfg.get(k)]
    if split and not cfg.get(split):
        raise ValueError(f"{path}: no '{split}' entry (has {[k for k in SPLIT_KEYS if cfg.get(k)]})")
    listed = [(k, base / str(cfg[k])) for k in keys]
    dirs = [d for _, d in listed if d.is_dir()]
    if not dirs:
        hint = f"; the folder {path.parent} has images/ + labels/: pass it instead" if is_yolo_root(path.parent) else ""
        raise FileNotFoundError(f"{path}: none of the image folders it lists exist "
                                f"({', '.join(f'{k}: {d}' for k, d in listed)}){hint}")
    return dirs, _yaml_names(cfg, str(path))


def read_yolo(path: str | Path, *, flat_ignore: bool = True, split: str | None = None) -> list[ImageRecord]:
    """A YOLO folder (images/ + labels/) or data.yaml → records in sorted file order, image ids 1..N.

    Boxes are in pixels of the image; a label file without its image → FileNotFoundError naming the image.
    """
    path = Path(path)
    if path.suffix.lower() in (".yaml", ".yml"):
        image_dirs, names = _yaml_image_dirs(path, split)
        root = path.parent
    elif is_yolo_root(path):
        image_dirs, root = [path / "images"], path
        yml = path / "data.yaml"
        names = _yaml_names(_read_yaml(yml), str(yml)) if yml.is_file() else {}
    else:
        raise ValueError(f"{path}: not a YOLO dataset (expected a folder with images/ and labels/, or a data.yaml)")
    keep = person_class_ids(names, str(path))

    labelled = []   # (image path, normalised boxes, polygon?, label file, line numbers) before deciding the line form
    for images_dir in image_dirs:
        labels_dir = labels_dir_for(images_dir.resolve())
        images = sorted(p for p in images_dir.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        stems = {p.relative_to(images_dir).with_suffix("") for p in images}
        for label in sorted(labels_dir.rglob("*.txt")) if labels_dir.is_dir() else []:
            rel = label.relative_to(labels_dir).with_suffix("")
            if rel not in stems and label.name != "classes.txt":
                raise FileNotFoundError(f"{images_dir / rel}.jpg: image for label file {label} not found")
        for image_path in images:
            rel = image_path.relative_to(images_dir)
            label = labels_dir / rel.with_suffix(".txt")
            classes, boxes_norm, polygon, lines = read_label_file(label)
            if keep is not None:
                sel = np.isin(classes, list(keep))
                boxes_norm, polygon, lines = boxes_norm[sel], polygon[sel], lines[sel]
            labelled.append((image_path, boxes_norm, polygon, label, lines))
    polygon_export = any(poly.any() for _, _, poly, _, _ in labelled)
    broken_of = {str(img): (~poly) & (boxes[:, 0] < STRIP_LEFT_EDGE) if polygon_export else np.zeros(len(poly), bool)
                 for img, boxes, poly, _, _ in labelled}
    broken = sum(int(b.sum()) for b in broken_of.values())
    if broken:
        print(f"warning: {path}: {broken} label line(s) with 4 numbers in a polygon export are broken strips; "
              f"read as ignore regions", file=sys.stderr)

    records: list[ImageRecord] = []
    check = BoxCheck()
    for image_path, boxes_norm, _, label, lines in labelled:
        img = None
        if flat_ignore and len(boxes_norm):
            img = read_image(image_path)
            w, h = img.shape[1], img.shape[0]
        else:
            w, h = image_size(image_path)
        boxes, kept = check.apply(boxes_norm * [w, h, w, h], w, h, [f"{label}:{n}" for n in lines])  # [K, 4] xyxy px
        ignore = broken_of[str(image_path)][kept]
        if img is not None:
            ignore |= flat_fill_mask(img, boxes)
        records.append(ImageRecord(image_path=str(image_path), width=w, height=h, image_id=len(records) + 1,
                                   file_name=str(image_path.relative_to(root)) if image_path.is_relative_to(root)
                                   else str(image_path), boxes_xyxy=boxes[~ignore], ignore_xyxy=boxes[ignore]))
    check.warn()
    return records
