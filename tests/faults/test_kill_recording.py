"""A stream killed with SIGKILL while recording: the MP4 plays up to about a second before the kill (it is
fragmented) and the JSONL parses line by line. Before: the MP4 had its index at the end and did not play at all."""
from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime"))
from streamkit import start_stream, wait_for  # noqa: E402
from tiny_model import make_tiny_model  # noqa: E402

pytestmark = pytest.mark.usefixtures("gstreamer")
FPS = 30


def test_sigkill_leaves_a_playable_video_and_valid_jsonl(tmp_path):
    model = make_tiny_model(tmp_path / "tiny.onnx")
    out, video = tmp_path / "out.jsonl", tmp_path / "rec.mp4"
    p = start_stream(f"test://ball?width=320&height=240&fps={FPS}", "--model", model, "--json", out,
                     "--video", video, "--status-interval", "0")
    try:
        assert wait_for(lambda: out.exists() and len(out.read_text().splitlines()) >= 3 * FPS, 60)
    finally:
        p.send_signal(signal.SIGKILL)
        p.communicate(timeout=30)
    lines = [json.loads(line) for line in out.read_text().splitlines()]    # every line whole and valid
    frames = [d["frame"] for d in lines]
    assert frames == sorted(set(frames))     # a live source may drop frames: increasing, not consecutive
    from sspnet.synth.h264 import read_mp4_frames
    count, _ = read_mp4_frames(video, keep_frames=False)
    assert len(lines) - 2 * FPS <= count <= len(lines), (count, len(lines))
