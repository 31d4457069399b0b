"""Stream efficiency: end-to-end ``runtime/stream.py`` FPS on a 1080p H.264 file / bare backend FPS on the tiles
of a 1080p frame (same model, same machine, same run). Also batched (all tiles in one call) vs one tile per call,
and full-frame vs tiled: the same model exported with ``--full-frame`` (one call per frame), end to end on the same
clip, FP32 and INT8 (``--target cpu``), runs interleaved.

Writes bench-out/stream.json; headline ``stream_efficiency`` (goal >= 0.9: decoding, pre- and post-processing
and output hide behind inference); ``fullframe_over_tiled_fps`` {fp32, int8}.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stream_common import OUT, bench_model, int8_cpu_model, machine, run_stream, write_result  # noqa: E402


def time_calls(fn, repeats: int) -> tuple[list[float], list[float]]:
    """(wall seconds, process CPU seconds) of each call."""
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return wall, cpu


def end_to_end_fps(mp4: Path, onnx: Path, summary: Path, n_frames: int) -> float:
    run_stream(mp4, "--model", onnx, "--device", "cpu", "--summary", summary, "--status-interval", "0")
    s = json.loads(summary.read_text())
    if s["frames"] != n_frames:
        raise SystemExit(f"stream.py processed {s['frames']} of {n_frames} frames with {onnx.name}")
    return s["fps"]


def full_frame_vs_tiled(mp4: Path, n_frames: int, models: dict, rounds: int, work: Path) -> dict:
    """{precision: {tiled_fps, full_frame_fps, ratio, rounds}}: end-to-end FPS of each pair, interleaved per round."""
    out = {}
    for precision, (tiled, full) in models.items():
        fps = {"tiled": [], "full_frame": []}
        for r in range(rounds):
            for kind, onnx in (("tiled", tiled), ("full_frame", full)):
                fps[kind].append(end_to_end_fps(mp4, onnx, work / f"summary_{precision}_{kind}_{r}.json", n_frames))
            print(f"{precision} round {r + 1}: tiled {fps['tiled'][-1]:.3f} fps, full frame "
                  f"{fps['full_frame'][-1]:.3f} fps", flush=True)
        t, f = statistics.median(fps["tiled"]), statistics.median(fps["full_frame"])
        out[precision] = {"tiled_fps": round(t, 4), "full_frame_fps": round(f, 4), "ratio": round(f / t, 4),
                          "rounds": fps, "models": [tiled.name, full.name]}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="ONNX model with manifest (default: export of the edge model)")
    ap.add_argument("--seconds", type=float, default=1.2, help="clip length at 10 fps (default 1.2 s = 12 frames)")
    ap.add_argument("--repeats", type=int, default=2, help="bare-backend calls before and after each end-to-end "
                                                          "run (default 2)")
    ap.add_argument("--rounds", type=int, default=5, help="bare / end-to-end rounds, interleaved (default 5)")
    ap.add_argument("--full-frame-rounds", type=int, default=3, help="tiled / full-frame end-to-end rounds per "
                                                                   "precision, interleaved (default 3; 0 = skip)")
    args = ap.parse_args(argv)
    if args.model and args.full_frame_rounds:
        ap.error("--model: add --full-frame-rounds 0 (the full-frame comparison exports both forms of the edge model)")

    from sspnet.preprocess import frame_to_tiles
    from sspnet.runtime.backends import open_backend
    from sspnet.synth import render_video
    from sspnet.synth.h264 import read_mp4_frames

    work = OUT / "stream"
    onnx, model_what = bench_model(work / "models", args.model)
    clip_dir = work / f"clip_1080p_{args.seconds:g}s"
    mp4 = clip_dir / "clip.mp4"
    if not mp4.is_file():
        print(f"rendering a 1080p {args.seconds:g} s clip → {mp4}", flush=True)
        render_video(clip_dir, args.seconds, 10.0, (1920, 1080), seed=3)
    n_frames, frames = read_mp4_frames(mp4, keep_frames=True)
    frame = frames[n_frames // 2]
    calib = clip_dir / "calib"
    if not calib.is_dir():
        import cv2
        calib.mkdir()
        for i in range(0, n_frames, max(1, n_frames // 4)):
            cv2.imwrite(str(calib / f"frame_{i:03d}.png"), frames[i])
    del frames

    backend = open_backend(onnx, "cpu")
    tiles = frame_to_tiles(frame, backend.preprocess).batch          # [T, 3, H, W]
    T = len(tiles)
    print(f"model {onnx.name} ({model_what}); {backend.describe()}; {T} tiles per 1080p frame", flush=True)
    one_call = lambda: backend.infer(tiles)                           # noqa: E731
    per_tile = lambda: [backend.infer(tiles[i:i + 1]) for i in range(T)]  # noqa: E731
    if backend.max_batch is not None and backend.max_batch < T:
        one_call = lambda: [backend.infer(tiles[i:i + backend.max_batch]) for i in range(0, T, backend.max_batch)]  # noqa: E731
    one_call()
    per_tile()                                                        # warm-up
    rounds = []
    for r in range(args.rounds):
        # bare timings bracket the end-to-end run, so a change in machine load hits both sides of the ratio
        before, cpu_before = time_calls(one_call, args.repeats)
        summary = work / f"summary_{r}.json"
        run_stream(mp4, "--model", onnx, "--device", "cpu", "--summary", summary, "--status-interval", "0")
        after, cpu_after = time_calls(one_call, args.repeats)
        single, _ = time_calls(per_tile, 1)
        s = json.loads(summary.read_text())
        if s["frames"] != n_frames:
            raise SystemExit(f"stream.py processed {s['frames']} of {n_frames} frames")
        bare_fps = 1 / statistics.median(before + after)
        bare_cpu = statistics.median(cpu_before + cpu_after)
        rounds.append({"bare_fps": round(bare_fps, 4), "end_to_end_fps": s["fps"],
                       "efficiency": round(s["fps"] / bare_fps, 4),
                       "bare_cpu_s_per_frame": round(bare_cpu, 4), "end_to_end_cpu_s_per_frame": s["cpu_s_per_frame"],
                       "cpu_efficiency": round(bare_cpu / s["cpu_s_per_frame"], 4),
                       "one_by_one_fps": round(1 / statistics.median(single), 4),
                       "stage_ms_p50": {k: v["p50"] for k, v in s["latency_ms"].items()}})
        print(f"round {r + 1}: bare {bare_fps:.3f} fps, end-to-end {s['fps']:.3f} fps → "
              f"{rounds[-1]['efficiency']:.3f} (CPU-time ratio {rounds[-1]['cpu_efficiency']:.3f}); one tile per "
              f"call {rounds[-1]['one_by_one_fps']:.3f} fps", flush=True)
    backend.close()

    full = {}
    if args.full_frame_rounds > 0:
        full_onnx, _ = bench_model(work / "models", full_frame=True)
        pairs = {"fp32": (onnx, full_onnx), "int8": (int8_cpu_model(onnx, calib), int8_cpu_model(full_onnx, calib))}
        full = full_frame_vs_tiled(mp4, n_frames, pairs, args.full_frame_rounds, work)

    med = lambda key: statistics.median(r[key] for r in rounds)  # noqa: E731
    efficiency, bare_fps, e2e_fps, single_fps = med("efficiency"), med("bare_fps"), med("end_to_end_fps"), \
        med("one_by_one_fps")
    doc = {
        "headline": {"metric": "stream_efficiency", "value": round(efficiency, 4), "unit": "ratio", "goal": 0.9},
        "description": "end-to-end runtime/stream.py FPS on a 1080p H.264 file (decode, tiling, inference, "
                       "merge, output) / bare backend FPS on the tiles of one 1080p frame, timed before and after "
                       "each end-to-end run; median over rounds",
        "model": {"path": onnx.name, "what": model_what, "backend": "onnxruntime cpu", "batch": "dynamic"
                  if backend.max_batch is None else backend.max_batch},
        "clip": {"frames": n_frames, "size": [1920, 1080], "fps": 10, "tiles_per_frame": T},
        "bare_backend_fps": round(bare_fps, 4), "end_to_end_fps": round(e2e_fps, 4),
        "cpu_efficiency": round(med("cpu_efficiency"), 4),
        "cpu_efficiency_note": "bare CPU seconds per frame / end-to-end CPU seconds per frame (all threads of each "
                               "process): independent of other load on a shared machine, the ceiling of the FPS "
                               "ratio when inference already uses every core",
        "batched_vs_one_by_one": {"batched_fps": round(bare_fps, 4), "one_by_one_fps": round(single_fps, 4),
                                  "speedup": round(bare_fps / single_fps, 4)},
        "rounds": rounds,
        "fullframe_over_tiled_fps": {p: v["ratio"] for p, v in full.items()},
        "full_frame_vs_tiled": full,
        "machine": machine(),
    }
    path = write_result("stream", doc)
    print(f"stream efficiency {efficiency:.3f} (end-to-end {e2e_fps:.3f} fps / bare {bare_fps:.3f} fps); "
          f"batched {bare_fps / single_fps:.2f}x one-by-one; full frame / tiled "
          f"{', '.join(f'{p} {v:.2f}x' for p, v in doc['fullframe_over_tiled_fps'].items())} → {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
