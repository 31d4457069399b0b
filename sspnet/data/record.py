"""The one record type every dataset reader yields."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SYNTH_GENERATOR = "sspnet.synth"   # the COCO ``info.generator`` of frames that ``sspnet synth`` rendered


def _empty_boxes() -> np.ndarray:
    return np.zeros((0, 4), np.float32)


@dataclass
class ImageRecord:
    """One annotated image (or sub-image when ``corner_xyxy`` is set).

    ``boxes_xyxy`` are the positive persons, ``ignore_xyxy`` the ignore regions (ignore, crowd, uncertain,
    flat-filled ...), both in pixels of the image the record describes (the tile, for a corner record).
    ``flags`` holds per-positive-box boolean arrays (e.g. ``in_dense_image``). ``synthetic``: rendered by
    ``sspnet synth`` (its file's ``info.generator``), not a real frame.
    """
    image_path: str
    width: int
    height: int
    image_id: int
    file_name: str
    boxes_xyxy: np.ndarray = field(default_factory=_empty_boxes)
    ignore_xyxy: np.ndarray = field(default_factory=_empty_boxes)
    flags: dict = field(default_factory=dict)
    corner_xyxy: tuple | None = None
    synthetic: bool = False

    def load_image(self) -> np.ndarray:
        """HWC uint8 BGR pixels (the corner crop for a sub-image record)."""
        import cv2
        img = cv2.imread(self.image_path, cv2.IMREAD_COLOR)
        if img is None:
            raise FileNotFoundError(f"{self.image_path}: image missing or unreadable")
        if self.corner_xyxy is not None:
            x1, y1, x2, y2 = (int(v) for v in self.corner_xyxy)
            tile = np.zeros((y2 - y1, x2 - x1, 3), np.uint8)
            crop = img[y1:y2, x1:x2]
            tile[:crop.shape[0], :crop.shape[1]] = crop
            img = tile
        return img
