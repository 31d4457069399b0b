"""Detections → ground positions: the ray through each box's bottom centre meets flat ground.

The ground is flat, at the take-off point's height by default: the camera is ``RelativeAltitude`` above it
(``altitude_ref = "above_takeoff"``). ``ground_below_takeoff_m`` lowers (or, negative, raises) that ground; a known
``ground_altitude_asl_m`` uses the altitude above sea level instead (``"above_sea_level"``), which is the only way to
place an image that has no height above take-off. Every result says which was used; none is guessed.

A ray less than ``horizon_margin_deg`` below the horizon is flagged ``near_horizon`` and not placed: a small
pitch error there moves the point by kilometres. An image without a complete pose gives ``no_pose`` results.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, replace

import numpy as np

from .ground import depression_deg, enu_to_latlon, intersect_ground, pixel_rays_enu
from .pose import CameraPose, PoseReading
from .uncertainty import COVERAGE, SIGMA_COVERAGE, PoseErrors, radius_quantile, sample_ground_points

PLACED, NO_POSE, NO_HEIGHT, NEAR_HORIZON = "placed", "no_pose", "no_height", "near_horizon"
ABOVE_TAKEOFF, ABOVE_SEA_LEVEL = "above_takeoff", "above_sea_level"


@dataclass(frozen=True)
class LocateOptions:
    """How to place detections (see the module docstring); ``samples``/``seed`` drive the Monte Carlo."""
    errors: PoseErrors = field(default_factory=PoseErrors)
    ground_altitude_asl_m: float | None = None
    ground_below_takeoff_m: float = 0.0
    horizon_margin_deg: float = 5.0
    samples: int = 400
    seed: int = 0

    def __post_init__(self):
        if self.samples < 10 or not self.horizon_margin_deg >= 0:
            raise ValueError(f"LocateOptions: samples must be >= 10 and horizon_margin_deg >= 0, got {self.samples}, "
                             f"{self.horizon_margin_deg}")


@dataclass(frozen=True)
class GeoResult:
    """Where one detection is on the ground, or why it has no position (``status`` != ``"placed"``, ``detail``).

    ``uncertainty_m``: radius holding 95 % of the Monte Carlo positions; ``sigma_m``: its 1-σ-equivalent radius.
    ``east_m``/``north_m``/``ground_range_m``: from the point below the camera; ``bearing_deg``: compass bearing.
    """
    status: str
    detail: str = ""
    lat_deg: float | None = None
    lon_deg: float | None = None
    uncertainty_m: float | None = None
    sigma_m: float | None = None
    altitude_ref: str = ""
    height_above_ground_m: float | None = None
    ground_altitude_asl_m: float | None = None
    east_m: float | None = None
    north_m: float | None = None
    ground_range_m: float | None = None
    slant_range_m: float | None = None
    depression_deg: float | None = None
    bearing_deg: float | None = None

    @property
    def placed(self) -> bool:
        return self.status == PLACED


@dataclass(frozen=True)
class GroundHeight:
    """The camera's height above the assumed ground, which altitude it came from and its 1-σ."""
    height_m: float
    altitude_ref: str
    sigma_m: float
    ground_altitude_asl_m: float | None


def ground_height(pose: CameraPose, options: LocateOptions) -> tuple[GroundHeight | None, str]:
    """(height, "") or (None, reason): above take-off by default, above sea level when the ground's is given."""
    e = options.errors
    if options.ground_altitude_asl_m is not None:
        if pose.altitude_asl_m is None:
            return None, "a ground altitude above sea level was given but the image has no altitude above sea level"
        h = GroundHeight(pose.altitude_asl_m - options.ground_altitude_asl_m, ABOVE_SEA_LEVEL, e.height_asl_m,
                         options.ground_altitude_asl_m)
    elif pose.height_above_takeoff_m is None:
        return None, (f"only an altitude above sea level ({pose.altitude_asl_m:.1f} m) is known, no height above "
                      "take-off: give the ground's altitude above sea level to use it")
    else:
        height = pose.height_above_takeoff_m + options.ground_below_takeoff_m
        ground_asl = pose.altitude_asl_m - height if pose.altitude_asl_m is not None else None
        h = GroundHeight(height, ABOVE_TAKEOFF, e.height_m, ground_asl)
    if h.height_m <= 0:
        return None, f"the camera is not above the ground ({h.height_m:.1f} m, {h.altitude_ref})"
    return h, ""


def bottom_centres(boxes_xyxy: np.ndarray) -> np.ndarray:
    """[N, 4] xyxy → [N, 2] (x, y) of each box's bottom centre, where a person touches the ground."""
    b = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4)
    return np.column_stack([(b[:, 0] + b[:, 2]) / 2.0, b[:, 3]])


def locate_detections(reading: PoseReading, boxes_xyxy, image_size_wh: tuple[int, int],
                      options: LocateOptions | None = None) -> list[GeoResult]:
    """One ``GeoResult`` per box (pixel xyxy in an image of ``image_size_wh``), in the boxes' order."""
    options = options or LocateOptions()
    points = bottom_centres(boxes_xyxy)                                    # [D, 2]
    if not reading.complete:
        return [GeoResult(NO_POSE, reading.reason or "no camera pose")] * len(points)
    pose = reading.pose
    height, reason = ground_height(pose, options)
    if height is None:
        return [GeoResult(NO_HEIGHT, reason)] * len(points)
    if len(points) == 0:
        return []
    try:
        intr = reading.intrinsics.scaled_to(*image_size_wh)
    except ValueError as e:
        return [GeoResult(NO_POSE, str(e))] * len(points)
    rays = pixel_rays_enu(points, intr, pose.yaw_deg, pose.pitch_deg, pose.roll_deg)  # [D, 3]
    dep = depression_deg(rays)                                              # [D]
    en = intersect_ground(rays, height.height_m)                            # [D, 2]
    errors = replace(options.errors, gps_horizontal_m=math.hypot(options.errors.gps_horizontal_m,
                                                                 pose.position_sigma_m))
    draws = sample_ground_points(points, intr, pose.yaw_deg, pose.pitch_deg, pose.roll_deg, height.height_m,
                                 height.sigma_m, errors, options.samples, options.seed)  # [D, K, 2]
    r95 = radius_quantile(draws, en, COVERAGE)
    r1s = radius_quantile(draws, en, SIGMA_COVERAGE)
    lat, lon = enu_to_latlon(en[:, 0], en[:, 1], pose.lat_deg, pose.lon_deg, height.ground_altitude_asl_m or 0.0)
    common = dict(altitude_ref=height.altitude_ref, height_above_ground_m=round(height.height_m, 3),
                  ground_altitude_asl_m=height.ground_altitude_asl_m)
    out = []
    for i in range(len(points)):
        if not dep[i] >= options.horizon_margin_deg:
            out.append(GeoResult(NEAR_HORIZON, f"ray {dep[i]:.1f} deg below the horizon (< "
                                 f"{options.horizon_margin_deg:g}): not placed", depression_deg=float(dep[i]),
                                 **common))
            continue
        e_m, n_m = float(en[i, 0]), float(en[i, 1])
        ground_range = math.hypot(e_m, n_m)
        out.append(GeoResult(PLACED, "", lat_deg=float(lat[i]), lon_deg=float(lon[i]),
                             uncertainty_m=float(r95[i]), sigma_m=float(r1s[i]), east_m=e_m, north_m=n_m,
                             ground_range_m=ground_range, slant_range_m=math.hypot(ground_range, height.height_m),
                             depression_deg=float(dep[i]), bearing_deg=math.degrees(math.atan2(e_m, n_m)) % 360.0,
                             **common))
    return out


@dataclass(frozen=True)
class GeoDetection:
    """A detection with its ground result, as the writers take it. ``image``/``chip``: paths as they should appear
    in the outputs (relative to the run folder); ``frame_index``/``time_s`` for video frames."""
    image: str
    score: float
    box_xyxy: tuple
    geo: GeoResult
    chip: str | None = None
    frame_index: int | None = None
    time_s: float | None = None


def count_unplaced(results: list[GeoResult]) -> dict[str, int]:
    """{status: count} of the results without a position, for the run's warning line."""
    return dict(Counter(r.status for r in results if not r.placed))
