"""Where a detected person is on the ground: camera pose from the image or a DJI ``.SRT``, a ray through the box's
bottom centre onto flat ground, a position with an uncertainty radius, and GeoJSON / KML / Cursor-on-Target outputs.

The batch detector's calls, per still::

    reading = pose_from_image(path, camera=None)          # PoseReading(pose, intrinsics, reason)
    results = locate_detections(reading, boxes_xyxy, (w, h), LocateOptions())   # one GeoResult per box

and per video frame (``camera``: ``load_camera(yaml)``; SRT files carry no usable focal length)::

    track = SrtTrack.from_file("DJI_0001.SRT")
    reading = track.reading_at(t_s, camera, pitch_deg=None, yaw_deg=None)  # angles only fill what the SRT lacks

then ``GeoDetection(image, score, box_xyxy, geo, chip)`` records go to ``write_geojson(RUN/"detections.geojson",
dets)``, ``write_kml(RUN/"detections.kml", dets)`` and, only when an address is given,
``send_cot(cot_events(dets, run_id), *parse_udp_address("239.2.3.1:6969"))``. ``count_unplaced(results)`` gives the
{status: n} of detections without a position for the run's warning line.

A ``GeoResult`` is either ``placed`` (lat/lon, ``uncertainty_m`` = radius holding 95 % of the Monte Carlo positions,
``altitude_ref`` = ``above_takeoff`` or ``above_sea_level``, ranges, bearing) or carries why not: ``no_pose`` (the
image has no usable GPS, attitude or intrinsics), ``no_height`` (only an altitude above sea level and no ground
altitude given) or ``near_horizon`` (ray within ``horizon_margin_deg`` of the horizon). Nothing is guessed.

Modules: ``exif`` / ``xmp`` (reading), ``camera`` (intrinsics, ``--camera`` YAML), ``pose`` (CameraPose from a still),
``srt`` (DJI sidecars), ``ground`` (camera model, pymap3d geodesy), ``uncertainty`` (1-σ defaults, Monte Carlo),
``locate`` (the entry point), ``geojson`` / ``kml`` / ``cot`` (outputs). No torch, no stage package.
"""
from .camera import Intrinsics, load_camera
from .cot import cot_event, cot_events, parse_udp_address, send_cot
from .geojson import write_geojson
from .kml import write_kml
from .locate import (ABOVE_SEA_LEVEL, ABOVE_TAKEOFF, NEAR_HORIZON, NO_HEIGHT, NO_POSE, PLACED, GeoDetection,
                     GeoResult, LocateOptions, count_unplaced, locate_detections)
from .person_size import StillScale, person_height_px, still_scale
from .pose import CameraPose, PoseReading, pose_from_image
from .srt import SrtTrack, parse_srt
from .uncertainty import COVERAGE, PoseErrors

__all__ = ["Intrinsics", "load_camera", "cot_event", "cot_events", "parse_udp_address", "send_cot", "write_geojson",
           "write_kml", "ABOVE_SEA_LEVEL", "ABOVE_TAKEOFF", "NEAR_HORIZON", "NO_HEIGHT", "NO_POSE", "PLACED",
           "GeoDetection", "GeoResult", "LocateOptions", "count_unplaced", "locate_detections", "CameraPose",
           "PoseReading", "pose_from_image", "StillScale", "person_height_px", "still_scale", "SrtTrack", "parse_srt",
           "COVERAGE", "PoseErrors"]
