"""A SOURCE can never add GStreamer elements; bad arguments exit 2, unusable sources exit nonzero with a message."""
from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from streamkit import run_stream

pytestmark = pytest.mark.usefixtures("gstreamer")


@pytest.mark.parametrize("template", ["file:///x ! filesink location={out}",
                                      "{clip} ! filesink location={out}",
                                      "test://ball ! filesink location={out}",
                                      "rtsp://127.0.0.1:1/x ! filesink location={out}"])
def test_pipeline_fragment_refused_nothing_written(template, clip, models):
    out = Path(f"/tmp/pwned-{uuid.uuid4().hex}")
    r = run_stream(template.format(out=out, clip=clip[0]), "--model", models["dynamic"], timeout=60)
    assert r.returncode == 2, r.stderr
    assert "pipeline" in r.stderr
    assert not out.exists()


def test_usage_errors_exit_2(models):
    for args in (["test://", "--model", models["dynamic"], "--max-frames", "0"],
                 ["test://", "--model", models["dynamic"], "--rtsp-latency", "50"],
                 ["test://", "--model", models["dynamic"], "--rtsp-out", "70000"],
                 ["test://?fps=0", "--model", models["dynamic"]],
                 ["test://", "--model", models["dynamic"], "--no-such-flag"],
                 ["test://"]):
        r = run_stream(*args, timeout=60)
        assert r.returncode == 2, (args, r.stderr)
        assert "error" in r.stderr


def test_missing_file_and_model_exit_1(models, tmp_path):
    r = run_stream(tmp_path / "nope.mp4", "--model", models["dynamic"], timeout=60)
    assert r.returncode == 1 and "nope.mp4" in r.stderr and "no such file" in r.stderr
    r = run_stream("test://", "--model", tmp_path / "none.onnx", timeout=60)
    assert r.returncode == 1 and "none.onnx" in r.stderr and "not found" in r.stderr


def test_help_lists_every_uri_form():
    r = run_stream("--help", timeout=60)
    assert r.returncode == 0
    for form in ("file:///", "rtsp://", "v4l2:///dev/videoN", "/dev/videoN", "csi://N", "http(s)://", "test://"):
        assert form in r.stdout


def test_display_without_a_screen_is_a_usage_error(models):
    import os
    import subprocess
    import sys

    from streamkit import STREAM
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    r = subprocess.run([sys.executable, str(STREAM), "test://", "--model", str(models["dynamic"]), "--display"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 2 and "DISPLAY" in r.stderr and "--video" in r.stderr
