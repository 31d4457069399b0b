"""Camera pose of a still: position from EXIF GPS, attitude and heights from DJI XMP; intrinsics beside it.

Angles follow DJI: ``yaw_deg`` is the compass heading of the optical axis (0 = north, 90 = east, clockwise;
DJI's -180..180 is folded to 0..360), ``pitch_deg`` its elevation (-90 = straight down, 0 = the horizon) and
``roll_deg`` the turn about it. The camera's yaw is ``GimbalYawDegree``; ``FlightYawDegree`` (the aircraft's nose)
is used only when a firmware leaves the gimbal yaw out, and the pose then says so in ``source``.

Two altitudes, never mixed up: ``height_above_takeoff_m`` (DJI ``RelativeAltitude``, barometric, zero at
take-off) and ``altitude_asl_m`` (DJI ``AbsoluteAltitude`` or EXIF ``GPSAltitude``, above sea level as recorded).
``sspnet.geo.locate`` says in every result which one it used.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from .camera import Intrinsics, parse_dewarp_data
from .exif import ExifInfo, read_exif
from .xmp import dji_xmp


@dataclass(frozen=True)
class CameraPose:
    """Where the camera was and where it looked (angles in degrees, DJI convention, see the module docstring)."""
    lat_deg: float
    lon_deg: float
    yaw_deg: float
    pitch_deg: float
    roll_deg: float = 0.0
    height_above_takeoff_m: float | None = None
    altitude_asl_m: float | None = None
    flight_yaw_deg: float | None = None
    position_sigma_m: float = 0.0  # horizontal 1-σ the source adds to the GPS error (e.g. an SRT's few digits)
    source: str = ""


@dataclass(frozen=True)
class PoseReading:
    """A pose and intrinsics for one image or frame; ``reason`` says what is missing when either is None."""
    pose: CameraPose | None
    intrinsics: Intrinsics | None
    reason: str = ""

    @property
    def complete(self) -> bool:
        return self.pose is not None and self.intrinsics is not None


def heading_deg(yaw_deg: float) -> float:
    """DJI yaw (-180..180 or 0..360) → compass heading in [0, 360)."""
    return float(yaw_deg) % 360.0


def _num(fields: dict, *names: str) -> float | None:
    for name in names:
        if name in fields:
            try:
                return float(fields[name])
            except ValueError:
                return None
    return None


def intrinsics_for(exif: ExifInfo, xmp: dict, camera: Intrinsics | None) -> Intrinsics | None:
    """The best intrinsics for the image: ``camera`` (a YAML), DJI DewarpData, 35 mm equivalent, focal length with
    the focal-plane resolution; None when there is nothing to go on."""
    w, h = exif.size_wh
    if camera is not None:
        return camera.scaled_to(w, h)
    if xmp.get("DewarpData") and xmp.get("DewarpFlag", "0").strip() in ("0", ""):
        found = parse_dewarp_data(xmp["DewarpData"], w, h)
        if found is not None:
            return found
    if exif.focal_35mm:
        return Intrinsics.from_35mm(exif.focal_35mm, w, h, "EXIF FocalLengthIn35mmFilm")
    if exif.focal_mm and exif.focal_plane_px_per_mm:
        f_px = exif.focal_mm * exif.focal_plane_px_per_mm
        return Intrinsics(f_px, f_px, w / 2.0, h / 2.0, w, h, "EXIF FocalLength + FocalPlaneXResolution")
    return None


def pose_from_fields(exif: ExifInfo, xmp: dict) -> tuple[CameraPose | None, str]:
    """(pose, "") or (None, reason) from the EXIF and DJI XMP fields of one still."""
    lat, lon = exif.lat_deg, exif.lon_deg
    if lat is None or lon is None:
        lat, lon = _num(xmp, "GpsLatitude", "Latitude"), _num(xmp, "GpsLongitude", "GpsLongtitude", "Longitude")
    if lat is None or lon is None:
        return None, "no GPS position (EXIF GPSLatitude/GPSLongitude, DJI XMP GpsLatitude/GpsLongitude)"
    if lat == 0.0 and lon == 0.0:
        return None, "GPS position is 0,0 (no satellite fix when the photo was taken)"
    pitch = _num(xmp, "GimbalPitchDegree")
    if pitch is None:
        return None, "no camera attitude (DJI XMP GimbalPitchDegree missing; other makers' XMP is not read)"
    gimbal_yaw, flight_yaw = _num(xmp, "GimbalYawDegree"), _num(xmp, "FlightYawDegree")
    if gimbal_yaw is None and flight_yaw is None:
        return None, "no camera heading (DJI XMP GimbalYawDegree and FlightYawDegree missing)"
    rel = _num(xmp, "RelativeAltitude")
    asl = _num(xmp, "AbsoluteAltitude")
    if asl is None:
        asl = exif.altitude_asl_m
    if rel is None and asl is None:
        return None, "no altitude (DJI XMP RelativeAltitude/AbsoluteAltitude, EXIF GPSAltitude)"
    yaw_src = "gimbal" if gimbal_yaw is not None else "flight (no GimbalYawDegree)"
    pose = CameraPose(lat_deg=lat, lon_deg=lon,
                      yaw_deg=heading_deg(gimbal_yaw if gimbal_yaw is not None else flight_yaw),
                      pitch_deg=pitch, roll_deg=_num(xmp, "GimbalRollDegree") or 0.0,
                      height_above_takeoff_m=rel, altitude_asl_m=asl,
                      flight_yaw_deg=heading_deg(flight_yaw) if flight_yaw is not None else None,
                      source=f"EXIF GPS + DJI XMP, yaw from {yaw_src}")
    return pose, ""


def pose_from_image(path: str | Path, camera: Intrinsics | None = None) -> PoseReading:
    """Pose and intrinsics of a still; a missing or unusable part gives None with the reason (never a guess).

    ``camera``: intrinsics from ``--camera`` (``camera.load_camera``), used instead of the EXIF focal lengths.
    """
    try:
        exif = read_exif(path)
    except ValueError as e:
        return PoseReading(None, None, str(e))
    if exif.orientation != 1:
        return PoseReading(None, None, f"EXIF Orientation {exif.orientation}: rotated images are not supported")
    try:
        xmp = dji_xmp(path)
    except (ValueError, ET.ParseError) as e:
        return PoseReading(None, None, f"XMP packet unreadable ({e})")
    pose, reason = pose_from_fields(exif, xmp)
    try:
        intrinsics = intrinsics_for(exif, xmp, camera)
    except ValueError as e:
        return PoseReading(pose, None, str(e))
    if intrinsics is None and not reason:
        reason = "no intrinsics (no FocalLengthIn35mmFilm or focal-plane resolution in EXIF): give --camera YAML"
    return PoseReading(pose, intrinsics, reason)
