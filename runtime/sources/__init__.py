"""Video sources: ``parse_source(uri)`` → ``SourceSpec``; ``create_source(spec)`` → one small class per kind.

Each class has ``open() -> Status``, ``read(timeout) -> (Status, Frame | None)`` and ``close()``; statuses are
ok / timeout / eos / error (``source.error`` says why, with credentials redacted).
"""
from sspnet.runtime.sources.uri import (LIVE_KINDS, SOURCE_FORMS, SourceError, SourceSpec, parse_source, redact,
                                        usage)

__all__ = ["parse_source", "SourceSpec", "SourceError", "SOURCE_FORMS", "LIVE_KINDS", "redact", "usage",
           "create_source", "source_classes"]


def source_classes() -> dict:
    """kind → class; the one table of source kinds (imports GStreamer)."""
    from sspnet.runtime.sources.csi import CsiSource
    from sspnet.runtime.sources.file import FileSource
    from sspnet.runtime.sources.http import HttpSource
    from sspnet.runtime.sources.rtsp import RtspSource
    from sspnet.runtime.sources.testsrc import TestPatternSource
    from sspnet.runtime.sources.v4l2 import V4l2Source
    return {"file": FileSource, "rtsp": RtspSource, "v4l2": V4l2Source, "csi": CsiSource, "http": HttpSource,
            "test": TestPatternSource}


def create_source(spec: SourceSpec, plan=None):
    """The source object for ``spec`` (not yet opened); ``plan`` defaults to the machine's decode plan."""
    from sspnet.runtime.sources.decode import decode_plan
    return source_classes()[spec.kind](spec, plan or decode_plan())
