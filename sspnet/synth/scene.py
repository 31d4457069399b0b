"""Aerial background textures: sea, beach (sea + surf + sand), grass, road.

Everything is vectorised numpy + cv2: smooth noise is a small random grid up-sampled with bicubic interpolation,
waves are directional sinusoids warped by noise. ``render_scene`` returns the texture plus the masks that say
where swimmers (water) and walkers (land) may be placed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

SCENE_KINDS = ("sea", "beach", "grass", "road")
SCENE_WEIGHTS = (0.2, 0.45, 0.2, 0.15)  # beaches dominate TinyPerson


@dataclass
class Scene:
    """A rendered background. ``water_mask``/``land_mask`` are [H, W] bool; ``image_bgr`` is [H, W, 3] uint8."""
    kind: str
    image_bgr: np.ndarray
    water_mask: np.ndarray
    land_mask: np.ndarray


def smooth_noise(h_px: int, w_px: int, cell_px: float, rng: np.random.Generator) -> np.ndarray:
    """Band-limited noise, [H, W] float32, roughly zero-mean unit-variance, feature size ~``cell_px``."""
    gh, gw = int(h_px / cell_px) + 3, int(w_px / cell_px) + 3
    grid = rng.standard_normal((gh, gw)).astype(np.float32)
    big = cv2.resize(grid, (int(gw * cell_px), int(gh * cell_px)), interpolation=cv2.INTER_CUBIC)
    return big[int(cell_px):int(cell_px) + h_px, int(cell_px):int(cell_px) + w_px]


def fractal_noise(h_px: int, w_px: int, rng: np.random.Generator, cells_px=(256, 64, 16, 4),
                  gains=(1.0, 0.5, 0.3, 0.2)) -> np.ndarray:
    """Sum of ``smooth_noise`` octaves, [H, W] float32."""
    out = np.zeros((h_px, w_px), np.float32)
    for cell, gain in zip(cells_px, gains):
        out += gain * smooth_noise(h_px, w_px, cell, rng)
    return out


def _coords(h_px: int, w_px: int) -> tuple:
    """Broadcastable pixel coordinates: yy [H, 1], xx [1, W] float32."""
    return np.arange(h_px, dtype=np.float32)[:, None], np.arange(w_px, dtype=np.float32)[None, :]


def _tint(base_bgr, shade: np.ndarray, strength: float) -> np.ndarray:
    """Colour image [H, W, 3] float32: ``base_bgr`` brightened/darkened by ``shade`` * ``strength``."""
    gain = 1.0 + np.float32(strength) * shade  # [H, W]
    return cv2.merge([gain * np.float32(c) for c in base_bgr])


def _paint(img: np.ndarray, mask: np.ndarray, grey: float, keep: float) -> None:
    """In place where ``mask``: ``img = keep * img + (1 - keep) * grey``, touching only the rows the mask spans."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return
    r0, r1 = int(rows[0]), int(rows[-1]) + 1
    band = img[r0:r1]  # full-width rows: a contiguous view, written in place below
    target = cv2.addWeighted(band, keep, band, 0.0, (1.0 - keep) * grey)
    cv2.copyTo(target, mask[r0:r1].view(np.uint8), band)


def _grain(h_px: int, w_px: int, rng: np.random.Generator) -> np.ndarray:
    """Per-pixel grain [H, W] float32, uniform, zero mean, unit variance."""
    return (rng.random((h_px, w_px), dtype=np.float32) - np.float32(0.5)) * np.float32(3.4641)


def _jitter(base_bgr, rng: np.random.Generator, amount: float) -> np.ndarray:
    return np.clip(np.asarray(base_bgr, np.float32) * (1.0 + rng.uniform(-amount, amount, 3)), 0, 255)


def sea_texture(h_px: int, w_px: int, rng: np.random.Generator) -> np.ndarray:
    """Open water: teal/blue base, swell, wind waves and sparse white caps and glints. [H, W, 3] float32."""
    base = _jitter(rng.choice([(120, 100, 30), (140, 120, 50), (110, 110, 60), (150, 130, 70)]), rng, 0.12)
    yy, xx = _coords(h_px, w_px)
    theta = rng.uniform(0, np.pi)
    wavelength_px = rng.uniform(10, 28)
    warp = smooth_noise(h_px, w_px, 48, rng) * rng.uniform(4, 10)
    phase = (xx * math.cos(theta) + yy * math.sin(theta) + warp) * (2 * np.pi / wavelength_px)
    waves = np.sin(phase) + 0.5 * np.sin(2.1 * phase + smooth_noise(h_px, w_px, 24, rng))
    swell = fractal_noise(h_px, w_px, rng, cells_px=(320, 96), gains=(1.0, 0.4))
    img = _tint(base, 0.06 * waves + 0.08 * swell, 1.0)
    caps = (waves > 1.25) & (smooth_noise(h_px, w_px, 6, rng) > rng.uniform(1.2, 1.8))
    _paint(img, caps, 235.0, 0.3)
    return img


def sand_texture(h_px: int, w_px: int, rng: np.random.Generator) -> np.ndarray:
    """Dry sand with dunes, footprint speckle and grain. [H, W, 3] float32."""
    base = _jitter(rng.choice([(135, 185, 215), (125, 175, 205), (150, 195, 220), (110, 155, 190)]), rng, 0.04)
    shade = 0.07 * fractal_noise(h_px, w_px, rng) + 0.05 * _grain(h_px, w_px, rng)
    return _tint(base, shade, 1.0)


def grass_texture(h_px: int, w_px: int, rng: np.random.Generator) -> np.ndarray:
    """Lawn or meadow: green with patches, optional mowing stripes. [H, W, 3] float32."""
    base = _jitter(rng.choice([(60, 130, 80), (50, 115, 70), (70, 140, 110), (55, 120, 95)]), rng, 0.1)
    shade = 0.12 * fractal_noise(h_px, w_px, rng) + 0.06 * _grain(h_px, w_px, rng)
    if rng.random() < 0.5:
        stripe_px = rng.uniform(20, 60)
        theta = rng.uniform(0, np.pi)
        yy, xx = _coords(h_px, w_px)
        shade += 0.06 * np.sign(np.sin((xx * math.cos(theta) + yy * math.sin(theta)) * np.pi / stripe_px))
    dry = np.clip(smooth_noise(h_px, w_px, 120, rng) - 0.7, 0, 0.5)  # soft brownish dry patches, 0..0.5
    green = (1.0 + shade) * (1.0 - dry)  # [H, W]
    return cv2.merge([green * np.float32(b) + dry * np.float32(d) for b, d in zip(base, (70, 120, 140))])


def _sea_over_sand(sea: np.ndarray, sand: np.ndarray, rng: np.random.Generator) -> tuple:
    """Compose a beach: water above a wavy shoreline, surf foam, wet sand band. Returns (img, water_mask)."""
    h_px, w_px = sand.shape[:2]
    xs = np.arange(w_px, dtype=np.float32)
    shore_y = (h_px * rng.uniform(0.25, 0.6) + smooth_noise(1, w_px, 160, rng)[0] * h_px * 0.05
               + np.sin(xs * 2 * np.pi / rng.uniform(300, 900) + rng.uniform(0, 6)) * h_px * 0.03)
    yy = np.arange(h_px, dtype=np.float32)[:, None]  # [H, 1]
    depth_px = shore_y[None, :] - yy  # > 0 in the water, [H, W]
    depth_px = depth_px + smooth_noise(h_px, w_px, 12, rng) * 2.0
    water = depth_px > 0
    img = sand
    cv2.copyTo(sea, water.view(np.uint8), img)
    wet = (depth_px <= 0) & (depth_px > -rng.uniform(8, 30))
    _paint(img, wet, 0.0, 0.78)
    shallow = np.clip(1 - depth_px / max(h_px * 0.15, 1.0), 0, 1) * water  # lighter shallow water
    img += (shallow * 35.0)[..., None]
    foam_noise = smooth_noise(h_px, w_px, 5, rng)
    for band_px in (0.0, rng.uniform(15, 40), rng.uniform(45, 90)):
        band = water & (np.abs(depth_px - band_px) < rng.uniform(1.5, 4.0)) & (foam_noise > -0.3)
        _paint(img, band, 240.0, 0.25)
    return img, water


def road_texture(h_px: int, w_px: int, rng: np.random.Generator) -> np.ndarray:
    """Asphalt road with dashed lane markings and pavements, across grass. [H, W, 3] float32."""
    img = grass_texture(h_px, w_px, rng)
    horizontal = rng.random() < 0.5
    if not horizontal:  # draw a horizontal road into the transposed image
        img = np.ascontiguousarray(img.transpose(1, 0, 2))
    across, length = img.shape[:2]
    road_w_px = max(int(across * rng.uniform(0.2, 0.4)), 4)
    walk_w_px = int(road_w_px * rng.uniform(0.12, 0.2))
    c0 = int(across * rng.uniform(0.3, 0.7)) - road_w_px // 2
    p0, p1 = max(c0 - walk_w_px, 0), min(c0 + road_w_px + walk_w_px, across)
    band_h = p1 - p0
    shade = 0.05 * fractal_noise(band_h, length, rng) + 0.05 * _grain(band_h, length, rng)  # both materials
    img[p0:p1] = _tint(_jitter((160, 165, 170), rng, 0.08), shade, 0.8)
    r0, r1 = max(c0, 0), min(c0 + road_w_px, across)
    img[r0:r1] = _tint(_jitter((85, 85, 88), rng, 0.1), shade[r0 - p0:r1 - p0], 1.2)
    lane_px = max(1, road_w_px // 60)
    dash = (np.arange(length) // max(int(road_w_px * 0.3), 4)) % 2 == 0  # [L] bool
    for lane_frac in (0.5,) if rng.random() < 0.6 else (1 / 3, 2 / 3):
        c = c0 + int(road_w_px * lane_frac)
        img[c:c + lane_px, dash] = (225, 225, 225)
    return img if horizontal else np.ascontiguousarray(img.transpose(1, 0, 2))


def render_scene(kind: str, size_wh: tuple, rng: np.random.Generator) -> Scene:
    """Render a background of ``kind`` (one of ``SCENE_KINDS``) at ``size_wh`` = (width, height) px."""
    w_px, h_px = size_wh
    if kind == "sea":
        img, water = sea_texture(h_px, w_px, rng), np.ones((h_px, w_px), bool)
    elif kind == "beach":
        img, water = _sea_over_sand(sea_texture(h_px, w_px, rng), sand_texture(h_px, w_px, rng), rng)
        if rng.random() < 0.3:  # sea at the bottom instead of the top
            img, water = img[::-1], water[::-1]
    elif kind == "grass":
        img, water = grass_texture(h_px, w_px, rng), np.zeros((h_px, w_px), bool)
    elif kind == "road":
        img, water = road_texture(h_px, w_px, rng), np.zeros((h_px, w_px), bool)
    else:
        raise ValueError(f"unknown scene kind '{kind}'; choose from {', '.join(SCENE_KINDS)}")
    blur_sigma = rng.uniform(0.3, 0.8)  # a touch of lens softness
    img = cv2.GaussianBlur(np.clip(img, 0, 255).astype(np.uint8), (0, 0), blur_sigma)
    water = np.ascontiguousarray(water)
    return Scene(kind=kind, image_bgr=np.ascontiguousarray(img), water_mask=water, land_mask=~water)


def sample_scene_kind(rng: np.random.Generator) -> str:
    """Draw a scene kind with the TinyPerson-like weights ``SCENE_WEIGHTS``."""
    return str(SCENE_KINDS[int(rng.choice(len(SCENE_KINDS), p=SCENE_WEIGHTS))])


def sample_points_xy(mask: np.ndarray, n: int, rng: np.random.Generator, cell_px: int = 4) -> np.ndarray:
    """``n`` points [n, 2] (x, y) px drawn uniformly where ``mask`` ([H, W] bool) is set; empty when it is empty."""
    coarse = mask[::cell_px, ::cell_px]  # [H/cell, W/cell]
    idx = np.flatnonzero(coarse)
    if n <= 0 or idx.size == 0:
        return np.zeros((0, 2), np.float64)
    pick = idx[rng.integers(0, idx.size, size=n)]
    ys, xs = np.divmod(pick, coarse.shape[1])
    pts = np.stack([xs, ys], axis=1) * float(cell_px) + rng.uniform(0, cell_px, size=(n, 2))  # [n, 2]
    return np.minimum(pts, [mask.shape[1] - 1e-3, mask.shape[0] - 1e-3])
