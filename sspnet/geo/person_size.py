"""How tall a standing person looks in a posed still, and the resize that brings it to the model's person height.

A detector finds persons best near the heights it was trained and validated on (the manifest's
``preprocess.person_px``, in network-input pixels). Video from the shipped footage needs the manifest's up-scale, but
a 12 MP survey still from 50 m already shows persons 25-40 px tall: up-scaling it 3.5x would make them 100+ px (out
of the model's range) and cost ~12x the tiles. The pose says how large a person is, so stills are resized by
``person_px / person height in the still`` instead, never above the manifest's scale.

A person is an upright box ``PERSON_HEIGHT_M`` tall and ``PERSON_DEPTH_M`` deep standing where the ray through the
image centre meets the flat ground of ``locate``. Seen from a depression angle d at slant range r, its image height
is ``fy * (H cos d + D sin d) / r``: the full body towards the horizon, the shoulders (about D) from straight above.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .ground import depression_deg, pixel_rays_enu
from .locate import LocateOptions, ground_height
from .pose import PoseReading

PERSON_HEIGHT_M = 1.7
PERSON_DEPTH_M = 0.5
MIN_DEPRESSION_DEG = 10.0   # flatter views are like the training footage: keep the manifest's scale
MIN_SCALE = 0.1


@dataclass(frozen=True)
class StillScale:
    """The resize factor of one still and why: ``person_px`` is the expected person height before resizing."""
    scale: float
    source: str                   # "pose" or "manifest"
    person_px: float | None = None
    detail: str = ""

    def to_dict(self) -> dict:
        doc = {"scale": self.scale, "source": self.source}
        if self.person_px is not None:
            doc["person_px"] = round(self.person_px, 2)
        if self.detail:
            doc["detail"] = self.detail
        return doc


def person_height_px(reading: PoseReading, image_wh: tuple[int, int],
                     options: LocateOptions | None = None) -> tuple[float | None, str]:
    """(image height in px of a person standing below the image centre, "") or (None, why it is not known)."""
    if not reading.complete:
        return None, reading.reason or "no camera pose"
    pose = reading.pose
    height, reason = ground_height(pose, options or LocateOptions())
    if height is None:
        return None, reason
    try:
        intr = reading.intrinsics.scaled_to(*image_wh)
    except ValueError as e:
        return None, str(e)
    ray = pixel_rays_enu(np.array([[intr.cx_px, intr.cy_px]]), intr, pose.yaw_deg, pose.pitch_deg, pose.roll_deg)
    dep = float(depression_deg(ray)[0])
    if dep < MIN_DEPRESSION_DEG:
        return None, f"the image centre looks {dep:.1f} deg below the horizon (< {MIN_DEPRESSION_DEG:g})"
    d = math.radians(dep)
    slant_m = height.height_m / math.sin(d)
    extent_m = PERSON_HEIGHT_M * math.cos(d) + PERSON_DEPTH_M * math.sin(d)
    return intr.fy_px * extent_m / slant_m, ""


def still_scale(reading: PoseReading, image_wh: tuple[int, int], model_scale: float, model_person_px: float,
                options: LocateOptions | None = None) -> StillScale:
    """The resize factor for a still: ``model_person_px / person height`` (two decimals, in [MIN_SCALE,
    model_scale]) when the pose gives the person height and the model records its own, else ``model_scale``."""
    if not model_person_px > 0:
        return StillScale(model_scale, "manifest", detail="the model records no person height (preprocess.person_px)")
    person_px, why = person_height_px(reading, image_wh, options)
    if person_px is None:
        return StillScale(model_scale, "manifest", detail=why)
    scale = round(min(max(model_person_px / person_px, MIN_SCALE), model_scale), 2)
    return StillScale(scale, "pose", person_px=person_px)
