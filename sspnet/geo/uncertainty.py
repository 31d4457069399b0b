"""How far off a ground position may be: GPS, height, attitude and pixel errors propagated by Monte Carlo.

Each error is a zero-mean Gaussian with the 1-σ below (``PoseErrors``; override any of them). One set of pose draws
is shared by every detection of an image, as the real pose error is; the pixel error is drawn per detection. The
draws come from a fixed seed, so the same input gives the same radii. The reported ``uncertainty_m`` is the radius
around the located point that holds ``COVERAGE`` (95 %) of the sampled positions; ``sigma_m`` is the radius that holds
39.3 %, which for a round Gaussian is its 1-σ (what Cursor-on-Target calls ``ce``).

Default 1-σ values, for a consumer DJI drone without RTK:

| error | 1-σ | why |
|---|---|---|
| ``gps_horizontal_m`` | 2.0 m per axis | single-frequency GNSS, open sky |
| ``height_m`` | 1.5 m | barometric height above take-off drifts; the ground is rarely exactly at take-off height |
| ``height_asl_m`` | 5.0 m | a height from GPS altitude above sea level minus a given ground altitude |
| ``yaw_deg`` | 3.0° | magnetic compass heading |
| ``pitch_deg``, ``roll_deg`` | 1.0° | gimbal angle readout and mounting |
| ``pixel_px`` | 2.0 px | the box's bottom centre vs. the point where the person touches the ground |
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .camera import Intrinsics
from .ground import camera_to_enu, intersect_ground, pixel_rays_camera

COVERAGE = 0.95
SIGMA_COVERAGE = 1.0 - math.exp(-0.5)  # 0.3935: share of a round 2-D Gaussian inside its 1-σ circle
MIN_HEIGHT_M = 0.5  # a sampled height is kept at least this far above the ground


@dataclass(frozen=True)
class PoseErrors:
    """1-σ errors of a recorded camera pose (defaults and reasons in the module docstring)."""
    gps_horizontal_m: float = 2.0
    height_m: float = 1.5
    height_asl_m: float = 5.0
    yaw_deg: float = 3.0
    pitch_deg: float = 1.0
    roll_deg: float = 1.0
    pixel_px: float = 2.0

    def __post_init__(self):
        for name, value in vars(self).items():
            if not value >= 0:
                raise ValueError(f"PoseErrors.{name} must be >= 0, got {value}")


def sample_ground_points(points_xy: np.ndarray, intr: Intrinsics, yaw_deg: float, pitch_deg: float,
                         roll_deg: float, height_m: float, height_sigma_m: float, errors: PoseErrors,
                         samples: int, seed: int) -> np.ndarray:
    """Ground positions [D, K, 2] (east/north metres from the nominal point below the camera) of pixels [D, 2]
    under K draws of the pose and pixel errors; NaN where a draw's ray misses the ground."""
    rng = np.random.default_rng(seed)
    pts = np.asarray(points_xy, np.float64).reshape(-1, 2)
    d, k = len(pts), int(samples)
    r = camera_to_enu(yaw_deg + rng.normal(0.0, errors.yaw_deg, k), pitch_deg + rng.normal(0.0, errors.pitch_deg, k),
                      roll_deg + rng.normal(0.0, errors.roll_deg, k))        # [K, 3, 3]
    height = np.maximum(height_m + rng.normal(0.0, height_sigma_m, k), MIN_HEIGHT_M)  # [K]
    gps_en = rng.normal(0.0, errors.gps_horizontal_m, (k, 2))               # [K, 2]
    pix = pts[:, None, :] + rng.normal(0.0, errors.pixel_px, (d, k, 2))      # [D, K, 2]
    rays = np.einsum("kij,dkj->dki", r, pixel_rays_camera(pix, intr))       # [D, K, 3]
    return intersect_ground(rays, height[None, :]) + gps_en[None, :, :]     # [D, K, 2]


def radius_quantile(samples_en: np.ndarray, nominal_en: np.ndarray, q: float) -> np.ndarray:
    """Radius [D] around ``nominal_en`` [D, 2] holding a share ``q`` of ``samples_en`` [D, K, 2]; inf when more than
    1 - q of the draws miss the ground."""
    dist = np.linalg.norm(samples_en - nominal_en[:, None, :], axis=-1)     # [D, K]
    dist = np.where(np.isnan(dist), np.inf, dist)
    if dist.shape[1] == 0:
        return np.full(dist.shape[0], np.inf)
    return np.quantile(dist, q, axis=1, method="higher")
