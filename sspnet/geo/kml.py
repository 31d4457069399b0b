"""``detections.kml``: a placemark per placed detection with its chip as icon and thumbnail, and its 95 % circle.

Written with ElementTree, which escapes all text; the HTML inside a description is escaped once more on its own,
and paths become URL-encoded relative links, so an image named ``a&b <1>.jpg`` still shows. KML needs a position,
so detections without one are only counted in the document's description (GeoJSON keeps them).
"""
from __future__ import annotations

import html
import math
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import quote

import numpy as np

from ..manifest import atomic_write_bytes
from .ground import enu_to_latlon
from .locate import GeoDetection, count_unplaced
from .uncertainty import COVERAGE

KML_NS = "http://www.opengis.net/kml/2.2"
CIRCLE_POINTS = 36
THUMB_PX = 160
ET.register_namespace("", KML_NS)


def _el(parent, tag: str, text: str | None = None, **attrs) -> ET.Element:
    e = ET.SubElement(parent, f"{{{KML_NS}}}{tag}", attrs)
    if text is not None:
        e.text = text
    return e


def _href(path: str) -> str:
    return quote(Path(path).as_posix(), safe="/:.-_~")


def _description(det: GeoDetection) -> str:
    g = det.geo
    lines = [f"score {det.score:.2f}", f"image {html.escape(det.image)}",
             f"&plusmn;{g.uncertainty_m:.1f} m ({COVERAGE:.0%})",
             f"height {g.height_above_ground_m:.1f} m ({html.escape(g.altitude_ref)}), "
             f"range {g.slant_range_m:.0f} m, bearing {g.bearing_deg:.0f}&deg;"]
    img = f'<img src="{html.escape(_href(det.chip))}" width="{THUMB_PX}"/><br/>' if det.chip else ""
    return img + "<br/>".join(lines)


def _circle(det: GeoDetection) -> str:
    """KML coordinates of the uncertainty circle around a detection (east/north ring via pymap3d)."""
    g = det.geo
    a = np.linspace(0.0, 2.0 * math.pi, CIRCLE_POINTS + 1)
    lat, lon = enu_to_latlon(g.uncertainty_m * np.sin(a), g.uncertainty_m * np.cos(a), g.lat_deg, g.lon_deg)
    return " ".join(f"{x:.8f},{y:.8f},0" for x, y in zip(lon, lat))


def kml_document(detections: list[GeoDetection], name: str = "sspnet detections") -> ET.Element:
    placed = [d for d in detections if d.geo.placed]
    unplaced = count_unplaced([d.geo for d in detections])
    root = ET.Element(f"{{{KML_NS}}}kml")
    doc = _el(root, "Document")
    _el(doc, "name", name)
    missing = ", ".join(f"{n} {status}" for status, n in sorted(unplaced.items())) or "none"
    _el(doc, "description", f"{len(placed)} detections placed; without a position: {missing}")
    style = _el(doc, "Style", id="circle")
    line = _el(style, "LineStyle")
    _el(line, "color", "ff00a5ff")
    _el(line, "width", "2")
    people = _el(doc, "Folder")
    _el(people, "name", "detections")
    circles = _el(doc, "Folder")
    _el(circles, "name", f"uncertainty ({COVERAGE:.0%})")
    for i, det in enumerate(placed):
        pm = _el(people, "Placemark")
        _el(pm, "name", f"{det.score:.2f}")
        _el(pm, "description", _description(det))
        if det.chip:
            icon = _el(_el(_el(pm, "Style"), "IconStyle"), "Icon")
            _el(icon, "href", _href(det.chip))
        _el(_el(pm, "Point"), "coordinates", f"{det.geo.lon_deg:.8f},{det.geo.lat_deg:.8f},0")
        if det.geo.uncertainty_m is not None and math.isfinite(det.geo.uncertainty_m):
            ring = _el(circles, "Placemark")
            _el(ring, "name", f"{det.score:.2f} ±{det.geo.uncertainty_m:.0f} m")
            _el(ring, "styleUrl", "#circle")
            ls = _el(ring, "LineString")
            _el(ls, "tessellate", "1")
            _el(ls, "coordinates", _circle(det))
    return root


def write_kml(path: str | Path, detections: list[GeoDetection], name: str = "sspnet detections") -> Path:
    """Write ``detections`` as KML (atomically), chip paths relative to the KML's folder; returns the path."""
    path = Path(path)
    tree = ET.ElementTree(kml_document(detections, name))
    ET.indent(tree)
    data = ET.tostring(tree.getroot(), encoding="utf-8", xml_declaration=True)
    atomic_write_bytes(path, data + b"\n")
    return path
