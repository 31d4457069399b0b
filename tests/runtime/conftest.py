"""Fixtures of the runtime tests: tiny real ONNX models, a synthetic H.264 clip, a loopback RTSP server process.
Everything is real (GStreamer, ONNX Runtime); frames are small so each test takes seconds."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tiny_model, streamkit, rtsp_fixture

from streamkit import RtspServerProcess, free_port  # noqa: E402
from tiny_model import make_tiny_model  # noqa: E402


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("models")
    return {"dynamic": make_tiny_model(d / "tiny.onnx"),
            "fixed4": make_tiny_model(d / "tiny_b4.onnx", batch=4),
            "slow": make_tiny_model(d / "slow.onnx", slow_convs=6)}


@pytest.fixture(scope="session")
def clip(tmp_path_factory, gstreamer) -> tuple:
    """(mp4, ground-truth json, frame count): 2 s at 10 fps, 320x240, H.264."""
    from sspnet.synth import render_video
    mp4, gt = render_video(tmp_path_factory.mktemp("clip"), 2.0, 10.0, (320, 240), seed=1)
    return mp4, gt, 20


@pytest.fixture
def rtsp_server(gstreamer):
    server = RtspServerProcess(free_port())
    server.start()
    yield server
    server.stop()


