"""Decoding for ``sspnet detect``, ahead of inference, in input order, with bounded memory.

    decode thread   stills: ``workers`` threads decode the next few files (OpenCV releases the GIL)
                    videos: the runtime's GStreamer file source, every frame (``every``: every Nth)
                    → a queue of ``Decoded`` (at most ``AHEAD`` waiting) → the caller's loop

An unreadable or undecodable still, and a video that fails, become a ``Decoded`` with ``error`` set: the run
logs it and goes on. ``Decoded(end_of_video=N)`` marks a video whose N frames were all read.
"""
from __future__ import annotations

import collections
import os
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from sspnet.runtime.detect_inputs import InputFile

AHEAD = 2          # decoded items that may wait for the detector (each a full-resolution BGR image)
POLL_S = 0.1
_END = object()


@dataclass
class Decoded:
    item: InputFile
    frame: int | None = None            # video frame index (None for a still)
    pts_s: float | None = None
    image: np.ndarray | None = None     # [H, W, 3] uint8 BGR
    error: str | None = None            # why the still/video was skipped
    decode_ms: float = 0.0
    end_of_video: int | None = None     # frames read, on the marker that ends a video


def decode_still(item: InputFile) -> Decoded:
    """Read and decode one still; an error is returned, not raised."""
    t0 = time.perf_counter()
    try:
        data = np.fromfile(item.path, np.uint8)
        st = os.stat(item.path)
    except OSError as e:
        return Decoded(item, error=f"cannot read ({e.strerror or e})")
    if (st.st_size, st.st_mtime_ns) != (item.size, item.mtime_ns):
        return Decoded(item, error="changed while the run was going (still being copied?); run again when the "
                                   "copy is complete")
    if data.size == 0:
        return Decoded(item, error="empty file (0 bytes)")
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        return Decoded(item, error="cannot decode: not an image OpenCV reads, damaged or cut short")
    return Decoded(item, image=image, decode_ms=(time.perf_counter() - t0) * 1e3)


class Decoder:
    """``start()``, then iterate: ``Decoded`` items in input order until the inputs are exhausted; ``close()``
    stops it. ``frame_done(item, index)`` says which video frames a resumed run already has."""

    def __init__(self, items: list[InputFile], *, frame_done, every: int = 1, workers: int = 2):
        self.items, self.frame_done, self.every = items, frame_done, every
        self.stop = threading.Event()          # set by close(): the threads stop, the iteration ends
        self.failure: BaseException | None = None
        self._q: queue.Queue = queue.Queue(maxsize=AHEAD)
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="sspnet-decode")
        self._workers = max(1, workers)
        self._thread = threading.Thread(target=self._run, name="sspnet-decode", daemon=True)

    def start(self) -> "Decoder":
        self._thread.start()
        return self

    def __iter__(self):
        while True:
            try:
                got = self._q.get(timeout=POLL_S)
            except queue.Empty:
                if self.stop.is_set() or (not self._thread.is_alive() and self._q.empty()):
                    break
                continue
            if got is _END:
                break
            yield got
        if self.failure is not None:
            raise RuntimeError(f"decoding failed: {self.failure}") from self.failure

    def close(self) -> None:
        self.stop.set()
        self._thread.join(5)
        self._pool.shutdown(wait=True, cancel_futures=True)

    # -- decode thread -----------------------------------------------------------------------------------------------
    def _put(self, item) -> bool:
        while not self.stop.is_set():
            try:
                self._q.put(item, timeout=POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            pending: collections.deque = collections.deque()   # futures of stills, in input order
            for item in self.items:
                if self.stop.is_set():
                    return
                if item.kind == "still":
                    pending.append(self._pool.submit(decode_still, item))
                    while len(pending) > self._workers:
                        if not self._put(pending.popleft().result()):
                            return
                    continue
                while pending:
                    if not self._put(pending.popleft().result()):
                        return
                for decoded in self._video(item):
                    if not self._put(decoded):
                        return
            while pending:
                if not self._put(pending.popleft().result()):
                    return
        except Exception as e:  # noqa: BLE001 - re-raised in the caller's thread by __iter__
            self.failure = e
        finally:
            self._put(_END)

    def _video(self, item: InputFile):
        """Decoded frames of one video, then its end marker; a failure ends it with an error."""
        from sspnet.gst import GstMissing
        from sspnet.runtime.reconnect import ReconnectPolicy, ResilientSource, SourceFailed
        from sspnet.runtime.sources import create_source, parse_source
        try:
            source = create_source(parse_source(Path(item.path).as_uri()))   # the path travels as a URI
        except (GstMissing, ValueError, RuntimeError) as e:
            yield Decoded(item, error=f"cannot open the video: {e}")
            return
        reader = ResilientSource(source, ReconnectPolicy(), self.stop)
        read = 0
        try:
            reader.start()
            while True:
                t0 = time.perf_counter()
                frame = reader.next()
                if frame is None:
                    break
                read += 1
                if frame.index % self.every or self.frame_done(item, frame.index):
                    continue
                pts = None if frame.pts_ns is None else round(frame.pts_ns / 1e9, 6)
                yield Decoded(item, frame=frame.index, pts_s=pts, image=frame.image,
                              decode_ms=(time.perf_counter() - t0) * 1e3)
        except SourceFailed as e:
            yield Decoded(item, error=f"video failed after {read} frames: {e}", end_of_video=read)
            return
        finally:
            reader.close()
        if not self.stop.is_set():
            yield Decoded(item, end_of_video=read)
