"""Video files in ``sspnet detect``: every frame (or every Nth) through the runtime's GStreamer file source, one
line each, an end line per video; a re-run resumes a video cut short where it stopped; a broken video is skipped
and counted."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from detectkit import read_jsonl, run_detect, run_outputs, write_stills

pytestmark = pytest.mark.usefixtures("gstreamer")


@pytest.fixture(scope="module")
def flight(clip, tmp_path_factory):
    """A folder with the 20-frame clip and a still; (folder, number of frames)."""
    mp4, _, n = clip
    root = tmp_path_factory.mktemp("video") / "flight"
    (root / "cam").mkdir(parents=True)
    shutil.copy(mp4, root / "cam" / "clip.mp4")
    write_stills(root, ["stills/s0.jpg"], size_wh=(320, 240))
    return root, n


def test_every_frame_one_line_each_then_the_video_line(flight, models, tmp_path):
    root, n = flight
    run = tmp_path / "run"
    r = run_detect(root, "--model", models["dynamic"], "--out", run, "--score-thr", "0.06")
    assert r.returncode == 0, r.stderr
    lines = read_jsonl(run / "detections.jsonl")
    frames = [d for d in lines if d["type"] == "frame"]
    assert [d["frame"] for d in frames] == list(range(n))
    assert [d["pts"] for d in frames] == pytest.approx([i / 10 for i in range(n)])
    assert all((d["width"], d["height"], d["tiles"]) == (320, 240, 6) and d["name"] == "cam/clip.mp4"
               for d in frames)
    assert sum(len(d["boxes"]) for d in frames) > 0
    assert all(len(d["chips"]) == min(len(d["boxes"]), 50) for d in frames)
    assert lines[n]["type"] == "video" and lines[n]["frames"] == n and lines[n]["status"] == "ok"
    assert lines[n + 1]["name"] == "stills/s0.jpg"
    assert len({d["id"] for d in lines}) == len(lines)            # each frame has its own chip names
    images = json.loads((run / "images.coco.json").read_text())["images"]
    assert [i["frame"] for i in images] == list(range(n)) + [None]
    assert "21 images in" in r.stderr

    again = run_detect(root, "--model", models["dynamic"], "--out", run, "--score-thr", "0.06")
    assert again.returncode == 0 and "0 to do" in again.stderr


def test_every_nth_frame(flight, models, tmp_path):
    root, n = flight
    run = tmp_path / "run"
    r = run_detect(root / "cam" / "clip.mp4", "--model", models["dynamic"], "--out", run, "--every", "5")
    assert r.returncode == 0, r.stderr
    lines = read_jsonl(run / "detections.jsonl")
    assert [d["frame"] for d in lines[:-1]] == [0, 5, 10, 15] and lines[-1]["frames"] == n


def test_a_video_cut_short_resumes_where_it_stopped(flight, models, tmp_path):
    root, n = flight
    once = tmp_path / "once" / "run"
    assert run_detect(root, "--model", models["dynamic"], "--out", once, "--score-thr", "0.06").returncode == 0
    want = run_outputs(once)
    run = tmp_path / "killed" / "run"                             # a run killed after frame 7
    run.mkdir(parents=True)
    for name, data in want.items():
        if name.startswith("chips/") or name == "run.json":
            (run / name).parent.mkdir(parents=True, exist_ok=True)
            (run / name).write_bytes(data)
    (run / "detections.jsonl").write_bytes(b"".join(want["detections.jsonl"].splitlines(keepends=True)[:8]))
    r = run_detect(root, "--model", models["dynamic"], "--out", run, "--score-thr", "0.06")
    assert r.returncode == 0, r.stderr
    summary = json.loads((run / "summary.json").read_text())["this_run"]
    assert (summary["video_frames"], summary["stills"]) == (n - 8, 1)      # frames 0-7 decoded, not re-detected
    assert run_outputs(run) == want


def test_a_broken_video_is_skipped_and_counted(flight, models, tmp_path):
    root, _ = flight
    src = tmp_path / "in"
    shutil.copytree(root, src)
    (src / "cam" / "broken.mp4").write_bytes(np.random.default_rng(1).bytes(20000))
    run = tmp_path / "run"
    r = run_detect(src, "--model", models["dynamic"], "--out", run)
    assert r.returncode == 0, r.stderr
    lines = read_jsonl(run / "detections.jsonl")
    broken = [d for d in lines if d["name"] == "cam/broken.mp4"]
    assert len(broken) == 1 and broken[0]["type"] == "video" and broken[0]["status"] == "error"
    assert "skipped cam/broken.mp4" in r.stderr and "1 skipped as unreadable" in r.stderr
    assert lines[-1]["name"] == "stills/s0.jpg" and lines[-1]["status"] == "ok"     # the run went on
