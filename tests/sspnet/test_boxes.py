import numpy as np

from sspnet.boxes import box_iof, box_iou, box_vote, nms, soft_nms, xywh_to_xyxy, xyxy_to_xywh


def test_conversions_round_trip():
    xywh = np.array([[10, 20, 5, 8], [0, 0, 1, 1]], np.float64)
    xyxy = xywh_to_xyxy(xywh)
    np.testing.assert_allclose(xyxy, [[10, 20, 15, 28], [0, 0, 1, 1]])
    np.testing.assert_allclose(xyxy_to_xywh(xyxy), xywh)


def test_overlaps_hand_computed():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[5, 0, 15, 10], [0, 0, 5, 5], [20, 20, 30, 30]])
    # intersections 50, 25, 0; areas a=100, b=100/25/100
    np.testing.assert_allclose(box_iou(a, b), [[50 / 150, 25 / 100, 0]])
    np.testing.assert_allclose(box_iof(a, b), [[0.5, 0.25, 0]])
    np.testing.assert_allclose(box_iof(b, a), [[0.5], [1.0], [0]])   # over the first argument's area


def test_nms_keeps_highest_and_disjoint():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30], [0, 0, 10, 10]], np.float32)
    scores = np.array([0.5, 0.9, 0.3, 0.1], np.float32)
    keep = nms(boxes, scores, 0.5)
    assert keep.tolist() == [1, 2]


def test_nms_empty():
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).size == 0


def _nms_reference(boxes, scores, thr):
    """Textbook greedy NMS, one kept box at a time."""
    order, keep = np.argsort(-scores, kind="stable"), []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        order = rest[box_iou(boxes[i:i + 1], boxes[rest])[0] <= thr]
    return keep


def test_nms_matches_textbook_greedy_on_random_boxes():
    rng = np.random.default_rng(0)
    for trial in range(100):
        n = int(rng.integers(0, 200))
        xy = np.round(rng.uniform(0, 150, (n, 2)), 0 if trial % 2 else 3)
        boxes = np.concatenate([xy, xy + rng.uniform(0, 40, (n, 2))], 1).astype(np.float32)
        scores = np.round(rng.random(n), 1 if trial % 3 == 0 else 6).astype(np.float32)
        thr = float(rng.choice([0.3, 0.5, 0.7]))
        assert nms(boxes, scores, thr).tolist() == _nms_reference(boxes, scores, thr)


def _soft_nms_reference(boxes, scores, sigma, thr):
    """Textbook Gaussian Soft-NMS (Bodla et al.): take the best remaining box, decay all others by its IoU."""
    current, left, kept = scores.astype(np.float64).copy(), list(range(len(scores))), []
    while left:
        i = max(left, key=lambda k: (current[k], -k))
        left.remove(i)
        kept.append(i)
        if left:
            iou = box_iou(boxes[i:i + 1], boxes[left])[0]
            current[left] *= np.exp(-(iou ** 2) / sigma)
    final = [k for k in kept if current[k] >= thr]
    return sorted(final, key=lambda k: -current[k]), current


def test_soft_nms_hand_case():
    boxes = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [40, 40, 50, 50]], np.float32)   # IoU(0, 1) = 1/3
    keep, s = soft_nms(boxes, np.array([0.9, 0.8, 0.3], np.float32), sigma=0.5, score_thr=0.05)
    assert keep.tolist() == [0, 1, 2]                   # the neighbour decays, it is not removed
    np.testing.assert_allclose(s, [0.9, 0.8 * np.exp(-(1 / 9) / 0.5), 0.3], rtol=1e-6)
    keep, _ = soft_nms(boxes[:2].repeat(2, 0), np.array([0.9, 0.9, 0.8, 0.8], np.float32), 0.5, 0.2)
    assert len(keep) == 2                               # exact duplicates decay to 0.9·e^-2 = 0.12 < 0.2


def _random_boxes(rng, n: int, extent: float, size: tuple) -> np.ndarray:
    xy = rng.uniform(0, extent, (n, 2))
    return np.concatenate([xy, xy + rng.uniform(*size, (n, 2))], 1).astype(np.float32)


def test_soft_nms_matches_textbook_on_random_boxes():
    rng = np.random.default_rng(1)
    for _ in range(50):
        n = int(rng.integers(0, 80))
        boxes = _random_boxes(rng, n, 100, (1, 30))
        scores = rng.random(n).astype(np.float32)
        sigma, thr = float(rng.choice([0.3, 0.5])), float(rng.choice([0.05, 0.3]))
        keep, s = soft_nms(boxes, scores, sigma, thr)
        ref, current = _soft_nms_reference(boxes, scores, sigma, thr)
        assert keep.tolist() == ref
        np.testing.assert_allclose(s, current[ref], rtol=1e-5)


def test_soft_nms_empty_and_max_keep_is_a_prefix():
    keep, s = soft_nms(np.zeros((0, 4)), np.zeros(0), 0.5, 0.05)
    assert keep.size == 0 and s.size == 0
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 50, (60, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(2, 20, (60, 2))], 1).astype(np.float32)
    scores = rng.random(60).astype(np.float32)
    full, full_s = soft_nms(boxes, scores, 0.5, 0.05)
    top, top_s = soft_nms(boxes, scores, 0.5, 0.05, max_keep=10)
    assert top.tolist() == full[:10].tolist()
    np.testing.assert_allclose(top_s, full_s[:10])


def test_box_vote_hand_case():
    # two cells see one 4x10 person, one sees another; only the first pair is close enough to vote
    boxes = np.array([[10, 10, 14, 20], [11, 10, 15, 20], [40, 40, 44, 50]], np.float32)
    scores = np.array([0.75, 0.25, 0.5], np.float32)
    voted = box_vote(boxes, scores, np.array([0, 2]), iou_threshold=0.5)
    np.testing.assert_allclose(voted, [[10.25, 10, 14.25, 20], [40, 40, 44, 50]], rtol=1e-6)
    # above the pair's IoU (0.6) nothing votes: the kept boxes come back unchanged
    np.testing.assert_allclose(box_vote(boxes, scores, np.array([0, 2]), 0.7), boxes[[0, 2]])
    assert box_vote(np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64), 0.5).shape == (0, 4)


def test_box_vote_matches_the_dense_weighted_mean():
    rng = np.random.default_rng(4)
    for _ in range(30):
        n = int(rng.integers(1, 120))
        boxes = _random_boxes(rng, n, 60, (2, 10))
        scores = rng.uniform(0.05, 1, n).astype(np.float32)
        thr = float(rng.choice([0.3, 0.5, 0.7]))
        kept = nms(boxes, scores, 0.5)
        w = (box_iou(boxes[kept], boxes) >= thr) * scores.astype(np.float64)
        np.testing.assert_allclose(box_vote(boxes, scores, kept, thr), w @ boxes / w.sum(1, keepdims=True),
                                   rtol=1e-5, atol=1e-4)
