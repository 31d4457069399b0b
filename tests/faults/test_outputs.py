"""Bad outputs are found at start and destroy nothing: a bad --video name exits 2 and leaves the previous --json
results as they were (before: the JSONL was truncated first, then the run exited 1); an output under a path that
cannot be a folder fails at start with the path in the message."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime"))
from streamkit import run_stream  # noqa: E402
from tiny_model import make_tiny_model  # noqa: E402

pytestmark = pytest.mark.usefixtures("gstreamer")
SOURCE = "test://ball?width=320&height=240&fps=30"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("m") / "tiny.onnx")


@pytest.mark.parametrize("video", ["out.avi", "folder"])
def test_bad_video_name_keeps_previous_results(model, tmp_path, video):
    previous = '{"frame": 0}\n{"frame": 1}\n'
    out = tmp_path / "out.jsonl"
    out.write_text(previous)
    (tmp_path / "folder").mkdir()
    r = run_stream(SOURCE, "--model", model, "--json", out, "--video", tmp_path / video, "--max-frames", "3")
    assert r.returncode == 2 and f"--video {tmp_path / video}" in r.stderr, r.stderr
    assert out.read_text() == previous


def test_unwritable_output_fails_at_start(model, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    for option, name in (("--json", "out.jsonl"), ("--video", "out.mp4")):
        r = run_stream(SOURCE, "--model", model, option, blocker / name, "--max-frames", "3", timeout=60)
        assert r.returncode == 1 and str(blocker) in r.stderr and "Traceback" not in r.stderr, r.stderr
