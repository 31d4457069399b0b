"""``--video out.mp4``: annotated frames → appsrc → videoconvert → H.264 encoder → h264parse → mp4mux → filesink.

The encoder is ``nvv4l2h264enc`` where it exists (Jetson, through nvvidconv into NVMM), else ``x264enc``, else
``openh264enc``; ``h264_encoder`` makes that choice for the RTSP output too. The MP4 is fragmented (one fragment a
second, written where the user asked): a crash, a power cut or a full disk leaves a file that plays up to its last
complete fragment, where a plain MP4 with its index at the end would not play at all. ``close()`` sends EOS and
waits for mp4mux to finish, on the normal end of a stream and on Ctrl-C alike.
Frames wait for the encoder (a file loses no frame) but never for ever: a stalled or dead encoder is an error
after ``STALL_TIMEOUT_S``.
"""
from __future__ import annotations

import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from sspnet.gst import bgr_buffer, bus_error_text, caps, gst, has_element, link_chain, make, set_prop

FINISH_TIMEOUT_S = 30
STALL_TIMEOUT_S = 30      # a frame waiting this long for the encoder: it is stalled or dead
FRAGMENT_MS = 1000        # what a crash can lose at most
QUEUED_FRAMES = 4
DEFAULT_FPS = Fraction(30)


def h264_encoder(live: bool, fps: Fraction) -> tuple[list, str]:
    """(elements from raw video to H.264 byte-stream, encoder name). ``live`` tunes for latency (RTSP)."""
    gop = max(int(round(float(fps))), 1)
    if has_element("nvv4l2h264enc") and has_element("nvvidconv"):
        return ([make("videoconvert"), make("nvvidconv"),
                 make("capsfilter", caps=caps("video/x-raw(memory:NVMM)", format="I420")),
                 make("nvv4l2h264enc", iframeinterval=gop, insert_sps_pps=True)], "nvv4l2h264enc")
    i420 = make("capsfilter", caps=caps("video/x-raw", format="I420"))
    if has_element("x264enc"):
        # short lookahead: frames held in the encoder are what a crash loses (x264's default holds ~40)
        enc = make("x264enc", speed_preset="ultrafast" if live else "veryfast", key_int_max=gop, bframes=0,
                   rc_lookahead=min(gop, 10), sync_lookahead=0)
        if live:
            set_prop(enc, "tune", "zerolatency")
        return [make("videoconvert"), i420, enc], "x264enc"
    if has_element("openh264enc"):
        return [make("videoconvert"), i420, make("openh264enc", gop_size=gop)], "openh264enc"
    raise RuntimeError("no H.264 encoder in GStreamer: install gstreamer1.0-plugins-ugly (x264enc) or "
                       "gstreamer1.0-plugins-bad (openh264enc); on Jetson the L4T plugins (nvv4l2h264enc)")


def bgr_caps(width: int, height: int, fps: Fraction):
    fields = {"format": "BGR", "width": width, "height": height}
    if fps > 0:
        fields["framerate"] = fps
    return caps("video/x-raw", **fields)


def newest_frames_only(appsrc, frames: int = 2) -> None:
    """A live output's appsrc holds at most ``frames`` frames and drops the oldest (the properties exist from
    GStreamer 1.20, JetPack 6; older versions keep appsrc's default byte-capped queue)."""
    if appsrc.find_property("leaky-type") is not None and appsrc.find_property("max-buffers") is not None:
        appsrc.set_property("max-buffers", frames)
        set_prop(appsrc, "leaky-type", "downstream")


class FrameTimer:
    """Output timestamps: the source PTS (relative to the first frame) while it increases, else index / fps."""

    def __init__(self, fps: Fraction):
        self.ns_per_frame = int(1e9 / float(fps)) if fps > 0 else int(1e9 / 30)
        self._first = self._last = None
        self.count = 0

    def next(self, pts_ns: int | None) -> tuple[int, int]:
        if pts_ns is not None and self._first is None:
            self._first = pts_ns
        ts = pts_ns - self._first if pts_ns is not None and self._first is not None else None
        if ts is None or (self._last is not None and ts <= self._last):
            ts = (self._last + self.ns_per_frame) if self._last is not None else 0
        self._last = ts
        self.count += 1
        return ts, self.ns_per_frame


def check_video_path(path: Path) -> None:
    """Usage check, before anything is opened or overwritten."""
    if path.suffix.lower() != ".mp4":
        raise ValueError(f"--video {path}: the annotated video is written as MP4; give a .mp4 path")
    if path.is_dir():
        raise ValueError(f"--video {path}: is a folder; give a file name ending in .mp4")


class VideoFileSink:
    wants_image = True

    def __init__(self, path: str | Path):
        self.path = Path(path)
        check_video_path(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._pipeline = self._src = None
        self.encoder = None
        self.frames = 0
        self._size = None

    def describe(self) -> str:
        return f"video {self.path} ({self.encoder or 'encoder chosen at first frame'})"

    def _open(self, width: int, height: int, fps: Fraction) -> None:
        Gst = gst()
        fps = fps if fps and fps > 0 else DEFAULT_FPS
        enc_chain, self.encoder = h264_encoder(live=False, fps=fps)
        src = make("appsrc", caps=bgr_caps(width, height, fps), format="time", block=False,
                   max_bytes=QUEUED_FRAMES * width * height * 3)
        tail = [make("h264parse"), make("mp4mux", fragment_duration=FRAGMENT_MS),
                make("filesink", location=str(self.path), sync=False)]
        self._pipeline = Gst.Pipeline.new("sspnet-video-out")
        link_chain(self._pipeline, [src] + enc_chain + tail)
        self._src, self._size, self._timer = src, (width, height), FrameTimer(fps)
        if self._pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            raise RuntimeError(f"--video {self.path}: the encoding pipeline failed to start")

    def write(self, result, image: np.ndarray) -> None:
        Gst = gst()
        h, w = image.shape[:2]
        if self._pipeline is None:
            self._open(w, h, result.frame.framerate or DEFAULT_FPS)
        if (w, h) != self._size:  # a live source came back at another size: keep the file's size
            image = cv2.resize(image, self._size, interpolation=cv2.INTER_AREA)
        self._wait_for_room()
        buf = bgr_buffer(image)
        buf.pts, buf.duration = self._timer.next(result.frame.pts_ns)
        ret = self._src.emit("push-buffer", buf)
        if ret != Gst.FlowReturn.OK:
            msg = self._pipeline.get_bus().pop_filtered(Gst.MessageType.ERROR)
            raise RuntimeError(f"--video {self.path}: encoding failed at frame {self.frames}: "
                               f"{bus_error_text(msg) if msg else ret.value_nick}")
        self.frames += 1

    def _wait_for_room(self) -> None:
        """Back-pressure with a deadline: wait while the appsrc queue is full; an encoder error or a stall raises."""
        Gst = gst()
        limit = self._src.get_property("max-bytes")
        deadline = time.monotonic() + STALL_TIMEOUT_S
        while self._src.get_property("current-level-bytes") >= limit:
            msg = self._pipeline.get_bus().pop_filtered(Gst.MessageType.ERROR)
            if msg is not None:
                raise RuntimeError(f"--video {self.path}: encoding failed at frame {self.frames}: "
                                   f"{bus_error_text(msg)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"--video {self.path}: the encoder took no frame for {STALL_TIMEOUT_S} s "
                                   f"(stalled, or the disk is full); the file plays up to frame ~{self.frames}")
            time.sleep(0.005)

    def close(self) -> None:
        """Send EOS, wait until mp4mux has finished the file."""
        if self._pipeline is None:
            return
        Gst = gst()
        pipeline, self._pipeline = self._pipeline, None
        self._src.emit("end-of-stream")
        msg = pipeline.get_bus().timed_pop_filtered(FINISH_TIMEOUT_S * Gst.SECOND,
                                                    Gst.MessageType.EOS | Gst.MessageType.ERROR)
        pipeline.set_state(Gst.State.NULL)
        if msg is None or msg.type == Gst.MessageType.ERROR:
            detail = bus_error_text(msg) if msg else f"no end of stream within {FINISH_TIMEOUT_S} s"
            raise RuntimeError(f"--video {self.path}: finishing the MP4 failed: {detail}; the file plays up to "
                               f"its last complete fragment")
