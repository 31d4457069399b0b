"""FoveaBox head (the paper's anchor-free variant): conv towers applied to every pyramid level, 1-channel class
logits and 4-channel log-space (l, t, r, b) distances in units of the level's base edge.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def conv_tower(in_ch: int, ch: int, num_convs: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(num_convs):
        layers += [nn.Conv2d(in_ch if i == 0 else ch, ch, 3, padding=1), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class FoveaHead(nn.Module):
    """Pyramid [P_l: [N, C, H_l, W_l]] → {"cls": [[N, 1, H_l, W_l] logits], "reg": [[N, 4, H_l, W_l]]}.

    The paper's head: separate cls and reg towers of ``num_convs`` 3x3 convs (ReLU, no norm) shared by all levels.
    ``shared_tower`` feeds both outputs from one tower (the cheap edge head); ``shared_levels=False`` gives every level
    its own head. Weights N(0, 0.01), class bias set for a prior probability of 0.01.
    """

    def __init__(self, *, in_channels: int, channels: int, num_convs: int, num_levels: int,
                 shared_levels: bool = True, shared_tower: bool = False, prior_prob: float = 0.01):
        super().__init__()
        self.num_levels = num_levels
        self.shared_levels = shared_levels
        self.shared_tower = shared_tower
        copies = 1 if shared_levels else num_levels
        out_ch = channels if num_convs > 0 else in_channels
        self.cls_towers = nn.ModuleList([conv_tower(in_channels, channels, num_convs) for _ in range(copies)])
        self.reg_towers = nn.ModuleList([] if shared_tower else
                                        [conv_tower(in_channels, channels, num_convs) for _ in range(copies)])
        self.cls_out = nn.ModuleList([nn.Conv2d(out_ch, 1, 3, padding=1) for _ in range(copies)])
        self.reg_out = nn.ModuleList([nn.Conv2d(out_ch, 4, 3, padding=1) for _ in range(copies)])
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, std=0.01)
                nn.init.zeros_(m.bias)
        bias = -math.log((1 - prior_prob) / prior_prob)
        for conv in self.cls_out:
            nn.init.constant_(conv.bias, bias)

    def forward(self, pyramid: list[torch.Tensor]) -> dict[str, list[torch.Tensor]]:
        cls, reg = [], []
        for level, p in enumerate(pyramid):
            i = 0 if self.shared_levels else level
            c = self.cls_towers[i](p)
            r = c if self.shared_tower else self.reg_towers[i](p)
            cls.append(self.cls_out[i](c))          # [N, 1, H, W]
            reg.append(self.reg_out[i](r))          # [N, 4, H, W]
        return {"cls": cls, "reg": reg}
