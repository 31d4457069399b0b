"""What both backbones share: frozen early stages and frozen BatchNorm statistics (the paper uses frozen_stages=1,
norm_eval=True), kept through train()."""
from __future__ import annotations

from torch import nn


class FrozenStagesBackbone(nn.Module):
    """Subclasses set ``frozen_stages`` / ``norm_eval`` and list the stem + first stages in ``frozen_modules``."""
    frozen_stages: int
    norm_eval: bool

    def frozen_modules(self) -> list[nn.Module]:
        raise NotImplementedError

    def _freeze(self) -> None:
        if self.frozen_stages < 0:
            return
        for m in self.frozen_modules():
            m.eval()
            for p in m.parameters():
                p.requires_grad_(False)

    def train(self, mode: bool = True) -> "FrozenStagesBackbone":
        super().train(mode)
        self._freeze()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
        return self
