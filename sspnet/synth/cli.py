"""``sspnet synth``: render a synthetic aerial dataset, drone stills with a camera pose and/or an H.264 clip, with
ground truth."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from sspnet.data.image_size import parse_wh

from .dataset import IMAGE_FORMATS, render_dataset, size_stats
from .scene import SCENE_KINDS
from .stills_pose import MIN_DEPRESSION_DEG, write_stills_with_pose


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--images", type=int, default=0, metavar="N", help="number of still images (default 0)")
    parser.add_argument("--video", type=float, default=None, metavar="SECONDS", help="also render a clip this long")
    parser.add_argument("--fps", type=float, default=10.0, help="clip frame rate (default 10)")
    parser.add_argument("--size", type=lambda t: parse_wh(t, min_px=16), default=(1920, 1080), metavar="WxH",
                        help="frame size in pixels (default 1920x1080; even numbers for video)")
    parser.add_argument("--seed", type=int, default=0, help="random seed: same seed, same output (default 0)")
    parser.add_argument("--scene", choices=SCENE_KINDS, default=None,
                        help="fix the scene kind (default: drawn from the seed, beaches most often)")
    parser.add_argument("--image-format", choices=IMAGE_FORMATS, default="jpg", help="still image format")
    parser.add_argument("--no-ignore-regions", action="store_true",
                        help="no TinyPerson-style ignore regions (crowd, reflection, blur, flat fill) on the stills")
    pose = parser.add_argument_group("stills with a camera pose (EXIF GPS + DJI XMP, DIR/truth.geojson)")
    pose.add_argument("--stills", type=int, default=0, metavar="N", help="number of drone stills with pose (default 0)")
    pose.add_argument("--altitude", type=float, default=50.0, metavar="M",
                      help="height above take-off (= the flat ground), metres (default 50)")
    pose.add_argument("--pitch", type=float, default=-90.0, metavar="DEG",
                      help="gimbal pitch, -90 = straight down (nadir) ... -10 (default -90)")
    pose.add_argument("--heading", type=float, default=None, metavar="DEG",
                      help="camera heading, 0 = north, clockwise (default: 0/90/180/270 in turn)")
    pose.add_argument("--pose-noise", action="store_true",
                      help="record the pose with GPS/height/attitude errors of sspnet.geo's default 1-sigma; the "
                           "truth keeps the real pose")


def _usage_error(msg: str) -> int:
    print(f"sspnet synth: error: {msg}", file=sys.stderr)
    return 2


def _print_stats(title: str, stats: dict) -> None:
    ppi = stats["persons_per_image"]
    print(f"  {title}: {stats['images']} x {stats['persons']} persons ({stats['ignored']} ignore), "
          f"per image mean {ppi['mean']} min {ppi['min']} max {ppi['max']}; poses {stats['poses']}")
    for key in ("height_px", "sqrt_area_px"):
        print(f"    box {key}: " + " ".join(f"{k}={v}" for k, v in stats[key].items()))


def run(args: argparse.Namespace) -> int:
    if args.images < 0:
        return _usage_error(f"--images must be >= 0, got {args.images}")
    if args.video is not None and (args.video <= 0 or args.fps <= 0):
        return _usage_error(f"--video and --fps must be > 0, got --video {args.video} --fps {args.fps}")
    if args.stills < 0:
        return _usage_error(f"--stills must be >= 0, got {args.stills}")
    if args.stills and (args.altitude <= 0 or not -90.0 <= args.pitch <= -MIN_DEPRESSION_DEG):
        return _usage_error(f"--altitude must be > 0 and --pitch in [-90, {-MIN_DEPRESSION_DEG:g}], got "
                            f"--altitude {args.altitude:g} --pitch {args.pitch:g}")
    if args.images == 0 and args.video is None and args.stills == 0:
        return _usage_error("nothing to render: give --images N, --stills N (N > 0) and/or --video SECONDS")
    w, h = args.size
    if args.video is not None and (w % 2 or h % 2):
        return _usage_error(f"--size {w}x{h}: H.264 video needs even width and height")
    print(f"sspnet synth: out={args.out} images={args.images} stills={args.stills} video={args.video} s "
          f"fps={args.fps:g} size={w}x{h} seed={args.seed} scene={args.scene or 'random'} format={args.image_format}")
    if args.images > 0:
        t0 = time.perf_counter()
        ann = render_dataset(args.out, args.images, (w, h), args.seed, args.image_format, args.scene,
                             ignore_regions=not args.no_ignore_regions)
        dt = time.perf_counter() - t0
        print(f"wrote {args.images} images to {args.out / 'images'} and {ann} in {dt:.1f} s "
              f"({dt / args.images * 1e3:.0f} ms/image)")
        _print_stats("images", size_stats(json.loads(ann.read_text())))
    if args.stills > 0:
        t0 = time.perf_counter()
        truth = write_stills_with_pose(args.out, args.stills, (w, h), args.seed, args.altitude, args.pitch,
                                       args.heading, args.pose_noise)
        doc = json.loads(truth.read_text())
        heading = "0/90/180/270" if args.heading is None else f"{args.heading:g}"
        print(f"wrote {args.stills} stills with pose (altitude {args.altitude:g} m, pitch {args.pitch:g}, heading "
              f"{heading}, pose noise {'on' if args.pose_noise else 'off'}) to {args.out / 'stills'} and {truth} "
              f"({len(doc['features'])} persons) in {time.perf_counter() - t0:.1f} s")
    if args.video is not None:
        from .video import render_video  # imports the H.264 writer (gi) only when a clip is asked for
        t0 = time.perf_counter()
        mp4, gt = render_video(args.out, args.video, args.fps, (w, h), args.seed, args.scene)
        doc = json.loads(gt.read_text())
        v = doc["info"]["video"]
        print(f"wrote {mp4} ({v['frames']} frames, {v['encoder']}, {mp4.stat().st_size / 1e6:.1f} MB) and {gt} "
              f"in {time.perf_counter() - t0:.1f} s; scene {v['scene']}, drift {v['camera_drift_px_s']} px/s")
        _print_stats("frames", size_stats(doc))
    return 0
