"""Cursor-on-Target events for ATAK/WinTAK, and a UDP sender that sends only to an address it is given.

One ``<event>`` per placed detection: ``type`` ``a-u-G`` (unknown ground point; override with ``cot_type``),
``how`` ``m-f`` (machine, fused: GPS + attitude + image ray), ``ce`` = the position's 1-σ-equivalent radius in metres,
``hae``/``le`` = 9999999.0 (unknown: positions are on an assumed flat ground, not a surveyed height, and TAK clients
clamp such points to their terrain). Detections without a position are never sent. Nothing is sent unless
``send_cot`` is called with an address; ATAK's mesh default is the multicast group ``239.2.3.1:6969``.
"""
from __future__ import annotations

import datetime as _dt
import math
import socket
import time
import xml.etree.ElementTree as ET

from .locate import GeoDetection
from .uncertainty import COVERAGE

UNKNOWN = "9999999.0"
DEFAULT_STALE_S = 600.0


def _iso(t: _dt.datetime) -> str:
    return t.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def cot_event(det: GeoDetection, uid: str, now: _dt.datetime, *, stale_s: float = DEFAULT_STALE_S,
              cot_type: str = "a-u-G", how: str = "m-f", callsign: str | None = None) -> bytes:
    """The CoT XML of one placed detection (UTF-8 bytes with an XML declaration)."""
    g = det.geo
    if not g.placed:
        raise ValueError(f"detection in {det.image} has no position ({g.status}): it cannot become a CoT event")
    event = ET.Element("event", version="2.0", uid=uid, type=cot_type, how=how, time=_iso(now), start=_iso(now),
                       stale=_iso(now + _dt.timedelta(seconds=stale_s)))
    ce = f"{g.sigma_m:.1f}" if g.sigma_m is not None and math.isfinite(g.sigma_m) else UNKNOWN
    ET.SubElement(event, "point", lat=f"{g.lat_deg:.8f}", lon=f"{g.lon_deg:.8f}", hae=UNKNOWN, ce=ce, le=UNKNOWN)
    detail = ET.SubElement(event, "detail")
    ET.SubElement(detail, "contact", callsign=callsign or f"person {det.score:.2f}")
    remarks = ET.SubElement(detail, "remarks")
    remarks.text = (f"sspnet: person score {det.score:.2f}; within {g.uncertainty_m:.1f} m ({COVERAGE:.0%}); "
                    f"image {det.image}; height {g.height_above_ground_m:.1f} m {g.altitude_ref}")
    return ET.tostring(event, encoding="utf-8", xml_declaration=True)


def cot_events(detections: list[GeoDetection], run_id: str, now: _dt.datetime | None = None, **kwargs) -> list[bytes]:
    """Events for the placed detections, uids ``sspnet-<run_id>-<n>`` (n = index among all detections)."""
    now = now or _dt.datetime.now(_dt.timezone.utc)
    return [cot_event(d, f"sspnet-{run_id}-{i}", now, **kwargs) for i, d in enumerate(detections) if d.geo.placed]


def parse_udp_address(text: str) -> tuple[str, int]:
    """``host:port`` or ``udp://host:port`` → (host, port); anything else is a ValueError naming the text."""
    rest = text[len("udp://"):] if text.startswith("udp://") else text
    host, sep, port = rest.rpartition(":")
    if not sep or not host or "/" in host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"CoT address '{text}': expected host:port or udp://host:port, e.g. 239.2.3.1:6969")
    return host.strip("[]"), int(port)


def send_cot(events: list[bytes], host: str, port: int, *, multicast_ttl: int = 1, pace_s: float = 0.002) -> int:
    """Send each event as one UDP datagram to (host, port), ``pace_s`` apart (a burst of hundreds overflows a
    receiver's socket buffer, or a Wi-Fi link, and UDP drops silently); returns how many were sent."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        if family == socket.AF_INET:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, multicast_ttl)
        for event in events:
            sock.sendto(event, (host, port))
            time.sleep(pace_s)
    return len(events)
