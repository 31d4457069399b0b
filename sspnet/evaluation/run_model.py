"""Run a detector over a dataset through the core's tiled pre/post-processing.

A detector is anything with the Backend interface (``preprocess``, ``postprocess``, ``infer``, ``max_batch``,
``close``): ONNX Runtime / TensorRT backends from ``sspnet.runtime.backends`` or ``sspnet.training.predict
.TorchDetector`` for checkpoints. Those stage packages are imported lazily, only by ``open_detector``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sspnet.postprocess import detect_frame

MODEL_SUFFIXES = (".pt", ".onnx", ".engine")


def detect_dataset(records: list, detector, progress: bool = False) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """{image_id: (boxes xyxy [K, 4] float32 in the record's pixels, scores [K] float32)} for every record.

    Each record's image (its corner crop for a sub-image record) is tiled, run through ``detector.infer`` in
    batches of at most ``detector.max_batch`` tiles, decoded and merged by ``sspnet.postprocess.detect_frame``.
    """
    items = records
    if progress:
        from tqdm import tqdm
        items = tqdm(records, desc="detect", unit="img")
    out = {}
    for rec in items:
        boxes, scores = detect_frame(rec.load_image(), detector.preprocess, detector.postprocess,
                                     detector.infer, detector.max_batch)
        out[rec.image_id] = (np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(scores, np.float32))
    return out


def open_detector(model_path: str | Path, device: str = "cpu"):
    """A Backend for a model file: ``.pt`` checkpoint (needs the train extra), ``.onnx`` or ``.engine``."""
    path = Path(model_path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: model file not found")
    suffix = path.suffix.lower()
    if suffix == ".pt":
        try:
            from sspnet.training.checkpoint import load_checkpoint
            from sspnet.training.predict import TorchDetector
        except ImportError as e:
            raise RuntimeError(f"{path}: evaluating a .pt checkpoint needs PyTorch and sspnet.training "
                               f"(pip install -e '.[train]'): {e}") from None
        model, cfg, _ = load_checkpoint(path, device)
        return TorchDetector(model, cfg, device)
    if suffix in (".onnx", ".engine"):
        try:
            from sspnet.runtime.backends import open_backend
        except ImportError as e:
            raise RuntimeError(f"{path}: running {suffix} models needs sspnet.runtime backends "
                               f"(ONNX Runtime / TensorRT): {e}") from None
        return open_backend(str(path), device)
    raise ValueError(f"{path}: unknown model type '{suffix}'; expected one of {', '.join(MODEL_SUFFIXES)}")
