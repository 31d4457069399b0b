"""VisDrone-DET txt: ``ROOT/annotations/<stem>.txt`` + ``ROOT/images/<stem>.jpg``.

One line per object: ``left,top,width,height,score,category,truncation,occlusion`` (pixels). Categories 0
("ignored region") and 11 ("others") → ignore regions; 1 (pedestrian) and 2 (people) → persons; the rest dropped.

Faults: a malformed line (fewer than 6 numbers, a value that is not finite, a negative size, a category that is not
an integer) or a line that is not UTF-8 is a ValueError naming file and line; an annotation file without its image,
or an image that is missing, empty or unreadable, is a FileNotFoundError naming it. A box that sticks out of the
image is clipped, a box of zero size (as written, or once clipped) dropped, both counted in one warning
(``label_rules.py``).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from sspnet.data.image_size import IMAGE_SUFFIXES, image_size
from sspnet.data.label_rules import BoxCheck, text_lines
from sspnet.data.record import ImageRecord

IGNORE_CATEGORIES = (0, 11)
PERSON_CATEGORIES = (1, 2)


def is_visdrone_root(root: Path) -> bool:
    return (root / "annotations").is_dir() and (root / "images").is_dir() and \
        any((root / "annotations").glob("*.txt"))


def parse_visdrone_txt(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One annotation file → (person and ignore boxes xyxy [N, 4], ignore? [N] bool, line numbers [N]); other
    categories are left out; a malformed line → ValueError naming file and line."""
    boxes, ignore, lines = [], [], []
    for lineno, line in text_lines(path):
        text = line.strip().rstrip(",")
        if not text:
            continue
        parts = [p.strip() for p in text.split(",")]
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise ValueError(f"{path}:{lineno}: expected comma-separated numbers "
                             f"'left,top,width,height,score,category,truncation,occlusion', got {text!r}") from None
        if len(values) < 6 or not all(math.isfinite(v) for v in values):
            raise ValueError(f"{path}:{lineno}: expected at least 6 finite values "
                             f"(left,top,width,height,score,category,...), got {len(values)}: {text!r}")
        x, y, w, h, _score, cat = values[:6]
        if w < 0 or h < 0 or cat != int(cat):
            raise ValueError(f"{path}:{lineno}: negative width/height or non-integer category: {text!r}")
        if int(cat) in IGNORE_CATEGORIES + PERSON_CATEGORIES:
            boxes.append([x, y, x + w, y + h])
            ignore.append(int(cat) in IGNORE_CATEGORIES)
            lines.append(lineno)
    return np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(ignore, bool), np.asarray(lines, np.int64)


def _find_image(images_dir: Path, stem: str) -> Path:
    for ext in IMAGE_SUFFIXES:
        for cand in (images_dir / (stem + ext), images_dir / (stem + ext.upper())):
            if cand.is_file():
                return cand
    raise FileNotFoundError(f"{images_dir / (stem + '.jpg')}: image for annotation {stem}.txt not found "
                            f"(looked for {', '.join(IMAGE_SUFFIXES)})")


def read_visdrone(root: str | Path) -> list[ImageRecord]:
    """A VisDrone folder → records in sorted annotation-file order, image ids 1..N."""
    root = Path(root)
    if not is_visdrone_root(root):
        raise ValueError(f"{root}: not a VisDrone folder (expected annotations/*.txt and images/)")
    records, check = [], BoxCheck()
    for i, ann_path in enumerate(sorted((root / "annotations").glob("*.txt")), 1):
        image_path = _find_image(root / "images", ann_path.stem)
        w, h = image_size(image_path)
        boxes, ignore, lines = parse_visdrone_txt(ann_path)
        boxes, kept = check.apply(boxes, w, h, [f"{ann_path}:{n}" for n in lines])
        ignore = ignore[kept]
        records.append(ImageRecord(image_path=str(image_path), width=w, height=h, image_id=i,
                                   file_name=str(image_path.relative_to(root)), boxes_xyxy=boxes[~ignore],
                                   ignore_xyxy=boxes[ignore]))
    check.warn()
    return records
