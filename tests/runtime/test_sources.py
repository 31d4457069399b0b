"""Sources on real GStreamer: statuses, frames as numpy views with PTS, live drop policy, file back-pressure."""
from __future__ import annotations

import time

import numpy as np
import pytest

from sspnet.runtime.sources import create_source, parse_source
from sspnet.runtime.sources.base import Status

pytestmark = pytest.mark.usefixtures("gstreamer")


def read_all(src, timeout=5.0) -> tuple:
    frames = []
    while True:
        status, frame = src.read(timeout)
        if status is not Status.OK:
            return frames, status
        frames.append(frame)


def test_file_every_frame_then_eos(clip):
    mp4, _, n = clip
    src = create_source(parse_source(str(mp4)))
    assert src.open() is Status.OK
    time.sleep(0.5)  # a slow consumer: the decoder must wait (back-pressure), not drop
    frames, status = read_all(src)
    src.close()
    assert status is Status.EOS and len(frames) == n and src.dropped == 0
    f = frames[3]
    assert f.image.shape == (240, 320, 3) and f.image.dtype == np.uint8 and not f.image.flags.writeable
    assert [fr.index for fr in frames] == list(range(n))
    assert [fr.pts_ns for fr in frames] == [i * 100_000_000 for i in range(n)]
    assert float(src.framerate) == pytest.approx(10.0)


def test_missing_file_is_an_error_with_its_name(tmp_path):
    src = create_source(parse_source(str(tmp_path / "nope.mp4")))
    assert src.open() is Status.ERROR
    assert "nope.mp4" in src.error and "no such file" in src.error


def test_not_a_video_is_an_error(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"this is not a video" * 100)
    src = create_source(parse_source(str(bad)))
    assert src.open() is Status.OK
    frames, status = read_all(src)
    src.close()
    assert status is Status.ERROR and frames == [] and src.error


def test_live_source_keeps_only_the_newest_frame():
    src = create_source(parse_source("test://ball?width=160&height=120&fps=100"))
    assert src.open() is Status.OK
    status, first = src.read(5.0)
    assert status is Status.OK
    time.sleep(0.5)                               # ~50 frames arrive meanwhile; only the newest is kept
    status, frame = src.read(1.0)
    src.close()
    assert status is Status.OK and src.dropped >= 20
    assert frame.index == 1 and frame.pts_ns - first.pts_ns >= 400_000_000
    age_ms = (frame.ready_ns - frame.capture_ns) / 1e6
    assert 0 <= age_ms < 250, age_ms              # the frame handed out was captured moments ago


def test_timeout_status(tmp_path):
    src = create_source(parse_source("test://?width=64&height=48&fps=1"))
    assert src.open() is Status.OK
    assert src.read(5.0)[0] is Status.OK
    status, frame = src.read(0.2)                 # next frame is a second away
    src.close()
    assert status is Status.TIMEOUT and frame is None


def test_padded_rows_give_a_strided_view():
    src = create_source(parse_source("test://ball?width=161&height=121&fps=30"))   # BGR rows padded to 4 bytes
    assert src.open() is Status.OK
    status, frame = src.read(5.0)
    src.close()
    assert status is Status.OK and frame.image.shape == (121, 161, 3)
    assert frame.image.strides == (484, 3, 1)   # a view over the decoded bytes, no repacking copy
