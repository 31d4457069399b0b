"""H.264 MP4 files from numpy frames, and back, through GStreamer (PyGObject) or, without ``gi``, OpenCV.

Encode: appsrc (BGR) → videoconvert → I420 → x264enc (fallback openh264enc) → h264parse → mp4mux → filesink.
Decode: filesrc → qtdemux → h264parse → avdec_h264 (fallback openh264dec) → videoconvert → BGR → appsink.
Pipelines are built element by element with the core's GStreamer helpers (``sspnet.gst``); no string is ever
parsed as a pipeline.
"""
from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from sspnet.gst import GstMissing, bgr_buffer, bus_error_text, caps, gst, has_element, link_chain, make

X264_QUANTIZER = 18  # constant-quality (CRF) level: tiny persons survive compression
X264_MAX_KBPS = 50000  # in "qual" mode x264enc uses bitrate as the VBV cap; keep it out of the way
TIMEOUT_S = 60


def _gst_or_none():
    """GStreamer when PyGObject is installed, else ``None`` (the OpenCV fallback)."""
    try:
        return gst()
    except GstMissing:
        return None


def _make_first(*candidates: tuple):
    """The first of (factory, props) that is installed, with its factory name; (None, None) when none is."""
    for factory, props in candidates:
        if has_element(factory):
            return make(factory, **props), factory
    return None, None


class H264Writer:
    """Write BGR frames of one size to an H.264 MP4 (temp file + rename on ``close``).

    ``encoder`` names what was used: ``x264enc``, ``openh264enc`` or ``opencv-avc1``.
    """

    def __init__(self, path: str | os.PathLike, size_wh: tuple, fps: float):
        self.path = Path(path)
        self.size_wh = (int(size_wh[0]), int(size_wh[1]))
        if self.size_wh[0] % 2 or self.size_wh[1] % 2:
            raise ValueError(f"H.264 4:2:0 needs an even frame size, got {self.size_wh[0]}x{self.size_wh[1]}")
        self.fps = Fraction(fps).limit_denominator(1001)
        self.frames = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(f".{self.path.name}.tmp.mp4")
        self._Gst = _gst_or_none()
        if self._Gst is not None:
            self._open_gst()
        else:
            self._open_cv2()

    def _open_gst(self) -> None:
        Gst = self._Gst
        w, h = self.size_wh
        gop = max(int(round(float(self.fps) * 2)), 1)
        bitrate = int(min(w * h * float(self.fps) * 0.25, 2 ** 31 - 1))
        enc, self.encoder = _make_first(
            ("x264enc", dict(speed_preset="veryfast", pass_="qual", quantizer=X264_QUANTIZER, key_int_max=gop,
                             bframes=0, bitrate=X264_MAX_KBPS)),
            ("openh264enc", dict(bitrate=bitrate, gop_size=gop, complexity="high")))
        if enc is None:
            raise RuntimeError("no H.264 encoder in GStreamer: install gstreamer1.0-plugins-ugly (x264enc) or "
                               "gstreamer1.0-plugins-bad (openh264enc), e.g. `make system`")
        src = make("appsrc", caps=caps("video/x-raw", format="BGR", width=w, height=h, framerate=self.fps),
                   format="time", block=True, max_bytes=4 * w * h * 3)
        i420 = make("capsfilter", caps=caps("video/x-raw", format="I420"))  # 4:2:0 plays everywhere
        sink = make("filesink", location=str(self._tmp))  # a property, never part of a parsed pipeline string
        chain = [src, make("videoconvert"), i420, enc, make("h264parse"), make("mp4mux"), sink]
        self._pipeline = Gst.Pipeline.new("h264-writer")
        link_chain(self._pipeline, chain)
        self._src = src
        if self._pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            raise RuntimeError(f"GStreamer: H.264 writer for {self.path} failed to start")

    def _open_cv2(self) -> None:
        import cv2
        self.encoder = "opencv-avc1"
        self._cv = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*"avc1"), float(self.fps), self.size_wh)
        if not self._cv.isOpened():
            raise RuntimeError("no H.264 encoder: PyGObject (gi) is missing and this OpenCV build cannot write "
                               "avc1; install the `stream` extra (pygobject==3.50.2) and GStreamer (`make system`)")

    def write(self, frame_bgr: np.ndarray) -> None:
        """Append one [H, W, 3] uint8 BGR frame."""
        w, h = self.size_wh
        if frame_bgr.shape != (h, w, 3) or frame_bgr.dtype != np.uint8:
            raise ValueError(f"frame must be uint8 [{h}, {w}, 3], got {frame_bgr.dtype} {list(frame_bgr.shape)}")
        if self._Gst is None:
            self._cv.write(frame_bgr)
            self.frames += 1
            return
        Gst = self._Gst
        buf = bgr_buffer(frame_bgr)
        ns_per_frame = Gst.SECOND * self.fps.denominator / self.fps.numerator
        buf.pts = int(round(self.frames * ns_per_frame))
        buf.duration = int(round((self.frames + 1) * ns_per_frame)) - buf.pts
        ret = self._src.emit("push-buffer", buf)
        if ret != Gst.FlowReturn.OK:
            msg = self._pipeline.get_bus().pop_filtered(Gst.MessageType.ERROR)
            detail = bus_error_text(msg) if msg else str(ret)
            self._abort()
            raise RuntimeError(f"GStreamer: encoding {self.path} failed at frame {self.frames}: {detail}")
        self.frames += 1

    def _abort(self) -> None:
        if self._Gst is not None:
            self._pipeline.set_state(self._Gst.State.NULL)
        if self._tmp.exists():
            self._tmp.unlink()

    def close(self) -> Path:
        """Finish the stream (EOS), then move the file into place. Returns the MP4 path."""
        if self._Gst is None:
            self._cv.release()
        else:
            Gst = self._Gst
            self._src.emit("end-of-stream")
            bus = self._pipeline.get_bus()
            msg = bus.timed_pop_filtered(TIMEOUT_S * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
            self._pipeline.set_state(Gst.State.NULL)
            if msg is None or msg.type == Gst.MessageType.ERROR:
                detail = bus_error_text(msg) if msg else f"no end of stream within {TIMEOUT_S} s"
                self._abort()
                raise RuntimeError(f"GStreamer: finishing {self.path} failed: {detail}")
        os.replace(self._tmp, self.path)
        return self.path

    def __enter__(self) -> "H264Writer":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._abort()


def read_mp4_frames(path: str | os.PathLike, keep_frames: bool = True) -> tuple:
    """Decode an H.264 MP4. Returns (frame count, list of [H, W, 3] uint8 BGR frames or [] when not kept)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such video file")
    Gst = _gst_or_none()
    if Gst is None:
        return _read_cv2(path, keep_frames)
    dec, _ = _make_first(("avdec_h264", {}), ("openh264dec", {}))
    if dec is None:
        raise RuntimeError("no H.264 decoder in GStreamer: install gstreamer1.0-libav (avdec_h264)")
    src, demux, parse = make("filesrc", location=str(path)), make("qtdemux"), make("h264parse")
    sink = make("appsink", sync=False, emit_signals=False, max_buffers=8, drop=False)
    pipeline = Gst.Pipeline.new("h264-reader")
    link_chain(pipeline, [src, demux])
    link_chain(pipeline, [parse, dec, make("videoconvert"), make("capsfilter", caps=caps("video/x-raw", format="BGR")),
                          sink])

    tracks = []  # caps of every demuxed stream, for the error message

    def on_pad(_demux, pad):
        caps = pad.query_caps(None).to_string()
        tracks.append(caps.split(",")[0])
        if caps.startswith("video/x-h264"):
            pad.link(parse.get_static_pad("sink"))

    demux.connect("pad-added", on_pad)
    frames, count, waited_s = [], 0, 0.0
    bus = pipeline.get_bus()
    pipeline.set_state(Gst.State.PLAYING)
    try:
        while True:
            sample = sink.emit("try-pull-sample", Gst.SECOND // 2)
            msg = bus.pop_filtered(Gst.MessageType.ERROR)
            if msg is not None:
                if tracks and "video/x-h264" not in tracks:
                    raise RuntimeError(f"{path}: no H.264 video track (found {', '.join(tracks)})")
                raise RuntimeError(f"GStreamer: decoding {path} failed after {count} frames: {bus_error_text(msg)}")
            if sample is None:
                if sink.get_property("eos"):
                    break
                waited_s += 0.5
                if waited_s >= TIMEOUT_S:
                    raise RuntimeError(f"GStreamer: decoding {path} stalled after {count} frames")
                continue
            waited_s = 0.0
            count += 1
            if keep_frames:
                s = sample.get_caps().get_structure(0)
                w, h = s.get_value("width"), s.get_value("height")
                buf = sample.get_buffer()
                data = buf.extract_dup(0, buf.get_size())
                stride = len(data) // h
                frames.append(np.frombuffer(data, np.uint8).reshape(h, stride)[:, :w * 3].reshape(h, w, 3).copy())
    finally:
        pipeline.set_state(Gst.State.NULL)
    return count, frames


def _read_cv2(path: Path, keep_frames: bool) -> tuple:
    import cv2
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise RuntimeError(f"{path}: OpenCV cannot open this video (and PyGObject is missing)")
    frames, count = [], 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        count += 1
        if keep_frames:
            frames.append(frame)
    cap.release()
    return count, frames
