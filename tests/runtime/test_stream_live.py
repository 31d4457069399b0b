"""A live test source faster than inference: the newest frame wins, frame age stays bounded (no backlog)."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest
from streamkit import read_jsonl, run_stream

pytestmark = pytest.mark.usefixtures("gstreamer")


def source_fps_faster_than(model) -> int:
    """A test-pattern rate about 4x what this machine's inference of ``model`` sustains (30..240 fps)."""
    from sspnet.preprocess import frame_to_tiles
    from sspnet.runtime.backends import open_backend
    be = open_backend(model)
    tiles = frame_to_tiles(np.zeros((240, 320, 3), np.uint8), be.preprocess).batch
    be.infer(tiles)
    t0 = time.perf_counter()
    for _ in range(3):
        be.infer(tiles)
    infer_s = (time.perf_counter() - t0) / 3
    return int(np.clip(4 / infer_s, 30, 240))


def test_live_source_faster_than_inference_has_no_backlog(models, tmp_path):
    out, summary = tmp_path / "out.jsonl", tmp_path / "summary.json"
    fps = source_fps_faster_than(models["slow"])     # the slow model has a conv tower: tens of ms per frame
    r = run_stream(f"test://ball?width=320&height=240&fps={fps}", "--model", models["slow"], "--json", out,
                   "--summary", summary, "--max-frames", "30", "--status-interval", "0")
    assert r.returncode == 0, r.stderr
    lines = read_jsonl(out)
    s = json.loads(summary.read_text())
    assert len(lines) == 30 and s["frames"] == 30
    infer_ms = np.median([d["latency_ms"]["infer"] for d in lines])
    period_ms = np.median(np.diff([d["pts"] for d in lines])) * 1e3
    assert period_ms > 1.5 * 1000 / fps, "source was not faster than inference: nothing to drop"
    assert s["drops"] > 0 and lines[-1]["frame"] > 40             # frames were skipped, not queued
    ages = np.asarray([d["latency_ms"]["age"] for d in lines])
    # bounded: a frame is at most a few processing periods old, and the age does not grow along the run
    per_frame_ms = np.median([sum(d["latency_ms"][k] for k in ("pre", "infer", "post")) for d in lines])
    assert np.median(ages) < 4 * per_frame_ms + 100, (ages, per_frame_ms, infer_ms)
    assert np.median(ages[-10:]) < 2 * np.median(ages[:10]) + 100, ages
