"""GeoJSON, KML and Cursor-on-Target outputs: content, escaping, unplaced detections, CoT over loopback UDP."""
import datetime as dt
import json
import socket
import xml.etree.ElementTree as ET

import pytest

from sspnet.geo import (CameraPose, GeoDetection, Intrinsics, PoseReading, cot_events, locate_detections,
                        parse_udp_address, send_cot, write_geojson, write_kml)
from sspnet.geo.cot import cot_event
from sspnet.geo.ground import latlon_to_enu

KML = "{http://www.opengis.net/kml/2.2}"
INTR = Intrinsics.from_35mm(24, 4000, 3000)
POSE = CameraPose(-33.85, 151.21, 180.0, -60.0, height_above_takeoff_m=40.0, altitude_asl_m=45.0)


def _detections():
    boxes = [[1900, 1400, 1960, 1520], [100, 2800, 140, 2900]]
    placed = locate_detections(PoseReading(POSE, INTR), boxes, (4000, 3000))
    missing = locate_detections(PoseReading(None, None, "no GPS position"), [[5, 5, 9, 9]], (4000, 3000))
    return [GeoDetection("stills/a&b <1>.jpg", 0.91, tuple(boxes[0]), placed[0], chip="chips/a&b <1>_0.jpg"),
            GeoDetection("stills/a&b <1>.jpg", 0.55, tuple(boxes[1]), placed[1], chip=None),
            GeoDetection("stills/plain.jpg", 0.7, (5, 5, 9, 9), missing[0], chip="chips/plain_0.jpg")]


def test_geojson(tmp_path):
    dets = _detections()
    doc = json.loads(write_geojson(tmp_path / "detections.geojson", dets).read_text())
    assert doc["type"] == "FeatureCollection" and len(doc["features"]) == 3
    assert doc["sspnet"]["placed"] == 2 and doc["sspnet"]["unplaced"] == {"no_pose": 1}
    assert "95%" in doc["sspnet"]["uncertainty"]
    f0, _, f2 = doc["features"]
    lon, lat = f0["geometry"]["coordinates"]                       # RFC 7946: longitude first
    assert (lat, lon) == pytest.approx((dets[0].geo.lat_deg, dets[0].geo.lon_deg), abs=1e-8)
    e, n = latlon_to_enu(lat, lon, POSE.lat_deg, POSE.lon_deg)
    assert n < -20 and abs(e) < 5                                   # heading 180: in front is south
    p = f0["properties"]
    assert p["score"] == 0.91 and p["image"] == "stills/a&b <1>.jpg" and p["chip"] == "chips/a&b <1>_0.jpg"
    assert p["box_xyxy"] == [1900, 1400, 1960, 1520] and p["altitude_ref"] == "above_takeoff"
    assert p["uncertainty_m"] > 0 and p["status"] == "placed"
    assert f2["geometry"] is None and f2["properties"]["status"] == "no_pose"
    assert f2["properties"]["detail"] == "no GPS position" and f2["properties"]["uncertainty_m"] is None


def test_kml_with_chip_thumbnails_and_escaping(tmp_path):
    root = ET.parse(write_kml(tmp_path / "detections.kml", _detections())).getroot()
    doc = root.find(f"{KML}Document")
    assert "2 detections placed" in doc.find(f"{KML}description").text
    assert "1 no_pose" in doc.find(f"{KML}description").text
    folders = doc.findall(f"{KML}Folder")
    marks = folders[0].findall(f"{KML}Placemark")
    assert len(marks) == 2 and marks[0].find(f"{KML}name").text == "0.91"
    href = marks[0].find(f"{KML}Style/{KML}IconStyle/{KML}Icon/{KML}href").text
    assert href == "chips/a%26b%20%3C1%3E_0.jpg"                     # a relative URL, encoded
    desc = marks[0].find(f"{KML}description").text                  # HTML after XML unescaping
    assert '<img src="chips/a%26b%20%3C1%3E_0.jpg"' in desc and "a&amp;b &lt;1&gt;.jpg" in desc
    assert marks[1].find(f"{KML}Style") is None                     # no chip: the default icon
    lon, lat, _ = (float(v) for v in marks[0].find(f"{KML}Point/{KML}coordinates").text.split(","))
    assert (lat, lon) == pytest.approx((_detections()[0].geo.lat_deg, _detections()[0].geo.lon_deg), abs=1e-7)
    ring = folders[1].findall(f"{KML}Placemark")[0].find(f"{KML}LineString/{KML}coordinates").text.split()
    radius = _detections()[0].geo.uncertainty_m
    for point in ring[::9]:
        plon, plat, _ = (float(v) for v in point.split(","))
        e, n = latlon_to_enu(plat, plon, lat, lon)
        assert (e ** 2 + n ** 2) ** 0.5 == pytest.approx(radius, rel=1e-3)


def test_cot_events_over_loopback_udp():
    dets = _detections()
    now = dt.datetime(2024, 6, 1, 12, 0, 0, 250000, tzinfo=dt.timezone.utc)
    events = cot_events(dets, "run7", now)
    assert len(events) == 2                                          # the unplaced detection is never sent
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(5.0)
        host, port = parse_udp_address(f"udp://127.0.0.1:{rx.getsockname()[1]}")
        assert send_cot(events, host, port) == 2
        got = [rx.recv(65536) for _ in range(2)]
    ev = ET.fromstring(got[0])
    assert got[0].startswith(b"<?xml") and ev.tag == "event" and ev.get("version") == "2.0"
    assert ev.get("uid") == "sspnet-run7-0" and ev.get("type") == "a-u-G"
    assert ev.get("time") == ev.get("start") == "2024-06-01T12:00:00.250Z"
    assert ev.get("stale") == "2024-06-01T12:10:00.250Z"
    pt = ev.find("point")
    assert float(pt.get("lat")) == pytest.approx(dets[0].geo.lat_deg, abs=1e-8)
    assert float(pt.get("lon")) == pytest.approx(dets[0].geo.lon_deg, abs=1e-8)
    assert float(pt.get("ce")) == pytest.approx(dets[0].geo.sigma_m, abs=0.05) and pt.get("hae") == "9999999.0"
    assert "0.91" in ev.find("detail/contact").get("callsign")
    assert "a&b <1>.jpg" in ev.find("detail/remarks").text           # escaped on the wire, intact when parsed
    assert ET.fromstring(got[1]).get("uid") == "sspnet-run7-1"
    with pytest.raises(ValueError, match="no position"):
        cot_event(dets[2], "x", now)


@pytest.mark.parametrize("text", ["127.0.0.1", "udp://:6969", "host:0", "host:70000", "tcp://h:1", "h:port"])
def test_bad_cot_address(text):
    with pytest.raises(ValueError, match="CoT address"):
        parse_udp_address(text)
