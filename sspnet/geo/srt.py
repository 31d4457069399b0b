"""DJI ``.SRT`` sidecars: per-entry telemetry → a smoothed track → the camera pose at any video time.

Layouts read (each subtitle entry is ``index``, ``start --> end``, then text; HTML tags are dropped):

- ``bracketed`` (Mini 2/3/4, Air 2S, Mavic 2/3): ``[latitude: 41.424724] [longitude: 2.234156] [rel_alt: 50.1
  abs_alt: 132.8]``; the Air 2S writes ``[altitude: ..]``, above sea level, the Mavic 2 ``[longtitude: ..]``;
  ``[gb_yaw: .. gb_pitch: .. gb_roll: ..]`` where the firmware records the gimbal.
- ``gps-barometer`` (Phantom 4, Mavic Pro): ``GPS(lon,lat,satellites) BAROMETER:h`` (+ ``HOME(lon,lat)``); the
  Matrice 300 writes ``GPS(lat,lon,altM) BAROMETER:hM``, and the ``M`` unit is what marks that order.
- ``gps-dh`` (Mavic Air, Spark): ``GPS (lon, lat, satellites), D 12.3m, H 45.6m``.

``BAROMETER`` and ``H`` are heights above take-off. When a layout has no gimbal angles the caller gives them
(``pitch_deg``/``yaw_deg``); recorded angles win over given ones. GPS in these files has 4–6 decimals (4 decimals is
an 11 m grid): the track is smoothed by a local straight-line fit over ``window_s`` seconds, and each pose adds the
grid's 1-σ (step / √12) to its position error, since a hovering drone's offset from the grid cannot be smoothed away.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .camera import Intrinsics
from .ground import enu_to_latlon, latlon_to_enu
from .pose import CameraPose, PoseReading, heading_deg

_TIME = re.compile(r"(\d+):(\d+):(\d+)[,.](\d+)\s*-->\s*(\d+):(\d+):(\d+)[,.](\d+)")
_TAG = re.compile(r"<[^>]*>")
_BRACKET = re.compile(r"\[([^\[\]]*)\]")
_PAIR = re.compile(r"([A-Za-z_]+)\s*:\s*([-+]?\d+(?:\.\d+)?)")
_GPS = re.compile(r"GPS\s*\(\s*([-+]?\d+(?:\.\d+)?)\s*,\s*([-+]?\d+(?:\.\d+)?)\s*,\s*([-+]?\d+(?:\.\d+)?)\s*(M?)\s*\)",
                  re.IGNORECASE)
_BARO = re.compile(r"BAROMETER\s*:\s*([-+]?\d+(?:\.\d+)?)", re.IGNORECASE)
_H = re.compile(r"(?:^|[\s,])H\s+([-+]?\d+(?:\.\d+)?)\s*m\b")
_DIGITS = re.compile(r"[-+]?\d+\.(\d+)")
EARTH_M_PER_DEG = 111_320.0  # metres per degree of latitude (and of longitude at the equator)


@dataclass(frozen=True)
class SrtSample:
    """One subtitle entry's telemetry; a field the layout does not record is None."""
    start_s: float
    end_s: float
    layout: str
    lat_deg: float | None = None
    lon_deg: float | None = None
    height_above_takeoff_m: float | None = None
    altitude_asl_m: float | None = None
    yaw_deg: float | None = None
    pitch_deg: float | None = None
    roll_deg: float | None = None
    decimals: int = 6  # fewest decimals of the latitude/longitude text


def _seconds(h, m, s, frac) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(frac) / 10 ** len(frac)


def _decimals(*texts: str) -> int:
    found = [len(m.group(1)) for t in texts for m in [_DIGITS.match(t)] if m]
    return min(found) if found else 0


def _bracketed(text: str, start: float, end: float) -> SrtSample | None:
    pairs = {}
    raw = {}
    for content in _BRACKET.findall(text):
        for key, value in _PAIR.findall(content):
            pairs[key.lower()] = float(value)
            raw[key.lower()] = value
    if "longtitude" in pairs and "longitude" not in pairs:  # Mavic 2 firmware's spelling
        pairs["longitude"], raw["longitude"] = pairs["longtitude"], raw["longtitude"]
    if "latitude" not in pairs or "longitude" not in pairs:
        return None
    asl = pairs.get("abs_alt", pairs.get("altitude"))
    return SrtSample(start, end, "bracketed", pairs["latitude"], pairs["longitude"], pairs.get("rel_alt"), asl,
                     pairs.get("gb_yaw"), pairs.get("gb_pitch"), pairs.get("gb_roll"),
                     _decimals(raw["latitude"], raw["longitude"]))


def _gps_line(text: str, start: float, end: float) -> SrtSample | None:
    m = _GPS.search(text)
    if not m:
        return None
    a, b, third, unit = m.groups()
    if unit:  # Matrice 300: GPS(lat, lon, altitude M)
        lat, lon = float(a), float(b)
    else:     # Phantom 4 / Mavic Pro / Mavic Air: GPS(lon, lat, satellites)
        lon, lat = float(a), float(b)
    if abs(lat) > 90.0 >= abs(lon):  # the order guess cannot be right: a latitude is within +-90
        lat, lon = lon, lat
    baro, h = _BARO.search(text), _H.search(text)
    height = float(baro.group(1)) if baro else (float(h.group(1)) if h else None)
    layout = "gps-barometer" if baro else "gps-dh"
    return SrtSample(start, end, layout, lat, lon, height, None, decimals=_decimals(a, b))


def parse_srt(text: str) -> list[SrtSample]:
    """Every entry of an SRT text that has a position, in time order; entries without one are skipped."""
    out = []
    for block in re.split(r"\r?\n\s*\r?\n", text.replace("\ufeff", "")):
        m = _TIME.search(block)
        if not m:
            continue
        g = m.groups()
        start, end = _seconds(*g[:4]), _seconds(*g[4:])
        body = _TAG.sub(" ", block[m.end():])
        sample = _bracketed(body, start, end) or _gps_line(body, start, end)
        if sample is not None and not (sample.lat_deg == 0.0 and sample.lon_deg == 0.0):
            out.append(sample)
    out.sort(key=lambda s: s.start_s)
    return out


def smooth_series(t_s: np.ndarray, values: np.ndarray, window_s: float) -> np.ndarray:
    """Local straight-line least-squares fit over ``t ± window_s / 2`` evaluated at each ``t`` ([N] → [N]); NaN values
    are left out of the fits. Prefix sums keep it O(N) for hour-long 30 Hz tracks."""
    t = np.asarray(t_s, np.float64)
    v = np.asarray(values, np.float64)
    ok = ~np.isnan(v)
    if window_s <= 0 or ok.sum() < 2:
        return v.copy()
    t0 = t[ok].mean()
    tt, vv = t[ok] - t0, v[ok]
    sums = [np.concatenate([[0.0], np.cumsum(a)]) for a in (np.ones_like(tt), tt, tt * tt, vv, tt * vv)]
    q = t - t0
    lo = np.searchsorted(tt, q - window_s / 2.0, side="left")
    hi = np.searchsorted(tt, q + window_s / 2.0, side="right")
    n, st, stt, sv, stv = (s[hi] - s[lo] for s in sums)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_t, mean_v = st / n, sv / n
        denom = stt - n * mean_t ** 2
        slope = np.where(denom > 1e-9, (stv - n * mean_t * mean_v) / denom, 0.0)
        out = mean_v + slope * (q - mean_t)
    return np.where(n > 0, out, v)


class SrtTrack:
    """A parsed, smoothed SRT track; ``reading_at(t)`` gives the pose of the video frame at ``t`` seconds."""

    def __init__(self, samples: list[SrtSample], window_s: float = 4.0):
        if not samples:
            raise ValueError("SRT track has no entries with a position")
        self.samples = samples
        self.layout = samples[0].layout
        self.t_s = np.array([s.start_s for s in samples])  # an entry's telemetry is that of its first frame
        self.origin = (samples[0].lat_deg, samples[0].lon_deg)
        e, n = latlon_to_enu([s.lat_deg for s in samples], [s.lon_deg for s in samples], *self.origin)
        self.east_m = smooth_series(self.t_s, e, window_s)
        self.north_m = smooth_series(self.t_s, n, window_s)
        nan = float("nan")
        self.rel_m = smooth_series(self.t_s, [nan if s.height_above_takeoff_m is None else s.height_above_takeoff_m
                                              for s in samples], window_s)
        self.asl_m = smooth_series(self.t_s, [nan if s.altitude_asl_m is None else s.altitude_asl_m
                                              for s in samples], window_s)
        step_m = EARTH_M_PER_DEG * 10.0 ** -min(s.decimals for s in samples)
        self.grid_sigma_m = step_m / math.sqrt(12.0)

    @classmethod
    def from_file(cls, path: str | Path, window_s: float = 4.0) -> SrtTrack:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
        samples = parse_srt(text)
        if not samples:
            raise ValueError(f"{path}: no SRT entry with a GPS position in a known DJI layout "
                             "(bracketed [latitude: ..], GPS(..) BAROMETER:.., GPS (..), H ..m)")
        return cls(samples, window_s)

    def pose_at(self, t_s: float, *, pitch_deg: float | None = None, yaw_deg: float | None = None,
                roll_deg: float = 0.0) -> tuple[CameraPose | None, str]:
        """(pose, "") at video time ``t_s``, or (None, reason); the given angles fill what the SRT does not record."""
        first, last = self.samples[0], self.samples[-1]
        if t_s < first.start_s - 1.0 or t_s > last.end_s + 1.0:
            return None, f"no SRT entry near t={t_s:.2f} s (track covers {first.start_s:.1f}-{last.end_s:.1f} s)"
        i = int(np.clip(np.searchsorted(self.t_s, t_s, side="right") - 1, 0, len(self.samples) - 1))
        s = self.samples[i]
        pitch = s.pitch_deg if s.pitch_deg is not None else pitch_deg
        yaw = s.yaw_deg if s.yaw_deg is not None else yaw_deg
        roll = s.roll_deg if s.roll_deg is not None else roll_deg
        if pitch is None or yaw is None:
            return None, (f"SRT layout '{self.layout}' records no gimbal attitude: give the camera pitch and heading")

        def at(series: np.ndarray) -> float | None:
            ok = ~np.isnan(series)
            return float(np.interp(t_s, self.t_s[ok], series[ok])) if ok.any() else None

        lat, lon = enu_to_latlon(at(self.east_m), at(self.north_m), *self.origin)
        rel, asl = at(self.rel_m), at(self.asl_m)
        if rel is None and asl is None:
            return None, f"SRT layout '{self.layout}' records no altitude"
        return CameraPose(lat_deg=float(lat), lon_deg=float(lon), yaw_deg=heading_deg(yaw), pitch_deg=float(pitch),
                          roll_deg=float(roll), height_above_takeoff_m=rel, altitude_asl_m=asl,
                          position_sigma_m=self.grid_sigma_m,
                          source=f"DJI SRT ({self.layout}), smoothed"), ""

    def reading_at(self, t_s: float, intrinsics: Intrinsics | None, **angles) -> PoseReading:
        """``pose_at`` with the video's intrinsics (a ``--camera`` YAML: SRT files carry no usable focal length)."""
        pose, reason = self.pose_at(t_s, **angles)
        if intrinsics is None:
            reason = reason or "no intrinsics for the video: give --camera YAML"
        return PoseReading(pose, intrinsics, reason)
