"""Train/validation splits by source-video group (frames of one group are near duplicates: never split by frame).

A split file is JSON written by ``group_split``::

    {"source": ["tinyperson-rpi-dev/manifest.csv", "tinyperson-rpi-extra/manifest.csv"], "column": "group",
     "rule": "groups sorted by name; group i goes to val when i % 4 == 0",
     "groups": {"train": [...], "val": [...]},
     "files": {"train": [...], "val": [...]}}

``select_records(records, split, part)`` keeps the records of one part, matching image file names. A dataset the
split does not cover at all (e.g. synthetic data) passes through whole; a dataset it covers only partly is an
error, because then the split is stale.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

from sspnet.data.record import ImageRecord

PARTS = ("train", "val")


def group_split(manifest_csvs, val_every: int = 4, val_offset: int = 0, val_groups=None,
                file_column: str = "file", group_column: str = "group") -> dict:
    """Deterministic split of one or more manifests (folders whose frames share groups are split together).

    With ``val_groups`` those groups are validation; otherwise sort the distinct groups by name and group i is
    validation when i % val_every == val_offset.
    """
    paths = [Path(manifest_csvs)] if isinstance(manifest_csvs, (str, Path)) else [Path(m) for m in manifest_csvs]
    rows = []
    for manifest_csv in paths:
        with open(manifest_csv, newline="") as f:
            part = list(csv.DictReader(f))
        for col in (file_column, group_column):
            if part and col not in part[0]:
                raise ValueError(f"{manifest_csv}: no column '{col}' (columns: {', '.join(part[0])})")
        rows += part
    groups = sorted({r[group_column] for r in rows})
    if val_groups is not None:
        unknown = sorted(set(val_groups) - set(groups))
        if unknown:
            raise ValueError(f"val groups {unknown} are in none of {', '.join(map(str, paths))}")
        chosen, rule = set(val_groups), "validation groups listed in 'groups.val'; every other group trains"
    else:
        chosen = {g for i, g in enumerate(groups) if i % val_every == val_offset}
        rule = f"groups sorted by name; group i goes to val when i % {val_every} == {val_offset}"
    part_of = {g: ("val" if g in chosen else "train") for g in groups}
    return {
        "source": [f"{m.parent.name}/{m.name}" for m in paths],
        "column": group_column,
        "rule": rule,
        "groups": {p: [g for g in groups if part_of[g] == p] for p in PARTS},
        "files": {p: sorted(r[file_column] for r in rows if part_of[r[group_column]] == p) for p in PARTS},
    }


def read_split(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: split file not found")
    try:
        split = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON (line {e.lineno}): {e.msg}") from None
    files = split.get("files") if isinstance(split, dict) else None
    if not isinstance(files, dict) or any(not isinstance(files.get(p), list) for p in PARTS):
        raise ValueError(f"{path}: expected {{\"files\": {{\"train\": [...], \"val\": [...]}}}} "
                         f"(see training/split.py)")
    return split


def _names(rec: ImageRecord) -> set:
    return {Path(rec.file_name).name, Path(rec.image_path).name}


def select_records(records: list[ImageRecord], split: dict, part: str) -> list[ImageRecord]:
    """Records of ``part`` ('train' or 'val'); all records when the split covers none of them."""
    if part not in PARTS:
        raise ValueError(f"split part must be one of {PARTS}, got {part!r}")
    wanted = set(split["files"][part])
    known = wanted | set(split["files"]["val" if part == "train" else "train"])
    covered = [bool(_names(r) & known) for r in records]
    if not any(covered):
        return list(records)
    if not all(covered):
        missing = next(r.file_name for r, c in zip(records, covered) if not c)
        raise ValueError(f"split lists some of this dataset's images but not '{missing}': the split file is stale; "
                         f"regenerate it with sspnet.training.split.group_split")
    return [r for r in records if _names(r) & wanted]


def covers(records: list[ImageRecord], split: dict) -> bool:
    """True when the split lists any of these records (the dataset is one the split was made for)."""
    known = set(split["files"]["train"]) | set(split["files"]["val"])
    return any(_names(r) & known for r in records)
