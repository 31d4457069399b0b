"""The one pre-processing path shared by training's evaluation, calibration and the runtime.

A frame (HWC uint8, BGR as OpenCV and GStreamer's BGR caps deliver it) is resized by ``scale`` (tiny persons need
up-scaling; ``stretch_x`` widens it further, for frames stored narrower than they were filmed), cut into model-sized
tiles — or, for an artifact with dynamic height and width (``FullFrame``), kept whole and zero-padded to a multiple
of the largest stride — converted to the model's colour order, normalised and laid out as NCHW float32. Detections
come back through ``sspnet.postprocess.detections_from_tiles``, which undoes the same geometry (a whole frame is one
tile at corner 0, 0).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

import cv2
import numpy as np

from sspnet.tiling import crop_tiles, tile_layout

IMAGENET_MEAN_RGB = (123.675, 116.28, 103.53)
IMAGENET_STD_RGB = (58.395, 57.12, 57.375)


@dataclass(frozen=True)
class Preprocess:
    """Geometry and normalisation of model inputs. Serialised into every manifest."""
    input_w: int = 640
    input_h: int = 512
    scale: float = 1.0          # frame resize factor applied before tiling
    stretch_x: float = 1.0      # extra horizontal factor: un-squeezes frames stored narrower than filmed
    overlap: int = 50           # tile overlap in resized-frame pixels
    color: str = "rgb"          # channel order the network expects
    mean: tuple[float, float, float] = IMAGENET_MEAN_RGB
    std: tuple[float, float, float] = IMAGENET_STD_RGB
    person_px: float = 0.0      # median person height (input px) on the validation frames; 0 = not recorded

    @property
    def scale_xy(self) -> tuple[float, float]:
        """The resize factors across and down."""
        return self.scale * self.stretch_x, self.scale

    def scale_text(self) -> str:
        """How frames are resized, for logs: ``2.5``, or ``2.25 (x 1.78 across)``."""
        return f"{self.scale:g}" + (f" (x {self.stretch_x:g} across)" if self.stretch_x != 1.0 else "")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        for key in ("stretch_x", "person_px"):     # at their defaults: manifests and calibration-cache digests
            if d[key] == Preprocess.__dataclass_fields__[key].default:   # written before the keys stay valid
                del d[key]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Preprocess":
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown pre-processing keys {sorted(unknown)}; expected {sorted(known)}")
        d = dict(d)
        for k in ("mean", "std"):
            if k in d:
                d[k] = tuple(float(v) for v in d[k])
        return cls(**d)

    def digest(self) -> str:
        """sha256 of the canonical JSON form: calibration caches key on it."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class FullFrame:
    """What an artifact exported with dynamic height and width accepts (its manifest's ``input.full_frame``):
    a resized frame up to ``max_w`` × ``max_h`` once padded to ``multiple`` runs in one call; a larger one is tiled."""
    max_w: int
    max_h: int
    multiple: int = 32

    def padded(self, w: int, h: int) -> tuple[int, int]:
        m = self.multiple
        return -(-w // m) * m, -(-h // m) * m

    @classmethod
    def of_frame(cls, w: int, h: int, scale_xy: tuple[float, float], multiple: int = 32) -> "FullFrame":
        """The size a ``w`` × ``h`` frame runs at after resizing by ``scale_xy``, padded to ``multiple``."""
        return cls(*cls(0, 0, multiple).padded(*scaled_size(w, h, scale_xy)), multiple)

    def fits(self, w: int, h: int) -> bool:
        pw, ph = self.padded(w, h)
        return pw <= self.max_w and ph <= self.max_h

    def to_dict(self) -> dict:
        return {"max_width": self.max_w, "max_height": self.max_h, "multiple": self.multiple}

    @classmethod
    def from_dict(cls, d: dict) -> "FullFrame":
        return cls(int(d["max_width"]), int(d["max_height"]), int(d["multiple"]))


def input_layout(width: int, height: int, pre: Preprocess, full_frame: FullFrame | None = None) -> np.ndarray:
    """Corners [T, 4] of the model inputs cut from a resized frame: the whole frame padded (one input) when the
    artifact takes it, else the tiles."""
    if full_frame is not None and full_frame.fits(width, height):
        return np.asarray([(0, 0, *full_frame.padded(width, height))], dtype=np.int64)
    return tile_layout(width, height, pre.input_w, pre.input_h, pre.overlap)


@dataclass
class TiledFrame:
    """A frame ready for the backend: NCHW tiles plus what is needed to map detections back."""
    batch: np.ndarray                      # [T, 3, input_h, input_w] float32
    corners_xyxy: np.ndarray               # [T, 4] tile corners in resized-frame pixels
    scale_xy: tuple
    frame_wh: tuple = field(default=(0, 0))


def normalize(images_hwc: np.ndarray, pre: Preprocess) -> np.ndarray:
    """[..., H, W, 3] uint8 BGR → [..., 3, H, W] float32 in the model's colour order, mean/std applied.

    Works one output plane at a time with ``out=`` so a 1080p frame costs one float32 pass, not five.
    """
    order = (2, 1, 0) if pre.color == "rgb" else (0, 1, 2)   # source channel of each output plane
    out = np.empty(images_hwc.shape[:-3] + (3,) + images_hwc.shape[-3:-1], np.float32)
    for c, src in enumerate(order):
        plane = out[..., c, :, :]
        np.subtract(images_hwc[..., src], np.float32(pre.mean[c]), out=plane, dtype=np.float32)
        np.multiply(plane, np.float32(1.0 / pre.std[c]), out=plane)
    return out


def scaled_size(w: int, h: int, scale_xy: tuple[float, float]) -> tuple[int, int]:
    return round(w * scale_xy[0]), round(h * scale_xy[1])


def resize_frame(frame_bgr: np.ndarray, scale_xy: tuple[float, float]) -> np.ndarray:
    if tuple(scale_xy) == (1.0, 1.0):
        return frame_bgr
    h, w = frame_bgr.shape[:2]
    return cv2.resize(frame_bgr, scaled_size(w, h, scale_xy), interpolation=cv2.INTER_LINEAR)


def check_frame(frame_bgr: np.ndarray) -> None:
    if frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3 or frame_bgr.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 BGR frame, got {frame_bgr.shape} {frame_bgr.dtype}")


def tile_count(frame_wh: tuple, pre: Preprocess, full_frame: FullFrame | None = None) -> int:
    """How many inputs ``frame_to_tiles`` cuts from a frame of this size (no pixels needed)."""
    return len(input_layout(*scaled_size(*frame_wh, pre.scale_xy), pre, full_frame))


def frame_to_tiles(frame_bgr: np.ndarray, pre: Preprocess, full_frame: FullFrame | None = None) -> TiledFrame:
    """Resize, tile (or pad whole, see ``input_layout``) and normalise one frame (HWC uint8 BGR)."""
    check_frame(frame_bgr)
    resized = resize_frame(frame_bgr, pre.scale_xy)
    h, w = resized.shape[:2]
    corners = input_layout(w, h, pre, full_frame)
    batch = normalize(crop_tiles(resized, corners), pre)
    return TiledFrame(batch=batch, corners_xyxy=corners, scale_xy=pre.scale_xy,
                      frame_wh=(frame_bgr.shape[1], frame_bgr.shape[0]))
