"""Pinhole intrinsics (fx, fy, cx, cy in pixels) from EXIF focal lengths, DJI calibration data or a camera YAML.

The 35 mm equivalent focal length is defined on the diagonal (CIPA DC-008: the focal length that gives the same
diagonal angle of view on a 36 x 24 mm frame), so ``f_px = f35 * diagonal_px / 43.267``; dividing by 36 mm of width
instead is the common mistake and is ~4 % off on a 4:3 sensor. Lens distortion is not modelled: near the corners
of a wide lens expect a few pixels of error, or undistort the image first.

Camera YAML (``--camera``; every length in the image's own pixels or in millimetres as named)::

    width: 4000            # the image size these numbers belong to (required)
    height: 3000
    fx: 2773.0             # either fx/fy (+ optional cx/cy, default the image centre) ...
    fy: 2773.0
    focal_length_mm: 4.5   # ... or the focal length with the sensor width ...
    sensor_width_mm: 6.4
    focal_35mm: 24.0       # ... or the 35 mm equivalent
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from sspnet.config import ConfigError, from_dict

FULL_FRAME_DIAGONAL_MM = math.hypot(36.0, 24.0)  # 43.267 mm


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole camera of an image ``width_px`` x ``height_px``; ``source`` says where the numbers came from."""
    fx_px: float
    fy_px: float
    cx_px: float
    cy_px: float
    width_px: int
    height_px: int
    source: str

    @classmethod
    def from_35mm(cls, focal_35mm: float, width_px: int, height_px: int, source: str = "35mm-equivalent"):
        """Square pixels, principal point at the centre, ``f_px = f35 * diagonal_px / 43.267 mm``."""
        if focal_35mm <= 0:
            raise ValueError(f"35 mm equivalent focal length must be > 0, got {focal_35mm}")
        f_px = focal_35mm * math.hypot(width_px, height_px) / FULL_FRAME_DIAGONAL_MM
        return cls(f_px, f_px, width_px / 2.0, height_px / 2.0, int(width_px), int(height_px), source)

    @classmethod
    def from_sensor(cls, focal_mm: float, sensor_width_mm: float, width_px: int, height_px: int,
                    source: str = "focal length + sensor width"):
        """Square pixels of ``sensor_width_mm / width_px`` each, principal point at the centre."""
        if focal_mm <= 0 or sensor_width_mm <= 0:
            raise ValueError(f"focal length and sensor width must be > 0, got {focal_mm} mm, {sensor_width_mm} mm")
        f_px = focal_mm * width_px / sensor_width_mm
        return cls(f_px, f_px, width_px / 2.0, height_px / 2.0, int(width_px), int(height_px), source)

    def scaled_to(self, width_px: int, height_px: int) -> Intrinsics:
        """The same camera for a resized image (same aspect ratio, 1 % tolerance); a crop is an error."""
        if (width_px, height_px) == (self.width_px, self.height_px):
            return self
        sx, sy = width_px / self.width_px, height_px / self.height_px
        if abs(sx / sy - 1.0) > 0.01:
            raise ValueError(f"intrinsics are for {self.width_px}x{self.height_px} but the image is "
                             f"{width_px}x{height_px}: a different aspect ratio (cropped?) cannot be rescaled")
        return replace(self, fx_px=self.fx_px * sx, fy_px=self.fy_px * sy, cx_px=self.cx_px * sx,
                       cy_px=self.cy_px * sy, width_px=int(width_px), height_px=int(height_px))

    def hfov_deg(self) -> float:
        return math.degrees(2.0 * math.atan(self.width_px / (2.0 * self.fx_px)))


@dataclass(frozen=True)
class _CameraFile:
    """The keys a camera YAML may have; 0 means not given."""
    width: int = 0
    height: int = 0
    fx: float = 0.0
    fy: float = 0.0
    cx: float = 0.0
    cy: float = 0.0
    focal_length_mm: float = 0.0
    sensor_width_mm: float = 0.0
    focal_35mm: float = 0.0


def load_camera(path: str | Path) -> Intrinsics:
    """Intrinsics from a camera YAML (keys in the module docstring); unknown keys and gaps are errors naming it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: camera file not found")
    c = from_dict(_CameraFile, yaml.safe_load(path.read_text()) or {}, str(path))
    if c.width <= 0 or c.height <= 0:
        raise ConfigError(f"{path}: 'width' and 'height' (the image size the numbers belong to) are required")
    src = f"camera file {path.name}"
    if c.fx > 0:
        fy = c.fy if c.fy > 0 else c.fx
        return Intrinsics(c.fx, fy, c.cx or c.width / 2.0, c.cy or c.height / 2.0, c.width, c.height, src)
    if c.focal_length_mm > 0 and c.sensor_width_mm > 0:
        return Intrinsics.from_sensor(c.focal_length_mm, c.sensor_width_mm, c.width, c.height, src)
    if c.focal_35mm > 0:
        return Intrinsics.from_35mm(c.focal_35mm, c.width, c.height, src)
    raise ConfigError(f"{path}: give fx (+ fy, cx, cy), or focal_length_mm + sensor_width_mm, or focal_35mm")


def parse_dewarp_data(text: str, width_px: int, height_px: int) -> Intrinsics | None:
    """DJI XMP ``DewarpData`` (``date;fx,fy,cx,cy,k1,k2,p1,p2,k3``; cx/cy measured from the image centre) → Intrinsics,
    or None when the field does not have that shape."""
    values = text.split(";")[-1].split(",")
    try:
        fx, fy, dcx, dcy = (float(v) for v in values[:4])
    except ValueError:
        return None
    if fx <= 0 or fy <= 0:
        return None
    return Intrinsics(fx, fy, width_px / 2.0 + dcx, height_px / 2.0 + dcy, int(width_px), int(height_px),
                      "DJI DewarpData (calibrated)")
