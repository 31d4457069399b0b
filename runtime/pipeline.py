"""Decode, inference and output in three threads joined by small bounded queues.

    decode thread   source.next() → [files: pre-process] → q_in
    infer thread    q_in → [live: pre-process the newest frame] → backend (all tiles of a frame, one call) → q_out
    output thread   q_out → post-process (core decode/NMS/merge) → tracker → sinks → stats

While the backend runs frame n, the decoder already delivers (and for files pre-processes) frame n+1, and the
output thread publishes frame n-1. Files lose no frame: every queue put blocks (back-pressure). Live sources keep
only the newest frame: ``q_in`` holds one frame and a newer one replaces it (counted as a drop), so the age of what
gets published stays bounded by roughly one processing period whatever the source's rate.
"""
from __future__ import annotations

import queue
import threading
import time
import traceback
from dataclasses import dataclass, field

import numpy as np

from sspnet.postprocess import detections_from_tiles
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


@dataclass
class _Work:
    frame: Frame
    tiled: TiledFrame | None = None
    boxes: np.ndarray | None = None
    scores: np.ndarray | None = None
    latency_ms: dict = field(default_factory=dict)


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1e3


class StreamPipeline:
    """Runs ``reader`` (a started ResilientSource) through ``backend`` into ``publish(result)``; ``max_frames``
    stops the run after that many published frames (a file stops reading there too)."""

    def __init__(self, reader, backend, publish, *, tracker=None, stats=None, max_frames: int | None = None):
        self.reader, self.backend, self.publish = reader, backend, publish
        self.tracker, self.stats, self.max_frames = tracker, stats, max_frames
        self.live = reader.live
        self.stop = reader.stop                    # one event stops reading, the threads and the back-off waits
        # one pre-processed frame waits while the backend runs (a 1080p frame's tiles are ~47 MB of float32)
        self.q_in: queue.Queue = queue.Queue(maxsize=1)
        self.q_out: queue.Queue = queue.Queue(maxsize=2)
        self.failure: BaseException | None = None
        self.failure_trace = ""            # its traceback: an unexpected error must not lose where it came from
        self.queue_drops = 0
        self.published = 0
        self._threads = [threading.Thread(target=self._guard, args=(fn,), name=f"sspnet-{name}", daemon=True)
                         for name, fn in (("decode", self._decode_loop), ("infer", self._infer_loop),
                                          ("output", self._output_loop))]

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

    def _guard(self, loop) -> None:
        try:
            loop()
        except Exception as e:  # noqa: BLE001 - reported by the caller, which exits nonzero
            if self.failure is None:
                self.failure, self.failure_trace = e, traceback.format_exc()
            self.stop.set()

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

    def _put_newest(self, item) -> None:
        """Live: the newest frame replaces a waiting one."""
        try:
            self.q_in.put_nowait(item)
            return
        except queue.Full:
            pass
        try:
            self.q_in.get_nowait()
            self.queue_drops += 1
            if self.stats is not None:
                self.stats.queue_drops = self.queue_drops
        except queue.Empty:
            pass
        self.q_in.put_nowait(item)  # single producer: there is room now

    def _get(self, q: queue.Queue):
        while not self.stop.is_set():
            try:
                return q.get(timeout=POLL_S)
            except queue.Empty:
                continue
        return _END

    # -- stages ------------------------------------------------------------------------------------------------------
    def _decode_loop(self) -> None:
        pre = self.backend.preprocess
        count = 0
        while not self.stop.is_set():
            if not self.live and self.max_frames is not None and count >= self.max_frames:
                break
            frame = self.reader.next()
            if frame is None:
                break
            count += 1
            # decode: capture → frame in Python for live sources; files decode ahead, so the wait in read() counts
            decode_ms = (frame.ready_ns - frame.capture_ns) / 1e6 if self.live else frame.read_ms
            work = _Work(frame, latency_ms={"decode": decode_ms})
            if self.live:
                self._put_newest(work)
                continue
            t0 = time.perf_counter()
            work.tiled = frame_to_tiles(frame.image, pre, self.backend.full_frame)
            work.latency_ms["pre"] = _ms(t0)
            if not self._put(self.q_in, work):
                return
        self._put(self.q_in, _END)

    def _infer_loop(self) -> None:
        pre = self.backend.preprocess
        while True:
            work = self._get(self.q_in)
            if work is _END:
                break
            if work.tiled is None:  # live: pre-process just in time, on the newest frame
                t0 = time.perf_counter()
                work.tiled = frame_to_tiles(work.frame.image, pre, self.backend.full_frame)
                work.latency_ms["pre"] = _ms(t0)
            t0 = time.perf_counter()
            work.boxes, work.scores = self.backend.infer(work.tiled.batch)   # all tiles of the frame (it chunks)
            work.latency_ms["infer"] = _ms(t0)
            work.tiled.batch = None  # the tiles are no longer needed; free them before the output stage
            if not self._put(self.q_out, work):
                return
        self._put(self.q_out, _END)

    def _output_loop(self) -> None:
        post = self.backend.postprocess
        while True:
            work = self._get(self.q_out)
            if work is _END:
                break
            t0 = time.perf_counter()
            t = work.tiled
            boxes, scores = detections_from_tiles(work.boxes, work.scores, t.corners_xyxy, t.scale, t.frame_wh, post)
            track_ids = None
            if self.tracker is not None:
                keep, track_ids = self.tracker.update(boxes, scores)
                boxes, scores = boxes[keep], scores[keep]
            work.latency_ms["post"] = _ms(t0)
            work.latency_ms["age"] = (time.monotonic_ns() - work.frame.capture_ns) / 1e6
            result = FrameResult(frame=work.frame, boxes_xyxy=boxes, scores=scores, track_ids=track_ids,
                                 tiles=len(t.corners_xyxy),
                                 latency_ms={k: round(v, 3) for k, v in work.latency_ms.items()})
            self.publish(result)
            self.published += 1
            if self.stats is not None:
                self.stats.record(result.latency_ms, len(boxes))
            if self.max_frames is not None and self.published >= self.max_frames:
                self.stop.set()   # live sources: N frames published, the run is complete
                break
