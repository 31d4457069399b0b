"""A synthetic drone clip: persons walk and bob, the camera drifts slowly; H.264 MP4 + per-frame ground truth.

The world is rendered once on a canvas larger than the frame by the drift margin; each frame is a sub-pixel crop
of it with the persons drawn at their positions at time t. Ground truth ``clip.json`` is COCO with one image entry
per frame (``file_name`` = ``clip.mp4#<index>``, ``frame_index``) and ``track_id`` on every box; ``clip.SRT`` beside
the clip is DJI-style telemetry of a nadir camera over the canvas (``srt_sidecar.py``).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..data.record import SYNTH_GENERATOR
from ..manifest import atomic_write_bytes
from .dataset import coco_annotation, coco_document, json_bytes
from .h264 import H264Writer
from .srt_sidecar import CLIP_ALTITUDE_M, clip_srt_text, ground_sample_distance_m
from .world import World, build_world, render_view

VIDEO_STREAM = 1  # seed-sequence key of the clip; stills use 0
DRIFT_PX_S = (2.0, 6.0)  # camera drift speed range at 1080p, scaled with the frame height
WOBBLE_PX = (0.5, 2.0)  # amplitude of a slow sideways sway


class CameraPath:
    """Slow straight drift plus a gentle sway; ``offset_at(t)`` = top-left of the frame in canvas px."""

    def __init__(self, rng: np.random.Generator, frame_wh: tuple, seconds: float):
        scale = frame_wh[1] / 1080.0
        self.speed_px_s = float(rng.uniform(*DRIFT_PX_S)) * max(scale, 0.25)
        heading = rng.uniform(0, 2 * math.pi)
        self.dir_xy = (math.cos(heading), math.sin(heading))
        self.wobble_px = float(rng.uniform(*WOBBLE_PX)) * max(scale, 0.25)
        self.wobble_hz = float(rng.uniform(0.05, 0.2))
        self.seconds = seconds
        self.margin_px = int(math.ceil(self.speed_px_s * seconds / 2 + self.wobble_px)) + 4

    def offset_at(self, t_s: float) -> tuple:
        along = self.speed_px_s * (t_s - self.seconds / 2)  # centred: the path spans +-margin
        sway = self.wobble_px * math.sin(2 * math.pi * self.wobble_hz * t_s)
        return (self.margin_px + along * self.dir_xy[0] - sway * self.dir_xy[1],
                self.margin_px + along * self.dir_xy[1] + sway * self.dir_xy[0])


def frame_count(seconds: float, fps: float) -> int:
    """Number of frames in a clip of ``seconds`` at ``fps`` (at least 1)."""
    return max(int(round(seconds * fps)), 1)


class Clip:
    """A clip's world and camera; ``frame(i)`` renders frame ``i`` (random access, deterministic)."""

    def __init__(self, seconds: float, fps: float, size: tuple, seed: int, scene_kind: str | None = None):
        if seconds <= 0 or fps <= 0:
            raise ValueError(f"seconds and fps must be > 0, got seconds={seconds} fps={fps}")
        self.fps = float(fps)
        self.size_wh = (int(size[0]), int(size[1]))
        self.n_frames = frame_count(seconds, fps)
        rng = np.random.default_rng([seed, VIDEO_STREAM])
        self.camera = CameraPath(rng, self.size_wh, seconds)
        m = self.camera.margin_px
        self.world: World = build_world((self.size_wh[0] + 2 * m, self.size_wh[1] + 2 * m), rng,
                                       duration_s=seconds, scene_kind=scene_kind)

    def frame(self, index: int) -> tuple:
        """(t_s, frame [h, w, 3] uint8 BGR, list of PersonBox in frame px) of frame ``index``."""
        t_s = index / self.fps
        frame, boxes = render_view(self.world, t_s, self.camera.offset_at(t_s), self.size_wh)
        return t_s, frame, boxes


def render_video(out_dir: str | Path, seconds: float, fps: float, size: tuple = (1920, 1080),
                 seed: int = 0, scene_kind: str | None = None) -> tuple:
    """Render ``out_dir/clip.mp4`` (H.264) and ``out_dir/clip.json`` (per-frame GT). Returns (mp4, json) paths.

    ``scene_kind`` (one of ``scene.SCENE_KINDS``) fixes the scene; ``None`` draws it from the seed.
    """
    w, h = int(size[0]), int(size[1])
    if w < 16 or h < 16 or w % 2 or h % 2:
        raise ValueError(f"video size {w}x{h}: need even width and height >= 16 (H.264 4:2:0)")
    out_dir = Path(out_dir)
    mp4_path, gt_path = out_dir / "clip.mp4", out_dir / "clip.json"
    clip = Clip(seconds, fps, (w, h), seed, scene_kind)
    images, annotations = [], []
    with H264Writer(mp4_path, (w, h), fps) as writer:
        for i in range(clip.n_frames):
            t_s, frame, boxes = clip.frame(i)
            writer.write(frame)
            images.append({"id": i + 1, "file_name": f"clip.mp4#{i}", "frame_index": i, "time_s": round(t_s, 6),
                           "width": w, "height": h})
            for b in boxes:
                annotations.append(coco_annotation(len(annotations) + 1, i + 1, b.box_xyxy, b.pose, b.ignore,
                                                   track_id=b.track_id))
    info = {"description": "sspnet synthetic aerial clip (not for accuracy claims)", "seed": seed,
            "generator": SYNTH_GENERATOR, "version": 1,
            "video": {"file": mp4_path.name, "fps": float(fps), "frames": len(images), "width": w, "height": h,
                      "codec": "h264", "encoder": writer.encoder, "scene": clip.world.scene_kind,
                      "camera_drift_px_s": round(clip.camera.speed_px_s, 3), "persons": len(clip.world.persons)}}
    srt_path = out_dir / "clip.SRT"
    atomic_write_bytes(srt_path, clip_srt_text(clip).encode())
    info["video"]["srt"] = {"file": srt_path.name, "altitude_m": CLIP_ALTITUDE_M, "camera": "nadir, heading 0",
                            "gsd_m_per_px": round(ground_sample_distance_m((w, h)), 6)}
    atomic_write_bytes(gt_path, json_bytes(coco_document(images, annotations, info)))
    return mp4_path, gt_path
