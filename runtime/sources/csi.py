"""``csi`` source: a Jetson MIPI CSI camera through nvarguscamerasrc (ISP → NVMM) → nvvidconv → BGR (live)."""
from __future__ import annotations

from sspnet.gst import caps, has_element, link_chain, make
from sspnet.runtime.sources.base import GstSource, SourceOpenError


class CsiSource(GstSource):
    kind = "csi"

    def build_head(self, pipeline, tail_sink_pad) -> None:
        if not has_element("nvarguscamerasrc") or not self.plan.hardware:
            raise SourceOpenError(f"{self.spec.display}: CSI cameras need nvarguscamerasrc and nvvidconv (NVIDIA "
                                  f"L4T GStreamer plugins on a Jetson); on other machines use v4l2:///dev/videoN")
        o = self.spec.options
        src = make("nvarguscamerasrc", sensor_id=int(self.spec.location))
        nvmm = make("capsfilter", caps=caps("video/x-raw(memory:NVMM)", width=o["width"], height=o["height"],
                                            framerate=float(o["fps"])))
        link_chain(pipeline, [src, nvmm])
        nvmm.get_static_pad("src").link(tail_sink_pad)  # the hardware tail starts with nvvidconv
