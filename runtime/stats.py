"""Stream statistics: FPS, per-stage latency percentiles, frame age, drops, reconnects, health.

The output stage calls ``record`` once per published frame; ``status_line`` is printed periodically on stderr and
``summary`` once at the end (and optionally written as JSON for benchmarks).
"""
from __future__ import annotations

import threading
import time
from collections import deque

import numpy as np

STAGES = ("decode", "pre", "infer", "post", "age")
WINDOW = 300  # frames in the sliding window of the status line


def percentiles(values, qs=(50, 99)) -> dict:
    if not len(values):
        return {f"p{q}": None for q in qs}
    arr = np.asarray(values, np.float64)
    return {f"p{q}": round(float(np.percentile(arr, q)), 2) for q in qs}


class LatencyHistogram:
    """All-run latency distribution in fixed memory: log-spaced bins from 1 µs to 10⁷ ms (0.3 % wide), so a stream
    that runs for days keeps a few hundred KB and percentiles cost the same after an hour as after a minute."""

    EDGES = np.geomspace(1e-3, 1e7, 8001)

    def __init__(self):
        self.counts = np.zeros(len(self.EDGES) + 1, np.int64)   # [under, bins..., over]
        self.n, self.total = 0, 0.0
        self.lo, self.hi = float("inf"), float("-inf")

    def add(self, value_ms: float) -> None:
        self.counts[int(np.searchsorted(self.EDGES, value_ms, side="right"))] += 1
        self.n += 1
        self.total += value_ms
        self.lo, self.hi = min(self.lo, value_ms), max(self.hi, value_ms)

    def percentiles(self, qs=(50, 99)) -> dict:
        """Within one bin of the exact percentiles (the bin's geometric centre, clamped to the seen range)."""
        if not self.n:
            return {f"p{q}": None for q in qs}
        cum = np.cumsum(self.counts)
        out = {}
        for q in qs:
            i = int(np.searchsorted(cum, q / 100 * (self.n - 1) + 1))
            centre = float(np.sqrt(self.EDGES[max(i - 1, 0)] * self.EDGES[min(i, len(self.EDGES) - 1)]))
            out[f"p{q}"] = round(min(max(centre, self.lo), self.hi), 2)
        return out

    def mean(self) -> float | None:
        return round(self.total / self.n, 2) if self.n else None


class StreamStats:
    def __init__(self):
        self._lock = threading.Lock()
        self.t_start = time.monotonic()
        self.t_first = self.t_last = None
        self.cpu_first = self.cpu_last = None   # process CPU time (all threads) at the first / last frame
        self.frames = 0
        self.detections = 0
        self._window = {s: deque(maxlen=WINDOW) for s in STAGES}
        self._all = {s: LatencyHistogram() for s in STAGES}
        self._times = deque(maxlen=WINDOW)
        self.queue_drops = 0     # frames replaced in the runtime's newest-frame slot
        self.reader = None       # the ResilientSource: source drops, reconnects, health

    def record(self, latency_ms: dict, n_detections: int) -> None:
        now, cpu = time.monotonic(), time.process_time()
        with self._lock:
            self.frames += 1
            self.cpu_first = cpu if self.cpu_first is None else self.cpu_first
            self.cpu_last = cpu
            self.detections += n_detections
            self.t_first = self.t_first or now
            self.t_last = now
            self._times.append(now)
            for s in STAGES:
                v = latency_ms.get(s)
                if v is not None:
                    self._window[s].append(v)
                    self._all[s].add(v)

    @property
    def drops(self) -> int:
        return self.queue_drops + (self.reader.dropped if self.reader is not None else 0)

    def _fps(self, times) -> float:
        if len(times) < 2 or times[-1] <= times[0]:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])

    def status_line(self) -> str:
        with self._lock:
            fps = self._fps(list(self._times))
            age = percentiles(self._window["age"])
            infer = percentiles(self._window["infer"])
        r = self.reader
        fmt = lambda v: "-" if v is None else (f"{v:.1f}" if v < 10 else f"{v:.0f}")  # noqa: E731
        return (f"stream: {self.frames} frames {fps:.1f} fps | latency p50 {fmt(age['p50'])} ms p99 "
                f"{fmt(age['p99'])} ms (infer p50 {fmt(infer['p50'])} ms) | drops {self.drops} | reconnects "
                f"{r.reconnects if r else 0} | {r.health if r else '-'}")

    def summary(self) -> dict:
        with self._lock:
            wall = (self.t_last - self.t_first) if self.frames > 1 else 0.0
            fps = (self.frames - 1) / wall if wall > 0 else 0.0
            r = self.reader
            cpu_per_frame = (self.cpu_last - self.cpu_first) / (self.frames - 1) if self.frames > 1 else None
            return {"frames": self.frames, "detections": self.detections, "fps": round(fps, 4),
                    "cpu_s_per_frame": None if cpu_per_frame is None else round(cpu_per_frame, 4),
                    "wall_s": round(time.monotonic() - self.t_start, 3),
                    "latency_ms": {s: {**h.percentiles((50, 90, 99)), "mean": h.mean()} for s, h in self._all.items()},
                    "drops": self.drops, "queue_drops": self.queue_drops,
                    "source_drops": r.dropped if r else 0, "reconnects": r.reconnects if r else 0,
                    "reconnect_attempts": r.attempts if r else 0, "health": r.health if r else None}

    def summary_line(self) -> str:
        s = self.summary()
        age, infer = s["latency_ms"]["age"], s["latency_ms"]["infer"]
        return (f"done: {s['frames']} frames in {s['wall_s']:.1f} s ({s['fps']:.2f} fps), latency p50 {age['p50']} ms "
                f"p99 {age['p99']} ms, infer p50 {infer['p50']} ms, drops {s['drops']}, reconnects {s['reconnects']}, "
                f"health {s['health']}")
