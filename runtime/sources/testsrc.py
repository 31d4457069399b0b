"""``test`` source: a live videotestsrc pattern at the requested size and rate (newest frame wins)."""
from __future__ import annotations

from sspnet.gst import caps, link_chain, make
from sspnet.runtime.sources.base import GstSource


class TestPatternSource(GstSource):
    kind = "test"
    __test__ = False  # not a pytest class

    def build_head(self, pipeline, tail_sink_pad) -> None:
        o = self.spec.options
        src = make("videotestsrc", is_live=True, pattern=self.spec.location)  # pattern checked by parse_source
        size = make("capsfilter", caps=caps("video/x-raw", width=o["width"], height=o["height"],
                                            framerate=float(o["fps"])))
        link_chain(pipeline, [src, size])
        size.get_static_pad("src").link(tail_sink_pad)
