"""TorchDetector: a PyTorch model behind the runtime's Backend interface, for checkpoints (.pt).

``infer(batch NCHW float32) -> (boxes [T, K, 4] xyxy tile-input px, scores [T, K])``; selection, NMS and tile merging
happen afterwards in the core (``sspnet.postprocess``), exactly as for the ONNX and TensorRT backends.
FoveaBox decodes with the core's ``fovea_points`` / ``decode_fovea``; Faster R-CNN returns its per-image detections
padded with zero-score rows to a fixed K.
"""
from __future__ import annotations

import numpy as np
import torch

from sspnet.config import Config
from sspnet.manifest import model_fields
from sspnet.postprocess import decode_fovea, fovea_points


class TorchDetector:
    """Backend interface over an ``SSPNetDetector`` (eval mode, no grad)."""

    def __init__(self, model: torch.nn.Module, cfg: Config, device: str | torch.device = "cpu",
                 manifest: dict | None = None):
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.cfg = cfg
        self.name = f"torch-{self.device.type}"
        self.manifest = manifest if manifest is not None else model_fields(cfg, "checkpoint")
        self.preprocess = cfg.input
        self.postprocess = cfg.postprocess
        self.max_batch = None
        self.full_frame = None          # tiles, as training validated them
        self._points: dict[tuple[int, int], list[np.ndarray]] = {}

    @torch.no_grad()
    def infer(self, batch_nchw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = torch.from_numpy(np.ascontiguousarray(batch_nchw, dtype=np.float32)).to(self.device)
        outputs = self.model(x)
        h, w = x.shape[-2:]
        if "cls" in outputs:
            return self._decode_fovea(outputs, int(w), int(h))
        from sspnet.training.heads.faster_rcnn import detections
        boxes, scores = detections(outputs, (int(h), int(w)), self.postprocess.pre_nms_topk)
        return boxes.cpu().numpy(), scores.cpu().numpy()

    def _decode_fovea(self, outputs: dict, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
        strides, base_edges = self.model.strides, self.model.base_edges
        if (w, h) not in self._points:
            self._points[(w, h)] = fovea_points(w, h, strides)
        points = self._points[(w, h)]
        boxes, scores = [], []
        for cls, reg, pts, base in zip(outputs["cls"], outputs["reg"], points, base_edges):
            n = cls.shape[0]
            scores.append(torch.sigmoid(cls.float()).reshape(n, -1).cpu().numpy())          # [T, HW]
            reg_np = reg.float().reshape(n, 4, -1).permute(0, 2, 1).cpu().numpy()         # [T, HW, 4]
            boxes.append(decode_fovea(reg_np, pts, base, w, h))
        return np.concatenate(boxes, axis=1).astype(np.float32), np.concatenate(scores, axis=1).astype(np.float32)

    def close(self) -> None:
        self.model = None
