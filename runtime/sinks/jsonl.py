"""``--json out.jsonl``: one JSON object per published frame, flushed per line (a crash loses nothing written).

    {"source": "rtsp://***@cam/1", "frame": 12, "pts": 0.4, "width": 1920, "height": 1080, "tiles": 12,
     "boxes": [[x1, y1, x2, y2], ...] (source px), "scores": [...], "track_ids": [...] | null,
     "latency_ms": {"decode": .., "pre": .., "infer": .., "post": .., "age": ..}}

A live source's gaps are lines of their own, in order between the frames (a reader keeps lines with "frame"):

    {"source": "rtsp://***@cam/1", "event": "source_lost", "time": 1764590000.12, "reason": "stream ended"}
    {"source": "rtsp://***@cam/1", "event": "source_back", "time": 1764590004.80, "gap_s": 4.68, "reconnect": 1}
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path


class JsonlSink:
    wants_image = False

    def __init__(self, path: str, source_display: str):
        self.source = source_display
        self.path = path
        if path == "-":
            self._f, self._own = sys.stdout.buffer, False
        else:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            # unbuffered: each line reaches the file in one write, and a failed one can be cut off again
            self._f, self._own = open(path, "wb", buffering=0), True
        self.lines = 0
        self._end = 0                   # file size after the last whole line
        self._lock = threading.Lock()   # frames come from the output thread, events from the decode thread

    def describe(self) -> str:
        return f"json {'stdout' if self.path == '-' else self.path}"

    def lines_of(self, source_display: str) -> "JsonlLines":
        """The sink of one of several sources that share this file."""
        return JsonlLines(self, source_display)

    def write(self, result, image=None, source: str | None = None) -> None:
        f = result.frame
        doc = {"source": source or self.source, "frame": f.index,
               "pts": None if f.pts_ns is None else round(f.pts_ns / 1e9, 6),
               "width": f.size_wh[0], "height": f.size_wh[1], "tiles": result.tiles,
               "boxes": [[round(float(v), 2) for v in b] for b in result.boxes_xyxy],
               "scores": [round(float(s), 4) for s in result.scores],
               "track_ids": None if result.track_ids is None else [int(t) for t in result.track_ids],
               "latency_ms": result.latency_ms}
        self._line(doc)

    def event(self, doc: dict, source: str | None = None) -> None:
        self._line({"source": source or self.source, "event": doc["event"], "time": round(time.time(), 3),
                    **{k: v for k, v in doc.items() if k != "event"}})

    def _line(self, doc: dict) -> None:
        line = (json.dumps(doc, separators=(",", ":")) + "\n").encode()
        with self._lock:
            try:
                if self._f.write(line) != len(line):      # a short write: the disk is full
                    raise OSError(28, "No space left on device")
                self._f.flush()
            except OSError as e:
                if self._own:                             # cut the partial line: the file ends with a whole one
                    os.ftruncate(self._f.fileno(), self._end)
                raise OSError(f"--json {self.path}: writing line {self.lines + 1} failed: {e.strerror or e}; "
                              f"the {self.lines} lines before it are whole") from e
            self._end += len(line)
            self.lines += 1

    def close(self) -> None:
        if self._own and not self._f.closed:
            self._f.close()


class JsonlLines:
    """One source's lines in a JSONL file that several sources share (one lock, one line per write); the file
    itself is closed once, by its JsonlSink."""
    wants_image = False
    shared = True

    def __init__(self, sink: JsonlSink, source_display: str):
        self.sink, self.source = sink, source_display

    def describe(self) -> str:
        return f"{self.sink.describe()} lines of {self.source}"

    def write(self, result, image=None) -> None:
        self.sink.write(result, image, self.source)

    def event(self, doc: dict) -> None:
        self.sink.event(doc, self.source)

    def close(self) -> None:
        pass
