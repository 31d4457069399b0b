"""``sspnet detect INPUT... --model M --out RUN/`` / ``python runtime/detect.py ...``: batch detection over the
stills and videos of a search flight, resumable, with a review page.

Parse the arguments → collect the inputs, open the run folder and the model → loop decode / detect / write one
line per image (``detect_loop``) → rebuild the outputs from the whole record (``detect_outputs``). Stills are
resized and tiled with the core's tiling: by default, a still with a camera pose so that a person standing below its
centre is as tall as the model's validation persons (``sspnet.geo.still_scale``, at most the model's scale), any
other by the model's scale; video frames go through the same path as in ``sspnet stream``. A re-run with the same ``--out`` skips what is done and appends; an unreadable
image is skipped, logged and counted. Exit status: 0 done (skipped images included), 1 the model or decoding
failed, 2 bad arguments, 130 interrupted (the outputs are still written).
"""
from __future__ import annotations

import os
import sys

if __name__ == "__main__" and not __package__:
    # run as a script: drop runtime/ from sys.path so its modules do not shadow top-level names (see stream.py)
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]

import argparse
import hashlib
import json
import signal
import threading
from pathlib import Path

from sspnet.manifest import atomic_write_bytes, sha256_file
from sspnet.runtime.detect_inputs import STILL_SUFFIXES, VIDEO_SUFFIXES, InputError, collect_inputs
from sspnet.runtime.detect_run import JSONL, RunFolder, RunMismatch
from sspnet.runtime.model_options import add_model_options, apply_model_options, check_model_options

PROG = "sspnet detect"
STILL_SCALES = ("pose", "model")
RECORD_FORMAT = "sspnet-detect/1"
SUMMARY = "summary.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (f"INPUT: image files ({' '.join(STILL_SUFFIXES)}), video files ({' '.join(VIDEO_SUFFIXES)}) or "
                     f"folders, searched recursively (hidden names and the --out folder are not).\n\n"
                     f"RUN/ gets {JSONL} (one line per image, resumable), results.coco.json + images.coco.json,\n"
                     f"review.html + chips/ (open in a browser; decisions stay in the browser), detect.log, "
                     f"summary.json.\n\nexample: sspnet detect /media/sd/DCIM flight.mp4 --model m.onnx --out "
                     f"runs/flight1")
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders, video files")
    parser.add_argument("--model", required=True, help="model.onnx (ONNX Runtime) or model.engine (TensorRT), "
                                                       "with its .json manifest beside it, or a .pt checkpoint "
                                                       "(PyTorch, slower)")
    parser.add_argument("--out", required=True, metavar="RUN", help="run folder (created; a re-run resumes it)")
    parser.add_argument("--device", default=None, help="cpu (default for .onnx), cuda[:N], tensorrt[:N]; "
                                                       "engines: cuda[:N]")
    add_model_options(parser)
    parser.add_argument("--still-scale", choices=STILL_SCALES, default="pose",
                        help="stills: 'pose' (default) resizes each still with a camera pose so a person standing "
                             "below its centre is as tall as the model's validation persons (preprocess.person_px "
                             "in the manifest), never more than the model's scale; 'model' uses the model's scale "
                             "as for video. --scale S fixes it for all")
    parser.add_argument("--every", type=int, default=1, metavar="N", help="videos: every Nth frame (default 1)")
    parser.add_argument("--max-chips", type=int, default=50, metavar="N",
                        help="review chips per image, highest scores first (default 50; all detections stay "
                             "in the JSONL and COCO files)")
    parser.add_argument("--workers", type=int, default=2, metavar="N",
                        help="threads decoding stills ahead of the model (default 2)")
    parser.add_argument("--tile-url", default=None, metavar="URL",
                        help="review page: map tiles under the positions, e.g. "
                             "https://tile.openstreetmap.org/{z}/{x}/{y}.png (default: none, fully offline)")
    parser.add_argument("--status-interval", type=float, default=10.0, metavar="S",
                        help="status line every S seconds when stderr is not a terminal (0 = off; default 10)")
    geo = parser.add_argument_group("positions (camera pose from EXIF GPS + DJI XMP, or the DJI .SRT beside a video)")
    geo.add_argument("--camera", metavar="YAML", help="camera intrinsics (fx, fy, cx, cy or sensor width), instead "
                                                      "of the EXIF focal lengths; needed for videos")
    geo.add_argument("--ground-asl", type=float, default=None, metavar="M",
                     help="ground altitude above sea level: place on it using the altitude above sea level "
                          "(default: flat ground at the take-off height, from the height above take-off)")
    geo.add_argument("--ground-below-takeoff", type=float, default=0.0, metavar="M",
                     help="the searched ground lies this far below the take-off point (default 0)")
    geo.add_argument("--cot", metavar="HOST:PORT", help="send each placed detection as a Cursor-on-Target event "
                                                        "over UDP (ATAK), e.g. 239.2.3.1:6969; off by default")


def run(args: argparse.Namespace) -> int:
    # 1. arguments → inputs and the run folder (usage errors exit 2 before the model is loaded)
    from sspnet.review import check_tile_url
    from sspnet.runtime.detect_geo import GeoStep
    try:
        _check_numbers(args)
        tile_url = check_tile_url(args.tile_url)
        geo = GeoStep(*_geo_options(args))
        cot = _cot_address(args.cot)
        inputs = collect_inputs(args.inputs, exclude=Path(args.out))
        run_dir = RunFolder(args.out)
    except (InputError, RunMismatch, ValueError, OSError) as e:
        return _usage(str(e))

    # 2. the model, and the settings every line of the record is made with
    try:
        backend = _open_model(args)
    except (OSError, ValueError, RuntimeError, ImportError) as e:
        run_dir.close()
        return _fail(str(e) if args.model in str(e) else f"model {args.model}: {e}")
    apply_model_options(backend, args)
    settings = _settings(args, backend)
    try:
        run_dir.check_settings(settings)
        run_dir.open_record()
    except RunMismatch as e:
        backend.close()
        run_dir.close()
        return _usage(str(e))
    from sspnet.runtime.detect_loop import detect_all, still_done
    todo = [i for i in inputs if not still_done(run_dir, i)]
    _print_options(args, inputs, todo, backend, run_dir)

    # 3. loop: decode ahead → detect → chips → one flushed line per image
    stop = threading.Event()
    previous = _stop_signals(stop)
    interrupted = False
    try:
        stats = detect_all(todo, backend, run_dir, stop=stop, every=args.every, workers=args.workers,
                           max_chips=args.max_chips, status_interval_s=args.status_interval, geo=geo,
                           still_scaler=geo.still_scale if _pose_scaled(args, backend.preprocess) else None)
    except KeyboardInterrupt:
        stats, interrupted = None, True
    except RuntimeError as e:       # decoding failed in a way no single image explains
        backend.close()
        run_dir.close()
        _restore_signals(previous)
        return _fail(str(e))
    finally:
        if previous:
            for s in STOP_SIGNALS:
                signal.signal(s, signal.SIG_IGN)   # the outputs are written whatever comes now
    interrupted = interrupted or stop.is_set()
    backend.close()

    # 4. outputs from the whole record; the summary
    from sspnet.runtime.detect_outputs import write_outputs
    records = run_dir.records()
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    written, unplaced, sent = write_outputs(run_dir.path, records, title=run_dir.path.resolve().name,
                                            storage_key=key, tile_url=tile_url, cot=cot)
    if unplaced:
        print(f"{PROG}: warning: detections without a position: "
              f"{', '.join(f'{n} {status}' for status, n in sorted(unplaced.items()))} (see 'detail' in "
              f"detections.geojson; nothing is guessed)", file=sys.stderr)
    if cot:
        print(f"  cot      {sent} events sent to {cot[0]}:{cot[1]}", file=sys.stderr)
    summary = _summary(stats, records, interrupted)
    atomic_write_bytes(run_dir.path / SUMMARY, (json.dumps(summary, indent=2) + "\n").encode())
    run_dir.log(_summary_line(summary), echo=False)
    print(_summary_line(summary), file=sys.stderr, flush=True)
    print(f"  wrote    {', '.join(str(p) for p in written)}", file=sys.stderr)
    print(f"  review   open {run_dir.path / 'review.html'} in a browser", file=sys.stderr, flush=True)
    run_dir.close()
    _restore_signals(previous)
    return 130 if interrupted else 0


def _open_model(args):
    """The runtime's backend for .onnx/.engine; a .pt checkpoint through the detector factory ``sspnet detect``
    is given by the CLI that wires the stages (the runtime itself never imports PyTorch)."""
    if Path(args.model).suffix.lower() == ".pt":
        open_detector = getattr(args, "open_detector", None)
        if open_detector is None:
            raise ValueError(f"{args.model}: a .pt checkpoint runs through `sspnet detect` (with PyTorch); "
                             f"export it for the runtime: sspnet export --checkpoint {args.model} --out model.onnx")
        return open_detector(args.model, args.device or "cpu")
    from sspnet.runtime.backends import open_backend
    return open_backend(args.model, args.device)


def _geo_options(args) -> tuple:
    from sspnet.geo import LocateOptions, load_camera
    camera = load_camera(args.camera) if args.camera else None
    return camera, LocateOptions(ground_altitude_asl_m=args.ground_asl,
                                 ground_below_takeoff_m=args.ground_below_takeoff)


def _cot_address(text: str | None) -> tuple | None:
    from sspnet.geo import parse_udp_address
    return parse_udp_address(text) if text else None


def _settings(args, backend) -> dict:
    sha = backend.manifest.get("sha256") or sha256_file(args.model)
    return {"format": RECORD_FORMAT, "model": Path(args.model).name, "model_sha256": sha,
            "preprocess": backend.preprocess.to_dict(), "postprocess": backend.postprocess.to_dict(),
            "still_scale": _still_scale(args), "every": args.every, "max_chips": args.max_chips,
            "camera": _file_digest(args.camera),
            "ground_asl": args.ground_asl, "ground_below_takeoff": args.ground_below_takeoff}


def _still_scale(args) -> str:
    """How stills are resized: 'pose', 'model', or 'fixed' (--scale given)."""
    return "fixed" if args.scale is not None else args.still_scale


def _pose_scaled(args, pre) -> bool:
    return _still_scale(args) == "pose" and pre.person_px > 0


def _file_digest(path: str | None) -> str | None:
    return None if path is None else sha256_file(path)


def _check_numbers(args) -> None:
    check_model_options(args)
    for name in ("every", "max_chips", "workers"):
        if getattr(args, name) < (0 if name == "max_chips" else 1):
            raise ValueError(f"--{name.replace('_', '-')} must be >= {0 if name == 'max_chips' else 1}, "
                             f"got {getattr(args, name)}")
    if args.status_interval < 0:
        raise ValueError(f"--status-interval must be >= 0 seconds, got {args.status_interval}")


def _print_options(args, inputs, todo, backend, run_dir) -> None:
    stills = sum(1 for i in inputs if i.kind == "still")
    videos = len(inputs) - stills
    pre, post = backend.preprocess, backend.postprocess
    describe = getattr(backend, "describe", None)
    lines = [f"{PROG}:",
             f"  inputs   {stills} stills, {videos} videos; {len(inputs) - len(todo)} done before, "
             f"{len(todo)} to do",
             f"  model    {describe() if describe else backend.name} ({pre.input_w}x{pre.input_h} tiles, "
             f"overlap {pre.overlap}, scale {pre.scale_text()})",
             f"  stills   {_still_scale_text(args, pre)}",
             f"  post     score_thr={post.score_thr} nms_iou={post.nms_iou} merge_iou={post.merge_iou} "
             f"max_det={post.max_det}",
             f"  out      {run_dir.path} ({JSONL}: {run_dir.lines_before} lines before; up to {args.max_chips} "
             f"chips per image; videos every {args.every} frame{'s' if args.every > 1 else ''})"]
    print("\n".join(lines), file=sys.stderr, flush=True)


def _still_scale_text(args, pre) -> str:
    mode = _still_scale(args)
    if _pose_scaled(args, pre):
        return (f"resized from each one's camera pose so persons are ~{pre.person_px:g} px tall (at most scale "
                f"{pre.scale:g}; without a pose: {pre.scale:g})")
    if mode == "pose":
        return f"scale {pre.scale:g}: the model records no person height (preprocess.person_px), so poses are not used"
    return f"scale {pre.scale_text()} ({'--scale' if mode == 'fixed' else '--still-scale model'})"


def _summary(stats, records, interrupted: bool) -> dict:
    from sspnet.runtime.detect_outputs import detected
    done = detected(records)
    this = {"interrupted": interrupted}
    if stats is not None:
        this.update(images=stats.images, stills=stats.stills, video_frames=stats.frames, videos=stats.videos,
                    skipped_errors=stats.errors, detections=stats.detections,
                    seconds=round(stats.elapsed_s, 2), images_per_min=round(stats.images_per_min, 2),
                    image_sizes=sorted(f"{w}x{h}" for w, h in stats.sizes), tiles_per_image=sorted(stats.tiles),
                    mean_ms=stats.mean_ms())
    return {"this_run": this,
            "record": {"images": len(done), "detections": sum(len(r["boxes"]) for r in done),
                       "errors": sum(1 for r in records if r.get("status") == "error")}}


def _summary_line(summary: dict) -> str:
    t, r = summary["this_run"], summary["record"]
    if "images" not in t:
        return f"{PROG}: interrupted; the record holds {r['images']} images, {r['errors']} skipped"
    ms = t["mean_ms"]
    timing = (f" (decode {ms['decode']} ms, detect {ms['detect']} ms, chips {ms['chips']} ms per image)"
              if t["images"] else "")
    return (f"{PROG}: {t['images']} images in {t['seconds']:.1f} s: {t['images_per_min']:.1f} images/min"
            f"{timing}; {t['skipped_errors']} skipped as unreadable; "
            f"{'interrupted; ' if t['interrupted'] else ''}the record holds {r['images']} images, "
            f"{r['detections']} detections, {r['errors']} skipped")


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _stop_signals(stop: threading.Event) -> dict:
    """First Ctrl-C/SIGTERM: finish the image in flight, then write the outputs. Second: stop now (the image in
    flight is lost, a re-run does it). Installed explicitly: a run started with SIGINT ignored (``cmd &``) must
    still stop on one."""
    def on_signal(_signum, _frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print(f"{PROG}: stopping after the image in flight (again to stop now)", file=sys.stderr, flush=True)

    if threading.current_thread() is not threading.main_thread():
        return {}
    return {s: signal.signal(s, on_signal) for s in STOP_SIGNALS}


def _restore_signals(previous: dict) -> None:
    for s, handler in previous.items():
        signal.signal(s, handler)


def _usage(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2


def _fail(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="detect.py", description="Batch detection over stills and videos.")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
