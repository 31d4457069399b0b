"""Small real models and images for the export and calibration tests (imported by both conftests).

The edge model is built from configs/sspnet_edge.yaml with its ImageNet backbone (realistic activation ranges for
calibration) and an untrained head whose class conv is re-initialised with a wider spread, so that scores vary
between cells and the detection comparisons have something to compare. Tiles are 128×128 to keep tests fast.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TILE = (128, 128)


def load_cfg(name: str = "sspnet_edge", **model_overrides):
    from sspnet.config import load_config
    cfg = load_config(ROOT / "configs" / f"{name}.yaml")
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, **model_overrides))


def lively_model(cfg, seed: int = 0):
    """build_model(cfg) in eval mode with a class head whose scores spread over (0, 1)."""
    import torch
    from torch import nn

    from sspnet.training.build import build_model
    torch.manual_seed(seed)
    model = build_model(cfg).eval()
    head = model.head
    for conv in getattr(head, "cls_out", []):
        nn.init.normal_(conv.weight, std=0.05)
        nn.init.constant_(conv.bias, -1.0)
    if hasattr(head, "cls_score"):
        nn.init.normal_(head.cls_score.weight, std=0.05)
        nn.init.normal_(head.rpn_cls.weight, std=0.05)
    return model


def synth_frames(folder: Path, n: int = 4, size: tuple = (256, 192), seed: int = 5) -> Path:
    """``n`` rendered aerial frames as PNG files in ``folder``."""
    import cv2

    from sspnet.synth.dataset import render_image
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        cv2.imwrite(str(folder / f"frame_{i:02d}.png"), render_image(size, seed, i)[0])
    return folder


def export_edge(out: Path, batch=None, tile: tuple = TILE, seed: int = 0, parity_images=None, **kw) -> Path:
    import torch

    from sspnet.export.onnx import export_onnx
    torch.set_num_threads(1)
    cfg = load_cfg()
    return export_onnx(lively_model(cfg, seed), out, input_wh=tile, batch=batch, cfg=cfg,
                       parity_images=parity_images, log=lambda *a: None, **kw)
