"""The run folder of ``sspnet detect`` (``RUN/``) and its resumable record, ``detections.jsonl``.

One JSON line per still, per video frame and per finished video, appended and flushed as each is done, so a
killed run loses at most the image in flight and a re-run skips every line's key (path, size, mtime_ns, frame):

    {"type": "image", "id": "<16 hex>", "path": "/abs/a.jpg", "name": "flight1/a.jpg", "size": 123,
     "mtime_ns": 1700000000000000000, "frame": null, "pts": null, "status": "ok", "width": 4000, "height": 3000,
     "tiles": 49, "boxes": [[x1, y1, x2, y2], ...] (image px), "scores": [...],
     "chips": ["<id>_0.jpg", ...] (in RUN/chips/), "preview": "frames/<id>.jpg" | null}
    {"type": "frame", ... "frame": 12, "pts": 0.4 (s), ...}          one frame of a video, same fields
    {"type": "video", "id", "path", "name", "size", "mtime_ns", "status": "ok", "frames": 250}   video finished
    {"type": "image" | "video", ..., "status": "error", "error": "cannot decode ..."}    skipped, not retried
                                                                                        until the file changes

The geo step may add ``camera`` ({"lat", "lon", "alt_m"}) to a line and ``positions`` (one {"lat", "lon",
"uncertainty_m"} or null per box); the review page draws them when present. ``run.json`` holds the settings the
lines were made with: a re-run with another model or other settings is refused, never mixed in.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from sspnet.manifest import atomic_write_bytes

JSONL = "detections.jsonl"
SETTINGS = "run.json"
LOG = "detect.log"
CHIPS = "chips"


class RunMismatch(ValueError):
    """RUN/ holds results made with other settings; the message names the setting and what to do."""


def line_key(doc: dict) -> tuple:
    """What a re-run matches on: (path, size, mtime_ns, frame) for stills and frames, frame 'video' for a video."""
    frame = "video" if doc["type"] == "video" else doc.get("frame")
    return doc["path"], doc["size"], doc["mtime_ns"], frame


class RunFolder:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise RunMismatch(f"--out {self.path}: exists and is not a folder")
        (self.path / CHIPS).mkdir(parents=True, exist_ok=True)
        self.chips = self.path / CHIPS
        self.done: set = set()
        self.lines_before = 0
        self._jsonl = None
        self._log = open(self.path / LOG, "a", encoding="utf-8")

    # -- settings ----------------------------------------------------------------------------------------------------
    def check_settings(self, settings: dict) -> None:
        """First run: record ``settings``. Re-run: they must be the recorded ones (RunMismatch names the first
        that differs)."""
        f = self.path / SETTINGS
        if f.is_file() and (self.path / JSONL).is_file():
            try:
                recorded = json.loads(f.read_text(encoding="utf-8"))
            except json.JSONDecodeError as e:
                raise RunMismatch(f"{f}: unreadable ({e.msg}); use a new --out folder") from None
            for key in sorted(set(settings) | set(recorded)):
                if recorded.get(key) != settings.get(key):
                    raise RunMismatch(
                        f"--out {self.path}: its detections were made with {key}={recorded.get(key)!r}, this run "
                        f"has {key}={settings.get(key)!r}; use the same settings to resume, or a new --out folder")
            return
        atomic_write_bytes(f, (json.dumps(settings, indent=2, sort_keys=True) + "\n").encode())

    # -- the record --------------------------------------------------------------------------------------------------
    def open_record(self) -> None:
        """Read the keys already done and open ``detections.jsonl`` for appending. A last line cut short by a
        kill (no newline) is dropped first, so the next line starts clean; so are the temp files of a killed run."""
        for stale in [*self.path.glob(".*.tmp"), *self.chips.rglob(".*.tmp")]:   # temp files of a killed run
            stale.unlink(missing_ok=True)
        f = self.path / JSONL
        if f.is_file():
            data = f.read_bytes()
            end = data.rfind(b"\n") + 1
            if end < len(data):
                with open(f, "r+b") as fh:
                    fh.truncate(end)
                self.log(f"{JSONL}: dropped an unfinished last line ({len(data) - end} bytes) of a killed run")
            for doc in _parse_lines(data[:end], f):
                self.done.add(line_key(doc))
                self.lines_before += 1
        self._jsonl = open(f, "a", encoding="utf-8")

    def append(self, doc: dict) -> None:
        """One line, written in one call and flushed: the OS has it even if the process is killed next."""
        self._jsonl.write(json.dumps(doc, separators=(",", ":")) + "\n")
        self._jsonl.flush()
        self.done.add(line_key(doc))

    def records(self) -> list[dict]:
        """Every line of the record, the latest per (path, frame) when a file was re-done after it changed."""
        f = self.path / JSONL
        latest: dict = {}
        for doc in _parse_lines(f.read_bytes() if f.is_file() else b"", f):
            k = (doc["path"], doc["type"] == "video", doc.get("frame"))
            latest.pop(k, None)           # a re-done file moves to where it was done last
            latest[k] = doc
        return list(latest.values())

    # -- log ---------------------------------------------------------------------------------------------------------
    def log(self, message: str, echo: bool = True) -> None:
        self._log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")
        self._log.flush()
        if echo:
            print(f"sspnet detect: {message}", file=sys.stderr, flush=True)

    def close(self) -> None:
        for f in (self._jsonl, self._log):
            if f is not None and not f.closed:
                f.close()


def _parse_lines(data: bytes, where: Path) -> list[dict]:
    out = []
    for i, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
            line_key(doc)
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise RunMismatch(f"{where}:{i}: not a detect record ({e}); use a new --out folder") from None
        out.append(doc)
    return out

