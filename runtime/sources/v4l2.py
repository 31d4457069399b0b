"""``v4l2`` source: a V4L2 camera (``/dev/videoN``) → decodebin (raw or MJPEG) → converter → appsink (live)."""
from __future__ import annotations

import os

from sspnet.gst import make
from sspnet.runtime.sources.base import GstSource, SourceOpenError, link_decodebin


class V4l2Source(GstSource):
    kind = "v4l2"

    def build_head(self, pipeline, tail_sink_pad) -> None:
        device = self.spec.location
        if not os.path.exists(device):
            raise SourceOpenError(f"{self.spec.display}: no such device {device}; `ls /dev/video*` lists cameras")
        src = make("v4l2src", device=device, do_timestamp=True)
        decode = make("decodebin")
        pipeline.add(src)
        pipeline.add(decode)
        src.link(decode)
        link_decodebin(self, pipeline, decode, tail_sink_pad, self.spec.display)
