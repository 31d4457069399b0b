"""Helpers of the runtime tests: run runtime/stream.py as a user does, a loopback RTSP server process, ports."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
STREAM = ROOT / "runtime" / "stream.py"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def run_stream(*args, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python runtime/stream.py ARGS`` as a user runs it."""
    return subprocess.run([sys.executable, str(STREAM), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=ENV, cwd=ROOT)


def start_stream(*args, sigint_ignored: bool = False) -> subprocess.Popen:
    """``runtime/stream.py ARGS`` in the background; ``sigint_ignored`` starts it as ``cmd &`` in a script or nohup
    do: with SIGINT ignored, inherited."""
    ignore = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else None
    return subprocess.Popen([sys.executable, str(STREAM), *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV, cwd=ROOT, preexec_fn=ignore)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RtspServerProcess:
    """The loopback RTSP server of rtsp_fixture.py in its own process: start(), stop() (camera gone), start()."""

    def __init__(self, port: int, size: str = "320x240", fps: int = 15):
        self.port, self.size, self.fps = port, size, fps
        self.proc = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/test"

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, str(HERE / "rtsp_fixture.py"), str(self.port), self.size,
                                      str(self.fps)], stdout=subprocess.PIPE, text=True, env=ENV)
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            self.stop()
            raise RuntimeError(f"RTSP test server did not start: {line!r}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None


def read_jsonl(path) -> list:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def wait_for(predicate, timeout: float, step: float = 0.1) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()
