"""The source interface: ``open()`` / ``read(timeout)`` / ``close()`` over a GStreamer pipeline ending in an appsink.

Each kind (file, rtsp, v4l2, csi, http, test) is a small subclass that only adds its head elements in
``build_head``; the tail is shared: the decode plan's converter to BGR, then an appsink. ``read`` returns a
``Status`` (ok/timeout/eos/error) and, when ok, a ``Frame``: a numpy view over the decoded buffer's bytes (one
copy out of GStreamer, none after), its PTS and a capture timestamp on this process's monotonic clock.

Live sources keep only the newest frame: a leaky one-frame queue in front of the converter (a slow converter
drops frames instead of holding the source back) and ``appsink drop=true max-buffers=1``; drops are counted by a
probe where decoded frames enter the tail. Files apply back-pressure (``drop=false``, a small queue): no frame is
lost.
"""
from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from sspnet.gst import bus_error_text, gst, link_chain, make
from sspnet.runtime.sources.decode import DecodePlan
from sspnet.runtime.sources.uri import SourceSpec, redact

FILE_QUEUE = 4          # decoded frames an appsink may hold for a file source (back-pressure beyond that)
POLL_S = 0.05           # bus/appsink polling slice inside read()
IN_FLIGHT = 2           # live: frames that may sit between the leaky queue and the appsink, not (yet) dropped


class Status(enum.Enum):
    OK = "ok"
    TIMEOUT = "timeout"
    EOS = "eos"
    ERROR = "error"


@dataclass
class Frame:
    image: np.ndarray       # [H, W, 3] uint8 BGR, read-only view over the decoded buffer
    index: int              # 0-based index of frames delivered by this source (across reconnects)
    pts_ns: int | None      # buffer PTS, None when the stream has none
    capture_ns: int         # time.monotonic_ns() of capture: clock time of the PTS for live sources, else arrival
    ready_ns: int           # time.monotonic_ns() when the numpy frame was ready
    read_ms: float          # time spent in read() pulling and wrapping this frame
    framerate: Fraction | None = None   # nominal rate from the caps (0 = variable / unknown)

    @property
    def size_wh(self) -> tuple:
        return self.image.shape[1], self.image.shape[0]


class SourceOpenError(RuntimeError):
    """The source cannot be opened (missing file, element, device); the message says what to do."""


class GstSource:
    """Base of every source kind. Subclasses implement ``build_head(pipeline, tail_sink_pad)``."""

    kind = ""

    def __init__(self, spec: SourceSpec, plan: DecodePlan):
        self.spec, self.plan = spec, plan
        self.error: str | None = None
        self.framerate: Fraction | None = None
        self.delivered = 0          # frames returned by read() over the lifetime of this object
        self._pipeline = self._sink = None
        self._arrived = self._pulled = 0
        self._dropped_before = 0    # drops of earlier connections (reopen keeps the count)
        self._eos_seen = False
        self._stride_cache: dict = {}
        self._handlers: list = []   # (element, handler id) of this connection's signal closures

    # -- subclass hook -----------------------------------------------------------------------------------------------
    def build_head(self, pipeline, tail_sink_pad) -> None:
        raise NotImplementedError

    # -- interface ---------------------------------------------------------------------------------------------------
    def open(self) -> Status:
        """Build and start the pipeline. ERROR (with ``self.error``) when it cannot start; stream errors that
        happen later (refused connection, bad file) are reported by ``read``."""
        Gst = gst()
        self.close()
        self.error, self._eos_seen = None, False
        self._arrived = self._pulled = 0
        try:
            pipeline = Gst.Pipeline.new(f"sspnet-{self.kind}")
            opts = self.spec.options
            tail = self.plan.converter(opts.get("width"), opts.get("height")) + [self._make_appsink()]
            if self.spec.live:  # decoded frames wait for the converter in a 1-frame leaky queue: newest wins
                tail.insert(0, make("queue", leaky="downstream", max_size_buffers=1, max_size_bytes=0,
                                    max_size_time=0))
            link_chain(pipeline, tail)
            self.build_head(pipeline, tail[0].get_static_pad("sink"))
        except (SourceOpenError, RuntimeError, ValueError) as e:
            self.error = redact(str(e))
            return Status.ERROR
        self._sink = tail[-1]
        tail[0].get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, self._count_arrival)
        self._pipeline = pipeline
        if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            msg = pipeline.get_bus().pop_filtered(Gst.MessageType.ERROR)
            self.error = self._scrub(bus_error_text(msg) if msg else "pipeline failed to start")
            self.close()
            return Status.ERROR
        return Status.OK

    def read(self, timeout_s: float) -> tuple:
        """(Status, Frame | None). Waits up to ``timeout_s`` for the next frame."""
        Gst = gst()
        if self._pipeline is None:
            self.error = self.error or "source is not open"
            return Status.ERROR, None
        t0 = time.monotonic()
        deadline = t0 + max(timeout_s, 0.0)
        while True:
            if self.error:
                return Status.ERROR, None
            status = self._check_bus()
            if status is Status.ERROR:
                return status, None
            wait = min(POLL_S, max(deadline - time.monotonic(), 0.0))
            sample = self._sink.emit("try-pull-sample", int(wait * Gst.SECOND))
            if sample is not None:
                return Status.OK, self._to_frame(sample, t0)
            if self._eos_seen or self._sink.get_property("eos"):  # end of file, or a live stream was closed
                return Status.EOS, None
            if time.monotonic() >= deadline:
                return Status.TIMEOUT, None

    def close(self) -> None:
        if self._pipeline is not None:
            self._dropped_before += self._drops_now()
            self._pipeline.set_state(gst().State.NULL)
            self._pipeline = self._sink = None
        # the closures hold the pipeline (and the element holds the closures): a cycle Python's collector cannot
        # see through GObject, so every reconnect would leak a whole pipeline unless they are disconnected
        for element, handler_id in self._handlers:
            element.disconnect(handler_id)
        self._handlers.clear()

    def connect_signal(self, element, name: str, callback, *args) -> None:
        """``element.connect`` for this connection; ``close`` disconnects it."""
        self._handlers.append((element, element.connect(name, callback, *args)))

    @property
    def dropped(self) -> int:
        """Frames GStreamer decoded but the appsink discarded because a newer one arrived (live sources)."""
        return self._dropped_before + self._drops_now()

    # -- helpers -----------------------------------------------------------------------------------------------------
    def _make_appsink(self):
        if self.spec.live:  # newest frame wins
            return make("appsink", drop=True, max_buffers=1, sync=False, emit_signals=False,
                        enable_last_sample=False)
        return make("appsink", drop=False, max_buffers=FILE_QUEUE, sync=False, emit_signals=False,
                    enable_last_sample=False)

    def _count_arrival(self, _pad, _info):
        self._arrived += 1
        return gst().PadProbeReturn.OK

    def _drops_now(self) -> int:
        """Decoded frames that entered the tail but were never pulled, less the few still on their way (queue,
        converter, appsink)."""
        if not self.spec.live:
            return 0
        return max(self._arrived - self._pulled - IN_FLIGHT, 0)

    def _scrub(self, text: str) -> str:
        """Redact URIs and drop the credentials wherever GStreamer repeats them."""
        text = redact(text)
        for secret in self.spec.credentials or ():
            if secret and len(secret) > 0:
                text = text.replace(secret, "***")
        return text

    def fail(self, message: str) -> None:
        """Record an error found in a streaming-thread callback (e.g. an unsupported codec); read() reports it."""
        self.error = self._scrub(message)

    def _check_bus(self) -> Status:
        Gst = gst()
        bus = self._pipeline.get_bus()
        while True:
            msg = bus.pop_filtered(Gst.MessageType.ERROR | Gst.MessageType.EOS)
            if msg is None:
                return Status.OK
            if msg.type == Gst.MessageType.ERROR:
                self.error = self._scrub(bus_error_text(msg))
                return Status.ERROR
            self._eos_seen = True

    def _to_frame(self, sample, t0: float) -> Frame:
        Gst = gst()
        caps = sample.get_caps()
        s = caps.get_structure(0)
        w, h = s.get_value("width"), s.get_value("height")
        if self.framerate is None:
            ok, num, den = s.get_fraction("framerate")
            self.framerate = Fraction(num, den) if ok and num > 0 and den > 0 else Fraction(0)
        buf = sample.get_buffer()
        # one copy out of GStreamer, valid after the buffer is gone. Not map()+info.data: with the gst-python
        # overrides (python3-gst-1.0, JetPack/DeepStream images) info.data is a view that unmap() releases
        data = buf.extract_dup(0, buf.get_size())
        stride = self._stride(caps, w, h, len(data))
        image = np.ndarray((h, w, 3), np.uint8, buffer=data, strides=(stride, 3, 1))
        now = time.monotonic_ns()
        pts = None if buf.pts == Gst.CLOCK_TIME_NONE else int(buf.pts)
        capture = self._capture_ns(sample, pts, now)
        self._pulled += 1
        frame = Frame(image=image, index=self.delivered, pts_ns=pts, capture_ns=capture, ready_ns=now,
                      read_ms=(time.monotonic() - t0) * 1e3, framerate=self.framerate)
        self.delivered += 1
        return frame

    def _stride(self, caps, w: int, h: int, nbytes: int) -> int:
        key = (w, h, nbytes)
        if key not in self._stride_cache:
            from gi.repository import GstVideo
            info = GstVideo.VideoInfo.new_from_caps(caps)
            stride = int(info.stride[0]) if info is not None else nbytes // h
            if stride * (h - 1) + w * 3 > nbytes:
                raise RuntimeError(f"decoded frame of {nbytes} bytes is too small for {w}x{h} BGR")
            self._stride_cache[key] = stride
        return self._stride_cache[key]

    def _capture_ns(self, sample, pts: int | None, now_ns: int) -> int:
        """Live: the pipeline-clock time at which the frame's PTS was captured, moved to the monotonic clock.
        Files (decoded as fast as they are consumed) have no capture time; their arrival time stands in."""
        if not self.spec.live or pts is None:
            return now_ns
        Gst = gst()
        clock = self._pipeline.get_clock()
        segment = sample.get_segment()
        if clock is None or segment is None:
            return now_ns
        running = segment.to_running_time(Gst.Format.TIME, pts)
        if running == Gst.CLOCK_TIME_NONE:
            return now_ns
        age = clock.get_time() - (self._pipeline.get_base_time() + running)
        return now_ns - age if 0 <= age < 3_600 * Gst.SECOND else now_ns


def link_decodebin(source: GstSource, pipeline, decodebin, tail_sink_pad, what: str) -> None:
    """Link the first video pad of a ``decodebin`` to the tail; other streams (audio) go to a fakesink; a stream
    without video is an error that ``read`` reports."""
    state = {"video": False}

    def on_pad(_bin, pad):
        caps = pad.get_current_caps() or pad.query_caps(None)
        name = caps.get_structure(0).get_name() if caps and caps.get_size() else ""
        if name.startswith("video/") and not state["video"]:
            if pad.link(tail_sink_pad) != gst().PadLinkReturn.OK:
                source.fail(f"{what}: cannot link decoded video ({name}) to the converter")
            state["video"] = True
            return
        sink = make("fakesink", sync=False)
        pipeline.add(sink)
        sink.sync_state_with_parent()
        pad.link(sink.get_static_pad("sink"))

    def on_no_more_pads(_bin):
        if not state["video"]:
            source.fail(f"{what}: no video stream found")

    source.connect_signal(decodebin, "pad-added", on_pad)
    source.connect_signal(decodebin, "no-more-pads", on_no_more_pads)
