"""``detections.geojson``: a FeatureCollection with one Point per detection (RFC 7946: [longitude, latitude]).

A detection without a position keeps its Feature with ``"geometry": null`` and says why in ``status``/``detail``;
no position is ever made up. The top-level ``sspnet`` member says what ``uncertainty_m`` means and counts the
detections without a position.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from ..manifest import atomic_write_bytes
from .locate import GeoDetection, count_unplaced
from .uncertainty import COVERAGE

UNCERTAINTY_MEANING = (f"uncertainty_m: radius around the point holding {COVERAGE:.0%} of the positions that the "
                       "GPS, height, attitude and pixel errors allow (Monte Carlo); sigma_m: its 1-sigma equivalent")


def _num(v, ndigits: int):
    """Rounded float, or None for a missing or non-finite value (JSON has no NaN/inf)."""
    if v is None or not math.isfinite(float(v)):
        return None
    return round(float(v), ndigits)


def feature(det: GeoDetection) -> dict:
    """One GeoJSON Feature for a located (or unplaced) detection."""
    g = det.geo
    geometry = None
    if g.placed:
        geometry = {"type": "Point", "coordinates": [round(g.lon_deg, 8), round(g.lat_deg, 8)]}
    props = {"score": _num(det.score, 4), "image": det.image, "box_xyxy": [_num(v, 2) for v in det.box_xyxy],
             "chip": det.chip, "status": g.status, "detail": g.detail,
             "uncertainty_m": _num(g.uncertainty_m, 2), "sigma_m": _num(g.sigma_m, 2),
             "altitude_ref": g.altitude_ref or None, "height_above_ground_m": _num(g.height_above_ground_m, 2),
             "ground_altitude_asl_m": _num(g.ground_altitude_asl_m, 2),
             "ground_range_m": _num(g.ground_range_m, 2), "slant_range_m": _num(g.slant_range_m, 2),
             "bearing_deg": _num(g.bearing_deg, 2), "depression_deg": _num(g.depression_deg, 2)}
    if det.frame_index is not None:
        props["frame_index"] = int(det.frame_index)
    if det.time_s is not None:
        props["time_s"] = _num(det.time_s, 3)
    return {"type": "Feature", "geometry": geometry, "properties": props}


def feature_collection(detections: list[GeoDetection]) -> dict:
    return {"type": "FeatureCollection",
            "sspnet": {"uncertainty": UNCERTAINTY_MEANING,
                       "placed": sum(d.geo.placed for d in detections),
                       "unplaced": count_unplaced([d.geo for d in detections])},
            "features": [feature(d) for d in detections]}


def write_geojson(path: str | Path, detections: list[GeoDetection]) -> Path:
    """Write ``detections`` as GeoJSON (atomically); returns the path."""
    path = Path(path)
    text = json.dumps(feature_collection(detections), indent=1, ensure_ascii=False, allow_nan=False)
    atomic_write_bytes(path, (text + "\n").encode("utf-8"))
    return path
