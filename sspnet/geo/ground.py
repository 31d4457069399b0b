"""The camera model: pixel → ray → flat ground, ground → pixel, and local east/north metres ↔ latitude/longitude.

Frames. Camera: OpenCV (x right, y down, z along the optical axis). World: local ENU in metres (x east, y north,
z up) with its origin on the ground directly below the camera, so the camera sits at (0, 0, height).
Angles (degrees, DJI convention): ``yaw`` = compass heading of the optical axis (0 = north, clockwise), ``pitch`` =
its elevation (-90 = nadir), ``roll`` = turn about it, positive = clockwise as seen from behind the camera.
At pitch -90 / yaw 0 the top of the image points north; at yaw 180 it points south.

Geodesy is pymap3d's (WGS-84 ENU ↔ geodetic), never hand-written. The ground is the tangent plane at the point
below the camera: its drop from the true ellipsoid is under 2 cm within 500 m.
"""
from __future__ import annotations

import numpy as np
import pymap3d

from .camera import Intrinsics


def camera_to_enu(yaw_deg, pitch_deg, roll_deg) -> np.ndarray:
    """Rotation(s) whose columns are the camera's x (right), y (down), z (forward) axes in ENU: ``[..., 3, 3]``.

    Vectorised: scalar angles give [3, 3], arrays of shape S give [*S, 3, 3].
    """
    yaw, pitch, roll = (np.radians(np.asarray(a, np.float64)) for a in (yaw_deg, pitch_deg, roll_deg))
    yaw, pitch, roll = np.broadcast_arrays(yaw, pitch, roll)
    sy, cy, sp, cp, sr, cr = np.sin(yaw), np.cos(yaw), np.sin(pitch), np.cos(pitch), np.sin(roll), np.cos(roll)
    zero = np.zeros_like(yaw)
    forward = np.stack([sy * cp, cy * cp, sp], axis=-1)         # [..., 3] heading yaw, elevation pitch
    right0 = np.stack([cy, -sy, zero], axis=-1)                # [..., 3] horizontal, 90 deg clockwise of forward
    down0 = np.cross(forward, right0)                          # [..., 3] completes x right, y down, z forward
    right = right0 * cr[..., None] + down0 * sr[..., None]     # roll: right side turns down for roll > 0
    down = down0 * cr[..., None] - right0 * sr[..., None]
    return np.stack([right, down, forward], axis=-1)           # [..., 3, 3] columns = camera axes


def pixel_rays_camera(points_xy: np.ndarray, intr: Intrinsics) -> np.ndarray:
    """Pixels [..., 2] (x, y) → unnormalised rays [..., 3] in the camera frame (z = 1)."""
    p = np.asarray(points_xy, np.float64)
    x = (p[..., 0] - intr.cx_px) / intr.fx_px
    y = (p[..., 1] - intr.cy_px) / intr.fy_px
    return np.stack([x, y, np.ones_like(x)], axis=-1)


def pixel_rays_enu(points_xy: np.ndarray, intr: Intrinsics, yaw_deg, pitch_deg, roll_deg) -> np.ndarray:
    """Pixels [N, 2] → unit rays [N, 3] in ENU for one camera attitude."""
    r = camera_to_enu(yaw_deg, pitch_deg, roll_deg)             # [3, 3]
    rays = pixel_rays_camera(points_xy, intr) @ r.T             # [N, 3]
    return rays / np.linalg.norm(rays, axis=-1, keepdims=True)


def depression_deg(rays_enu: np.ndarray) -> np.ndarray:
    """Angle of each ray below the horizon [...] (negative = above it)."""
    r = np.asarray(rays_enu, np.float64)
    return np.degrees(np.arcsin(np.clip(-r[..., 2] / np.linalg.norm(r, axis=-1), -1.0, 1.0)))


def intersect_ground(rays_enu: np.ndarray, height_m) -> np.ndarray:
    """Where rays [..., 3] from (0, 0, ``height_m``) meet the ground z = 0: east/north [..., 2] metres; NaN for a ray
    that never comes down (at or above the horizon). ``height_m`` broadcasts against the rays' leading shape."""
    r = np.asarray(rays_enu, np.float64)
    down = -r[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(down > 0, np.asarray(height_m, np.float64) / down, np.nan)  # [...]
    return r[..., :2] * t[..., None]


def project_ground_to_pixels(points_en: np.ndarray, height_m: float, intr: Intrinsics, yaw_deg: float,
                             pitch_deg: float, roll_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Ground points [N, 2] east/north (z = 0) seen from (0, 0, ``height_m``) → (pixels [N, 2], in_front [N] bool)."""
    p = np.asarray(points_en, np.float64).reshape(-1, 2)
    rel = np.column_stack([p, np.full(len(p), -float(height_m))])  # [N, 3] camera → point, ENU
    cam = rel @ camera_to_enu(yaw_deg, pitch_deg, roll_deg)          # [N, 3] in the camera frame (R^T v)
    z = cam[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        px = np.column_stack([intr.fx_px * cam[:, 0] / z + intr.cx_px, intr.fy_px * cam[:, 1] / z + intr.cy_px])
    return px, z > 0


def enu_to_latlon(east_m, north_m, lat0_deg: float, lon0_deg: float, h0_m: float = 0.0) -> tuple:
    """Local ENU metres on the ground plane around (lat0, lon0, h0) → (lat_deg, lon_deg) arrays (pymap3d, WGS-84)."""
    lat, lon, _ = pymap3d.enu2geodetic(np.asarray(east_m, np.float64), np.asarray(north_m, np.float64), 0.0,
                                       lat0_deg, lon0_deg, h0_m)
    return np.asarray(lat, np.float64), np.asarray(lon, np.float64)


def latlon_to_enu(lat_deg, lon_deg, lat0_deg: float, lon0_deg: float, h0_m: float = 0.0) -> tuple:
    """(lat, lon) at height h0 → local (east_m, north_m) arrays around (lat0, lon0, h0) (pymap3d, WGS-84)."""
    e, n, _ = pymap3d.geodetic2enu(np.asarray(lat_deg, np.float64), np.asarray(lon_deg, np.float64), h0_m,
                                   lat0_deg, lon0_deg, h0_m)
    return np.asarray(e, np.float64), np.asarray(n, np.float64)
