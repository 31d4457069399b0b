"""Progress of ``sspnet detect`` on stderr: a tqdm bar with ETA on a terminal, a plain status line every
``interval_s`` seconds otherwise (a log file gets readable lines, not carriage returns). The total is the stills
still to do; video frames are counted as they come (their number is not known before decoding)."""
from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total_stills: int, interval_s: float = 10.0, stream=None):
        self.stream = stream or sys.stderr
        self.total, self.interval_s = total_stills, interval_s
        self.done = self.frames = 0
        self.t0 = time.monotonic()
        self._next = self.t0 + interval_s
        self._bar = None
        if self.stream.isatty():
            from tqdm import tqdm
            self._bar = tqdm(total=total_stills, unit="img", file=self.stream, dynamic_ncols=True,
                             smoothing=0.1, desc="detect")

    def update(self, frame: bool = False) -> None:
        if frame:
            self.frames += 1
            if self._bar is not None:
                self._bar.total += 1
        else:
            self.done += 1
        if self._bar is not None:
            self._bar.update(1)
            return
        now = time.monotonic()
        if self.interval_s > 0 and now >= self._next:
            self._next = now + self.interval_s
            print(self.line(now), file=self.stream, flush=True)

    def line(self, now: float | None = None) -> str:
        elapsed = (now or time.monotonic()) - self.t0
        n = self.done + self.frames
        rate = n / elapsed * 60 if elapsed > 0 else 0.0
        left = self.total - self.done
        eta = f", ETA {_clock(left / (self.done / elapsed))}" if self.done and left > 0 else ""
        frames = f" + {self.frames} video frames" if self.frames else ""
        return f"sspnet detect: {self.done}/{self.total} images{frames}, {rate:.1f} images/min{eta}"

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
