"""``--display``: show the annotated video in a window (appsrc → videoconvert → autovideosink).

Needs a screen: with neither DISPLAY nor WAYLAND_DISPLAY set it refuses at start with a clear message.
"""
from __future__ import annotations

import os

import numpy as np

from sspnet.gst import bgr_buffer, gst, link_chain, make
from sspnet.runtime.sinks.video import DEFAULT_FPS, FrameTimer, bgr_caps, newest_frames_only


class DisplayUnavailable(ValueError):
    """--display asked for on a machine without a screen (a usage error: exit 2)."""


def check_display() -> None:
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise DisplayUnavailable("--display needs a screen, but neither DISPLAY nor WAYLAND_DISPLAY is set (a "
                                 "headless machine or an SSH session without -X); use --video out.mp4 or "
                                 "--rtsp-out PORT to watch the annotated stream")


class DisplaySink:
    wants_image = True

    def __init__(self):
        check_display()
        self._pipeline = None
        self._size = None

    def describe(self) -> str:
        return "display autovideosink"

    def write(self, result, image: np.ndarray) -> None:
        Gst = gst()
        h, w = image.shape[:2]
        if self._pipeline is None:
            fps = result.frame.framerate or DEFAULT_FPS
            self._src = make("appsrc", caps=bgr_caps(w, h, fps), format="time", is_live=True, block=False)
            newest_frames_only(self._src)
            self._pipeline = Gst.Pipeline.new("sspnet-display")
            link_chain(self._pipeline, [self._src, make("videoconvert"), make("autovideosink", sync=False)])
            self._size, self._timer = (w, h), FrameTimer(fps)
            if self._pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
                raise RuntimeError("--display: the video window could not be opened")
        if (w, h) != self._size:
            import cv2
            image = cv2.resize(image, self._size)
        buf = bgr_buffer(image)
        buf.pts, buf.duration = self._timer.next(result.frame.pts_ns)
        self._src.emit("push-buffer", buf)
        msg = self._pipeline.get_bus().pop_filtered(Gst.MessageType.ERROR)
        if msg is not None:
            err, _ = msg.parse_error()
            raise RuntimeError(f"--display: {err.message}")

    def close(self) -> None:
        if self._pipeline is not None:
            self._pipeline.set_state(gst().State.NULL)
            self._pipeline = None
