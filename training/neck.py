"""Necks: SSFPN (FPN + context attention, scale enhancement and scale selection modules: CAM, SEM, SSM) and a
plain FPN with the same interface.

Both take [C2, C3, C4, C5] and return ``(pyramid, attn)``: pyramid = [P2, P3, P4, P5] (+ P6 by stride-2
subsampling of P5 when ``extra_level``), attn = [A0, A1, A2, A3] probabilities at strides 4/8/16/32 (empty for FPN).
Static and export-friendly: every resize is nearest by a fixed scale factor (inputs are multiples of 32), no shape
logic in ``forward``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def up(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Nearest up-sampling by a fixed integer factor."""
    return F.interpolate(x, scale_factor=float(factor), mode="nearest")



def xavier_init_convs(module: nn.Module) -> None:
    """Xavier-uniform weights and zero biases for every convolution of a neck (mmdetection's FPN init)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)

class ASPP(nn.Module):
    """Four parallel branches, each ``channels // 4`` wide with ReLU: 1x1, 3x3 dil 2, 3x3 dil 5, image pool."""

    def __init__(self, channels: int):
        super().__init__()
        b = channels // 4
        self.branch1 = nn.Conv2d(channels, b, 1)
        self.branch2 = nn.Conv2d(channels, b, 3, padding=2, dilation=2)
        self.branch5 = nn.Conv2d(channels, b, 3, padding=5, dilation=5)
        self.pool_conv = nn.Conv2d(channels, b, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = F.relu(self.branch1(x))
        pooled = F.relu(self.pool_conv(x.mean(dim=(2, 3), keepdim=True)))   # [N, b, 1, 1]
        return torch.cat([a, F.relu(self.branch2(x)), F.relu(self.branch5(x)), pooled.expand_as(a)], dim=1)


class CAM(nn.Module):
    """Context Attention Module on the laterals → [A0..A3], each [N, 1, H/4·2^-k, W/4·2^-k] in (0, 1).

    X = cat(L0, Up(L1), Up(L2), Up(L3)) at stride 4; F = ReLU(BN(Conv3x3(ASPP(Conv_entry(X))))); a chain
    G0 = D0(F) (stride 1), Gk = Dk(G(k-1)) (stride 2); Ak = sigmoid(Conv3x3→1(Gk)). ``entry_kernel`` 3 is the paper,
    1 the slim edge variant.
    """

    def __init__(self, channels: int, entry_kernel: int = 3, levels: int = 4):
        super().__init__()
        self.levels = levels
        self.entry = nn.Conv2d(channels * levels, channels, entry_kernel, padding=entry_kernel // 2)
        self.aspp = ASPP(channels)
        self.fuse = nn.Conv2d(channels, channels, 3, padding=1)
        self.fuse_bn = nn.BatchNorm2d(channels)
        self.down = nn.ModuleList([nn.Conv2d(channels, channels, 3, stride=1 if k == 0 else 2, padding=1)
                                   for k in range(levels)])
        self.attn = nn.ModuleList([nn.Conv2d(channels, 1, 3, padding=1) for _ in range(levels)])

    def forward(self, laterals: list[torch.Tensor]) -> list[torch.Tensor]:
        x = torch.cat([laterals[0]] + [up(lat, 2 ** k) for k, lat in enumerate(laterals[1:], 1)], dim=1)
        f = F.relu(self.fuse_bn(self.fuse(self.aspp(self.entry(x)))))
        attn, g = [], f
        for down, head in zip(self.down, self.attn):
            g = down(g)
            attn.append(torch.sigmoid(head(g)))
        return attn


class SSFPN(nn.Module):
    """Scale Selection Pyramid Network neck.

    L_k = Conv1x1(C_k); A = CAM(L); SEM: L̃_k = (1 + A_k)·L_k; SSM: M_3 = L̃_3, M_{k-1} = L̃_{k-1} + A_{k-1}·Up(A_k)·Up(M_k);
    P_k = (1 + A_k)·Conv3x3(M_k); P6 = P5[:, :, ::2, ::2] (MaxPool k1 s2) when ``extra_level``.
    """

    def __init__(self, *, in_channels: tuple[int, ...], channels: int, cam_entry_kernel: int = 3,
                 extra_level: bool = True):
        super().__init__()
        self.lateral = nn.ModuleList([nn.Conv2d(c, channels, 1) for c in in_channels])
        self.output = nn.ModuleList([nn.Conv2d(channels, channels, 3, padding=1) for _ in in_channels])
        self.cam = CAM(channels, cam_entry_kernel, len(in_channels))
        self.extra_level = extra_level
        self.out_channels = channels
        xavier_init_convs(self)

    def forward(self, feats: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        laterals = [conv(c) for conv, c in zip(self.lateral, feats)]
        attn = self.cam(laterals)
        enhanced = [(1 + a) * lat for a, lat in zip(attn, laterals)]           # SEM
        merged = [enhanced[-1]]
        for k in range(len(enhanced) - 1, 0, -1):                               # SSM, top-down
            gate = attn[k - 1] * up(attn[k], 2)
            merged.insert(0, enhanced[k - 1] + gate * up(merged[0], 2))
        pyramid = [(1 + a) * conv(m) for a, conv, m in zip(attn, self.output, merged)]
        if self.extra_level:
            pyramid.append(F.max_pool2d(pyramid[-1], kernel_size=1, stride=2))
        return pyramid, attn


class FPN(nn.Module):
    """Plain FPN (the ablation baseline): M_{k-1} = L_{k-1} + Up(M_k), P_k = Conv3x3(M_k); returns (pyramid, [])."""

    def __init__(self, *, in_channels: tuple[int, ...], channels: int, extra_level: bool = True):
        super().__init__()
        self.lateral = nn.ModuleList([nn.Conv2d(c, channels, 1) for c in in_channels])
        self.output = nn.ModuleList([nn.Conv2d(channels, channels, 3, padding=1) for _ in in_channels])
        self.extra_level = extra_level
        self.out_channels = channels
        xavier_init_convs(self)

    def forward(self, feats: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        laterals = [conv(c) for conv, c in zip(self.lateral, feats)]
        merged = [laterals[-1]]
        for k in range(len(laterals) - 1, 0, -1):
            merged.insert(0, laterals[k - 1] + up(merged[0], 2))
        pyramid = [conv(m) for conv, m in zip(self.output, merged)]
        if self.extra_level:
            pyramid.append(F.max_pool2d(pyramid[-1], kernel_size=1, stride=2))
        return pyramid, []
