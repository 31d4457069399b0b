"""Training crops: geometry of the up-scaling warp, the keep rule, crop placement, flips, determinism, collate."""
import cv2
import numpy as np
import pytest
import torch

from sspnet.data.record import ImageRecord
from sspnet.preprocess import Preprocess, normalize
from sspnet.training.data import (TrainCrops, choose_crop_origin, collate, crop_origin_around, crop_targets, hflip,
                                  warp_crop)


def _record(tmp_path, w=200, h=160, boxes=((50, 40, 60, 60),), ignore=(), name="img.png"):
    img = np.full((h, w, 3), 40, np.uint8)
    for x1, y1, x2, y2 in boxes:
        img[y1:y2, x1:x2] = 220
    path = tmp_path / name
    cv2.imwrite(str(path), img)
    return ImageRecord(image_path=str(path), width=w, height=h, image_id=1, file_name=name,
                       boxes_xyxy=np.asarray(boxes, np.float32).reshape(-1, 4),
                       ignore_xyxy=np.asarray(ignore, np.float32).reshape(-1, 4))


def _bright_bbox(crop):
    ys, xs = np.nonzero(crop[..., 0] > 130)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)


@pytest.mark.parametrize("scale", [(1.0, 1.0), (2.0, 2.0), (1.5, 1.5), (1.8, 1.3)])
def test_warp_crop_moves_pixels_like_the_boxes(scale):
    img = np.full((100, 120, 3), 40, np.uint8)
    img[30:50, 40:52] = 220                                   # box (40, 30, 52, 50)
    origin = (int(20 * scale[0]), int(10 * scale[1]))
    crop = warp_crop(img, scale, origin, (64, 80))
    assert crop.shape == (80, 64, 3) and crop.dtype == np.uint8
    boxes, _ = crop_targets(np.array([[40, 30, 52, 50]]), np.zeros((0, 4)), scale, origin, (64, 80))
    np.testing.assert_allclose(_bright_bbox(crop), boxes[0], atol=1.0)


def test_warp_crop_matches_cv2_resize_then_crop():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (60, 70, 3), dtype=np.uint8)
    crop = warp_crop(img, (2.0, 2.0), (10, 6), (40, 30))
    ref = cv2.resize(img, (140, 120), interpolation=cv2.INTER_LINEAR)[6:36, 10:50]
    assert np.abs(crop.astype(int) - ref.astype(int)).max() <= 1
    crop = warp_crop(img, (3.0, 1.5), (10, 6), (40, 30))      # stretched across, as resize_frame does
    ref = cv2.resize(img, (210, 90), interpolation=cv2.INTER_LINEAR)[6:36, 10:50]
    assert np.abs(crop.astype(int) - ref.astype(int)).max() <= 1


def test_warp_pads_with_zeros_past_the_image():
    img = np.full((50, 40, 3), 200, np.uint8)
    crop = warp_crop(img, (1.0, 1.0), (0, 0), (64, 64))
    assert crop[:50, :40].min() == 200 and crop[50:].max() == 0 and crop[:, 40:].max() == 0


def test_keep_rule_turns_cut_persons_into_ignore():
    boxes = np.array([[10, 10, 20, 20],      # inside
                      [95, 10, 105, 20],     # half visible: sqrt(0.5) = 0.707 -> kept, clipped
                      [98, 30, 108, 40],     # 20 % visible -> ignore
                      [300, 300, 310, 310]], np.float32)  # outside -> gone
    ignore = np.array([[0, 90, 30, 120]], np.float32)      # crosses the crop border -> clipped ignore
    kept, ign = crop_targets(boxes, ignore, (1.0, 1.0), (0, 0), (100, 100))
    np.testing.assert_allclose(kept, [[10, 10, 20, 20], [95, 10, 100, 20]])
    assert ign.shape == (2, 4)
    np.testing.assert_allclose(ign[0], [0, 90, 30, 100])
    np.testing.assert_allclose(ign[1], [98, 30, 100, 40])


def test_sub_pixel_boxes_become_ignore():
    kept, ign = crop_targets(np.array([[10, 10, 10.5, 14]]), np.zeros((0, 4)), (1.0, 1.0), (0, 0), (50, 50))
    assert len(kept) == 0 and len(ign) == 1


def test_crop_around_box_always_contains_it():
    box = np.array([150.0, 90.0, 162.0, 118.0])
    for seed in range(200):
        x0, y0 = crop_origin_around(box, (400, 300), (64, 48), np.random.default_rng(seed))
        assert 0 <= x0 <= 400 - 64 and 0 <= y0 <= 300 - 48
        assert x0 <= box[0] and box[2] <= x0 + 64 and y0 <= box[1] and box[3] <= y0 + 48


def test_crop_of_image_smaller_than_crop_starts_at_zero():
    assert crop_origin_around(np.array([5.0, 5, 9, 9]), (30, 20), (64, 48), np.random.default_rng(0)) == (0, 0)


def test_empty_crops_avoid_persons_when_possible():
    boxes = np.array([[10, 10, 20, 20]], np.float32)
    for seed in range(50):
        x0, y0 = choose_crop_origin(boxes, (400, 300), (64, 48), np.random.default_rng(seed), empty_ratio=1.0)
        assert not (x0 < 20 and x0 + 64 > 10 and y0 < 20 and y0 + 48 > 10)


def test_hflip_mirrors_boxes_and_pixels():
    crop = np.zeros((10, 20, 3), np.uint8)
    crop[2:4, 1:5] = 255
    out, boxes, ign = hflip(crop, np.array([[1, 2, 5, 4]], np.float32), np.zeros((0, 4), np.float32))
    np.testing.assert_allclose(boxes, [[15, 2, 19, 4]])
    assert _bright_bbox(out).tolist() == [15, 2, 19, 4] and ign.shape == (0, 4)


def test_dataset_items_are_normalised_crops_with_targets(tmp_path):
    rec = _record(tmp_path)
    pre = Preprocess(input_w=64, input_h=48)
    ds = TrainCrops([rec], pre=pre, crop_wh=(64, 48), upscale=(1.0, 2.0), empty_ratio=0.0, seed=3)
    assert len(ds) == round(200 * 160 * 1.5 ** 2 / (64 * 48))     # covers the mean up-scaled area once
    image, target = ds[0]
    crop, boxes, ignore = ds.sample(0)
    assert image.shape == (3, 48, 64) and image.dtype == torch.float32
    np.testing.assert_array_equal(image.numpy(), normalize(crop, pre))  # the core's normalisation path
    assert target["boxes"].shape == (1, 4) and target["ignore"].shape == (0, 4)
    w = boxes[0, 2] - boxes[0, 0]
    assert 10 <= w <= 20                                               # 10 px person, up-scaled 1..2x


def test_stretch_x_widens_crops_as_inference_widens_frames(tmp_path):
    rec = _record(tmp_path)                                           # one 10 x 20 px person
    pre = Preprocess(input_w=64, input_h=48, stretch_x=2.0)
    ds = TrainCrops([rec], pre=pre, crop_wh=(64, 48), upscale=(1.5, 1.5), empty_ratio=0.0, flip=False,
                    photometric_aug=False, seed=3)
    assert len(ds) == round(200 * 160 * 1.5 ** 2 * 2.0 / (64 * 48))  # the widened frame's area
    crop, boxes, _ = ds.sample(0)
    np.testing.assert_allclose(boxes[0, 2:] - boxes[0, :2], [30, 30])   # 10 x 1.5 x 2 across, 20 x 1.5 down
    np.testing.assert_allclose(_bright_bbox(crop), boxes[0], atol=1.0)


def test_crops_are_a_function_of_seed_epoch_and_index(tmp_path):
    rec = _record(tmp_path, boxes=((50, 40, 60, 60), (120, 100, 126, 110)))
    kw = dict(pre=Preprocess(input_w=64, input_h=48), crop_wh=(64, 48), upscale=(1.0, 2.0), seed=7)
    a, b = TrainCrops([rec], **kw), TrainCrops([rec], **kw)
    for i in (0, 5, 3):
        ca, cb = a.sample(i), b.sample(i)
        for x, y in zip(ca, cb):
            np.testing.assert_array_equal(x, y)
    b.set_epoch(1)
    assert any(not np.array_equal(a.sample(i)[0], b.sample(i)[0]) for i in range(4))


def test_crops_per_image_and_cache(tmp_path):
    recs = [_record(tmp_path, name=f"im{i}.png") for i in range(3)]
    ds = TrainCrops(recs, pre=Preprocess(input_w=64, input_h=48), crop_wh=(64, 48), crops_per_image=5, cache_mb=1)
    assert len(ds) == 15 and ds.record_of_sample.tolist() == [0] * 5 + [1] * 5 + [2] * 5
    ds.preload()
    assert len(ds._cache) == 3                                          # 3 x 96 kB fit in 1 MB


def test_empty_records_are_an_error():
    with pytest.raises(ValueError, match="no training records"):
        TrainCrops([], pre=Preprocess())


def test_collate_stacks_images_and_keeps_targets(tmp_path):
    ds = TrainCrops([_record(tmp_path)], pre=Preprocess(input_w=64, input_h=48), crop_wh=(64, 48), seed=0)
    images, targets = collate([ds[0], ds[1], ds[2]])
    assert images.shape == (3, 3, 48, 64) and len(targets) == 3
    assert all(set(t) == {"boxes", "ignore"} for t in targets)


def test_training_crops_paste_deterministically_and_only_when_asked(tmp_path):
    rec = _record(tmp_path, w=320, h=256, boxes=((40, 40, 46, 52),))
    common = dict(pre=Preprocess(), crop_wh=(160, 128), upscale=(1.0, 1.0), empty_ratio=0.0,
                  photometric_aug=False, seed=5, crops_per_image=4)
    plain = TrainCrops([rec], **common)
    pasting = TrainCrops([rec], copy_paste=6, **common)
    counts = [len(pasting.sample(i)[1]) for i in range(4)]
    assert all(len(plain.sample(i)[1]) == 1 for i in range(4))
    assert max(counts) > 1
    again = TrainCrops([rec], copy_paste=6, **common)
    for i in range(4):
        a, b = pasting.sample(i), again.sample(i)
        assert (a[0] == b[0]).all() and (a[1] == b[1]).all()
    rendered = _record(tmp_path, w=320, h=256, boxes=((40, 40, 46, 52),), name="synth.png")
    rendered.synthetic = True                                # real persons go onto real frames only
    both = TrainCrops([rec, rendered], copy_paste=6, **common)
    assert all(len(both.sample(i)[1]) == 1 for i in range(4, 8))
