"""StreamPipeline in process: every file frame published in order, detections identical to the core's
``detect_frame`` (one batched backend call per frame), per-stage latency present."""
from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest

from sspnet.postprocess import detect_frame
from sspnet.runtime.backends import open_backend
from sspnet.runtime.pipeline import Lane, StreamPipeline
from sspnet.runtime.reconnect import ReconnectPolicy, ResilientSource
from sspnet.runtime.sources import create_source, parse_source
from sspnet.runtime.sources.base import Status
from sspnet.runtime.stats import StreamStats

pytestmark = pytest.mark.usefixtures("gstreamer")


class CountingBackend:
    """The real ONNX backend, counting calls (wraps, does not replace, the thing under test)."""

    def __init__(self, backend):
        self.inner, self.calls = backend, []
        self.name, self.manifest, self.max_batch = backend.name, backend.manifest, backend.max_batch
        self.full_frame = backend.full_frame
        self.preprocess = backend.preprocess
        self.postprocess = dataclasses.replace(backend.postprocess, score_thr=0.06)  # the brighter cells of a dark sea scene

    def infer(self, batch):
        self.calls.append(len(batch))
        return self.inner.infer(batch)

    def close(self):
        self.inner.close()


def test_file_through_pipeline_matches_detect_frame(clip, models):
    mp4, _, n = clip
    backend = CountingBackend(open_backend(models["dynamic"]))
    results, stats = [], StreamStats()
    stop = threading.Event()
    reader = ResilientSource(create_source(parse_source(str(mp4))), ReconnectPolicy(), stop)
    reader.start()
    stats.reader = reader
    pipe = StreamPipeline([Lane(reader, results.append, stats=stats)], backend, stop)
    pipe.start()
    pipe.join(60)
    reader.close()
    assert pipe.failures() == [] and not pipe.alive()
    assert [r.frame.index for r in results] == list(range(n))
    assert backend.calls == [6] * n                     # 6 tiles of 160x128 per 320x240 frame, one call each
    assert stats.summary()["frames"] == n and stats.drops == 0
    assert sum(len(r.boxes_xyxy) for r in results) > n  # the comparison below is about real detections

    src = create_source(parse_source(str(mp4)))         # decode again and run the core directly
    assert src.open() is Status.OK
    for r in results:
        status, frame = src.read(5.0)
        assert status is Status.OK
        boxes, scores = detect_frame(frame.image, backend.preprocess, backend.postprocess, backend.inner.infer, 1)
        np.testing.assert_allclose(r.boxes_xyxy, boxes, atol=1e-4)
        np.testing.assert_allclose(r.scores, scores, atol=1e-6)
        assert set(r.latency_ms) == {"decode", "pre", "infer", "post", "age"}
    src.close()
