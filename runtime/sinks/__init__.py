"""Outputs of the stream: JSON lines, annotated MP4, RTSP re-stream, display window.

Every sink has ``write(result, image)`` and ``close()``; ``wants_image`` says whether it needs the annotated frame;
a sink that records source events (lost, back) also has ``event(doc)``.
``Publisher`` draws the overlay once per frame, only when some sink wants it, and closes every sink at the end
(the MP4 is finalised even when another sink fails to close). ``Outputs``: one publisher per source and the sinks
they share (one JSONL file for several sources), closed once.
"""
from __future__ import annotations

from sspnet.runtime.sinks.overlay import annotate

__all__ = ["Outputs", "Publisher", "annotate"]


class Publisher:
    def __init__(self, sinks: list):
        self.sinks = list(sinks)
        self.wants_image = any(s.wants_image for s in self.sinks)

    def __call__(self, result) -> None:
        image = None
        if self.wants_image:
            image = annotate(result.frame.image, result.boxes_xyxy, result.scores, result.track_ids)
        for sink in self.sinks:
            sink.write(result, image)

    def event(self, doc: dict) -> None:
        """A source event (``ResilientSource.on_event``) to the sinks that record them."""
        for sink in self.sinks:
            if hasattr(sink, "event"):
                sink.event(doc)

    def close(self) -> list[str]:
        """Close every sink; returns the error messages of those that failed (each still gets its close)."""
        errors = []
        for sink in self.sinks:
            try:
                sink.close()
            except (RuntimeError, OSError) as e:
                errors.append(str(e))
        return errors


class Outputs:
    def __init__(self, publishers: list[Publisher], shared: list):
        self.publishers, self.shared = publishers, shared

    def close(self) -> list[str]:
        """Every source's sinks, then the shared ones; the error messages of those that failed."""
        return [m for p in self.publishers for m in p.close()] + Publisher(self.shared).close()
