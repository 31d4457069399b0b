"""RTSP with a loopback gst-rtsp-server (127.0.0.1, a free port, its own process): streamed into the runtime;
stopped and restarted, the stream resumes; credentials never reach the logs; --rtsp-out serves what it sees."""
from __future__ import annotations

import json
import time

import pytest
from streamkit import free_port, read_jsonl, run_stream, start_stream, wait_for

pytestmark = pytest.mark.usefixtures("gstreamer")


def test_rtsp_stream_into_runtime_with_credentials_redacted(rtsp_server, models, tmp_path):
    out, summary = tmp_path / "out.jsonl", tmp_path / "summary.json"
    url = rtsp_server.url.replace("rtsp://", "rtsp://alice:hunter2pw@")
    r = run_stream(url, "--model", models["dynamic"], "--json", out, "--summary", summary, "--max-frames", "20",
                   "--status-interval", "0.5", timeout=90)
    assert r.returncode == 0, r.stderr
    lines = read_jsonl(out)
    assert len(lines) == 20 and (lines[0]["width"], lines[0]["height"]) == (320, 240)
    assert all(d["latency_ms"]["age"] < 2000 for d in lines)
    everything = r.stdout + r.stderr + out.read_text() + summary.read_text()
    assert "hunter2pw" not in everything and "alice" not in everything
    assert "rtsp://***@127.0.0.1" in r.stderr


def test_unreachable_rtsp_fails_clearly_without_credentials(models):
    url = f"rtsp://alice:hunter2pw@127.0.0.1:{free_port()}/nothing"
    r = run_stream(url, "--model", models["dynamic"], "--connect-timeout", "5", timeout=60)
    assert r.returncode == 1
    assert "rtsp://***@127.0.0.1" in r.stderr and "error" in r.stderr
    assert "hunter2pw" not in r.stderr + r.stdout and "alice" not in r.stderr + r.stdout


def test_rtsp_out_serves_the_annotated_stream(models, tmp_path):
    port = free_port()
    p = start_stream("test://ball?width=320&height=240&fps=15", "--model", models["dynamic"], "--rtsp-out",
                     port, "--status-interval", "0")
    try:
        time.sleep(2)
        r = run_stream(f"rtsp://127.0.0.1:{port}/stream", "--model", models["dynamic"], "--json",
                       tmp_path / "echo.jsonl", "--max-frames", "10", "--status-interval", "0", timeout=90)
    finally:
        p.terminate()
        _, err = p.communicate(timeout=60)
    assert r.returncode == 0, r.stderr + err
    lines = read_jsonl(tmp_path / "echo.jsonl")
    assert len(lines) == 10 and (lines[0]["width"], lines[0]["height"]) == (320, 240)
    assert f"rtsp-out rtsp://127.0.0.1:{port}/stream" in err
