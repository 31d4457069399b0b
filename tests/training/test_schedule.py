"""SGD + linear warm-up + step decay (the paper's schedule) as a per-iteration LambdaLR."""
import pytest
import torch

from sspnet.config import TrainConfig
from sspnet.training.schedule import build_optimizer, build_scheduler, lr_factor


def test_lr_factor_warmup_and_steps():
    kw = dict(warmup_iters=500, warmup_ratio=0.001, steps_per_epoch=100, lr_steps_epochs=(8, 11), gamma=0.1)
    assert lr_factor(0, **kw) == pytest.approx(0.001)
    assert lr_factor(250, **kw) == pytest.approx(0.001 + 0.999 * 0.5)
    assert lr_factor(500, **kw) == 1.0
    assert lr_factor(799, **kw) == 1.0 and lr_factor(800, **kw) == pytest.approx(0.1)
    assert lr_factor(1100, **kw) == pytest.approx(0.01)


def test_scheduler_drives_the_optimizer_lr_per_iteration():
    t = TrainConfig(lr=0.01, warmup_iters=4, warmup_ratio=0.0, lr_steps=(1,), lr_gamma=0.5)
    w = torch.nn.Parameter(torch.zeros(2))
    frozen = torch.nn.Parameter(torch.zeros(2), requires_grad=False)
    opt = build_optimizer([w, frozen], t)
    assert len(opt.param_groups[0]["params"]) == 1 and opt.param_groups[0]["momentum"] == 0.9
    sched = build_scheduler(opt, t, steps_per_epoch=6)
    lrs = []
    for _ in range(8):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([0.0, 0.0025, 0.005, 0.0075, 0.01, 0.01, 0.005, 0.005])
    state = sched.state_dict()
    assert state["last_epoch"] == 8 and state["lr_lambdas"] == [None]   # plain data: weights_only-loadable


def test_no_trainable_parameters_is_an_error():
    with pytest.raises(ValueError, match="no trainable"):
        build_optimizer([torch.nn.Parameter(torch.zeros(1), requires_grad=False)], TrainConfig())
