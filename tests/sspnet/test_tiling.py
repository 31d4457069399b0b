import numpy as np
import pytest

from sspnet.tiling import boxes_in_tile, crop_tiles, merge_tile_detections, tile_layout, tile_starts


def test_tile_starts_shift_last_inside():
    # TinyBenchmark's README example: 1280x720 frame, 640x512 tiles, 50 px overlap
    assert tile_starts(1280, 640, 50) == [0, 590, 640]
    assert tile_starts(720, 512, 50) == [0, 208]
    assert tile_starts(300, 640, 50) == [0]


def test_1080p_needs_12_tiles():
    corners = tile_layout(1920, 1080, 640, 512, 50)
    assert corners.shape == (12, 4)
    assert (corners[:, 2] <= 1920).all() and (corners[:, 3] <= 1080).all()
    assert ((corners[:, 2] - corners[:, 0]) == 640).all()


def test_overlap_must_be_smaller_than_tile():
    with pytest.raises(ValueError, match="overlap"):
        tile_starts(1000, 50, 50)


def test_crop_pads_small_images():
    img = np.full((100, 200, 3), 7, np.uint8)
    tiles = crop_tiles(img, tile_layout(200, 100, 64, 48, 8))
    assert tiles.shape[1:] == (48, 64, 3)
    small = crop_tiles(img, tile_layout(200, 100, 640, 512, 50))
    assert small.shape == (1, 512, 640, 3)
    assert small[0, :100, :200].min() == 7 and small[0, 100:].max() == 0


def test_keep_rule():
    boxes = np.array([[0, 0, 10, 10], [95, 0, 105, 10], [99, 0, 109, 10]], np.float32)
    kept, idx = boxes_in_tile(boxes, (0, 0, 100, 100))
    # box 1 keeps half its area: sqrt(0.5)=0.707 >= 0.7; box 2 keeps 10%: dropped
    assert idx.tolist() == [0, 1]
    np.testing.assert_allclose(kept[1], [95, 0, 100, 10])


def test_merge_shifts_and_suppresses_duplicates():
    corners = np.array([[0, 0, 100, 100], [50, 0, 150, 100]])
    b0 = np.array([[60, 10, 70, 20]], np.float32)
    b1 = np.array([[10, 10, 20, 20]], np.float32)  # the same person seen by the second tile
    boxes, scores = merge_tile_detections([b0, b1], [np.array([0.9]), np.array([0.8])], corners)
    assert len(boxes) == 1 and scores[0] == pytest.approx(0.9)
    np.testing.assert_allclose(boxes[0], [60, 10, 70, 20])
