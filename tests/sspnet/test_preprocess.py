import numpy as np

from sspnet.postprocess import Postprocess, decode_fovea, detect_frame, fovea_points
from sspnet.preprocess import FullFrame, Preprocess, frame_to_tiles, normalize


def test_normalize_colour_order_and_layout():
    pre = Preprocess(mean=(0, 0, 0), std=(1, 1, 1))
    img = np.zeros((2, 3, 3), np.uint8)
    img[..., 0] = 10  # blue in BGR
    x = normalize(img, pre)
    assert x.shape == (3, 2, 3) and x.dtype == np.float32
    assert x[2].max() == 10 and x[0].max() == 0  # blue ends up last in RGB


def test_frame_to_tiles_scale_and_count():
    pre = Preprocess(input_w=64, input_h=48, scale=2.0, overlap=0)
    t = frame_to_tiles(np.zeros((48, 64, 3), np.uint8), pre)
    assert t.batch.shape[1:] == (3, 48, 64)
    assert len(t.batch) == len(t.corners_xyxy) == 4  # 128x96 → 2x2 tiles
    assert t.frame_wh == (64, 48)


def test_stretch_x_widens_frames_before_tiling():
    pre = Preprocess(input_w=64, input_h=48, scale=1.0, stretch_x=2.0, overlap=0)
    t = frame_to_tiles(np.zeros((48, 64, 3), np.uint8), pre)
    assert t.scale_xy == (2.0, 1.0) and len(t.batch) == 2       # 128x48 → 2x1 tiles
    assert pre.scale_text() == "1 (x 2 across)" and Preprocess(scale=2.5).scale_text() == "2.5"


def test_digest_changes_with_any_field():
    assert Preprocess().digest() != Preprocess(scale=2.0).digest()
    assert Preprocess().digest() != Preprocess(stretch_x=1.5).digest()
    assert Preprocess.from_dict(Preprocess().to_dict()) == Preprocess()
    assert Preprocess.from_dict(Preprocess(stretch_x=1.78).to_dict()).stretch_x == 1.78
    assert Preprocess.from_dict(Preprocess(person_px=29.7).to_dict()).person_px == 29.7
    assert not {"stretch_x", "person_px"} & set(Preprocess().to_dict())   # manifests and digests from before hold


def test_decode_fovea_hand_case():
    pts = fovea_points(16, 8, [8])[0]
    assert pts.tolist() == [[4, 4], [12, 4]]
    boxes = decode_fovea(np.zeros((2, 4), np.float32), pts, 2.0, 16, 8)
    np.testing.assert_allclose(boxes, [[2, 2, 6, 6], [10, 2, 14, 6]])


def test_detect_frame_maps_back_to_source_pixels():
    """A 'model' that reports one box at a fixed tile position; detections come back in frame pixels."""
    pre = Preprocess(input_w=64, input_h=48, scale=2.0, overlap=0)

    def run_batch(batch):
        boxes = np.tile(np.array([[[10, 10, 20, 20]]], np.float32), (len(batch), 1, 1))
        return boxes, np.full((len(batch), 1), 0.9, np.float32)

    boxes, scores = detect_frame(np.zeros((48, 64, 3), np.uint8), pre, Postprocess(), run_batch)
    # 4 tiles at corners (0,0) (64,0) (0,48) (64,48) in the 2x frame → /2 in the source frame
    assert len(boxes) == 4
    assert sorted(map(tuple, boxes.tolist()))[0] == (5.0, 5.0, 10.0, 10.0)
    wide = Preprocess(input_w=64, input_h=48, scale=2.0, stretch_x=1.5, overlap=0)    # 3x across, 2x down
    boxes, _ = detect_frame(np.zeros((48, 64, 3), np.uint8), wide, Postprocess(), run_batch)
    np.testing.assert_allclose(sorted(map(tuple, boxes.tolist()))[0], (10 / 3, 5, 20 / 3, 10), rtol=1e-6)


def test_full_frame_of_a_1080p_frame_at_a_scale():
    assert FullFrame.of_frame(1920, 1080, (2.0, 2.0)) == FullFrame(3840, 2176, 32)      # 2160 padded to 2176
    assert FullFrame.of_frame(1920, 1080, (2.5, 2.5)) == FullFrame(4800, 2720, 32)
    assert FullFrame.of_frame(1920, 1080, (1.0, 1.0), 64) == FullFrame(1920, 1088, 64)
    assert FullFrame.of_frame(1920, 1080, (2.5, 2.5)).fits(4800, 2700)
    assert FullFrame.of_frame(640, 640, (4.0, 2.25)) == FullFrame(2560, 1440, 32)
