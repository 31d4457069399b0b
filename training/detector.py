"""SSPNetDetector: backbone → neck → head, returning raw per-level tensors (no loss, no decode, no NMS)."""
from __future__ import annotations

import torch
from torch import nn


class SSPNetDetector(nn.Module):
    """images [N, 3, H, W] (H, W multiples of 32) → dict of raw tensors.

    FoveaBox head: {"cls": [[N, 1, H_l, W_l] logits], "reg": [[N, 4, H_l, W_l]], "attn": [A0..A3 [N, 1, h, w]]}.
    Faster R-CNN head: see ``heads.faster_rcnn.FasterRCNNHead.forward`` plus "attn".
    ``attn`` is the neck's attention maps (probabilities); an empty list for the plain FPN neck.
    The return type never depends on ``self.training``.

    ``strides`` (px per cell of each output level) and ``base_edges`` (FoveaBox decode scale per level) are what the
    exporter needs to decode in-graph: box = point ∓ base_edge·exp(reg), point = ((i+0.5)·stride, (j+0.5)·stride).
    """

    def __init__(self, *, backbone: nn.Module, neck: nn.Module, head: nn.Module,
                 strides: tuple[int, ...], base_edges: tuple[float, ...] = ()):
        super().__init__()
        self.backbone = backbone
        self.neck = neck
        self.head = head
        self.strides = [int(s) for s in strides]
        self.base_edges = [float(b) for b in base_edges]

    def forward(self, images: torch.Tensor) -> dict[str, list[torch.Tensor]]:
        feats = self.backbone(images)
        pyramid, attn = self.neck(feats)
        outputs = self.head(pyramid)
        outputs["attn"] = attn
        return outputs
