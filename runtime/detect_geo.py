"""The geo step of ``sspnet detect``: each line's camera position and one ground position per box (``sspnet.geo``),
and the GeoJSON / KML / Cursor-on-Target outputs rebuilt from the whole record.

Stills: the pose from the JPEG's EXIF GPS and DJI XMP. Video frames: the DJI ``.SRT`` beside the video (same name,
``.SRT`` or ``.srt``) at the frame's time, with intrinsics from ``--camera`` (SRT files carry no usable focal
length). A line stores each position as JSON (``status`` and, when placed, ``lat``/``lon``/``uncertainty_m``), so
the outputs are rebuilt from the record alone and a resumed run ends with the same files. The Monte Carlo behind
the uncertainty has a fixed seed: the same image gives the same line.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from sspnet.geo import (GeoDetection, GeoResult, LocateOptions, SrtTrack, StillScale, count_unplaced, cot_events,
                        locate_detections, pose_from_image, send_cot, still_scale, write_geojson, write_kml)
from sspnet.geo.pose import PoseReading
from sspnet.runtime.detect_run import CHIPS

GEOJSON, KML = "detections.geojson", "detections.kml"
RESULT_FIELDS = {f.name for f in dataclasses.fields(GeoResult)}


class GeoStep:
    """``geo(decoded, boxes)`` → the line's {"camera", "positions"}; one per run (caches SRT tracks and the last
    still's pose, which ``still_scale`` reads before detection and the call after it)."""

    def __init__(self, camera=None, options: LocateOptions | None = None):
        self.camera, self.options = camera, options or LocateOptions()
        self._tracks: dict[str, SrtTrack | None] = {}
        self._still: tuple[str, PoseReading] | None = None

    def still_scale(self, decoded, pre) -> StillScale:
        """The resize of a decoded still from its pose and ``pre`` (the model's scale and person height)."""
        h, w = decoded.image.shape[:2]
        return still_scale(self._reading(decoded), (w, h), pre.scale, pre.person_px, self.options)

    def __call__(self, decoded, boxes_xyxy: list) -> dict:
        reading = self._reading(decoded)
        h, w = decoded.image.shape[:2]
        results = locate_detections(reading, boxes_xyxy, (w, h), self.options)
        pose = reading.pose
        camera = None if pose is None else {"lat": pose.lat_deg, "lon": pose.lon_deg,
                                             "time": decoded.pts_s if decoded.frame is not None else None}
        return {"camera": camera, "positions": [result_to_json(r) for r in results]}

    def _reading(self, decoded) -> PoseReading:
        path = decoded.item.path
        if decoded.frame is None:
            if self._still is None or self._still[0] != path:
                self._still = (path, pose_from_image(path, self.camera))
            return self._still[1]
        track = self._track(path)
        if track is None:
            return PoseReading(None, None, f"{path}: no DJI .SRT beside the video")
        return track.reading_at(decoded.pts_s or 0.0, self.camera)

    def _track(self, video: str) -> SrtTrack | None:
        if video not in self._tracks:
            found = [p for p in (Path(video).with_suffix(".SRT"), Path(video).with_suffix(".srt")) if p.is_file()]
            self._tracks[video] = SrtTrack.from_file(found[0]) if found else None
        return self._tracks[video]


def result_to_json(result: GeoResult) -> dict:
    doc = {k: v for k, v in dataclasses.asdict(result).items() if v not in (None, "")}
    if result.placed:
        doc["lat"], doc["lon"] = doc.pop("lat_deg"), doc.pop("lon_deg")
    return doc


def result_from_json(doc: dict) -> GeoResult:
    fields = {("lat_deg" if k == "lat" else "lon_deg" if k == "lon" else k): v for k, v in doc.items()}
    return GeoResult(**{k: v for k, v in fields.items() if k in RESULT_FIELDS})


def geo_detections(records: list[dict]) -> list[GeoDetection]:
    """Every detection of the record with its stored ground result, chips relative to the run folder."""
    out = []
    for r in records:
        positions = r.get("positions") or []
        chips = r.get("chips") or []
        for k, (box, score) in enumerate(zip(r.get("boxes", []), r.get("scores", []))):
            if k >= len(positions):
                break
            chip = f"{CHIPS}/{chips[k]}" if k < len(chips) else None
            out.append(GeoDetection(image=r["path"], score=float(score), box_xyxy=tuple(box),
                                    geo=result_from_json(positions[k]), chip=chip, frame_index=r.get("frame"),
                                    time_s=r.get("pts")))
    return out


def write_geo_outputs(run_dir: Path, records: list[dict], cot_address: tuple | None, run_id: str) -> tuple:
    """(paths written, {status: n} of detections without a position, CoT events sent)."""
    dets = geo_detections(records)
    written = [write_geojson(run_dir / GEOJSON, dets), write_kml(run_dir / KML, dets)]
    sent = send_cot(cot_events(dets, run_id), *cot_address) if cot_address else 0
    return written, count_unplaced([d.geo for d in dets]), sent
