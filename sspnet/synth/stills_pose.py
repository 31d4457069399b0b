"""Synthetic drone stills with a known camera pose: JPEG with EXIF GPS + DJI XMP, and ``truth.geojson``.

Persons stand on flat ground at known east/north offsets from the point below the camera. Their true latitude and
longitude come from those offsets (pymap3d); their pixels come from projecting the same ground points through the
camera model. Locating the drawn boxes back from the JPEG's metadata is the inverse, which is what the tests measure.

The camera is Mavic Air 2-like (4.5 mm, 24 mm equivalent: 84° diagonal field of view). Headings cycle through
0/90/180/270° unless one is given; yaw is written the way DJI does (-180..180, so 270° is ``-90.00``). With
``pose_noise`` the metadata records the pose plus errors drawn from ``sspnet.geo.PoseErrors``' 1-σ values, while the
truth keeps the real pose: that is how the reported uncertainty is checked. Backgrounds are rendered about 1000 px wide
and scaled up (a 4000x3000 still takes about half a second); persons are drawn at full size.
"""
from __future__ import annotations

import json
import math
from io import BytesIO
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from ..geo.camera import Intrinsics
from ..geo.exif import exif_bytes
from ..geo.ground import depression_deg, enu_to_latlon, intersect_ground, pixel_rays_enu, project_ground_to_pixels
from ..geo.uncertainty import PoseErrors
from ..geo.xmp import dji_xmp_packet
from ..manifest import atomic_write_bytes
from .persons import draw_person, sample_person
from .world import build_world

STILLS_POSE_STREAM = 3  # seed-sequence key; stills use 0, video 1, ignore regions 2
CAMERA = {"make": "DJI", "model": "FC3170", "focal_mm": 4.5, "focal_35mm": 24}
BASE_LAT_DEG, BASE_LON_DEG, GROUND_ASL_M = 36.5297, -6.2925, 12.0  # a beach; take-off is on the ground
SCENE_KINDS = ("beach", "grass", "road")
PERSON_HEIGHT_M = 1.7
MIN_DEPRESSION_DEG = 10.0  # persons are placed where the ray is at least this far below the horizon
MAX_GROUND_RANGE_M = 300.0
EDGE_PX = 48
JPEG_QUALITY = 92


@dataclass(frozen=True)
class StillPose:
    """A camera pose of a synthetic still; ``height_m`` is above the ground, which is at take-off height."""
    lat_deg: float
    lon_deg: float
    height_m: float
    yaw_deg: float
    pitch_deg: float
    roll_deg: float = 0.0
    ground_asl_m: float = GROUND_ASL_M


@dataclass(frozen=True)
class StillPlan:
    """Everything about one still except its pixels. Arrays: [P, 2] east/north m, [P, 2] lat/lon, [P, 2] px, [P] px."""
    index: int
    true_pose: StillPose
    recorded_pose: StillPose
    persons_en: np.ndarray
    truth_latlon: np.ndarray
    anchors_px: np.ndarray
    heights_px: np.ndarray


def camera_intrinsics(size_wh: tuple[int, int]) -> Intrinsics:
    return Intrinsics.from_35mm(CAMERA["focal_35mm"], size_wh[0], size_wh[1], "synthetic camera")


def _noisy(pose: StillPose, noise: PoseErrors, rng: np.random.Generator) -> StillPose:
    de, dn = rng.normal(0.0, noise.gps_horizontal_m, 2)
    lat, lon = enu_to_latlon(de, dn, pose.lat_deg, pose.lon_deg, pose.ground_asl_m)
    return StillPose(float(lat), float(lon), pose.height_m + float(rng.normal(0.0, noise.height_m)),
                     pose.yaw_deg + float(rng.normal(0.0, noise.yaw_deg)),
                     pose.pitch_deg + float(rng.normal(0.0, noise.pitch_deg)),
                     pose.roll_deg + float(rng.normal(0.0, noise.roll_deg)), pose.ground_asl_m)


def plan_still(index: int, seed: int, size_wh: tuple[int, int], altitude_m: float = 50.0, pitch_deg: float = -90.0,
               heading_deg: float | None = None, pose_noise: PoseErrors | None = None,
               land_mask: np.ndarray | None = None) -> StillPlan:
    """Pose and persons of still ``index`` (no pixels); ``land_mask`` ([h, w] bool, any scale) keeps them on land."""
    rng = np.random.default_rng([seed, STILLS_POSE_STREAM, index])
    w, h = size_wh
    intr = camera_intrinsics(size_wh)
    de, dn = rng.uniform(-150.0, 150.0, 2)  # the drone somewhere over the search area
    lat, lon = enu_to_latlon(de, dn, BASE_LAT_DEG, BASE_LON_DEG, GROUND_ASL_M)
    yaw = float(heading_deg) if heading_deg is not None else 90.0 * (index % 4)
    pose = StillPose(float(lat), float(lon), float(altitude_m), yaw, float(pitch_deg))
    noise_rng = np.random.default_rng([seed, STILLS_POSE_STREAM, index, 2])  # own stream: same persons either way
    recorded = _noisy(pose, pose_noise, noise_rng) if pose_noise is not None else pose
    cand = np.column_stack([rng.uniform(EDGE_PX, w - EDGE_PX, 400), rng.uniform(EDGE_PX, h - EDGE_PX, 400)])
    rays = pixel_rays_enu(cand, intr, pose.yaw_deg, pose.pitch_deg, pose.roll_deg)  # [400, 3]
    ground = intersect_ground(rays, pose.height_m)                                  # [400, 2]
    ok = (depression_deg(rays) >= MIN_DEPRESSION_DEG) & (np.linalg.norm(ground, axis=1) <= MAX_GROUND_RANGE_M)
    if land_mask is not None:
        my, mx = land_mask.shape
        ok &= land_mask[(cand[:, 1] * my / h).astype(int), (cand[:, 0] * mx / w).astype(int)]
    want = int(rng.integers(8, 17))
    persons, anchors, heights = [], [], []
    for en in ground[ok]:
        px, _ = project_ground_to_pixels(en[None], pose.height_m, intr, pose.yaw_deg, pose.pitch_deg, pose.roll_deg)
        slant = math.hypot(float(np.linalg.norm(en)), pose.height_m)
        dep = math.degrees(math.atan2(pose.height_m, float(np.linalg.norm(en))))
        h_px = float(np.clip(intr.fy_px * PERSON_HEIGHT_M / slant * max(math.cos(math.radians(dep)), 0.35), 3, 120))
        if any(np.hypot(*(px[0] - a)) < 1.5 * (h_px + hb) for a, hb in zip(anchors, heights)):
            continue
        persons.append(en)
        anchors.append(px[0])
        heights.append(h_px)
        if len(persons) == want:
            break
    persons_en = np.array(persons, np.float64).reshape(-1, 2)
    t_lat, t_lon = enu_to_latlon(persons_en[:, 0], persons_en[:, 1], pose.lat_deg, pose.lon_deg, pose.ground_asl_m)
    return StillPlan(index, pose, recorded, persons_en, np.column_stack([t_lat, t_lon]).reshape(-1, 2),
                     np.array(anchors, np.float64).reshape(-1, 2), np.array(heights, np.float64))


def dji_xmp_fields(pose: StillPose) -> dict[str, str]:
    """The drone-dji XMP fields DJI writes for a still, angles in DJI's -180..180 form."""
    def dji_angle(a: float) -> str:
        return f"{(a + 180.0) % 360.0 - 180.0:+.2f}"
    return {"AbsoluteAltitude": f"{pose.ground_asl_m + pose.height_m:+.2f}",
            "RelativeAltitude": f"{pose.height_m:+.2f}",
            "GimbalRollDegree": f"{pose.roll_deg:+.2f}", "GimbalYawDegree": dji_angle(pose.yaw_deg),
            "GimbalPitchDegree": f"{pose.pitch_deg:+.2f}", "FlightRollDegree": "+0.00",
            "FlightYawDegree": dji_angle(pose.yaw_deg), "FlightPitchDegree": "+0.00"}


def jpeg_with_pose(image_bgr: np.ndarray, pose: StillPose) -> bytes:
    """JPEG bytes carrying ``pose`` as EXIF GPS + focal lengths and DJI XMP."""
    exif = exif_bytes(lat_deg=pose.lat_deg, lon_deg=pose.lon_deg, altitude_asl_m=pose.ground_asl_m + pose.height_m,
                      focal_mm=CAMERA["focal_mm"], focal_35mm=CAMERA["focal_35mm"], make=CAMERA["make"],
                      model=CAMERA["model"])
    buf = BytesIO()
    Image.fromarray(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)).save(
        buf, "JPEG", quality=JPEG_QUALITY, subsampling=0, exif=exif, xmp=dji_xmp_packet(dji_xmp_fields(pose)))
    return buf.getvalue()


def render_still_with_pose(index: int, seed: int, size_wh: tuple[int, int], **plan_kwargs) -> tuple:
    """(image [h, w, 3] uint8 BGR, StillPlan, boxes [P, 4] xyxy px of the drawn persons)."""
    w, h = size_wh
    rng = np.random.default_rng([seed, STILLS_POSE_STREAM, index, 1])
    scale = max(1, round(w / 1000))
    kind = SCENE_KINDS[int(rng.integers(len(SCENE_KINDS)))]
    world = build_world((max(w // scale, 16), max(h // scale, 16)), rng, scene_kind=kind)
    image = cv2.resize(world.canvas_bgr, (w, h), interpolation=cv2.INTER_LINEAR)  # world.persons are not drawn
    plan = plan_still(index, seed, size_wh, land_mask=world.land_mask, **plan_kwargs)
    boxes = []
    for anchor, h_px in zip(plan.anchors_px, plan.heights_px):
        p = sample_person(rng, "standing", tuple(anchor), h_px, kind, walking=False)
        _, visible = draw_person(image, p, 0.0, (0.0, 0.0), world.sun_dir_xy, world.shadow_opacity)
        boxes.append(visible if visible is not None else (np.nan,) * 4)
    return image, plan, np.array(boxes, np.float64).reshape(-1, 4)


def _pose_dict(p: StillPose) -> dict:
    return {k: round(v, 8) for k, v in asdict(p).items()}


def write_stills_with_pose(out_dir: str | Path, n: int, size_wh: tuple[int, int], seed: int = 0,
                           altitude_m: float = 50.0, pitch_deg: float = -90.0, heading_deg: float | None = None,
                           pose_noise: bool = False) -> Path:
    """Write ``out_dir/stills/synth_pose_NNNNNN.jpg`` and ``out_dir/truth.geojson``; returns the GeoJSON path."""
    if n < 1:
        raise ValueError(f"number of stills must be >= 1, got {n}")
    if altitude_m <= 0 or not -90.0 <= pitch_deg <= -MIN_DEPRESSION_DEG:
        raise ValueError(f"altitude must be > 0 and pitch in [-90, {-MIN_DEPRESSION_DEG:g}] degrees, got "
                         f"{altitude_m} m, {pitch_deg} deg")
    out_dir = Path(out_dir)
    noise = PoseErrors() if pose_noise else None
    features, images = [], []
    for i in range(n):
        image, plan, boxes = render_still_with_pose(i, seed, size_wh, altitude_m=altitude_m, pitch_deg=pitch_deg,
                                                    heading_deg=heading_deg, pose_noise=noise)
        name = f"stills/synth_pose_{i:06d}.jpg"
        atomic_write_bytes(out_dir / name, jpeg_with_pose(image, plan.recorded_pose))
        images.append({"image": name, "true_pose": _pose_dict(plan.true_pose),
                       "recorded_pose": _pose_dict(plan.recorded_pose), "persons": len(plan.persons_en)})
        for en, latlon, anchor, box in zip(plan.persons_en, plan.truth_latlon, plan.anchors_px, boxes):
            features.append({"type": "Feature",
                             "geometry": {"type": "Point", "coordinates": [round(float(latlon[1]), 9),
                                                                           round(float(latlon[0]), 9)]},
                             "properties": {"image": name, "pose": "standing",
                                            "box_xyxy": [round(float(v), 3) for v in box],
                                            "feet_xy_px": [round(float(v), 3) for v in anchor],
                                            "east_m": round(float(en[0]), 4), "north_m": round(float(en[1]), 4)}})
    doc = {"type": "FeatureCollection",
           "sspnet": {"generator": "sspnet.synth stills with pose", "seed": seed, "size": list(size_wh),
                      "camera": CAMERA, "pose_noise": asdict(noise) if noise else None, "images": images},
           "features": features}
    path = out_dir / "truth.geojson"
    atomic_write_bytes(path, (json.dumps(doc, indent=1) + "\n").encode())
    return path
