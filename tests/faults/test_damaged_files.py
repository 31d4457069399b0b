"""Damaged input files: a truncated MP4 (cut in the middle, its index lost) is refused with a message naming the
file and exit 1; bytes flipped in the middle cost at most the frames they hit, and every frame decoded is on disk
as one valid JSON line."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime"))
from streamkit import run_stream  # noqa: E402
from tiny_model import make_tiny_model  # noqa: E402

pytestmark = pytest.mark.usefixtures("gstreamer")
FRAMES = 30


@pytest.fixture(scope="module")
def damaged(tmp_path_factory):
    from sspnet.synth import render_video
    d = tmp_path_factory.mktemp("damaged")
    mp4, _ = render_video(d / "clip", FRAMES / 10, 10.0, (320, 240), seed=1)
    data = Path(mp4).read_bytes()
    (d / "truncated.mp4").write_bytes(data[:len(data) // 2])
    flipped = bytearray(data)
    mid = len(flipped) // 2
    flipped[mid:mid + 4000] = bytes(b ^ 0xFF for b in flipped[mid:mid + 4000])
    (d / "corrupted.mp4").write_bytes(bytes(flipped))
    return d, make_tiny_model(d / "tiny.onnx")


def test_truncated_file_is_refused_by_name(damaged, tmp_path):
    d, model = damaged
    r = run_stream(d / "truncated.mp4", "--model", model, "--json", tmp_path / "out.jsonl", "--status-interval", "0")
    assert r.returncode == 1 and "truncated.mp4" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_corrupted_file_keeps_every_decoded_frame(damaged, tmp_path):
    d, model = damaged
    out = tmp_path / "out.jsonl"
    r = run_stream(d / "corrupted.mp4", "--model", model, "--json", out, "--status-interval", "0")
    assert r.returncode in (0, 1) and "Traceback" not in r.stderr, r.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert FRAMES // 2 <= len(lines) <= FRAMES
    assert [d["frame"] for d in lines] == list(range(len(lines)))
