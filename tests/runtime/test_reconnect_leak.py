"""Reconnecting does not leak pipelines: the decodebin/rtspsrc signal closures hold their pipeline, a cycle through
GObject that Python's collector cannot break, so every reconnect kept a whole pipeline (buffers, decoder) alive.
``close()`` disconnects them."""
from __future__ import annotations

import gc
import weakref

import pytest

from sspnet.runtime.sources import create_source, parse_source
from sspnet.runtime.sources.base import Status

pytestmark = pytest.mark.usefixtures("gstreamer")


def test_reopened_source_frees_each_pipeline(clip):
    mp4, _, _ = clip
    source = create_source(parse_source(str(mp4)))
    pipelines = []
    for _ in range(5):
        assert source.open() is Status.OK
        status, frame = source.read(10.0)
        assert status is Status.OK and frame is not None
        pipelines.append(weakref.ref(source._pipeline))
        del frame
        source.close()
    gc.collect()
    assert [p() for p in pipelines] == [None] * 5
