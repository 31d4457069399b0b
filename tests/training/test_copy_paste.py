"""Copy-paste of real persons: which persons a bank cuts, where and how they are pasted (the wiring into the
training crops is in test_data.py)."""
import numpy as np
import pytest

from sspnet.data.record import ImageRecord
from sspnet.training.copy_paste import PersonBank, cut_patch, feather, isolated_boxes, paste_persons


def _record(boxes, ignore=(), w=200, h=160):
    """Boxes only: which persons a bank keeps does not depend on the pixels."""
    return ImageRecord(image_path="unused.png", width=w, height=h, image_id=1, file_name="unused.png",
                       boxes_xyxy=np.asarray(boxes, np.float32).reshape(-1, 4),
                       ignore_xyxy=np.asarray(ignore, np.float32).reshape(-1, 4))


def test_bank_keeps_only_isolated_persons_of_bank_size():
    rec = _record(boxes=[(20, 20, 26, 32),      # alone: kept
                                   (100, 50, 106, 62),    # 2 px from the next one: both dropped
                                   (108, 50, 114, 62),
                                   (150, 100, 151, 103),  # 1 px wide: too small
                                   (60, 100, 66, 112),    # next to an ignore region: dropped
                                   (196, 10, 200, 20)],   # context leaves the frame: dropped
                  ignore=[(68, 100, 90, 120)])
    assert isolated_boxes(rec).tolist() == [0]


def test_cut_patch_holds_the_person_inside_a_margin():
    img = np.zeros((100, 100, 3), np.uint8)
    img[40:52, 30:36] = 255
    patch = cut_patch(img, np.array([30, 40, 36, 52], np.float32))
    x1, y1, x2, y2 = patch.box.astype(int)
    assert (patch.pixels[y1:y2, x1:x2] == 255).all()
    assert patch.pixels.shape[0] > 12 and patch.pixels.shape[1] > 6
    assert (patch.pixels[0] == 0).all() and (patch.pixels[:, 0] == 0).all()


def test_feather_is_one_on_the_box_and_fades_to_the_border():
    alpha = feather(20, 10, np.array([3, 5, 7, 15], np.float32))[..., 0]
    assert (alpha[5:15, 3:7] == 1.0).all()
    assert alpha[0, 0] < 0.1 and alpha[-1, -1] < 0.1 and alpha.min() >= 0.0


def _bank():
    pixels = np.full((24, 12, 3), 90, np.uint8)
    pixels[6:18, 3:9] = (30, 200, 250)
    return PersonBank([cut_patch(pixels, np.array([3, 6, 9, 18], np.float32))])


def test_paste_adds_boxes_that_hold_the_person_and_avoid_persons_and_ignore():
    crop = np.full((128, 160, 3), 90, np.uint8)
    boxes = np.array([[10, 10, 16, 22]], np.float32)
    ignore = np.array([[100, 60, 160, 128]], np.float32)
    out, new = paste_persons(crop.copy(), boxes, ignore, _bank(), (1.5, 1.5), 8, np.random.default_rng(3))
    assert 1 < len(new) <= 9 and (new[0] == boxes[0]).all()
    pasted = new[1:]
    for b in pasted:
        x1, y1, x2, y2 = np.round(b).astype(int)
        assert 0 <= x1 < x2 <= 160 and 0 <= y1 < y2 <= 128
        np.testing.assert_allclose(b[2:] - b[:2], (9.0, 18.0), atol=1.0)           # 6 x 12 px at 1.5x
        centre = out[(y1 + y2) // 2, (x1 + x2) // 2]
        assert abs(int(centre[1]) - 200) <= 10                                       # the person's colour
        for other in np.concatenate([boxes, ignore]):
            assert min(b[2], other[2]) <= max(b[0], other[0]) or min(b[3], other[3]) <= max(b[1], other[1])
    for i in range(len(pasted)):
        for j in range(i + 1, len(pasted)):
            a, b = pasted[i], pasted[j]
            assert min(a[2], b[2]) <= max(a[0], b[0]) or min(a[3], b[3]) <= max(a[1], b[1])


def test_paste_skips_black_padding():
    crop = np.zeros((64, 64, 3), np.uint8)
    out, new = paste_persons(crop.copy(), np.zeros((0, 4), np.float32), np.zeros((0, 4), np.float32), _bank(),
                             (1.0, 1.0), 8, np.random.default_rng(0))
    assert len(new) == 0 and (out == 0).all()


def test_bank_takes_no_synthetic_person():
    real, rendered = _record(boxes=[(20, 20, 26, 32)]), _record(boxes=[(60, 60, 66, 72)])
    rendered.synthetic = True
    image = np.zeros((160, 200, 3), np.uint8)
    assert len(PersonBank.from_records([real, rendered], lambda i: image)) == 1
    with pytest.raises(ValueError, match="copy_paste=0"):
        PersonBank.from_records([rendered], lambda i: image)


def test_empty_bank_is_a_clear_error():
    rec = _record(boxes=[(100, 50, 106, 62), (108, 50, 114, 62)])
    with pytest.raises(ValueError, match="copy_paste=0"):
        PersonBank.from_records([rec], lambda i: pytest.fail("no isolated person: no image to read"))


def test_paste_matches_the_margin_to_the_background_and_keeps_the_contrast():
    crop = np.full((96, 96, 3), 160, np.uint8)                # a brighter background than the bank's 90
    out, new = paste_persons(crop.copy(), np.zeros((0, 4), np.float32), np.zeros((0, 4), np.float32), _bank(),
                             (1.0, 1.0), 4, np.random.default_rng(1))
    assert len(new) >= 1
    x1, y1, x2, y2 = np.round(new[0]).astype(int)
    assert np.abs(out[y1 - 2, (x1 + x2) // 2].astype(int) - 160).max() <= 3    # no seam: the margin is background
    person = out[(y1 + y2) // 2, (x1 + x2) // 2].astype(int)
    np.testing.assert_allclose(person, (30 + 70, 255, 255), atol=3)   # shifted with it (+70, clipped)
