"""The EXIF fields geolocation needs (GPS, focal lengths, orientation, size), read with Pillow without decoding pixels.

``GPSAltitude`` with ``GPSAltitudeRef`` is an altitude above sea level (ref 1: below it); it is never a height above
the ground or above take-off, which only DJI's XMP ``RelativeAltitude`` gives.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

GPS_IFD, EXIF_IFD = 0x8825, 0x8769
TAG_MAKE, TAG_MODEL, TAG_ORIENTATION = 0x010F, 0x0110, 0x0112
GPS_LAT_REF, GPS_LAT, GPS_LON_REF, GPS_LON, GPS_ALT_REF, GPS_ALT = 1, 2, 3, 4, 5, 6
TAG_DATETIME_ORIGINAL, TAG_FOCAL_LENGTH, TAG_FOCAL_35MM = 0x9003, 0x920A, 0xA405
TAG_FOCAL_PLANE_X_RES, TAG_FOCAL_PLANE_UNIT = 0xA20E, 0xA210
_MM_PER_UNIT = {2: 25.4, 3: 10.0, 4: 1.0, 5: 0.001}  # FocalPlaneResolutionUnit: inch, cm, mm, µm


@dataclass(frozen=True)
class ExifInfo:
    """What EXIF says; every field may be missing (None). ``size_wh`` is the size of the stored image."""
    size_wh: tuple[int, int]
    lat_deg: float | None = None
    lon_deg: float | None = None
    altitude_asl_m: float | None = None
    focal_mm: float | None = None
    focal_35mm: float | None = None
    focal_plane_px_per_mm: float | None = None
    make: str = ""
    model: str = ""
    orientation: int = 1
    datetime_original: str = ""


def _text(v) -> str:
    if isinstance(v, bytes):
        v = v.decode("ascii", errors="replace")
    return str(v).strip("\x00 ") if v is not None else ""


def _float(v) -> float | None:
    try:
        return float(v) if v is not None else None
    except (TypeError, ValueError, ZeroDivisionError):
        return None


def _dms(value, ref) -> float | None:
    """(degrees, minutes, seconds) + 'N'/'S'/'E'/'W' → signed decimal degrees."""
    try:
        d, m, s = (float(x) for x in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    deg = d + m / 60.0 + s / 3600.0
    return -deg if _text(ref).upper() in ("S", "W") else deg


def read_exif(path: str | Path) -> ExifInfo:
    """EXIF of an image file; raises ValueError when the file is not an image Pillow can open."""
    try:
        with Image.open(path) as im:
            size = (int(im.size[0]), int(im.size[1]))
            exif = im.getexif()
            gps, sub = exif.get_ifd(GPS_IFD), exif.get_ifd(EXIF_IFD)
    except (UnidentifiedImageError, OSError, SyntaxError, struct.error) as e:  # Pillow's errors for broken files
        raise ValueError(f"{path}: not a readable image or EXIF ({e})") from e
    lat, lon = _dms(gps.get(GPS_LAT), gps.get(GPS_LAT_REF)), _dms(gps.get(GPS_LON), gps.get(GPS_LON_REF))
    alt = _float(gps.get(GPS_ALT))
    alt_ref = gps.get(GPS_ALT_REF, 0)
    if alt is not None and (alt_ref in (1, b"\x01") or _text(alt_ref) == "1"):
        alt = -alt
    px_per_mm = None
    res, unit = _float(sub.get(TAG_FOCAL_PLANE_X_RES)), sub.get(TAG_FOCAL_PLANE_UNIT, 2)
    if res and unit in _MM_PER_UNIT:
        px_per_mm = res / _MM_PER_UNIT[unit]
    focal_35 = _float(sub.get(TAG_FOCAL_35MM))
    return ExifInfo(size_wh=size, lat_deg=lat, lon_deg=lon, altitude_asl_m=alt,
                    focal_mm=_float(sub.get(TAG_FOCAL_LENGTH)), focal_35mm=focal_35 if focal_35 else None,
                    focal_plane_px_per_mm=px_per_mm, make=_text(exif.get(TAG_MAKE)),
                    model=_text(exif.get(TAG_MODEL)), orientation=int(exif.get(TAG_ORIENTATION, 1) or 1),
                    datetime_original=_text(sub.get(TAG_DATETIME_ORIGINAL)))


def exif_bytes(*, lat_deg: float, lon_deg: float, altitude_asl_m: float, focal_mm: float, focal_35mm: int,
               make: str = "DJI", model: str = "FC3170", datetime_original: str = "") -> bytes:
    """EXIF (IFD0 + Exif + GPS IFDs) for a synthetic drone still, as DJI cameras write them."""
    exif = Image.Exif()
    exif[TAG_MAKE], exif[TAG_MODEL] = make, model
    gps = exif.get_ifd(GPS_IFD)

    def dms(v: float) -> tuple:
        v = abs(v)
        d = int(v)
        m = int((v - d) * 60.0)
        return (float(d), float(m), round((v - d - m / 60.0) * 3600.0, 6))

    gps[GPS_LAT_REF], gps[GPS_LAT] = ("N" if lat_deg >= 0 else "S"), dms(lat_deg)
    gps[GPS_LON_REF], gps[GPS_LON] = ("E" if lon_deg >= 0 else "W"), dms(lon_deg)
    gps[GPS_ALT_REF], gps[GPS_ALT] = (b"\x00" if altitude_asl_m >= 0 else b"\x01"), round(abs(altitude_asl_m), 3)
    sub = exif.get_ifd(EXIF_IFD)
    sub[TAG_FOCAL_LENGTH], sub[TAG_FOCAL_35MM] = float(focal_mm), int(focal_35mm)
    if datetime_original:
        sub[TAG_DATETIME_ORIGINAL] = datetime_original
    return exif.tobytes()
