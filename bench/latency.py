"""Frame age at publish for a live source faster than inference: does the runtime keep up with the newest frame
(bounded age) instead of building a backlog?

A live 1080p test pattern at 30 fps (far faster than CPU inference of 12 tiles) streams through
``runtime/stream.py``; each JSON line carries the frame's age (capture → publish) and its stage times. The baseline
is the runtime's own per-frame processing time (pre + infer + post) in the same run: with "newest frame wins" a
published frame is at most about two processing periods old (waiting for the backend to free up, then processed);
a backlog would grow without bound. Writes bench-out/latency.json; headline ``frame_age_p99_over_processing``.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stream_common import OUT, bench_model, machine, run_stream, write_result  # noqa: E402

GOAL = 2.5  # p99 age within 2.5 processing periods (lower is better)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="ONNX model with manifest (default: export of the edge model)")
    ap.add_argument("--frames", type=int, default=20, help="published frames to measure (default 20)")
    ap.add_argument("--size", default="1920x1080", help="test pattern size (default 1920x1080)")
    ap.add_argument("--fps", type=int, default=30, help="test pattern rate (default 30)")
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.size.split("x"))

    work = OUT / "latency"
    onnx, model_what = bench_model(OUT / "stream" / "models", args.model)
    jsonl, summary = work / "frames.jsonl", work / "summary.json"
    work.mkdir(parents=True, exist_ok=True)
    source = f"test://ball?width={w}&height={h}&fps={args.fps}"
    print(f"model {onnx.name} ({model_what}); source {source}; {args.frames} frames", flush=True)
    run_stream(source, "--model", onnx, "--device", "cpu", "--json", jsonl, "--summary", summary,
               "--max-frames", args.frames, "--status-interval", "0")
    import json
    lines = [json.loads(x) for x in jsonl.read_text().splitlines()][2:]   # the first frames include warm-up
    s = json.loads(summary.read_text())
    ages = np.asarray([d["latency_ms"]["age"] for d in lines])
    processing = np.asarray([sum(d["latency_ms"][k] for k in ("pre", "infer", "post")) for d in lines])
    period = float(np.median(processing))
    p50, p99 = float(np.percentile(ages, 50)), float(np.percentile(ages, 99))
    half = len(ages) // 2
    doc = {
        "headline": {"metric": "frame_age_p99_over_processing", "value": round(p99 / period, 3), "unit": "ratio",
                     "goal": GOAL, "better": "lower"},
        "description": "live test source faster than inference; frame age (capture → publish) p99 divided by the "
                       "median per-frame processing time (pre + infer + post) of the same run",
        "model": {"path": onnx.name, "what": model_what, "backend": "onnxruntime cpu"},
        "source": {"uri": source, "frames_published": len(lines) + 2, "source_frames_dropped": s["drops"]},
        "frame_age_ms": {"p50": round(p50, 1), "p99": round(p99, 1), "max": round(float(ages.max()), 1),
                         "first_half_median": round(float(np.median(ages[:half])), 1),
                         "second_half_median": round(float(np.median(ages[half:])), 1)},
        "processing_ms_median": round(period, 1),
        "published_fps": s["fps"],
        "stage_ms_p50": {k: round(statistics.median(d["latency_ms"][k] for d in lines), 2)
                         for k in ("decode", "pre", "infer", "post")},
        "machine": machine(),
    }
    path = write_result("latency", doc)
    print(f"frame age p50 {p50:.0f} ms p99 {p99:.0f} ms; processing {period:.0f} ms/frame → p99/processing "
          f"{p99 / period:.2f} (goal <= {GOAL}); {s['drops']} source frames dropped → {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
