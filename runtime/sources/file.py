"""``file`` source: filesrc → decodebin (any container/codec GStreamer knows) → converter → appsink.

Every frame is processed: the appsink does not drop, it blocks the decoder when full (back-pressure).
"""
from __future__ import annotations

import os

from sspnet.gst import make
from sspnet.runtime.sources.base import GstSource, SourceOpenError, link_decodebin


class FileSource(GstSource):
    kind = "file"

    def build_head(self, pipeline, tail_sink_pad) -> None:
        path = self.spec.location
        if not os.path.isfile(path):
            raise SourceOpenError(f"{self.spec.display}: no such file ({path}); give an existing video file")
        if not os.access(path, os.R_OK):
            raise SourceOpenError(f"{self.spec.display}: file is not readable (permissions)")
        src = make("filesrc", location=path)  # a property: the path is never parsed as a pipeline
        decode = make("decodebin")
        pipeline.add(src)
        pipeline.add(decode)
        src.link(decode)
        link_decodebin(self, pipeline, decode, tail_sink_pad, self.spec.display)
