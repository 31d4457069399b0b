"""The paper's photometric augmentations (the official repo's Albumentations pipeline) in numpy + OpenCV.

Each transform takes an HWC uint8 BGR crop and a ``numpy.random.Generator`` and returns a new uint8 crop, so a
crop is a pure function of its seed (the resume test relies on that). The geometric ``ShiftScaleRotate`` of the
official pipeline is left out on purpose: random crops already shift, and rotating axis-aligned boxes by 45° inflates
them; horizontal flips live in ``training/data.py`` because they move the boxes.

Probabilities and ranges, in the official order:

| transform | p | range |
|---|---|---|
| brightness/contrast | 0.4 | brightness β ∈ [−0.1, 0.3]·255, contrast α ∈ 1 + [0.1, 0.3] |
| one of RGB shift / HSV shift | 0.1 | RGB ±10 per channel; hue ±20, saturation ±30, value ±20 |
| JPEG re-encode | 0.2 | quality 85–95 |
| channel shuffle | 0.1 | |
| one of blur / median blur / motion blur | 0.1 | kernel 3 |
"""
from __future__ import annotations

import cv2
import numpy as np

P_BRIGHTNESS_CONTRAST = 0.4
BRIGHTNESS_RANGE = (-0.1, 0.3)
CONTRAST_RANGE = (0.1, 0.3)
P_COLOR_SHIFT = 0.1
RGB_SHIFT = 10
HSV_SHIFT = (20, 30, 20)
P_JPEG = 0.2
JPEG_QUALITY = (85, 95)
P_CHANNEL_SHUFFLE = 0.1
P_BLUR = 0.1
BLUR_KERNEL = 3


def brightness_contrast(img_bgr: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    alpha = 1.0 + rng.uniform(*CONTRAST_RANGE)
    beta = rng.uniform(*BRIGHTNESS_RANGE) * 255.0
    lut = np.clip(np.arange(256, dtype=np.float32) * alpha + beta, 0, 255).astype(np.uint8)
    return cv2.LUT(img_bgr, lut)


def rgb_shift(img_bgr: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    shift = rng.uniform(-RGB_SHIFT, RGB_SHIFT, size=3).astype(np.float32)
    return np.clip(img_bgr.astype(np.float32) + shift, 0, 255).astype(np.uint8)


def hsv_shift(img_bgr: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    dh, ds, dv = (rng.uniform(-lim, lim) for lim in HSV_SHIFT)
    hsv = cv2.cvtColor(img_bgr, cv2.COLOR_BGR2HSV).astype(np.int16)  # OpenCV uint8 hue is 0..179
    hsv[..., 0] = (hsv[..., 0] + int(round(dh))) % 180
    hsv[..., 1] = np.clip(hsv[..., 1] + int(round(ds)), 0, 255)
    hsv[..., 2] = np.clip(hsv[..., 2] + int(round(dv)), 0, 255)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)


def jpeg_reencode(img_bgr: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    quality = int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1))
    ok, buf = cv2.imencode(".jpg", img_bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError(f"OpenCV could not JPEG-encode a {img_bgr.shape} crop")
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def channel_shuffle(img_bgr: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.ascontiguousarray(img_bgr[..., rng.permutation(3)])


def motion_blur(img_bgr: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 3×3 line kernel in one of the four directions (horizontal, vertical, two diagonals)."""
    k = np.zeros((BLUR_KERNEL, BLUR_KERNEL), np.float32)
    direction = int(rng.integers(4))
    if direction == 0:
        k[1, :] = 1
    elif direction == 1:
        k[:, 1] = 1
    elif direction == 2:
        np.fill_diagonal(k, 1)
    else:
        np.fill_diagonal(np.fliplr(k), 1)
    return cv2.filter2D(img_bgr, -1, k / k.sum())


def blur_one_of(img_bgr: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    choice = int(rng.integers(3))
    if choice == 0:
        return cv2.blur(img_bgr, (BLUR_KERNEL, BLUR_KERNEL))
    if choice == 1:
        return cv2.medianBlur(img_bgr, BLUR_KERNEL)
    return motion_blur(img_bgr, rng)


def photometric(img_bgr: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The full chain with the paper's probabilities. Input and output: HWC uint8 BGR."""
    out = img_bgr
    if rng.random() < P_BRIGHTNESS_CONTRAST:
        out = brightness_contrast(out, rng)
    if rng.random() < P_COLOR_SHIFT:
        out = rgb_shift(out, rng) if rng.random() < 0.5 else hsv_shift(out, rng)
    if rng.random() < P_JPEG:
        out = jpeg_reencode(out, rng)
    if rng.random() < P_CHANNEL_SHUFFLE:
        out = channel_shuffle(out, rng)
    if rng.random() < P_BLUR:
        out = blur_one_of(out, rng)
    return out
