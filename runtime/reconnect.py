"""Keep a source delivering frames: start it, watch it, rebuild a live source that fails.

A live source (camera, RTSP, HTTP, test pattern) whose pipeline posts ERROR or EOS, or that delivers no frame for
``watchdog_s`` seconds, is closed and re-opened after a back-off that doubles from ``backoff_s`` up to
``backoff_max_s``; the model and the sinks are untouched. A file ends cleanly at EOS; a file error is fatal.
Health is one of ``starting``, ``ok``, ``reconnecting``, ``ended``, ``failed``. Each gap is reported to
``on_event`` twice: ``{"event": "source_lost", "reason": …}`` when it starts and ``{"event": "source_back",
"gap_s": …, "reconnect": n}`` when frames flow again (``--json`` writes both as lines between the frames).
"""
from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass

from sspnet.runtime.sources.base import Frame, Status


@dataclass(frozen=True)
class ReconnectPolicy:
    watchdog_s: float = 5.0         # no frame for this long → rebuild (live) / fail (file)
    connect_timeout_s: float = 10.0  # the first frame must arrive within this, else the run fails
    backoff_s: float = 0.5          # first wait before re-opening
    backoff_max_s: float = 8.0      # cap of the doubling back-off


class SourceFailed(RuntimeError):
    """The source cannot deliver frames (not reachable at start, a broken file); the message says why."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class ResilientSource:
    """``start()`` once, then ``next()`` until it returns None (end of stream or stop requested)."""

    def __init__(self, source, policy: ReconnectPolicy, stop: threading.Event):
        self.source, self.policy, self.stop = source, policy, stop
        self.live = source.spec.live
        self.health = "starting"
        self.reconnects = 0          # times frames flowed again after a failure
        self.attempts = 0            # re-open attempts
        self._pending: Frame | None = None
        self._last_frame = time.monotonic()
        self._failing_since: float | None = None
        self.on_event = lambda event: None   # called from the decode thread

    @property
    def dropped(self) -> int:
        return self.source.dropped

    def start(self) -> None:
        """Open the source and wait for its first frame; ``SourceFailed`` names the reason."""
        name = self.source.spec.display
        if self.source.open() is not Status.OK:
            self.health = "failed"
            error = self.source.error or "cannot open"
            raise SourceFailed(error if name in error else f"{name}: {error}")
        deadline = time.monotonic() + self.policy.connect_timeout_s
        while not self.stop.is_set():
            status, frame = self.source.read(min(0.25, max(deadline - time.monotonic(), 0.0)))
            if status is Status.OK:
                self._pending, self.health, self._last_frame = frame, "ok", time.monotonic()
                return
            if status is Status.ERROR:
                self.health = "failed"
                raise SourceFailed(f"{name}: {self.source.error}")
            if status is Status.EOS:
                self.health = "failed"
                raise SourceFailed(f"{name}: stream ended before its first frame (empty or unreadable)")
            if time.monotonic() >= deadline:
                self.health = "failed"
                raise SourceFailed(f"{name}: no frame within {self.policy.connect_timeout_s:g} s (unreachable, "
                                   f"or no video); check the address and that the stream is running")

    def next(self) -> Frame | None:
        if self._pending is not None:
            frame, self._pending = self._pending, None
            return frame
        backoff = self.policy.backoff_s
        while not self.stop.is_set():
            status, frame = self.source.read(0.25)
            now = time.monotonic()
            if status is Status.OK:
                if self.health == "reconnecting":
                    self.reconnects += 1
                    gap = now - (self._failing_since or now)
                    log(f"source: {self.source.spec.display}: frames again after {gap:.1f} s "
                        f"(reconnect {self.reconnects})")
                    self.on_event({"event": "source_back", "gap_s": round(gap, 3), "reconnect": self.reconnects})
                self.health, self._last_frame, self._failing_since = "ok", now, None
                return frame
            if status is Status.EOS and not self.live:
                self.health = "ended"
                return None
            if status is Status.ERROR and not self.live:
                self.health = "failed"
                raise SourceFailed(f"{self.source.spec.display}: {self.source.error}")
            stalled = status is Status.TIMEOUT and now - self._last_frame >= self.policy.watchdog_s
            if status is Status.TIMEOUT and not stalled:
                continue
            if not self.live:
                self.health = "failed"
                raise SourceFailed(f"{self.source.spec.display}: decoding stalled (no frame for "
                                   f"{self.policy.watchdog_s:g} s)")
            reason = {Status.EOS: "stream ended", Status.ERROR: self.source.error}.get(
                status, f"no frame for {self.policy.watchdog_s:g} s")
            self._reopen(reason, backoff)
            backoff = min(backoff * 2, self.policy.backoff_max_s)
        return None

    def _reopen(self, reason: str, delay_s: float) -> None:
        if self.health != "reconnecting":
            self._failing_since = time.monotonic()
            self.on_event({"event": "source_lost", "reason": reason})
        self.health = "reconnecting"
        self.attempts += 1
        log(f"source: {self.source.spec.display}: {reason}; reconnecting in {delay_s:.1f} s "
            f"(attempt {self.attempts})")
        self.source.close()
        if self.stop.wait(delay_s):
            return
        if self.source.open() is not Status.OK:
            log(f"source: {self.source.spec.display}: re-open failed: {self.source.error}")
        self._last_frame = time.monotonic()  # the watchdog restarts with the new pipeline

    def close(self) -> None:
        self.source.close()
