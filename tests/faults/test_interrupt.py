"""Ctrl-C (or SIGTERM) ends ``runtime/stream.py`` with exit 130, never an abort, while the model infers and while
it is still connecting. Before: the SIGINT handler raised KeyboardInterrupt, which inside ``Thread.join(timeout)``
marks a still-running thread as stopped (python/cpython#90882, 3.9-3.11). A Ctrl-C while the main thread was
joining the infer thread made the stream free the model and exit under the running inference: "terminate called
without an active exception", exit 134."""
from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime"))
from streamkit import start_stream  # noqa: E402
from tiny_model import make_tiny_model  # noqa: E402

pytestmark = pytest.mark.usefixtures("gstreamer")
RUNS = 3   # the old code aborted in ~85 % of these runs


def _sigint_while_joining_infer(p: subprocess.Popen) -> None:
    """The main loop joins the decode, infer and output threads for 0.2 s each, then prints the status line: 0.3 s
    after a status line it is inside join(infer)."""
    while (line := p.stderr.readline()) and not (line.startswith("stream: ") and " 0 frames" not in line):
        pass
    time.sleep(0.3)
    p.send_signal(signal.SIGINT)


def test_ctrl_c_while_inferring_exits_130_without_abort(tmp_path):
    model = make_tiny_model(tmp_path / "slow.onnx", slow_convs=6)   # ~0.3 s a 640x480 frame: always inferring
    for run in range(RUNS):
        out = tmp_path / f"out{run}.jsonl"
        p = start_stream("test://ball?width=640&height=480&fps=30", "--model", model, "--json", out,
                         "--status-interval", "0.1")
        try:
            _sigint_while_joining_infer(p)
            _, err = p.communicate(timeout=60)
        finally:
            if p.poll() is None:   # a hung run must not outlive the test
                p.kill()
                p.communicate()
        assert p.returncode == 130 and "terminate called" not in err, f"run {run}: exit {p.returncode}\n{err[-2000:]}"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_stop_while_connecting_exits_130_at_once(tmp_path, sig):
    model = make_tiny_model(tmp_path / "tiny.onnx")
    out = tmp_path / "out.jsonl"
    with socket.create_server(("127.0.0.1", 0)) as silent:   # accepts the connection, never answers RTSP
        p = start_stream(f"rtsp://127.0.0.1:{silent.getsockname()[1]}/live", "--model", model, "--json", out,
                         "--connect-timeout", "30")
        try:
            while (line := p.stderr.readline()) and not line.lstrip().startswith("watchdog"):
                pass   # the options are printed: next comes the wait for the first frame
            time.sleep(0.5)
            p.send_signal(sig)
            start = time.monotonic()
            _, err = p.communicate(timeout=10)
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
    assert p.returncode == 130, err
    assert time.monotonic() - start < 3 and not out.exists()   # no output opened for a run that never started
