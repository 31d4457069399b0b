"""Several sources through one backend: frames batched across sources into one call, every file frame of every
source published in order with the detections a single-source run gives, one JSONL naming each line's source, one
MP4 per source; a lost camera never stalls the others; source lists and misuse are usage errors."""
from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
from streamkit import run_stream, start_stream, wait_for
from test_pipeline import CountingBackend

from sspnet.runtime.backends import open_backend
from sspnet.runtime.pipeline import Lane, StreamPipeline
from sspnet.runtime.reconnect import ReconnectPolicy, ResilientSource
from sspnet.runtime.sources import create_source, parse_source

pytestmark = pytest.mark.usefixtures("gstreamer")


def run_lanes(paths, backend) -> list[list]:
    stop = threading.Event()
    readers = [ResilientSource(create_source(parse_source(str(p))), ReconnectPolicy(), stop) for p in paths]
    results = [[] for _ in paths]
    for r in readers:
        r.start()
    # a long batch timeout: the tiny model infers faster than a loaded machine decodes, and this test is about
    # what a batch holds, not about how long to wait for it
    pipe = StreamPipeline([Lane(r, out.append) for r, out in zip(readers, results)], backend, stop,
                          batch_timeout_s=1.0)
    pipe.start()
    pipe.join(90)
    for r in readers:
        r.close()
    assert pipe.failures() == [] and not pipe.alive()
    return results


def test_two_files_batched_into_one_call(clip, models):
    mp4, _, n = clip
    backend = CountingBackend(open_backend(models["dynamic"]))
    single = run_lanes([mp4], backend)[0]
    backend.calls.clear()
    both = run_lanes([mp4, mp4], backend)
    for results in both:
        assert [r.frame.index for r in results] == list(range(n))
        for r, alone in zip(results, single):                 # the same detections as the single-source run
            np.testing.assert_allclose(r.boxes_xyxy, alone.boxes_xyxy, atol=1e-4)
            np.testing.assert_allclose(r.scores, alone.scores, atol=1e-6)
    assert sum(backend.calls) == 2 * 6 * n                     # every tile once
    assert backend.calls.count(12) >= n - 2, backend.calls     # both sources' 6 tiles in one call
    assert max(r.batch_frames for results in both for r in results) == 2


def test_cli_two_sources_one_jsonl_two_videos(clip, models, tmp_path):
    mp4, _, n = clip
    listing = tmp_path / "sources.txt"
    listing.write_text(f"# the second camera\n\n{mp4}\n")
    out, video, summary = tmp_path / "out.jsonl", tmp_path / "out.mp4", tmp_path / "summary.json"
    r = run_stream(mp4, "--sources", listing, "--model", models["dynamic"], "--json", out, "--video", video,
                   "--summary", summary, "--status-interval", "0")
    assert r.returncode == 0, r.stderr
    docs = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(docs) == 2 * n and {d["source"] for d in docs} == {mp4.as_uri()}
    assert sorted(d["frame"] for d in docs) == sorted(list(range(n)) * 2)
    assert (tmp_path / "out.0.mp4").stat().st_size > 0 and (tmp_path / "out.1.mp4").stat().st_size > 0
    s = json.loads(summary.read_text())
    assert [x["frames"] for x in s["sources"]] == [n, n] and s["frames"] == 2 * n and s["fps"] > 0
    assert "[0] done:" in r.stderr and "[1] done:" in r.stderr and "2 sources" in r.stderr


def test_lost_camera_does_not_stall_the_other(rtsp_server, models, tmp_path):
    """The RTSP camera goes away mid-run: the test-pattern camera beside it keeps publishing; the RTSP one comes
    back when its server does, and each reaches its --max-frames."""
    out = tmp_path / "out.jsonl"
    p = start_stream(rtsp_server.url, "test://ball?width=320&height=240&fps=15", "--model", models["dynamic"],
                     "--json", out, "--max-frames", "60", "--watchdog", "1", "--backoff-max", "0.5",
                     "--status-interval", "0")
    lines = lambda: [json.loads(x) for x in out.read_text().splitlines()] if out.exists() else []  # noqa: E731
    frames_of = lambda kind: sum(1 for d in lines() if "frame" in d and d["source"].startswith(kind))  # noqa: E731
    try:
        assert wait_for(lambda: frames_of("rtsp") >= 5, 40), "no RTSP frames"
        rtsp_server.stop()
        assert wait_for(lambda: any(d.get("event") == "source_lost" for d in lines()), 20)
        during = frames_of("test")
        time.sleep(3)
        assert frames_of("test") >= during + 10, "the test-pattern source stalled while the RTSP one was lost"
        rtsp_server.start()
        _, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    docs = lines()
    assert frames_of("rtsp") == frames_of("test") == 60
    assert [d["event"] for d in docs if "event" in d] == ["source_lost", "source_back"]


@pytest.mark.parametrize("extra, says", [
    ([], "no source"),
    (["--sources", "MISSING.txt"], "MISSING.txt: file not found"),
    (["--sources", "BAD"], "BAD:2"),
    (["--display"], "--display shows one source"),
    (["--rtsp-out", "0"], "--rtsp-out shows one source"),
])
def test_usage_errors(models, tmp_path, clip, extra, says):
    mp4 = clip[0]
    if "BAD" in extra:
        bad = tmp_path / "BAD"
        bad.write_text(f"{mp4}\nftp://nowhere/x\n")
        extra = ["--sources", bad]
        says = f"{bad}:2"
    sources = [] if says == "no source" or "--sources" in extra else [mp4, mp4]
    r = run_stream(*sources, *extra, "--model", models["dynamic"])
    assert r.returncode == 2, r.stderr
    assert says in r.stderr and "Traceback" not in r.stderr
