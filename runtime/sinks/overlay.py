"""Draw detections on a frame for the video outputs (file, RTSP, display); off the hot path when no such sink."""
from __future__ import annotations

import cv2
import numpy as np

COLOR_BGR = (0, 255, 255)
TEXT_BGR = (0, 0, 0)


def annotate(image_bgr: np.ndarray, boxes_xyxy: np.ndarray, scores: np.ndarray,
             track_ids: np.ndarray | None = None) -> np.ndarray:
    """A copy of ``image_bgr`` ([H, W, 3] uint8) with boxes and ``score`` / ``#id`` labels; the input is untouched."""
    out = np.array(image_bgr, copy=True, order="C")   # decoded frames are read-only views: draw on a copy
    thick = max(1, round(out.shape[0] / 540))
    for i, (box, score) in enumerate(zip(np.asarray(boxes_xyxy).reshape(-1, 4), np.asarray(scores).reshape(-1))):
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(out, (x1, y1), (x2, y2), COLOR_BGR, thick)
        label = f"#{int(track_ids[i])}" if track_ids is not None else f"{float(score):.2f}"
        (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.35 * thick, 1)
        y_text = max(y1 - 2, th + 2)
        cv2.rectangle(out, (x1, y_text - th - 2), (x1 + tw + 2, y_text + 1), COLOR_BGR, -1)
        cv2.putText(out, label, (x1 + 1, y_text - 1), cv2.FONT_HERSHEY_SIMPLEX, 0.35 * thick, TEXT_BGR, 1, cv2.LINE_AA)
    return out
