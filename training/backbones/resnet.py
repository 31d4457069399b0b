"""ResNet-18/50 feature extractor on torchvision's definitions: C2..C5 at strides 4/8/16/32.

As in the paper's config: the stem and the first ``frozen_stages`` stages are frozen, and with ``norm_eval`` every
BatchNorm stays in eval mode (running statistics frozen; affine parameters of unfrozen stages trainable).
ImageNet weights come from a local torchvision checkpoint file, never from the network.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from torch import nn

from sspnet.training.backbones.frozen import FrozenStagesBackbone

DEPTHS = {18: torchvision.models.resnet18, 50: torchvision.models.resnet50}


class ResNetBackbone(FrozenStagesBackbone):
    """Input [N, 3, H, W] → [C2, C3, C4, C5]; channels 64/128/256/512 (ResNet-18) or 256/512/1024/2048 (ResNet-50)."""

    strides = (4, 8, 16, 32)

    def __init__(self, *, depth: int = 50, frozen_stages: int = 1, norm_eval: bool = True):
        super().__init__()
        if depth not in DEPTHS:
            raise ValueError(f"ResNet depth {depth} not supported; choose from {sorted(DEPTHS)}")
        net = DEPTHS[depth](weights=None)
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        expansion = 4 if depth >= 50 else 1
        self.out_channels = tuple(c * expansion for c in (64, 128, 256, 512))
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self._freeze()

    def frozen_modules(self) -> list[nn.Module]:
        return [self.conv1, self.bn1] + [getattr(self, f"layer{i}") for i in range(1, self.frozen_stages + 1)]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        c2 = self.layer1(x)
        c3 = self.layer2(c2)
        c4 = self.layer3(c3)
        c5 = self.layer4(c4)
        return [c2, c3, c4, c5]


def load_resnet_weights(model: ResNetBackbone, path: str | Path) -> None:
    """Load a torchvision ResNet ImageNet checkpoint (``resnet50-*.pth``); the ``fc.`` keys are dropped."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"backbone weights {path} not found; pass a torchvision ResNet .pth "
                                "or leave model.backbone_weights empty to train from scratch")
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    if "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise RuntimeError(f"{path}: not a torchvision ResNet state dict for this depth "
                           f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
