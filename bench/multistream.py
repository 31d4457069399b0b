"""Many cameras on one model: ``runtime/stream.py`` with N live sources (N = 1, 2, 4 by default) sharing one
ONNX Runtime backend, frames batched across sources. Per N: summed FPS over the sources and each source's frame
age (capture → published, p50/p99), from the stream's own ``--summary``; the runs of each N are interleaved over
``--rounds`` so a change in machine load hits every N.

The sources are live test patterns (videotestsrc, newest frame wins) faster than the model, so the figures are
the runtime's throughput, not the cameras' rate. The model is the full-frame export of models/sspnet_edge.pt,
INT8 (``--target cpu``) by default: what the runtime picks for frames of this size.

Writes bench-out/multistream.json; headline ``summed_fps_4_over_1`` (goal >= 1.2), ``p99_age_ratio`` (the worst
source's p99 frame age at the largest N over the single-source p99; goal <= 2).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stream_common import (OUT, bench_model, calibration_frames, int8_cpu_model, machine,  # noqa: E402
                           run_stream, write_result)

PATTERNS = ("ball", "smpte", "pinwheel", "gradient", "spokes", "zone-plate", "circular", "checkers-8")


def run_sources(n: int, size: tuple, fps: int, onnx: Path, frames: int, summary: Path) -> dict:
    """One stream.py run with ``n`` live sources; {sources: [{fps, frames, age_p50, age_p99}], summed_fps}."""
    uris = [f"test://{PATTERNS[i % len(PATTERNS)]}?width={size[0]}&height={size[1]}&fps={fps}" for i in range(n)]
    run_stream(*uris, "--model", onnx, "--device", "cpu", "--max-frames", frames, "--summary", summary,
               "--status-interval", "0")
    s = json.loads(summary.read_text())
    per = s["sources"] if n > 1 else [s]
    rows = [{"fps": x["fps"], "frames": x["frames"], "age_p50_ms": x["latency_ms"]["age"]["p50"],
             "age_p99_ms": x["latency_ms"]["age"]["p99"], "infer_p50_ms": x["latency_ms"]["infer"]["p50"],
             "drops": x["drops"]} for x in per]
    return {"sources": rows, "summed_fps": round(sum(r["fps"] for r in rows), 4)}


def parse_size(text: str) -> tuple:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}': expected WIDTHxHEIGHT, e.g. 640x360") from None
    return w, h


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--counts", default="1,2,4", help="numbers of sources, comma-separated (default 1,2,4)")
    ap.add_argument("--size", type=parse_size, default=(640, 360), help="source frame size (default 640x360)")
    ap.add_argument("--fps", type=int, default=30, help="each source's frame rate (default 30)")
    ap.add_argument("--frames", type=int, default=16, help="frames published per source and run (default 16)")
    ap.add_argument("--rounds", type=int, default=2, help="runs per N, interleaved (default 2)")
    ap.add_argument("--precision", choices=("fp32", "int8"), default="int8", help="model (default int8)")
    args = ap.parse_args(argv)
    try:
        counts = sorted({int(c) for c in args.counts.split(",")})
    except ValueError:
        ap.error(f"--counts '{args.counts}': expected numbers like 1,2,4")
    if counts[0] < 1 or args.frames < 2 or args.rounds < 1:
        ap.error("--counts >= 1, --frames >= 2, --rounds >= 1")

    work = OUT / "multistream"
    onnx, what = bench_model(OUT / "stream" / "models", full_frame=True)
    if args.precision == "int8":
        onnx = int8_cpu_model(onnx, calibration_frames(work / f"calib_{args.size[0]}x{args.size[1]}", args.size))
    print(f"model {onnx.name} ({what}, {args.precision}); {args.size[0]}x{args.size[1]} live sources at "
          f"{args.fps} fps, N = {counts}, {args.frames} frames per source", flush=True)
    runs = {n: [] for n in counts}
    for r in range(args.rounds):
        for n in counts:
            runs[n].append(run_sources(n, args.size, args.fps, onnx, args.frames, work / f"summary_{n}_{r}.json"))
            row = runs[n][-1]
            print(f"round {r + 1} N={n}: summed {row['summed_fps']:.3f} fps, age p99 "
                  f"{max(s['age_p99_ms'] for s in row['sources']):.0f} ms (worst source)", flush=True)

    per_n = {}
    for n, rows in runs.items():
        per_n[str(n)] = {
            "summed_fps": round(statistics.median(x["summed_fps"] for x in rows), 4),
            "per_source_fps": [round(statistics.median(x["sources"][i]["fps"] for x in rows), 4) for i in range(n)],
            "age_p50_ms": [statistics.median(x["sources"][i]["age_p50_ms"] for x in rows) for i in range(n)],
            "age_p99_ms": [statistics.median(x["sources"][i]["age_p99_ms"] for x in rows) for i in range(n)],
            "infer_p50_ms": statistics.median(x["sources"][0]["infer_p50_ms"] for x in rows),
            "runs": rows}
    lo, hi = per_n[str(counts[0])], per_n[str(counts[-1])]
    ratio = hi["summed_fps"] / lo["summed_fps"]
    age_ratio = max(hi["age_p99_ms"]) / lo["age_p99_ms"][0]
    doc = {"headline": {"metric": f"summed_fps_{counts[-1]}_over_{counts[0]}", "value": round(ratio, 4),
                        "unit": "ratio", "goal": 1.2},
           "p99_age_ratio": {"value": round(age_ratio, 4), "goal": 2.0,
                             "what": f"worst source's p99 frame age at N={counts[-1]} / the p99 at N={counts[0]}"},
           "fairness": {"value": round(max(hi["per_source_fps"]) / min(hi["per_source_fps"]), 4),
                        "what": f"fastest / slowest source's FPS at N={counts[-1]} (1 = an equal share each)"},
           "description": "runtime/stream.py with N live test-pattern sources on one backend (frames batched "
                          "across sources); summed FPS and per-source frame age from its --summary; median over "
                          "interleaved rounds",
           "model": {"path": onnx.name, "what": what, "precision": args.precision},
           "sources": {"size": list(args.size), "fps": args.fps, "frames_per_run": args.frames},
           "by_sources": per_n, "machine": machine()}
    path = write_result("multistream", doc)
    print(f"summed FPS N={counts[-1]} / N={counts[0]}: {ratio:.2f}x ({hi['summed_fps']:.3f} vs "
          f"{lo['summed_fps']:.3f}); worst p99 frame age {age_ratio:.2f}x the single source's; fastest / slowest "
          f"source {doc['fairness']['value']:.2f} → {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
