"""Training crops from dataset records: random up-scaling, crops around persons or at random, flips, the paper's
photometric augmentations, copy-paste of real persons (``copy_paste.py``), the TinyPerson keep rule, and the one
normalisation path of the core.

A crop is a pure function of (seed, epoch, sample index): every sample draws from its own
``numpy.random.default_rng([seed, epoch, index])``, so worker processes, DDP ranks and a resumed run all see the
same pixels. Decoded images are cached in memory (up to ``cache_mb``); the geometry is one ``cv2.warpAffine`` per
crop straight from the cached source image, so up-scaling costs only the crop's pixels.

Targets per crop: ``boxes`` [G, 4] xyxy crop pixels (persons kept by the TinyPerson rule,
√(visible/full area) ≥ 0.7)
and ``ignore`` [I, 4] xyxy (the record's ignore regions plus persons that the crop cuts below the keep ratio, so a
half-visible person is neither a positive nor a negative).
"""
from __future__ import annotations

import math

import cv2
import numpy as np
import torch

from sspnet.config import Config
from sspnet.boxes import scale_boxes
from sspnet.data.record import ImageRecord
from sspnet.preprocess import Preprocess, normalize
from sspnet.tiling import boxes_in_tile
from sspnet.training.augment import photometric
from sspnet.training.copy_paste import PersonBank, paste_persons

KEEP_RATIO = 0.7          # TinyPerson: √(clipped area / full area) ≥ 0.7 keeps a box in a tile
MIN_BOX_PX = 1.0          # as in the paper's pipeline: boxes under 1 px wide or tall are dropped (here: ignore)
EMPTY_CROP_TRIES = 10     # random positions tried when an empty crop is wanted


def crop_origin_around(box_xyxy: np.ndarray, scaled_wh: tuple, crop_wh: tuple,
                       rng: np.random.Generator) -> tuple[int, int]:
    """Top-left corner (scaled-image px) of a crop that contains ``box_xyxy``, uniform over the valid positions."""
    origin = []
    for lo_edge, hi_edge, size, crop in ((box_xyxy[0], box_xyxy[2], scaled_wh[0], crop_wh[0]),
                                         (box_xyxy[1], box_xyxy[3], scaled_wh[1], crop_wh[1])):
        max_start = max(0, math.floor(size - crop))
        lo = min(max(0, math.ceil(hi_edge - crop)), max_start)
        hi = max(min(math.floor(lo_edge), max_start), lo)
        origin.append(int(rng.integers(lo, hi + 1)))
    return origin[0], origin[1]


def crop_origin_random(scaled_wh: tuple, crop_wh: tuple, rng: np.random.Generator) -> tuple[int, int]:
    return (int(rng.integers(0, max(0, math.floor(scaled_wh[0] - crop_wh[0])) + 1)),
            int(rng.integers(0, max(0, math.floor(scaled_wh[1] - crop_wh[1])) + 1)))


def choose_crop_origin(boxes_scaled_xyxy: np.ndarray, scaled_wh: tuple, crop_wh: tuple,
                       rng: np.random.Generator, empty_ratio: float) -> tuple[int, int]:
    """Around a random person with probability 1 − ``empty_ratio``; otherwise a crop without persons if one of
    ``EMPTY_CROP_TRIES`` random positions has none (else the last random position)."""
    if len(boxes_scaled_xyxy) and rng.random() >= empty_ratio:
        return crop_origin_around(boxes_scaled_xyxy[int(rng.integers(len(boxes_scaled_xyxy)))], scaled_wh, crop_wh, rng)
    origin = (0, 0)
    for _ in range(EMPTY_CROP_TRIES):
        origin = crop_origin_random(scaled_wh, crop_wh, rng)
        corner = (origin[0], origin[1], origin[0] + crop_wh[0], origin[1] + crop_wh[1])
        if len(boxes_in_tile(boxes_scaled_xyxy, corner, 0.0)[1]) == 0:
            break
    return origin


def warp_crop(img_bgr: np.ndarray, scale_xy: tuple, origin_xy: tuple, crop_wh: tuple) -> np.ndarray:
    """Scale the image by ``scale_xy`` (across, down) and cut ``crop_wh`` at ``origin_xy`` in one bilinear warp
    (zero padding outside).

    Pixel centres follow ``cv2.resize``: destination index x samples source index (x + origin + 0.5)/sx − 0.5,
    so boxes map as ``box * scale − origin``.
    """
    sx, sy = scale_xy
    m = np.array([[sx, 0.0, 0.5 * sx - 0.5 - origin_xy[0]], [0.0, sy, 0.5 * sy - 0.5 - origin_xy[1]]], np.float64)
    return cv2.warpAffine(img_bgr, m, (int(crop_wh[0]), int(crop_wh[1])), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))


def crop_targets(boxes_xyxy: np.ndarray, ignore_xyxy: np.ndarray, scale_xy: tuple, origin_xy: tuple,
                 crop_wh: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Source-image boxes → (kept person boxes [G, 4], ignore boxes [I, 4]) in crop pixels, float32."""
    corner = (origin_xy[0], origin_xy[1], origin_xy[0] + crop_wh[0], origin_xy[1] + crop_wh[1])
    boxes_s = scale_boxes(boxes_xyxy, scale_xy)
    kept, kept_idx = boxes_in_tile(boxes_s, corner, KEEP_RATIO)
    cut_mask = np.ones(len(boxes_s), bool)
    cut_mask[kept_idx] = False
    cut, _ = boxes_in_tile(boxes_s[cut_mask], corner, 0.0)      # persons the crop cuts: any visible part
    ign, _ = boxes_in_tile(scale_boxes(ignore_xyxy, scale_xy), corner, 0.0)
    wh = kept[:, 2:] - kept[:, :2]
    big = (wh >= MIN_BOX_PX).all(axis=1)
    ignore = np.concatenate([ign, cut, kept[~big]]).astype(np.float32).reshape(-1, 4)
    return kept[big].astype(np.float32).reshape(-1, 4), ignore


def hflip(crop_bgr: np.ndarray, boxes_xyxy: np.ndarray, ignore_xyxy: np.ndarray):
    w = crop_bgr.shape[1]

    def flip(b):
        return np.stack([w - b[:, 2], b[:, 1], w - b[:, 0], b[:, 3]], axis=1).astype(np.float32).reshape(-1, 4)
    return np.ascontiguousarray(crop_bgr[:, ::-1]), flip(boxes_xyxy), flip(ignore_xyxy)


class TrainCrops(torch.utils.data.Dataset):
    """Random training crops over ``records``. ``len()`` = crops per epoch: each image contributes enough crops to
    cover its area at the mean up-scale once (at least 1), or ``crops_per_image`` when that is > 0. A crop's
    up-scale u is drawn from ``upscale`` and widened by ``pre.stretch_x`` across, as inference resizes frames.

    Item: (image float32 [3, crop_h, crop_w] normalised by ``pre``, {"boxes": [G, 4], "ignore": [I, 4]} xyxy px).
    """

    def __init__(self, records: list[ImageRecord], *, pre: Preprocess, crop_wh: tuple = (640, 512),
                 upscale: tuple = (1.0, 1.0), empty_ratio: float = 0.1, flip: bool = True,
                 photometric_aug: bool = True, seed: int = 0, crops_per_image: int = 0, cache_mb: int = 2048,
                 copy_paste: int = 0):
        if not records:
            raise ValueError("no training records: the training datasets are empty (check --data / --split)")
        if upscale[0] <= 0 or upscale[1] < upscale[0]:
            raise ValueError(f"train.upscale must be (lo, hi) with 0 < lo <= hi, got {upscale}")
        self.records = records
        self.pre, self.crop_wh, self.upscale = pre, (int(crop_wh[0]), int(crop_wh[1])), tuple(upscale)
        self.empty_ratio, self.flip, self.photometric = float(empty_ratio), bool(flip), bool(photometric_aug)
        self.seed, self.epoch = int(seed), 0
        self.copy_paste, self._bank = int(copy_paste), None
        self.cache_bytes_left = int(cache_mb) << 20
        self._cache: dict[int, np.ndarray] = {}
        mean_scale = 0.5 * (self.upscale[0] + self.upscale[1])
        per_image = [crops_per_image if crops_per_image > 0 else
                     max(1, round(r.width * r.height * mean_scale ** 2 * pre.stretch_x
                                  / (self.crop_wh[0] * self.crop_wh[1])))
                     for r in records]
        self.record_of_sample = np.repeat(np.arange(len(records)), per_image)  # [num_crops]

    def __len__(self) -> int:
        return len(self.record_of_sample)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def image(self, record_idx: int) -> np.ndarray:
        img = self._cache.get(record_idx)
        if img is None:
            img = self.records[record_idx].load_image()
            if img.nbytes <= self.cache_bytes_left:
                self._cache[record_idx] = img
                self.cache_bytes_left -= img.nbytes
        return img

    def preload(self) -> None:
        """Decode every image now, and cut the copy-paste bank (before DataLoader workers fork, so they share
        both)."""
        for i in range(len(self.records)):
            self.image(i)
        if self.copy_paste:
            self.bank()

    def bank(self) -> PersonBank:
        if self._bank is None:
            self._bank = PersonBank.from_records(self.records, self.image)
        return self._bank

    def sample(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(crop HWC uint8 BGR, boxes [G, 4], ignore [I, 4]) of sample ``index`` in the current epoch."""
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        rec = self.records[int(self.record_of_sample[index])]
        img = self.image(int(self.record_of_sample[index]))
        scale = float(rng.uniform(*self.upscale))
        scale_xy = (scale * self.pre.stretch_x, scale)
        h, w = img.shape[:2]
        scaled_wh = (w * scale_xy[0], h * scale_xy[1])
        boxes_scaled = scale_boxes(rec.boxes_xyxy, scale_xy)
        origin = choose_crop_origin(boxes_scaled, scaled_wh, self.crop_wh, rng, self.empty_ratio)
        crop = warp_crop(img, scale_xy, origin, self.crop_wh)
        boxes, ignore = crop_targets(rec.boxes_xyxy, rec.ignore_xyxy, scale_xy, origin, self.crop_wh)
        if self.copy_paste and not rec.synthetic:       # real persons onto real backgrounds only
            crop, boxes = paste_persons(crop, boxes, ignore, self.bank(), scale_xy, self.copy_paste, rng)
        if self.flip and rng.random() < 0.5:
            crop, boxes, ignore = hflip(crop, boxes, ignore)
        if self.photometric:
            crop = photometric(crop, rng)
        return crop, boxes, ignore

    def __getitem__(self, index: int):
        crop, boxes, ignore = self.sample(index)
        image = torch.from_numpy(normalize(crop, self.pre))  # [3, H, W]
        return image, {"boxes": torch.from_numpy(boxes), "ignore": torch.from_numpy(ignore)}


def train_crops_from_config(records: list[ImageRecord], cfg: Config, cache_mb: int = 2048) -> TrainCrops:
    t = cfg.train
    return TrainCrops(records, pre=cfg.input, crop_wh=(t.crop_w, t.crop_h), upscale=tuple(t.upscale),
                      empty_ratio=t.empty_tile_ratio, flip=t.flip, photometric_aug=t.photometric, seed=t.seed,
                      crops_per_image=t.crops_per_image, cache_mb=cache_mb, copy_paste=t.copy_paste)


def collate(batch: list) -> tuple[torch.Tensor, list[dict]]:
    """[(image [3, H, W], target)] → (images [N, 3, H, W], [target per image])."""
    return torch.stack([b[0] for b in batch]), [b[1] for b in batch]
