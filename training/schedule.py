"""SGD with linear warm-up and step decay (the paper's config: lr 0.002, momentum 0.9, wd 1e-4, warm-up 500
iterations from 0.001·lr, ×0.1 at epochs 8 and 11 of 12). The scheduler is stepped once per iteration."""
from __future__ import annotations

import torch

from sspnet.config import TrainConfig


def lr_factor(iteration: int, *, warmup_iters: int, warmup_ratio: float, steps_per_epoch: int,
              lr_steps_epochs: tuple, gamma: float) -> float:
    """Multiplier of the base lr at ``iteration`` (0-based, counted over the whole run)."""
    warm = 1.0
    if warmup_iters > 0 and iteration < warmup_iters:
        warm = warmup_ratio + (1.0 - warmup_ratio) * iteration / warmup_iters
    decays = sum(1 for e in lr_steps_epochs if iteration >= int(e) * steps_per_epoch)
    return warm * gamma ** decays


def build_optimizer(params, t: TrainConfig) -> torch.optim.SGD:
    """SGD over the parameters that require gradients (frozen stem/stage 1 excluded)."""
    params = [p for p in params if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters")
    return torch.optim.SGD(params, lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay)


def build_scheduler(optimizer: torch.optim.Optimizer, t: TrainConfig,
                    steps_per_epoch: int) -> torch.optim.lr_scheduler.LambdaLR:
    """A LambdaLR around ``lr_factor``. Its state dict holds only counters (the lambda is a closure, not saved)."""
    if steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}")
    warmup_iters, warmup_ratio = int(t.warmup_iters), float(t.warmup_ratio)
    lr_steps, gamma = tuple(int(e) for e in t.lr_steps), float(t.lr_gamma)

    def factor(iteration: int) -> float:
        return lr_factor(iteration, warmup_iters=warmup_iters, warmup_ratio=warmup_ratio,
                         steps_per_epoch=steps_per_epoch, lr_steps_epochs=lr_steps, gamma=gamma)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
