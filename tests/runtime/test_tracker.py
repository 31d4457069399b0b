"""IouTracker on hand-made frames: ids are stable, one-frame flickers never reported, a missed frame tolerated."""
from __future__ import annotations

import numpy as np
import pytest

from sspnet.runtime.tracker import IouTracker

A = [10, 10, 20, 30]
B = [100, 50, 110, 70]


def step(tracker, boxes):
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    idx, ids = tracker.update(boxes, np.ones(len(boxes), np.float32))
    return idx.tolist(), ids.tolist()


def test_confirmed_after_two_frames_with_stable_ids():
    t = IouTracker(iou_thr=0.3, min_hits=2, max_misses=2)
    assert step(t, [A, B]) == ([], [])                     # tentative: nothing reported
    assert step(t, [B, A]) == ([0, 1], [2, 1])              # A's track was created first: id 1; B: id 2
    assert step(t, [B, [11, 10, 21, 30]]) == ([0, 1], [2, 1])  # A moved one pixel: same id


def test_one_frame_flicker_is_suppressed():
    t = IouTracker(min_hits=2)
    step(t, [A])
    step(t, [A])
    assert step(t, [A, B]) == ([0], [1])                    # B appears once ...
    assert step(t, [A]) == ([0], [1])                       # ... and is gone: never reported
    assert step(t, [A, B]) == ([0], [1])                    # a new tentative B, still not reported


def test_missed_frames_keep_the_id_until_max_misses():
    t = IouTracker(min_hits=2, max_misses=1)
    step(t, [A])
    assert step(t, [A]) == ([0], [1])
    assert step(t, []) == ([], [])                          # missed once: kept
    assert step(t, [A]) == ([0], [1])                       # same person, same id
    step(t, [])
    step(t, [])                                             # missed twice > max_misses: dropped
    step(t, [A])
    assert step(t, [A]) == ([0], [2])                       # comes back as a new track


def test_empty_frames_and_bad_settings():
    t = IouTracker()
    assert step(t, []) == ([], [])
    with pytest.raises(ValueError):
        IouTracker(iou_thr=0)
