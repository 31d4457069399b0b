"""``http`` source: souphttpsrc (live, timestamped on arrival) → decodebin (MJPEG multipart, TS, ...) → appsink.

Credentials go to ``user-id``/``user-pw``, never into the location that GStreamer may print.
"""
from __future__ import annotations

from sspnet.gst import make
from sspnet.runtime.sources.base import GstSource, link_decodebin


class HttpSource(GstSource):
    kind = "http"

    def build_head(self, pipeline, tail_sink_pad) -> None:
        src = make("souphttpsrc", location=self.spec.location, is_live=True, do_timestamp=True, timeout=10)
        if self.spec.credentials:
            src.set_property("user-id", self.spec.credentials[0])
            src.set_property("user-pw", self.spec.credentials[1])
        decode = make("decodebin")
        pipeline.add(src)
        pipeline.add(decode)
        src.link(decode)
        link_decodebin(self, pipeline, decode, tail_sink_pad, self.spec.display)
