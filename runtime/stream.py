"""``sspnet stream`` / ``python runtime/stream.py SOURCE [SOURCE ...] --model model.onnx|model.engine [options]``.

Streams video (file, RTSP, V4L2/CSI camera, HTTP, test pattern) through a detector: parse the arguments → open
the sources, the model and the outputs → loop decode / infer / publish → stop at the end of the streams (or
Ctrl-C, which still finalises the MP4s). Several sources (arguments or ``--sources FILE``) share one model: their
frames are batched into one backend call, each keeps its own reconnects, statistics and outputs, and one that is
lost never stalls the others. Exit status: 0 done, 1 a source or the model failed, 2 bad arguments, 130
interrupted.
"""
from __future__ import annotations

import os
import sys

if __name__ == "__main__" and not __package__:
    # run as a script: Python put runtime/ first on sys.path; drop it so the modules beside this file are not
    # importable as top-level names (runtime/stats.py would shadow a 'stats' module) and the installed package is used
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]

import argparse
import ipaddress
import json
import signal
import threading
import time
from pathlib import Path

from sspnet.manifest import atomic_write_bytes
from sspnet.runtime.heap import limit_malloc_arenas
from sspnet.runtime.model_options import add_model_options, apply_model_options, check_model_options
from sspnet.runtime.reconnect import ReconnectPolicy, ResilientSource, SourceFailed
from sspnet.runtime.sources import SourceError, parse_source, redact, usage

PROG = "sspnet stream"
STOP_TIMEOUT_S = 10
EXPECTED_ERRORS = (RuntimeError, OSError, ValueError)   # raised with a message for the user, no traceback


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = usage() + "\n\nexample: sspnet stream rtsp://user:pass@10.0.0.5:554/live --model m.onnx --json out.jsonl"
    parser.add_argument("source", metavar="SOURCE", nargs="*", help="video source URI (forms below); several "
                        "sources share the model, their frames batched into one call")
    parser.add_argument("--sources", metavar="FILE", help="more sources: a text file with one URI per line "
                        "(blank lines and '#' comments skipped)")
    parser.add_argument("--model", required=True, help="model.onnx (ONNX Runtime) or model.engine (TensorRT), "
                                                       "with its .json manifest beside it")
    parser.add_argument("--device", default=None, help="cpu (default for .onnx), cuda[:N], tensorrt[:N] "
                                                       "(ONNX Runtime providers); engines: cuda[:N] (default cuda:0)")
    out = parser.add_argument_group("outputs")
    out.add_argument("--json", metavar="OUT.jsonl", help="one JSON line per frame ('-' = stdout); several "
                                                        "sources share the file, each line names its source")
    out.add_argument("--video", metavar="OUT.mp4", help="annotated H.264 MP4 (several sources: OUT.0.mp4, "
                                                       "OUT.1.mp4, ... in source order)")
    out.add_argument("--rtsp-out", type=int, metavar="PORT", help="re-stream the annotated video over RTSP "
                                                                  "(0 = any free port, printed at start)")
    out.add_argument("--rtsp-bind", default="127.0.0.1", metavar="ADDR", help="address of --rtsp-out (127.0.0.1)")
    out.add_argument("--display", action="store_true", help="show the annotated video in a window")
    out.add_argument("--summary", metavar="OUT.json", help="write the final statistics as JSON")
    det = parser.add_argument_group("detection")
    add_model_options(det)
    det.add_argument("--track", action="store_true", help="IoU tracker: track ids, one-frame flickers suppressed")
    src = parser.add_argument_group("source")
    src.add_argument("--rtsp-latency", type=int, metavar="MS", help="rtspsrc jitter buffer (default 100 ms)")
    src.add_argument("--rtsp-transport", choices=("auto", "tcp", "udp"), help="RTSP transport (default auto)")
    src.add_argument("--input-codec", choices=("auto", "h264", "h265", "mjpeg"), help="expected RTSP codec")
    src.add_argument("--input-width", type=int, metavar="W", help="scale decoded frames to this width")
    src.add_argument("--input-height", type=int, metavar="H", help="scale decoded frames to this height")
    src.add_argument("--watchdog", type=float, default=5.0, metavar="S",
                     help="live source: rebuild after S seconds without a frame (default 5)")
    src.add_argument("--connect-timeout", type=float, default=10.0, metavar="S",
                     help="fail when a source's first frame takes longer than S seconds (default 10)")
    src.add_argument("--backoff-max", type=float, default=8.0, metavar="S",
                     help="cap of the reconnect back-off, doubling from 0.5 s (default 8)")
    src.add_argument("--batch-timeout", type=float, default=20.0, metavar="MS",
                     help="several sources: once one has a frame, wait up to MS for the others' before running "
                          "the batch (default 20; a lost source is not waited for)")
    src.add_argument("--max-frames", type=int, metavar="N", help="stop a source after N published frames")
    parser.add_argument("--status-interval", type=float, default=5.0, metavar="S",
                        help="status line on stderr every S seconds (0 = off; default 5)")


def run(args: argparse.Namespace) -> int:
    # 1. arguments → source specs, options (usage errors exit 2 before anything is opened)
    try:
        specs = _source_specs(args)
        _check_numbers(args, len(specs))
    except (SourceError, ValueError) as e:
        return _usage(redact(str(e)))
    policy = ReconnectPolicy(watchdog_s=args.watchdog, connect_timeout_s=args.connect_timeout,
                             backoff_max_s=args.backoff_max)

    # 2. the model, the source, the outputs
    from sspnet.gst import GstMissing
    from sspnet.runtime.backends import open_backend
    from sspnet.runtime.sources import create_source
    try:
        backend = open_backend(args.model, args.device)
    except (OSError, ValueError, RuntimeError, ImportError) as e:
        return _fail(str(e) if args.model in str(e) else f"model {args.model}: {e}")
    apply_model_options(backend, args)
    limit_malloc_arenas()
    stop = threading.Event()
    readers = []
    try:
        for spec in specs:
            readers.append(ResilientSource(create_source(spec), policy, stop))
    except GstMissing as e:
        backend.close()
        return _fail(str(e))
    _print_options(specs, readers, backend, args, policy)
    interrupted = threading.Event()
    _stop_signals(_on_stop(stop, interrupted))
    outputs = None
    try:
        for reader in readers:
            reader.start()   # returns early, without a frame, once Ctrl-C has set `stop`
            if interrupted.is_set():
                break
        if not interrupted.is_set():
            outputs = _open_sinks(args, specs)
    except (SourceFailed, GstMissing, RuntimeError, OSError, ValueError) as e:
        _close_readers(readers)
        backend.close()
        return _fail(str(e))
    if outputs is None:
        _close_readers(readers)
        backend.close()
        return 130
    for reader, publisher in zip(readers, outputs.publishers):
        reader.on_event = publisher.event

    # 3. loop: decode / infer / publish in their threads; this thread prints the status and waits
    from sspnet.runtime.pipeline import Lane, StreamPipeline
    from sspnet.runtime.stats import StreamStats
    from sspnet.runtime.tracker import IouTracker
    lanes = [Lane(reader, publisher, tracker=IouTracker() if args.track else None, stats=StreamStats())
             for reader, publisher in zip(readers, outputs.publishers)]
    for lane in lanes:
        lane.stats.reader = lane.reader
    pipeline = StreamPipeline(lanes, backend, stop, max_frames=args.max_frames,
                              batch_timeout_s=args.batch_timeout / 1e3)
    pipeline.start()
    next_status = time.monotonic() + args.status_interval
    while pipeline.alive() and not interrupted.is_set():
        pipeline.join(0.2)
        if args.status_interval > 0 and time.monotonic() >= next_status:
            for line in _per_source(lanes, [lane.stats.status_line() for lane in lanes]):
                print(line, file=sys.stderr, flush=True)
            next_status += args.status_interval
    if interrupted.is_set():
        _stop_signals(_on_stop_again)
        print(f"{PROG}: interrupted; finishing the outputs", file=sys.stderr, flush=True)
        pipeline.request_stop()
        pipeline.join(STOP_TIMEOUT_S)
    if pipeline.alive():   # never free the model or the sinks under a stage that is still running
        print(f"{PROG}: error: a stage did not stop within {STOP_TIMEOUT_S} s; exiting without closing the model "
              f"(the JSONL is complete so far, the MP4 plays up to its last fragment)", file=sys.stderr, flush=True)
        os._exit(1)

    # 4. stop: finalise the outputs (MP4s get their EOS), release the sources and the model
    _stop_signals(_on_stop_again)
    close_errors = outputs.close()
    _close_readers(readers)
    backend.close()
    _stop_signals(signal.SIG_IGN)
    for line in _per_source(lanes, [lane.stats.summary_line() for lane in lanes]):
        print(line, file=sys.stderr, flush=True)
    if args.summary:
        doc = _summary(specs, lanes, os.path.basename(args.model), backend.name)
        atomic_write_bytes(args.summary, (json.dumps(doc, indent=2) + "\n").encode())
    for message in close_errors:
        print(f"{PROG}: error: {message}", file=sys.stderr)
    failures = pipeline.failures()
    for error, trace in failures:
        if not isinstance(error, EXPECTED_ERRORS):   # a bug: keep where it came from
            print(trace, file=sys.stderr, end="")
        _fail(str(error))
    if failures:
        return 1
    if interrupted.is_set():
        return 130
    return 1 if close_errors else 0


def _source_specs(args) -> list:
    """The SOURCE arguments and the lines of ``--sources`` as specs with their options; errors name the URI (and
    the file and line it came from)."""
    uris = [(u, None) for u in args.source]
    if args.sources:
        uris += read_source_list(args.sources)
    if not uris:
        raise ValueError("no source: give a SOURCE (forms below) or --sources FILE")
    specs = []
    for uri, where in uris:
        try:
            specs.append(parse_source(uri))
        except SourceError as e:
            raise SourceError(f"{where}: {e}" if where else str(e)) from None
    rtsp = {"latency": args.rtsp_latency, "transport": args.rtsp_transport, "codec": args.input_codec}
    given = [f for f, v in (("--rtsp-latency", args.rtsp_latency), ("--rtsp-transport", args.rtsp_transport),
                            ("--input-codec", args.input_codec)) if v is not None]
    if given and not any(s.kind == "rtsp" for s in specs):
        s = specs[0]
        raise SourceError(f"{', '.join(given)} apply to rtsp:// sources, not to {s.kind} ({s.display})")
    return [s.with_options(**(rtsp if s.kind == "rtsp" else {}), width=args.input_width, height=args.input_height)
            for s in specs]


def read_source_list(path: str) -> list[tuple[str, str]]:
    """(uri, "FILE:LINE") for each source line of ``path``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"--sources {path}: file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"--sources {path}: cannot read it ({e})") from None
    found = [(line.strip(), f"{path}:{n}") for n, line in enumerate(text.splitlines(), 1)
             if line.strip() and not line.lstrip().startswith("#")]
    if not found:
        raise ValueError(f"--sources {path}: no source in it (one URI per line)")
    return found


def _close_readers(readers) -> None:
    for reader in readers:
        reader.close()


def _per_source(lanes, lines: list[str]) -> list[str]:
    """One line per source, prefixed by its index when there are several (and their total)."""
    if len(lanes) == 1:
        return lines
    fps = sum(lane.stats.summary()["fps"] for lane in lanes)
    return [f"[{i}] {line}" for i, line in enumerate(lines)] + [f"all {len(lanes)} sources: {fps:.2f} fps summed"]


def _summary(specs, lanes, model: str, backend: str) -> dict:
    per_source = [{"source": spec.display, **lane.stats.summary()} for spec, lane in zip(specs, lanes)]
    if len(per_source) == 1:
        return {"model": model, "backend": backend, **per_source[0]}
    return {"model": model, "backend": backend, "sources": per_source,
            "frames": sum(s["frames"] for s in per_source), "fps": round(sum(s["fps"] for s in per_source), 4)}


def _check_numbers(args, n_sources: int) -> None:
    if args.watchdog <= 0 or args.connect_timeout <= 0 or args.backoff_max <= 0:
        raise ValueError("--watchdog, --connect-timeout and --backoff-max must be > 0 seconds")
    if args.batch_timeout < 0:
        raise ValueError(f"--batch-timeout must be >= 0 ms, got {args.batch_timeout:g}")
    if args.max_frames is not None and args.max_frames < 1:
        raise ValueError(f"--max-frames must be >= 1, got {args.max_frames}")
    if args.rtsp_out is not None and not 0 <= args.rtsp_out <= 65535:
        raise ValueError(f"--rtsp-out port must be 0..65535, got {args.rtsp_out}")
    check_model_options(args)
    try:
        ipaddress.ip_address(args.rtsp_bind)
    except ValueError:
        raise ValueError(f"--rtsp-bind '{args.rtsp_bind}' is not an IP address (e.g. 127.0.0.1, 0.0.0.0)") from None
    for option, given in (("--rtsp-out", args.rtsp_out is not None), ("--display", args.display)):
        if given and n_sources > 1:
            raise ValueError(f"{option} shows one source; with {n_sources} sources use --video (one MP4 per source) "
                             f"and --json, or run one stream per source")
    if args.display:
        from sspnet.runtime.sinks.display import check_display
        check_display()
    if args.video:
        from sspnet.runtime.sinks.video import check_video_path
        check_video_path(Path(args.video))
    from sspnet.runtime.sinks.location import check_output_location
    for option, path in (("--video", args.video), ("--json", args.json), ("--summary", args.summary)):
        if path and path != "-":
            check_output_location(option, path)


def _open_sinks(args, specs):
    from sspnet.runtime.sinks import Outputs, Publisher
    n = len(specs)
    per_source = [[] for _ in specs]
    if args.video:
        from sspnet.runtime.sinks.video import VideoFileSink
        for i, sinks in enumerate(per_source):
            sinks.append(VideoFileSink(args.video if n == 1 else _numbered(args.video, i)))
    if args.rtsp_out is not None:
        from sspnet.runtime.sinks.rtsp_server import RtspServerSink
        per_source[0].append(RtspServerSink(args.rtsp_out, args.rtsp_bind))
    if args.display:
        from sspnet.runtime.sinks.display import DisplaySink
        per_source[0].append(DisplaySink())
    shared = []
    if args.json:   # opened last: a failing output above must not have truncated the previous results
        from sspnet.runtime.sinks.jsonl import JsonlSink
        jsonl = JsonlSink(args.json, specs[0].display)
        if n == 1:
            per_source[0].insert(0, jsonl)
        else:
            shared.append(jsonl)
            print(f"  output   {jsonl.describe()} (all sources; each line names its source)", file=sys.stderr)
            for spec, sinks in zip(specs, per_source):
                sinks.insert(0, jsonl.lines_of(spec.display))
    for i, sinks in enumerate(per_source):
        for s in sinks:
            if not getattr(s, "shared", False):
                print(f"  output   {s.describe()}" + (f" (source {i})" if n > 1 else ""), file=sys.stderr, flush=True)
    if not any(per_source):
        print("  output   none (statistics only; add --json, --video, --rtsp-out or --display)", file=sys.stderr)
    return Outputs([Publisher(sinks) for sinks in per_source], shared)


def _numbered(path: str, i: int) -> str:
    """OUT.mp4 → OUT.<i>.mp4: one file per source."""
    p = Path(path)
    return str(p.with_name(f"{p.stem}.{i}{p.suffix}"))


def _print_options(specs, readers, backend, args, policy) -> None:
    describe = getattr(backend, "describe", None)
    post = backend.postprocess
    lines = [f"{PROG}:"]
    for i, (spec, reader) in enumerate(zip(specs, readers)):
        mode = "live: newest frame wins" if spec.live else "file: every frame, back-pressure"
        tag = "" if len(specs) == 1 else f" {i}"
        lines += [f"  source{tag}   {spec.describe()} [{mode}]", f"  decode{tag}   {reader.source.plan.description}"]
    pre = backend.preprocess
    lines += [f"  model    {describe() if describe else backend.name} ({pre.input_w}x{pre.input_h} tiles, "
             f"overlap {pre.overlap}, scale {pre.scale_text()})",
             f"  post     score_thr={post.score_thr} nms_iou={post.nms_iou} merge_iou={post.merge_iou} "
             f"max_det={post.max_det}" + (f" vote_iou={post.vote_iou}" if post.vote_iou else "")
             + (" flip_tta (2 network runs per tile)" if post.flip_tta else ""),
             f"  track    {'iou tracker' if args.track else 'off'}",
             f"  watchdog {policy.watchdog_s:g} s, connect timeout {policy.connect_timeout_s:g} s, back-off "
             f"{policy.backoff_s:g}..{policy.backoff_max_s:g} s"]
    print("\n".join(lines), file=sys.stderr, flush=True)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _on_stop(stop: threading.Event, interrupted: threading.Event):
    """The Ctrl-C/SIGTERM handler while streaming: it only sets the events, never raises. A KeyboardInterrupt
    that lands inside ``Thread.join(timeout)`` marks a still-running thread as stopped (python/cpython#90882,
    3.9-3.11), and the stream would free the model and exit under the running inference (abort, exit 134). While
    this handler is installed the main thread only reads the events, so setting them here cannot deadlock on their
    lock."""
    def handler(_signum, _frame):
        interrupted.set()
        stop.set()
    return handler


def _on_stop_again(_signum, _frame):
    print(f"{PROG}: still finishing the outputs; the MP4 needs its end of stream (bounded wait)", file=sys.stderr,
          flush=True)


def _stop_signals(handler) -> None:
    """What Ctrl-C and SIGTERM do from now on (main thread only; signals are delivered there).

    ``_on_stop(...)`` while streaming: stop and finalise the outputs. Installed explicitly, as ffmpeg does: a process
    started in the background by a script (``cmd &``, nohup, some supervisors) inherits SIGINT *ignored*, and
    Python leaves it ignored, so an operator's or a supervisor's SIGINT would do nothing.
    ``_on_stop_again`` while the outputs are finished: another Ctrl-C must not cut the MP4 short (every shutdown
    step is bounded by its own timeout). ``SIG_IGN`` once they are final: a late signal must not turn a finished
    run into a killed one.
    """
    if threading.current_thread() is threading.main_thread():
        for s in STOP_SIGNALS:
            signal.signal(s, handler)


def _usage(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2


def _fail(message: str) -> int:
    print(f"{PROG}: error: {redact(message)}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stream.py", description="Stream video through an SSPNet detector.")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
