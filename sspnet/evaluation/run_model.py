"""Run a detector over a dataset through the core's tiled pre/post-processing.

A detector is anything with the Backend interface (``preprocess``, ``postprocess``, ``infer``, ``max_batch``,
``close``): ONNX Runtime / TensorRT backends from ``sspnet.runtime.backends`` or ``sspnet.training.predict
.TorchDetector`` for checkpoints. The core opens none of them: ``sspnet.cli.open_detector`` wires the stages.
"""
from __future__ import annotations

import numpy as np

from sspnet.postprocess import detect_frame


def detect_dataset(records: list, detector, progress: bool = False) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """{image_id: (boxes xyxy [K, 4] float32 in the record's pixels, scores [K] float32)} for every record.

    Each record's image (its corner crop for a sub-image record) is tiled (or run whole, ``detector.full_frame``),
    run through ``detector.infer`` in batches of at most ``detector.max_batch`` tiles, decoded and merged by ``sspnet.postprocess.detect_frame``.
    """
    items = records
    if progress:
        from tqdm import tqdm
        items = tqdm(records, desc="detect", unit="img")
    out = {}
    for rec in items:
        boxes, scores = detect_frame(rec.load_image(), detector.preprocess, detector.postprocess,
                                     detector.infer, detector.max_batch, detector.full_frame)
        out[rec.image_id] = (np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(scores, np.float32))
    return out

