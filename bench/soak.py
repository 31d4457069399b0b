"""Soak: does ``runtime/stream.py`` hold steady over minutes of streaming (memory, file descriptors, speed)?

A looping synthetic aerial clip (the frames of a 10 s clip played forwards and backwards, encoded once into one
long H.264 file) streams at full rate through ``runtime/stream.py --json --video --track``, a child process. Every
10 s the soak records the child's RSS (/proc/PID/status VmRSS), threads, open file descriptors
(/proc/PID/fd), CPU time, the frames published since the last sample (JSONL lines) and their frame age
(``latency_ms.age``: appsink arrival → publish, since a file has no capture clock). The baseline is the same run's
state at the end of the warm-up. Ctrl-C (or SIGTERM) stops the soak early; what it has is still written.

Writes bench-out/soak.json and bench-out/soak.png; headline ``rss_growth_after_warmup`` (goal <= 5 %).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  before GStreamer: imported after it, ft2font aborts the process

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stream_common import OUT, ROOT, STREAM, bench_model, machine, write_result  # noqa: E402

GOAL_PCT = 5.0
SAMPLE_S = 10.0
LOOP_SECONDS, LOOP_FPS = 10.0, 10.0   # the clip that loops: 100 distinct frames
MAX_FPS = 10.0                        # the long clip holds --minutes at this rate (20x this CPU's); it may end sooner
STOP_WAIT_S = 60
CLK_TCK = os.sysconf("SC_CLK_TCK")
SIZE_NOTE = ("the edge model up-scales 2x before tiling: a 1080p frame costs 35 tiles (about 0.07 FPS on a loaded "
             "2-core CPU, some 40 frames in 10 min), 640x360 costs 6")


def looping_clip(work: Path, size_wh: tuple, n_frames: int) -> Path:
    """An H.264 MP4 of ``n_frames``: a 10 s synthetic clip played forwards, backwards, forwards... (no jump)."""
    from sspnet.synth.h264 import H264Writer
    from sspnet.synth.video import Clip
    path = work / f"loop_{size_wh[0]}x{size_wh[1]}_{n_frames}.mp4"
    if path.is_file():
        return path
    print(f"rendering a looping {size_wh[0]}x{size_wh[1]} clip of {n_frames} frames → {path}", flush=True)
    clip = Clip(LOOP_SECONDS, LOOP_FPS, size_wh, seed=3)
    frames = [clip.frame(i)[1] for i in range(clip.n_frames)]
    cycle = frames + frames[-2:0:-1]                                   # 0..99, 98..1, then again
    with H264Writer(path, size_wh, LOOP_FPS) as writer:
        for i in range(n_frames):
            writer.write(cycle[i % len(cycle)])
    return path


def proc_sample(pid: int) -> dict:
    """RSS (MiB), threads, open fds and CPU seconds of a running process."""
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return {"rss_mib": round(int(status["VmRSS"].split()[0]) / 1024, 2), "threads": int(status["Threads"]),
            "fds": len(os.listdir(f"/proc/{pid}/fd")),
            "cpu_s": round((int(stat[11]) + int(stat[12])) / CLK_TCK, 2)}


class JsonlTail:
    """Frame records appended to a JSONL file since the last call (a partly written last line waits)."""

    def __init__(self, path: Path):
        self.path, self.offset = path, 0

    def new_records(self) -> list:
        if not self.path.is_file():
            return []
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        complete = data[:data.rfind(b"\n") + 1]
        self.offset += len(complete)
        return [d for d in map(json.loads, complete.splitlines()) if "frame" in d]


def _on_term(_signum, _frame):
    raise KeyboardInterrupt


def soak(cmd: list, jsonl: Path, log: Path, seconds: float) -> tuple:
    """Run ``cmd`` for ``seconds`` (or until it exits or Ctrl-C), sampling it.
    Returns (samples, [(t_s, frame age ms)], how it ended, seconds run, the stream's exit code)."""
    signal.signal(signal.SIGTERM, _on_term)
    tail = JsonlTail(jsonl)
    samples, ages = [], []
    with open(log, "w") as err:
        # its own session: a Ctrl-C reaches only the soak, which then stops the stream once, as an operator would
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=err, stderr=subprocess.STDOUT, start_new_session=True)
        t0 = time.monotonic()
        ended = "time up"
        try:
            while True:
                time.sleep(max(t0 + SAMPLE_S * (len(samples) + 1) - time.monotonic(), 0))
                if proc.poll() is not None:
                    ended = f"stream exited with {proc.returncode} (end of the clip?)"
                    break
                p = proc_sample(proc.pid)
                records = tail.new_records()
                t = round(time.monotonic() - t0, 1)
                dt = t - (samples[-1]["t_s"] if samples else 0.0)
                interval_ages = [d["latency_ms"]["age"] for d in records]
                ages += [(t, a) for a in interval_ages]
                samples.append({"t_s": t, **p, "frames": len(records), "fps": round(len(records) / dt, 3),
                                "age_ms_p50": round(float(np.percentile(interval_ages, 50)), 1)
                                if interval_ages else None,
                                "age_ms_p99": round(float(np.percentile(interval_ages, 99)), 1)
                                if interval_ages else None,
                                "load_avg_1m": round(os.getloadavg()[0], 2)})
                print(f"{t:7.0f} s  RSS {p['rss_mib']:8.1f} MiB  fds {p['fds']:3d}  threads {p['threads']:3d}  "
                      f"{samples[-1]['fps']:.2f} fps", flush=True)
                if t >= seconds:
                    break
        except KeyboardInterrupt:
            ended = "interrupted"
        elapsed = round(time.monotonic() - t0, 1)
        signal.signal(signal.SIGINT, signal.SIG_IGN)   # a second Ctrl-C must not lose what was measured
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)                 # the stream finalises its MP4 and exits 130
            try:
                proc.wait(STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return samples, ages, ended, elapsed, proc.returncode


def summarise(samples: list, ages: list, warmup_s: float) -> dict:
    """Growth of RSS, fds and threads from the first sample after the warm-up to the last; FPS and age medians."""
    post = [s for s in samples if s["t_s"] >= warmup_s]
    if len(post) < 2:
        return {"rss_growth_pct": None, "reason": f"{len(post)} samples after the {warmup_s:g} s warm-up; need 2"}
    base, last = post[0], post[-1]
    t_min = np.asarray([s["t_s"] for s in post]) / 60
    post_ages = [a for t, a in ages if t > base["t_s"]]
    pct = lambda q: round(float(np.percentile(post_ages, q)), 1) if post_ages else None  # noqa: E731
    return {
        "rss_growth_pct": round((last["rss_mib"] - base["rss_mib"]) / base["rss_mib"] * 100, 2),
        "rss_mib": {"after_warmup": base["rss_mib"], "last": last["rss_mib"],
                    "max": max(s["rss_mib"] for s in post),
                    "slope_mib_per_min": round(float(np.polyfit(t_min, [s["rss_mib"] for s in post], 1)[0]), 3)},
        "fd_growth": last["fds"] - base["fds"], "fds": {"after_warmup": base["fds"], "last": last["fds"],
                                                        "max": max(s["fds"] for s in post)},
        "thread_growth": last["threads"] - base["threads"],
        "fps_median": round(statistics.median(s["fps"] for s in post), 3),
        "frames_after_warmup": sum(s["frames"] for s in post[1:]),
        "frame_age_ms": {"p50": pct(50), "p99": pct(99)},
        "cpu_cores_used": round((last["cpu_s"] - base["cpu_s"]) / (last["t_s"] - base["t_s"]), 2),
    }


def plot(path: Path, samples: list, warmup_s: float, rss_goal_mib: float | None, title: str) -> None:
    t = [s["t_s"] / 60 for s in samples]
    fig, ax = plt.subplots(4, 1, figsize=(9, 11), sharex=True)
    ax[0].plot(t, [s["rss_mib"] for s in samples], marker=".")
    if rss_goal_mib is not None:
        ax[0].axhline(rss_goal_mib, color="red", linestyle=":", linewidth=1, label=f"goal: +{GOAL_PCT:g} %")
        ax[0].legend()
    ax[0].set(ylabel="RSS (MiB)", title=title)
    ax[1].plot(t, [s["fps"] for s in samples], marker=".")
    ax[1].set(ylabel="published FPS", ylim=(0, None))
    for key, label in (("age_ms_p50", "p50"), ("age_ms_p99", "p99")):
        ax[2].plot(t, [math.nan if s[key] is None else s[key] / 1e3 for s in samples], marker=".", label=label)
    ax[2].set(ylabel="frame age (s)", ylim=(0, None))
    ax[2].legend()
    ax[3].plot(t, [s["fds"] for s in samples], marker=".")
    ax[3].set(ylabel="open fds", xlabel="minutes", ylim=(0, None))
    for a in ax:
        a.axvline(warmup_s / 60, color="grey", linestyle="--", linewidth=1)   # end of warm-up
        a.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="ONNX model with manifest (default: export of the edge model)")
    ap.add_argument("--minutes", type=float, default=10.0, help="soak length (default 10)")
    ap.add_argument("--warmup", type=float, default=60.0, metavar="S", help="seconds before the baseline sample "
                                                                            "(default 60)")
    ap.add_argument("--size", default="640x360", help=f"clip frame size (default 640x360: {SIZE_NOTE})")
    ap.add_argument("--machine-load", default="", metavar="TEXT", help="what else ran on the machine, for the "
                                                                       "JSON's note")
    args = ap.parse_args(argv)
    if args.minutes <= 0 or args.warmup < 0:
        ap.error("--minutes must be > 0 and --warmup >= 0")
    w, h = (int(v) for v in args.size.split("x"))

    work = OUT / "soak"
    work.mkdir(parents=True, exist_ok=True)
    onnx, model_what = bench_model(OUT / "stream" / "models", args.model)
    n_frames = math.ceil(args.minutes * 60 * MAX_FPS)
    clip = looping_clip(work, (w, h), n_frames)
    jsonl = work / "frames.jsonl"
    cmd = [sys.executable, str(STREAM), str(clip), "--model", str(onnx), "--device", "cpu", "--json", str(jsonl),
           "--video", str(work / "annotated.mp4"), "--track", "--status-interval", str(SAMPLE_S)]
    print(f"model {onnx.name} ({model_what}); {args.minutes:g} min of {clip.name}, warm-up {args.warmup:g} s",
          flush=True)
    load_start = os.getloadavg()[0]
    samples, ages, ended, elapsed, rc = soak(cmd, jsonl, work / "stream.log", args.minutes * 60)
    s = summarise(samples, ages, args.warmup)
    growth = s["rss_growth_pct"]
    loads = [x["load_avg_1m"] for x in samples]
    doc = {
        "headline": {"metric": "rss_growth_after_warmup", "value": growth, "unit": "%", "goal": GOAL_PCT,
                     "better": "lower"},
        "description": "runtime/stream.py --json --video --track on a looping synthetic clip at full rate; RSS "
                       "growth from the first sample after the warm-up to the last, in percent of the former",
        "summary": s,
        "run": {"minutes_planned": args.minutes, "seconds_run": elapsed,
                "ended": ended, "stream_exit_code": rc, "warmup_s": args.warmup, "sample_s": SAMPLE_S,
                "stream_log_tail": (work / "stream.log").read_text().splitlines()[-4:]},
        "model": {"path": onnx.name, "what": model_what, "backend": "onnxruntime cpu"},
        "clip": {"file": clip.name, "size": [w, h], "fps": LOOP_FPS, "frames": n_frames,
                 "loop": f"{LOOP_SECONDS:g} s synthetic clip (seed 3) forwards then backwards",
                 "size_choice": f"--size {args.size} (default 640x360: {SIZE_NOTE})"},
        "note": {"machine load": args.machine_load or "none given",
                 "load_avg_1m": {"start": round(load_start, 2), "median": statistics.median(loads) if loads else None,
                                 "max": max(loads, default=None)}},
        "command": " ".join(["python", "runtime/stream.py", *cmd[2:]]),
        "samples": samples,
        "machine": machine(),
    }
    path = write_result("soak", doc)
    if samples:
        goal_mib = None if growth is None else s["rss_mib"]["after_warmup"] * (1 + GOAL_PCT / 100)
        plot(OUT / "soak.png", samples, args.warmup, goal_mib, f"soak: {clip.name}, {onnx.name}, {ended}")
    if growth is None:
        print(f"soak {ended} after {elapsed:g} s: {s['reason']} → {path}")
    else:
        age = s["frame_age_ms"]
        print(f"soak {ended}: RSS {growth:+.2f} % after warm-up (goal <= {GOAL_PCT:g} %), fds {s['fd_growth']:+d}, "
              f"{s['fps_median']:.2f} fps, frame age p50 {age['p50']} ms p99 {age['p99']} ms → {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
