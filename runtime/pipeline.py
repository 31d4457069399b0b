"""Decode, inference and output in threads joined by small bounded queues; one or many sources, one backend.

    decode thread, per source   source.next() → [files: pre-process] → lane.q_in
    infer thread, shared        the waiting frame of every lane that has one → [live: pre-process the newest]
                                → one backend call for all their tiles (same-shape inputs batched across sources,
                                  as DeepStream's nvstreammux does) → each lane's q_out
    output thread, per source   lane.q_out → post-process (core decode/NMS/merge) → tracker → sinks → stats

While the backend runs frame n, each decoder already delivers (and for files pre-processes) frame n+1, and each
output thread publishes frame n-1. Files lose no frame: every queue put blocks (back-pressure). Live sources keep
only the newest frame: ``q_in`` holds one frame and a newer one replaces it (counted as a drop), so the age of what
gets published stays bounded by roughly one processing period whatever the source's rate.

Many sources: once a frame is ready, the infer thread gives the other streaming sources at most ``batch_timeout_s``
to deliver theirs, then runs what it has; a lost or reconnecting source is not waited for (it only drops out of
the batches), and a source whose output stage is behind (its q_out is full) is skipped instead of blocked on.
A source that fails or ends closes its lane; the others go on.
"""
from __future__ import annotations

import queue
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from sspnet.postprocess import detections_from_tiles, with_flip_tta
from sspnet.preprocess import TiledFrame, frame_to_tiles
from sspnet.runtime.sources.base import Frame

_END = object()   # end of stream marker travelling down the queues
POLL_S = 0.1


@dataclass
class FrameResult:
    """One published frame: detections in source pixels and the per-stage latency (ms)."""
    frame: Frame
    boxes_xyxy: np.ndarray            # [K, 4] float32, source-frame pixels
    scores: np.ndarray                # [K]
    track_ids: np.ndarray | None      # [K] int64 with --track, else None
    tiles: int
    latency_ms: dict = field(default_factory=dict)   # decode, pre, infer, post, age
    batch_frames: int = 1             # frames (of all sources) in the backend call that ran this one


@dataclass
class _Work:
    frame: Frame
    tiled: TiledFrame | None = None
    boxes: np.ndarray | None = None
    scores: np.ndarray | None = None
    batch_frames: int = 1
    latency_ms: dict = field(default_factory=dict)


@dataclass(eq=False)
class Lane:
    """One source through the shared backend: its reader (a started ResilientSource), where its results go
    (``publish(result)``), its own tracker and statistics."""
    reader: object
    publish: Callable
    tracker: object = None
    stats: object = None
    # one pre-processed frame waits while the backend runs (a 1080p frame's tiles are ~47 MB of float32)
    q_in: queue.Queue = field(default_factory=lambda: queue.Queue(maxsize=1))
    q_out: queue.Queue = field(default_factory=lambda: queue.Queue(maxsize=2))
    published: int = 0
    queue_drops: int = 0
    done: bool = False                 # max_frames published: the lane drains without publishing
    failure: BaseException | None = None
    failure_trace: str = ""


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1e3


def infer_frames(backend, batches: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(boxes, scores) per frame for the frames' input batches, in one backend call per input shape: tiles of
    every source share the model's tile shape; whole frames batch with frames of the same padded size."""
    infer = with_flip_tta(backend.infer) if backend.postprocess.flip_tta else backend.infer
    out: list = [None] * len(batches)
    by_shape: dict = {}
    for i, b in enumerate(batches):
        by_shape.setdefault(b.shape[1:], []).append(i)
    for idx in by_shape.values():
        joined = batches[idx[0]] if len(idx) == 1 else np.concatenate([batches[i] for i in idx])
        boxes, scores = infer(joined)                  # the backend chunks to its batch size
        ends = np.cumsum([len(batches[i]) for i in idx])
        for i, lo, hi in zip(idx, np.r_[0, ends[:-1]], ends):
            out[i] = (boxes[lo:hi], scores[lo:hi])
    return out


class StreamPipeline:
    """Runs each lane's reader through ``backend`` into its ``publish``; ``max_frames`` stops a lane after that many
    published frames (a file stops reading there too). ``stop`` (the readers' event) stops everything."""

    def __init__(self, lanes: list[Lane], backend, stop: threading.Event, *, max_frames: int | None = None,
                 batch_timeout_s: float = 0.02):
        self.lanes, self.backend, self.stop, self.max_frames = list(lanes), backend, stop, max_frames
        self.batch_timeout_s = batch_timeout_s
        self.failure: BaseException | None = None   # the backend or an output failed: the whole run stopped
        self.failure_trace = ""            # its traceback: an unexpected error must not lose where it came from
        self._ready = threading.Event()    # a lane got a frame or made room: the infer thread looks again
        self._threads = [self._thread("infer", self._guard, self._infer_loop)]
        for i, lane in enumerate(self.lanes):
            self._threads += [self._thread(f"decode{i}", self._guard_decode, lane),
                              self._thread(f"output{i}", self._guard, self._output_loop, lane)]

    @staticmethod
    def _thread(name: str, target, *args) -> threading.Thread:
        return threading.Thread(target=target, args=args, name=f"sspnet-{name}", daemon=True)

    # -- control -----------------------------------------------------------------------------------------------------
    def start(self) -> None:
        for t in self._threads:
            t.start()

    def alive(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def join(self, timeout: float | None = None) -> None:
        for t in self._threads:
            t.join(timeout)

    def request_stop(self) -> None:
        self.stop.set()

    def failures(self) -> list[tuple[BaseException, str]]:
        """(error, traceback) of the run and of each lane whose source failed, in that order."""
        found = [(self.failure, self.failure_trace)] if self.failure is not None else []
        return found + [(lane.failure, lane.failure_trace) for lane in self.lanes if lane.failure is not None]

    def _guard(self, loop, *args) -> None:
        try:
            loop(*args)
        except Exception as e:  # noqa: BLE001 - reported by the caller, which exits nonzero
            if self.failure is None:
                self.failure, self.failure_trace = e, traceback.format_exc()
            self.stop.set()

    def _guard_decode(self, lane: Lane) -> None:
        """A source that fails closes its own lane (what it published stays); the other sources go on."""
        try:
            self._decode_loop(lane)
        except Exception as e:  # noqa: BLE001 - reported by the caller, which exits nonzero
            lane.failure, lane.failure_trace = e, traceback.format_exc()
        self._put(lane.q_in, _END)
        self._ready.set()

    # -- queues ------------------------------------------------------------------------------------------------------
    def _put(self, q: queue.Queue, item) -> bool:
        """Blocking put that gives up when the run is stopped."""
        while not self.stop.is_set():
            try:
                q.put(item, timeout=POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _put_newest(self, lane: Lane, item) -> None:
        """Live: the newest frame replaces a waiting one."""
        try:
            lane.q_in.put_nowait(item)
            return
        except queue.Full:
            pass
        try:
            lane.q_in.get_nowait()
            lane.queue_drops += 1
            if lane.stats is not None:
                lane.stats.queue_drops = lane.queue_drops
        except queue.Empty:
            pass
        lane.q_in.put_nowait(item)  # this thread is the lane's only producer: there is room now

    def _get(self, q: queue.Queue):
        while not self.stop.is_set():
            try:
                return q.get(timeout=POLL_S)
            except queue.Empty:
                continue
        return _END

    def _gather(self, open_lanes: list[Lane]) -> list[tuple[Lane, _Work]]:
        """The waiting frame of every open lane whose output has room. Once one frame is there, the lanes still
        streaming get up to ``batch_timeout_s`` to deliver theirs or make room (DeepStream's batched-push-timeout);
        a lost or reconnecting source is not waited for. Lanes that ended are closed here."""
        got: dict = {}
        self._take(open_lanes, got)
        if not got:
            if open_lanes:
                self._ready.wait(POLL_S)
            return []
        deadline = time.monotonic() + self.batch_timeout_s
        while any(lane not in got and lane.reader.health == "ok" for lane in open_lanes):
            left = deadline - time.monotonic()
            if left <= 0 or self.stop.is_set():
                break
            self._ready.wait(left)
            self._take(open_lanes, got)
        return list(got.items())

    def _take(self, open_lanes: list[Lane], got: dict) -> None:
        self._ready.clear()   # before looking: a put after this wakes the next wait
        for lane in list(open_lanes):
            if lane in got or lane.q_out.full():
                continue
            try:
                work = lane.q_in.get_nowait()
            except queue.Empty:
                continue
            if work is _END:
                open_lanes.remove(lane)
                self._put(lane.q_out, _END)
            else:
                got[lane] = work

    # -- stages ------------------------------------------------------------------------------------------------------
    def _decode_loop(self, lane: Lane) -> None:
        pre, live = self.backend.preprocess, lane.reader.live
        count = 0
        while not self.stop.is_set() and not lane.done:
            if not live and self.max_frames is not None and count >= self.max_frames:
                break
            frame = lane.reader.next()
            if frame is None:
                break
            count += 1
            # decode: capture → frame in Python for live sources; files decode ahead, so the wait in read() counts
            decode_ms = (frame.ready_ns - frame.capture_ns) / 1e6 if live else frame.read_ms
            work = _Work(frame, latency_ms={"decode": decode_ms})
            if live:
                self._put_newest(lane, work)
            else:
                t0 = time.perf_counter()
                work.tiled = frame_to_tiles(frame.image, pre, self.backend.full_frame)
                work.latency_ms["pre"] = _ms(t0)
                if not self._put(lane.q_in, work):
                    return
            self._ready.set()

    def _infer_loop(self) -> None:
        pre = self.backend.preprocess
        open_lanes = list(self.lanes)
        while open_lanes and not self.stop.is_set():
            got = self._gather(open_lanes)
            if not got:
                continue
            for _, work in got:
                if work.tiled is None:  # live: pre-process just in time, on the newest frame
                    t0 = time.perf_counter()
                    work.tiled = frame_to_tiles(work.frame.image, pre, self.backend.full_frame)
                    work.latency_ms["pre"] = _ms(t0)
            t0 = time.perf_counter()
            outputs = infer_frames(self.backend, [work.tiled.batch for _, work in got])
            infer_ms = _ms(t0)
            for (lane, work), (work.boxes, work.scores) in zip(got, outputs):
                work.latency_ms["infer"] = infer_ms
                work.batch_frames = len(got)
                work.tiled.batch = None  # the tiles are no longer needed; free them before the output stage
                lane.q_out.put_nowait(work)   # room was checked in _gather; only this thread puts here
        for lane in open_lanes:           # stopped: let each output stage end
            self._put(lane.q_out, _END)

    def _output_loop(self, lane: Lane) -> None:
        post = self.backend.postprocess
        while True:
            work = self._get(lane.q_out)
            self._ready.set()             # room in q_out: this lane can be batched again
            if work is _END:
                break
            if lane.done:                 # live frames already in flight after the last one counted
                continue
            t0 = time.perf_counter()
            t = work.tiled
            boxes, scores = detections_from_tiles(work.boxes, work.scores, t.corners_xyxy, t.scale_xy, t.frame_wh, post)
            track_ids = None
            if lane.tracker is not None:
                keep, track_ids = lane.tracker.update(boxes, scores)
                boxes, scores = boxes[keep], scores[keep]
            work.latency_ms["post"] = _ms(t0)
            work.latency_ms["age"] = (time.monotonic_ns() - work.frame.capture_ns) / 1e6
            result = FrameResult(frame=work.frame, boxes_xyxy=boxes, scores=scores, track_ids=track_ids,
                                 tiles=len(t.corners_xyxy), batch_frames=work.batch_frames,
                                 latency_ms={k: round(v, 3) for k, v in work.latency_ms.items()})
            lane.publish(result)
            lane.published += 1
            if lane.stats is not None:
                lane.stats.record(result.latency_ms, len(boxes))
            if self.max_frames is not None and lane.published >= self.max_frames:
                lane.done = True          # live sources: N frames published; its decoder stops, the rest drains
                if all(other.done for other in self.lanes):
                    self.stop.set()
                    break
