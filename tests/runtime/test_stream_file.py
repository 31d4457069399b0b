"""``runtime/stream.py`` on a synthetic H.264 file, run as a user runs it: every frame, one JSON line each,
an annotated MP4 that decodes back to the same number of frames, and Ctrl-C that still finalises the MP4."""
from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from streamkit import ROOT, read_jsonl, run_stream, start_stream, wait_for

pytestmark = pytest.mark.usefixtures("gstreamer")


def test_file_every_frame_one_json_line_each(clip, models, tmp_path):
    mp4, _, n = clip
    out, video, summary = tmp_path / "out.jsonl", tmp_path / "out.mp4", tmp_path / "summary.json"
    r = run_stream(mp4, "--model", models["dynamic"], "--json", out, "--video", video, "--summary", summary,
                   "--score-thr", "0.06")
    assert r.returncode == 0, r.stderr
    lines = read_jsonl(out)
    assert [d["frame"] for d in lines] == list(range(n))
    assert [d["pts"] for d in lines] == pytest.approx([i / 10 for i in range(n)])
    d = lines[5]
    assert d["source"] == Path(mp4).as_uri() and (d["width"], d["height"], d["tiles"]) == (320, 240, 6)
    assert set(d["latency_ms"]) == {"decode", "pre", "infer", "post", "age"} and d["track_ids"] is None
    assert len(d["boxes"]) == len(d["scores"]) > 0
    boxes = np.asarray([b for d in lines for b in d["boxes"]])
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= 320).all() and (boxes[:, 3] <= 240).all()
    s = json.loads(summary.read_text())
    assert s["frames"] == n and s["drops"] == 0 and s["health"] == "ended"
    assert "decode   software" in r.stderr or "decode   hardware" in r.stderr   # the choice is printed

    from sspnet.synth.h264 import read_mp4_frames
    count, frames = read_mp4_frames(video, keep_frames=True)
    assert count == n and frames[0].shape == (240, 320, 3)
    assert not any(p.name.endswith(".partial.mp4") for p in tmp_path.iterdir())


def test_track_reports_ids(clip, models, tmp_path):
    mp4, _, n = clip
    out = tmp_path / "out.jsonl"
    r = run_stream(mp4, "--model", models["dynamic"], "--json", out, "--score-thr", "0.06", "--track")
    assert r.returncode == 0, r.stderr
    lines = read_jsonl(out)
    assert len(lines) == n and lines[0]["boxes"] == []          # nothing is confirmed on the first frame
    later = [d for d in lines[1:] if d["boxes"]]
    assert later and all(len(d["track_ids"]) == len(d["boxes"]) for d in later)


@pytest.mark.parametrize("how", ["once", "started-with-sigint-ignored", "twice"])
def test_ctrl_c_finalises_the_video(models, tmp_path, how):
    """Ctrl-C ends the run with 130 and a playable MP4 holding every published frame: also when the process was
    started with SIGINT ignored (``cmd &`` in a script, nohup), and when Ctrl-C comes again during the shutdown."""
    out, video = tmp_path / "out.jsonl", tmp_path / "live.mp4"
    p = start_stream("test://ball?width=320&height=240&fps=30", "--model", models["dynamic"], "--json", out,
                     "--video", video, "--status-interval", "0", sigint_ignored=how == "started-with-sigint-ignored")
    try:
        assert wait_for(lambda: out.exists() and len(out.read_text().splitlines()) >= 15, 60), p.stderr
    finally:
        p.send_signal(signal.SIGINT)
        if how == "twice":
            wait_for(lambda: False, 0.02)
            p.send_signal(signal.SIGINT)
        try:
            _, err = p.communicate(timeout=60)
        except subprocess.TimeoutExpired:   # a hung run must not outlive the test and load the ones after it
            p.kill()
            _, err = p.communicate()
            raise AssertionError(f"runtime/stream.py ignored Ctrl-C for 60 s:\n{err[-2000:]}") from None
    assert p.returncode == 130, err
    from sspnet.synth.h264 import read_mp4_frames
    count, _ = read_mp4_frames(video, keep_frames=False)
    assert count == len(read_jsonl(out)) >= 15


MODEL = ROOT / "models" / "sspnet_edge.pt"


def test_trained_model_finds_the_ground_truth_persons(tmp_path):
    from sspnet.boxes import box_iou
    from sspnet.synth import render_video
    mp4, gt = render_video(tmp_path / "clip", 1.0, 5.0, (640, 512), seed=3)
    # export in its own process, as users do: torch's ONNX exporter aborts in a process that has loaded GStreamer
    onnx = tmp_path / "m.onnx"
    r = subprocess.run([sys.executable, "-m", "sspnet.cli", "export", "--checkpoint", str(MODEL), "--out", str(onnx),
                        "--dynamic-batch"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    out = tmp_path / "out.jsonl"
    r = run_stream(mp4, "--model", onnx, "--json", out, "--score-thr", "0.3", timeout=600)
    assert r.returncode == 0, r.stderr
    lines = read_jsonl(out)
    doc = json.loads(Path(gt).read_text())
    assert len(lines) == len(doc["images"])
    found = total = 0
    for d, img in zip(lines, doc["images"]):
        gts = [a["bbox"] for a in doc["annotations"] if a["image_id"] == img["id"] and not a.get("ignore")
               and a["bbox"][3] >= 8]
        if not gts:
            continue
        g = np.asarray(gts, np.float32)
        g[:, 2:] += g[:, :2]
        det = np.asarray(d["boxes"], np.float32).reshape(-1, 4)
        total += len(g)
        if len(det):
            found += int((box_iou(g, det).max(axis=1) >= 0.3).sum())
    assert total > 0 and found / total >= 0.5, f"{found}/{total} ground-truth persons found"


def test_video_of_an_odd_width_keeps_its_picture(models, tmp_path):
    """162 px × 3 bytes is not a multiple of 4: the frames must be padded to GStreamer's row stride (before: the
    annotated MP4 of such a source was garbage, all green)."""
    video = tmp_path / "odd.mp4"
    r = run_stream("test://smpte?width=162&height=120&fps=10", "--model", models["dynamic"], "--video", video,
                   "--max-frames", "5", "--score-thr", "1", "--status-interval", "0")   # no boxes over the bars
    assert r.returncode == 0, r.stderr
    from sspnet.synth.h264 import read_mp4_frames
    _, frames = read_mp4_frames(video, keep_frames=True)
    top = frames[0][10:60].astype(int)                    # SMPTE bars: grey, yellow, cyan, green, magenta, red, blue
    first_bar, last_bar = top[:, 3:15].mean((0, 1)), top[:, -15:-3].mean((0, 1))   # grey, then blue (BGR)
    assert abs(first_bar[0] - first_bar[2]) < 30 and first_bar.min() > 120, first_bar
    assert last_bar[0] > last_bar[2] + 80, last_bar


def test_scale_and_stretch_override_the_manifest(clip, models, tmp_path):
    """--scale / --stretch-x replace the manifest's geometry (footage unlike the validation frames); the boxes still
    come back in frame pixels, and a value <= 0 is a usage error naming the option."""
    from sspnet.preprocess import tile_count
    from sspnet.runtime.backends import open_backend
    mp4, _, _ = clip
    out = tmp_path / "out.jsonl"
    r = run_stream(mp4, "--model", models["dynamic"], "--json", out, "--score-thr", "0.06", "--max-frames", "3",
                   "--scale", "1.5", "--stretch-x", "2")
    assert r.returncode == 0, r.stderr
    assert "scale 1.5 (x 2 across)" in r.stderr
    backend = open_backend(str(models["dynamic"]), "cpu")
    want = tile_count((320, 240), dataclasses.replace(backend.preprocess, scale=1.5, stretch_x=2.0))
    backend.close()
    lines = read_jsonl(out)
    assert len(lines) == 3 and {d["tiles"] for d in lines} == {want} and want != 6
    boxes = np.asarray([b for d in lines for b in d["boxes"]]).reshape(-1, 4)
    assert (boxes[:, 2] <= 320).all() and (boxes[:, 3] <= 240).all()
    bad = run_stream(mp4, "--model", models["dynamic"], "--stretch-x", "0")
    assert bad.returncode == 2 and "--stretch-x must be > 0" in bad.stderr


def test_flip_tta_runs_both_views_and_keeps_the_boxes_in_the_frame(clip, models, tmp_path):
    """--flip-tta pools each tile's mirrored view (the banner says so). The tiny model scores cells by their mean
    brightness, so it sees a mirrored tile exactly mirrored: mapped back, the second view duplicates the first,
    NMS removes the duplicates, and the detections are the plain run's. A box mapped back wrongly would add boxes."""
    mp4, _, _ = clip
    plain, pooled = tmp_path / "plain.jsonl", tmp_path / "pooled.jsonl"
    args = ("--model", models["dynamic"], "--score-thr", "0.06", "--max-frames", "3")
    assert run_stream(mp4, *args, "--json", plain).returncode == 0
    r = run_stream(mp4, *args, "--json", pooled, "--flip-tta")
    assert r.returncode == 0, r.stderr
    assert "flip_tta (2 network runs per tile)" in r.stderr
    a, b = read_jsonl(plain), read_jsonl(pooled)
    assert len(b) == 3 and [d["tiles"] for d in a] == [d["tiles"] for d in b]
    assert sum(len(d["boxes"]) for d in b) > 0
    assert [d["boxes"] for d in a] == [d["boxes"] for d in b] and [d["scores"] for d in a] == [d["scores"] for d in b]
