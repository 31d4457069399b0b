"""COCO-style JSON (``images`` + ``annotations`` + ``categories``) → ImageRecords.

The parser here is shared with the TinyPerson reader (TinyPerson is COCO-like with extra per-box flags and corner
sub-images); plain COCO semantics are: ``iscrowd`` → ignore region, non-person categories dropped.

Faults: invalid JSON or a file that is not UTF-8 is a ValueError naming file (and line); a malformed record (a
missing key, a value of the wrong type, an id that is not an integer, an image size that is not > 0, a negative
box size) is a ValueError naming file and record (``images[3]``, ``annotations[17]``); with ``check_images`` an image
that is missing or empty (0 bytes) is a FileNotFoundError naming file, record and image. A box that sticks out of
its image (of the tile, for a corner record) is clipped, a box of zero size (as written, or once clipped) dropped,
both counted in one warning (``label_rules.py``).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from sspnet.data.label_rules import BoxCheck
from sspnet.data.person_classes import person_class_ids
from sspnet.data.record import SYNTH_GENERATOR, ImageRecord

# Where to look for ``file_name`` relative to the JSON: its folder and up to three ancestors, each as is or with a
# sub-folder (TinyPerson keeps tiny_set/annotations/task/*.json next to tiny_set/{train,test}/labeled_images/).
_ANCESTOR_LEVELS = 4
_IMAGE_SUBDIRS = ("", "images", "test", "train")


def read_json(path: str | Path) -> object:
    """Parse a JSON file; a syntax error is a ValueError naming the file, line and column."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{e.lineno}:{e.colno}: invalid JSON ({e.msg})") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text ({e.reason} near byte {e.start}); save it as UTF-8") from None


def _is_file(path: Path) -> bool:
    """``Path.is_file``, where a name the file system refuses (too long, say) is no file either."""
    try:
        return path.is_file()
    except OSError:
        return False


class ImageResolver:
    """Finds the image file of a ``file_name`` relative to the annotation file, remembering the root that worked."""

    def __init__(self, json_path: Path, image_root: str | Path | None = None):
        roots = [Path(image_root)] if image_root is not None else []
        anc = json_path.resolve().parent
        for _ in range(_ANCESTOR_LEVELS):
            roots += [anc / sub if sub else anc for sub in _IMAGE_SUBDIRS]
            if anc.parent == anc:
                break
            anc = anc.parent
        self.roots = roots
        self.default_root = Path(image_root) if image_root is not None else json_path.parent
        self._last: Path | None = None

    def find(self, file_name: str) -> Path | None:
        p = Path(file_name)
        if p.is_absolute():
            return p if _is_file(p) else None
        order = ([self._last] if self._last is not None else []) + self.roots
        for root in order:
            cand = root / p
            if _is_file(cand):
                self._last = root
                return cand
        return None

    def resolve(self, file_name: str, check: bool, where: str) -> Path:
        found = self.find(file_name)
        if found is not None:
            if check and found.stat().st_size == 0:
                raise FileNotFoundError(f"{where}: image file {found} is empty (0 bytes); copy it again or remove "
                                        f"its record")
            return found
        if check:
            raise FileNotFoundError(f"{where}: image '{file_name}' not found; looked under {self.default_root} and "
                                    f"its parent folders (pass image_root= / --images to say where the images are)")
        return self.default_root / file_name


def _number(value, where: str) -> float:
    try:
        ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    except OverflowError:                       # a JSON integer too large for a float
        ok = False
    if not ok:
        raise ValueError(f"{where}: expected a finite number, got {value!r}")
    return float(value)


def _integer(obj: dict, key: str, where: str) -> int:
    value = _require(obj, key, where)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where}: '{key}' must be an integer, got {value!r}")
    return value


def _size(obj: dict, key: str, where: str) -> int:
    value = int(_number(_require(obj, key, where), f"{where}.{key}"))
    if value < 1:
        raise ValueError(f"{where}: '{key}' must be > 0, got {obj[key]!r}")
    return value


def _require(obj, key: str, where: str):
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: expected an object, got {type(obj).__name__}")
    if key not in obj:
        raise ValueError(f"{where}: missing key '{key}'")
    return obj[key]


def bbox_xyxy(ann: dict, where: str) -> list[float]:
    """COCO ``bbox`` [x, y, w, h] → [x1, y1, x2, y2]; malformed → ValueError naming ``where``."""
    b = _require(ann, "bbox", where)
    if not isinstance(b, (list, tuple)) or len(b) != 4:
        raise ValueError(f"{where}: 'bbox' must be [x, y, w, h], got {b!r}")
    x, y, w, h = (_number(v, f"{where}.bbox") for v in b)
    if w < 0 or h < 0:
        raise ValueError(f"{where}: 'bbox' has a negative width/height {b!r}")
    return [x, y, x + w, y + h]


def parse_coco_doc(doc: object, path: Path, *, ignore_keys: tuple[str, ...], flag_keys: tuple[str, ...],
                   corner_key: str | None, check_images: bool,
                   image_root: str | Path | None = None) -> list[ImageRecord]:
    """A parsed COCO-like document → records, in the order of ``images``.

    An annotation whose any ``ignore_keys`` is true becomes an ignore region; otherwise a positive box with
    ``flags[k]`` for each of ``flag_keys`` that the file uses. ``corner_key`` names the sub-image field
    [x1, y1, x2, y2] (TinyPerson corner files), whose boxes are already in tile coordinates.
    """
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: expected a JSON object with 'images' and 'annotations' (a list looks like a "
                         f"detections file, not a dataset)")
    images, anns = _require(doc, "images", str(path)), doc.get("annotations", [])
    if not isinstance(images, list) or not isinstance(anns, list):
        raise ValueError(f"{path}: 'images' and 'annotations' must be lists")
    cats = doc.get("categories") or []
    if not isinstance(cats, list):
        raise ValueError(f"{path}: 'categories' must be a list")
    names = {_integer(c, "id", f"{path}: categories[{i}]"): str(c.get("name", "")) for i, c in enumerate(cats)}
    person_ids = person_class_ids(names, str(path))
    used_flags = [k for k in flag_keys if any(isinstance(a, dict) and k in a for a in anns)]
    info = doc.get("info")
    synthetic = isinstance(info, dict) and info.get("generator") == SYNTH_GENERATOR

    resolver = ImageResolver(path, image_root)
    records: list[ImageRecord] = []
    index: dict[int, int] = {}
    for i, im in enumerate(images):
        where = f"{path}: images[{i}]"
        image_id = _integer(im, "id", where)
        if image_id in index:
            raise ValueError(f"{where}: duplicate image id {image_id}")
        file_name = str(_require(im, "file_name", where))
        width, height = _size(im, "width", where), _size(im, "height", where)
        corner = None
        if corner_key is not None and im.get(corner_key) is not None:
            c = im[corner_key]
            if not isinstance(c, (list, tuple)) or len(c) != 4:
                raise ValueError(f"{where}: '{corner_key}' must be [x1, y1, x2, y2], got {c!r}")
            corner = tuple(int(round(_number(v, f"{where}.{corner_key}"))) for v in c)
            if corner[2] <= corner[0] or corner[3] <= corner[1]:
                raise ValueError(f"{where}: '{corner_key}' {list(c)} is empty (x2 <= x1 or y2 <= y1)")
        index[image_id] = len(records)
        records.append(ImageRecord(image_path=str(resolver.resolve(file_name, check_images, where)), width=width,
                                   height=height, image_id=image_id, file_name=file_name, corner_xyxy=corner,
                                   synthetic=synthetic))

    pos: list[list] = [[] for _ in records]     # per record: (box xyxy, annotation index)
    ign: list[list] = [[] for _ in records]
    flags: list[dict] = [{k: [] for k in used_flags} for _ in records]
    for k, ann in enumerate(anns):
        where = f"{path}: annotations[{k}]"
        image_id = _require(ann, "image_id", where)
        if isinstance(image_id, bool) or not isinstance(image_id, int) or image_id not in index:
            raise ValueError(f"{where}: image_id {image_id!r} is not in 'images'")
        if person_ids is not None and _integer(ann, "category_id", where) not in person_ids:
            continue
        r = index[image_id]
        box = bbox_xyxy(ann, where)
        if any(bool(ann.get(key, False)) for key in ignore_keys):
            ign[r].append((box, k))
            continue
        pos[r].append((box, k))
        for key in used_flags:
            flags[r][key].append(bool(ann.get(key, False)))
    check = BoxCheck()
    for r, rec in enumerate(records):
        rec.boxes_xyxy, kept = _checked(check, pos[r], rec, path)
        rec.ignore_xyxy, _ = _checked(check, ign[r], rec, path)
        rec.flags = {key: np.asarray(v, bool)[kept] for key, v in flags[r].items()}
    check.warn()
    return records


def _checked(check: BoxCheck, boxes: list, rec: ImageRecord, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``check.apply`` on a record's (box, annotation index) list."""
    return check.apply(np.asarray([b for b, _ in boxes], np.float64), rec.width, rec.height,
                       [f"{path}: annotations[{k}]" for _, k in boxes])


def read_coco_json(path: str | Path, *, doc: object = None, check_images: bool = True,
                   image_root: str | Path | None = None) -> list[ImageRecord]:
    """COCO JSON → records: person categories kept, ``iscrowd`` boxes → ignore regions."""
    path = Path(path)
    doc = read_json(path) if doc is None else doc
    return parse_coco_doc(doc, path, ignore_keys=("iscrowd",), flag_keys=(), corner_key=None,
                          check_images=check_images, image_root=image_root)
