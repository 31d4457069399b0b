"""Synthetic aerial scenes with tiny persons, for tests, demos and benchmarks (never for accuracy claims).

``render_dataset(out_dir, n_images, size=(w, h), seed)`` writes a TinyPerson-format COCO dataset of stills;
``render_video(out_dir, seconds, fps, size, seed) -> (mp4_path, gt_json_path)`` writes an H.264 clip with
per-frame ground truth. Same seed → same pixels and the same annotation bytes.
"""
from .dataset import render_dataset, render_image, size_stats
from .video import Clip, render_video

__all__ = ["render_dataset", "render_image", "render_video", "size_stats", "Clip"]
