"""A bootstrap interval over groups: frames of one source video are near duplicates, so the unit of resampling is
the group (video or web image), not the frame. A handful of dense groups decides AP; the interval says how much."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np

from sspnet.evaluation.metrics import evaluate

# TinyPerson / Roboflow names: "<group>_I<frame>_jpg.rf.<hash>.jpg" for video frames, "<group>_jpg.rf..." for web
FRAME_OF_VIDEO = re.compile(r"^(?P<group>.+?_V\d+)_I\d+")


def group_of(file_name: str) -> str:
    stem = Path(file_name).name
    m = FRAME_OF_VIDEO.match(stem)
    if m:
        return m.group("group")
    return stem.split("_jpg.rf.")[0].rsplit(".", 1)[0]


def bootstrap_interval(records: list, detections: dict, metric: str = "AP50_tiny", rounds: int = 200,
                       level: float = 0.90, seed: int = 0) -> dict:
    """{'value', 'lo', 'hi', 'groups', 'rounds', 'level'}: ``metric`` on all records and its ``level`` percentile
    interval over ``rounds`` resamples of the groups with replacement."""
    groups: dict[str, list] = {}
    for r in records:
        groups.setdefault(group_of(r.file_name), []).append(r)
    names = sorted(groups)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(rounds):
        picked, dets = [], {}
        for g in rng.choice(len(names), size=len(names), replace=True):
            for r in groups[names[g]]:
                new_id = len(picked) + 1                     # a group drawn twice counts twice
                picked.append(dataclasses.replace(r, image_id=new_id))
                dets[new_id] = detections[r.image_id]
        values.append(evaluate(picked, dets, with_mr=False)[metric])
    lo, hi = np.percentile(values, [50 * (1 - level), 50 * (1 + level)])
    return {"value": float(evaluate(records, detections, with_mr=False)[metric]), "lo": float(lo), "hi": float(hi),
            "groups": len(names), "rounds": rounds, "level": level}
