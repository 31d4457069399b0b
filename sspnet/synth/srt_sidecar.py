"""A DJI-style ``.SRT`` telemetry sidecar for a synthetic clip (Mini 3 ``[key: value]`` layout, one entry per frame).

The clip's canvas is a map of flat ground seen straight down: a nadir pinhole camera over flat ground is a pure
scale, so canvas pixel (x, y) is ground point east = (x - W/2) * gsd, north = -(y - H/2) * gsd around the canvas
centre at (``BASE_LAT_DEG``, ``BASE_LON_DEG``), with gsd = altitude / focal length in pixels. ``canvas_to_latlon``
gives the truth for any canvas point, so a person located from the SRT can be checked exactly.
"""
from __future__ import annotations

import numpy as np

from ..geo.camera import Intrinsics
from ..geo.ground import enu_to_latlon
from .stills_pose import BASE_LAT_DEG, BASE_LON_DEG, CAMERA, GROUND_ASL_M

CLIP_ALTITUDE_M = 50.0


def clip_intrinsics(frame_wh: tuple[int, int]) -> Intrinsics:
    return Intrinsics.from_35mm(CAMERA["focal_35mm"], frame_wh[0], frame_wh[1], "synthetic camera")


def ground_sample_distance_m(frame_wh: tuple[int, int], altitude_m: float = CLIP_ALTITUDE_M) -> float:
    """Metres of ground per pixel for the nadir clip camera."""
    return altitude_m / clip_intrinsics(frame_wh).fx_px


def canvas_to_latlon(xy_px, canvas_wh: tuple[int, int], frame_wh: tuple[int, int],
                     altitude_m: float = CLIP_ALTITUDE_M) -> tuple:
    """Canvas pixels [..., 2] → (lat_deg, lon_deg) arrays on the ground."""
    xy = np.asarray(xy_px, np.float64)
    gsd = ground_sample_distance_m(frame_wh, altitude_m)
    east = (xy[..., 0] - canvas_wh[0] / 2.0) * gsd
    north = -(xy[..., 1] - canvas_wh[1] / 2.0) * gsd
    return enu_to_latlon(east, north, BASE_LAT_DEG, BASE_LON_DEG, GROUND_ASL_M)


def _timestamp(t_s: float) -> str:
    ms = int(round(t_s * 1000))
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def clip_srt_text(clip, altitude_m: float = CLIP_ALTITUDE_M) -> str:
    """The SRT text of ``clip`` (a ``video.Clip``): per frame the camera's position, heights and a nadir gimbal."""
    w, h = clip.size_wh
    canvas_wh = (clip.world.canvas_bgr.shape[1], clip.world.canvas_bgr.shape[0])
    entries = []
    for i in range(clip.n_frames):
        t0, t1 = i / clip.fps, (i + 1) / clip.fps
        ox, oy = clip.camera.offset_at(t0)
        lat, lon = canvas_to_latlon((ox + w / 2.0, oy + h / 2.0), canvas_wh, (w, h), altitude_m)
        entries.append(
            f"{i + 1}\n{_timestamp(t0)} --> {_timestamp(t1)}\n"
            f'<font size="28">FrameCnt: {i + 1}, DiffTime: {round((t1 - t0) * 1000)}ms\n'
            f"[iso: 100] [shutter: 1/1000.0] [fnum: 2.8] [ev: 0] [focal_len: {CAMERA['focal_35mm']:.2f}] "
            f"[latitude: {float(lat):.6f}] [longitude: {float(lon):.6f}] "
            f"[rel_alt: {altitude_m:.3f} abs_alt: {GROUND_ASL_M + altitude_m:.3f}] "
            f"[gb_yaw: 0.0 gb_pitch: -90.0 gb_roll: 0.0] </font>\n")
    return "\n".join(entries)
