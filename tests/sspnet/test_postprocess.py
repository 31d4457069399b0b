import numpy as np
import pytest

from sspnet.config import ConfigError, config_from_dict
from sspnet.postprocess import Postprocess, detect_frame, select_detections, with_flip_tta
from sspnet.preprocess import Preprocess


def _cluster():
    # three cells predict one 4x10 person (best cell off by a pixel), one cell another person, one a low score
    boxes = np.array([[11, 10, 15, 20], [10, 10, 14, 20], [10, 11, 14, 21], [40, 40, 44, 50], [0, 0, 3, 3]],
                     np.float32)
    return boxes, np.array([0.6, 0.3, 0.3, 0.5, 0.01], np.float32)


def test_select_without_voting_keeps_the_best_cells_box():
    boxes, scores = _cluster()
    b, s = select_detections(boxes, scores, Postprocess())
    np.testing.assert_allclose(b, [[11, 10, 15, 20], [40, 40, 44, 50]])
    np.testing.assert_allclose(s, [0.6, 0.5])


def test_select_with_voting_moves_the_kept_box_to_its_cluster_mean():
    boxes, scores = _cluster()
    b, s = select_detections(boxes, scores, Postprocess(vote_iou=0.5))
    np.testing.assert_allclose(b, [[10.5, 10.25, 14.5, 20.25], [40, 40, 44, 50]], rtol=1e-6)
    np.testing.assert_allclose(s, [0.6, 0.5])           # scores and count are NMS's


def test_vote_iou_is_a_fraction():
    with pytest.raises(ConfigError, match=r"postprocess\.vote_iou"):
        config_from_dict({"postprocess": {"vote_iou": 1.5}})


def _spot_finder(batch):
    """A 'model' that boxes each input's brightest pixel (5 px wide, 3 px tall, off-centre to the right, so a
    mirrored view that is not mapped back lands elsewhere)."""
    flat = batch[:, 0].reshape(len(batch), -1).argmax(1)
    y, x = np.divmod(flat, batch.shape[-1])
    boxes = np.stack([x - 1, y - 1, x + 4, y + 2], -1).astype(np.float32)[:, None]
    return boxes, np.full((len(batch), 1), 0.9, np.float32)


def test_flip_tta_maps_the_mirrored_view_back():
    x = np.zeros((2, 3, 16, 24), np.float32)
    x[0, 0, 5, 7] = x[1, 0, 9, 20] = 1
    boxes, scores = with_flip_tta(_spot_finder)(x)
    assert boxes.shape == (2, 2, 4) and scores.shape == (2, 2)
    np.testing.assert_allclose(boxes[:, 0], [[6, 4, 11, 7], [19, 8, 24, 11]])
    # the mirrored view boxes the same spot, its off-centre box mirrored: left of the spot instead of right
    np.testing.assert_allclose(boxes[:, 1], [[4, 4, 9, 7], [17, 8, 22, 11]])


def test_detect_frame_with_flip_tta_pools_both_views():
    frame = np.zeros((48, 64, 3), np.uint8)
    frame[20, 30] = 255
    pre = Preprocess(input_w=64, input_h=48, scale=1.0, overlap=0, mean=(0, 0, 0), std=(1, 1, 1))
    plain, _ = detect_frame(frame, pre, Postprocess(), _spot_finder)
    pooled, _ = detect_frame(frame, pre, Postprocess(flip_tta=True, vote_iou=0.3), _spot_finder)
    np.testing.assert_allclose(plain, [[29, 19, 34, 22]])
    np.testing.assert_allclose(pooled, [[28, 19, 33, 22]])      # the two views (IoU 0.43) averaged
