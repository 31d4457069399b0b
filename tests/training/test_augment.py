"""Photometric augmentations: shapes, dtypes, determinism per seed, and what each transform does."""
import numpy as np
import pytest

from sspnet.training import augment


def _img(seed=0):
    return np.random.default_rng(seed).integers(0, 256, (32, 40, 3), dtype=np.uint8)


@pytest.mark.parametrize("fn", [augment.brightness_contrast, augment.rgb_shift, augment.hsv_shift,
                                augment.jpeg_reencode, augment.channel_shuffle, augment.blur_one_of,
                                augment.motion_blur, augment.photometric])
def test_transform_keeps_shape_dtype_and_is_seeded(fn):
    img = _img()
    a, b = fn(img, np.random.default_rng(5)), fn(img, np.random.default_rng(5))
    assert a.shape == img.shape and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)


def test_brightness_contrast_brightens_on_average():
    img = np.full((8, 8, 3), 100, np.uint8)
    outs = [augment.brightness_contrast(img, np.random.default_rng(s)).mean() for s in range(50)]
    # alpha in [1.1, 1.3], beta in [-25.5, 76.5]: mean output > input
    assert min(outs) >= 100 * 1.1 - 25.5 - 1 and np.mean(outs) > 100


def test_channel_shuffle_permutes_channels():
    img = np.zeros((4, 4, 3), np.uint8)
    img[..., 0], img[..., 1], img[..., 2] = 10, 20, 30
    orders = set()
    for s in range(30):
        out = augment.channel_shuffle(img, np.random.default_rng(s))
        order = tuple(out[0, 0].tolist())
        assert sorted(order) == [10, 20, 30] and (out == np.asarray(order, np.uint8)).all()  # whole planes move
        orders.add(order)
    # the identity alone would pass the checks above, so every one of the 6 orders must turn up
    assert len(orders) == 6


def test_rgb_shift_is_bounded():
    img = np.full((4, 4, 3), 128, np.uint8)
    out = augment.rgb_shift(img, np.random.default_rng(2)).astype(int)
    assert np.abs(out - 128).max() <= augment.RGB_SHIFT


def test_chain_applies_transforms_at_the_stated_rates():
    img = _img(1)
    changed = sum(not np.array_equal(augment.photometric(img, np.random.default_rng(s)), img) for s in range(400))
    # P(no transform) = 0.6 * 0.9 * 0.8 * 0.9 * 0.9 = 0.35 -> about 65 % changed
    assert 0.55 * 400 < changed < 0.75 * 400
