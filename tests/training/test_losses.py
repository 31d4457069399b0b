"""Losses: OHEM selection counts, attention BCE/Dice by hand, focal, SmoothL1 and GIoU values, the FoveaBox criterion
on an empty image (box loss exactly 0) and on batches larger than 4."""
import math

import pytest
import torch

from sspnet.training.assign import fovea_targets
from sspnet.training.criterion import FoveaCriterion
from sspnet.training.losses import (attention_bce, attention_dice, giou_ltrb_sum, l1_sum, ohem_weights,
                                    sigmoid_focal_loss_sum, smooth_l1_sum)

torch.set_num_threads(1)


def _maps(n_pos, n_neg, n_bg, seed=0):
    g = torch.Generator().manual_seed(seed)
    t = torch.cat([torch.rand(n_pos, generator=g) * 0.9 + 0.1, -torch.ones(n_neg), torch.zeros(n_bg)])
    p = torch.rand(len(t), generator=g)
    return p.reshape(1, 1, 1, -1), t.reshape(1, 1, 1, -1)


@pytest.mark.parametrize("n_pos,n_neg,n_bg", [(5, 3, 100), (40, 0, 100), (1, 7, 2), (12, 4, 36)])
def test_ohem_selects_min_of_three_per_positive_and_background(n_pos, n_neg, n_bg):
    p, t = _maps(n_pos, n_neg, n_bg)
    w = ohem_weights(p, t)
    bg = t == 0
    assert int(((w > 0) & bg).sum()) == min(3 * n_pos, n_bg)
    assert bool((w[t > 0] == 1).all()) and bool((w[t < 0] == 3).all())
    # the kept background pixels are the hardest ones (highest probability)
    kept, dropped = p[(w > 0) & bg], p[(w == 0) & bg]
    if kept.numel() and dropped.numel():
        assert float(kept.min()) >= float(dropped.max())


def test_ohem_without_positives_keeps_five_percent_of_the_map():
    p, t = _maps(0, 10, 190)
    w = ohem_weights(p, t)
    assert int(((w > 0) & (t == 0)).sum()) == math.floor(0.05 * 200)


def test_ohem_is_per_image_for_a_batch_of_six():
    maps = [_maps(k + 1, 8 - k, 50, seed=k) for k in range(6)]       # same map size, 1..6 positives
    p = torch.cat([m[0] for m in maps])
    t = torch.cat([m[1] for m in maps])
    w = ohem_weights(p, t)
    for k in range(6):
        assert int(((w[k] > 0) & (t[k] == 0)).sum()) == min(3 * (k + 1), 50)


def test_attention_bce_by_hand():
    p = torch.tensor([0.8, 0.4, 0.3, 0.1, 0.6]).reshape(1, 1, 1, 5)
    t = torch.tensor([0.5, -1.0, 0.0, 0.0, 0.0]).reshape(1, 1, 1, 5)
    # 1 positive → 3 background pixels kept: all three; weights [1, 3, 1, 1, 1]; T+ = [0.5, 0, 0, 0, 0]
    bce = [-(0.5 * math.log(0.8) + 0.5 * math.log(0.2)), -math.log(0.6), -math.log(0.7), -math.log(0.9),
           -math.log(0.4)]
    want = (bce[0] + 3 * bce[1] + bce[2] + bce[3] + bce[4]) / 5
    assert float(attention_bce(p, t)) == pytest.approx(want, rel=1e-5)


def test_attention_dice_by_hand_and_zero_without_positives():
    p = torch.tensor([0.8, 0.4, 0.3]).reshape(1, 1, 1, 3)
    t = torch.tensor([0.5, 1.0, 0.0]).reshape(1, 1, 1, 3)
    a, b, c = 0.8 + 0.4 + 1, 0.64 + 0.16 + 1, 2 + 1
    assert float(attention_dice(p, t)) == pytest.approx(1 - 2 * a / (b + c), rel=1e-6)
    assert float(attention_dice(p, torch.zeros_like(t))) == 0.0
    two = attention_dice(torch.cat([p, p]), torch.cat([t, torch.zeros_like(t)]))
    assert float(two) == pytest.approx((1 - 2 * a / (b + c)) / 2, rel=1e-6)


def test_focal_loss_by_hand():
    x = torch.tensor([2.0, -1.0])
    y = torch.tensor([1, 0])
    p1, p2 = 1 / (1 + math.exp(-2)), 1 / (1 + math.exp(1))
    want = 0.4 * (1 - p1) ** 1.5 * -math.log(p1) + 0.6 * p2 ** 1.5 * -math.log(1 - p2)
    assert float(sigmoid_focal_loss_sum(x, y)) == pytest.approx(want, rel=1e-5)


def test_smooth_l1_and_l1_by_hand():
    pred, tgt = torch.tensor([0.05, 1.0]), torch.tensor([0.0, 0.0])
    assert float(smooth_l1_sum(pred, tgt)) == pytest.approx(0.5 * 0.05 ** 2 / 0.11 + (1.0 - 0.055), rel=1e-6)
    assert float(l1_sum(pred, tgt)) == pytest.approx(1.05)


def _outputs(n, sizes=((8, 8), (4, 4)), requires_grad=True):
    g = torch.Generator().manual_seed(0)
    cls = [torch.randn(n, 1, h, w, generator=g).requires_grad_(requires_grad) for h, w in sizes]
    reg = [torch.randn(n, 4, h, w, generator=g).requires_grad_(requires_grad) for h, w in sizes]
    attn = [torch.rand(n, 1, 64 // 4 // 2 ** k, 64 // 4 // 2 ** k, generator=g).requires_grad_(requires_grad)
            for k in range(4)]
    return {"cls": cls, "reg": reg, "attn": attn}


CRIT = dict(strides=[8, 16], base_edges=[16.0, 32.0], scale_ranges=[(1.0, 32.0), (16.0, 64.0)])


def test_empty_image_gives_box_loss_exactly_zero():
    crit = FoveaCriterion(**CRIT)
    out = _outputs(1)
    losses = crit(out, [{"boxes": torch.zeros(0, 4), "ignore": torch.zeros(0, 4)}])
    assert losses["loss_box"].item() == 0.0
    assert losses["loss_attn_dice"].item() == 0.0
    assert math.isfinite(losses["loss_cls"].item()) and losses["loss_cls"].item() > 0
    sum(losses.values()).backward()
    assert out["reg"][0].grad is not None and float(out["reg"][0].grad.abs().sum()) == 0.0


def test_criterion_with_boxes_and_a_batch_larger_than_four():
    crit = FoveaCriterion(**CRIT, center_fallback=True)
    n = 6
    out = _outputs(n)
    targets = [{"boxes": torch.tensor([[8.0, 8.0, 30.0, 40.0]]) + k, "ignore": torch.zeros(0, 4)} for k in range(n)]
    losses = crit(out, targets)
    assert set(losses) == {"loss_cls", "loss_box", "loss_attn_bce", "loss_attn_dice"} == set(crit.weights)
    assert crit.weights["loss_attn_bce"] == 0.01 and crit.weights["loss_cls"] == 1.0   # the paper's λ, once
    assert all(math.isfinite(v.item()) for v in losses.values())
    assert losses["loss_box"].item() > 0
    sum(losses.values()).backward()
    assert all(a.grad is not None for a in out["attn"])


def test_criterion_without_attention_maps_or_with_attention_off():
    out = _outputs(1)
    out["attn"] = []
    tgt = [{"boxes": torch.tensor([[8.0, 8.0, 30.0, 40.0]])}]       # "ignore" may be absent
    assert set(FoveaCriterion(**CRIT)(out, tgt)) == {"loss_cls", "loss_box"}
    assert set(FoveaCriterion(**CRIT, attn_loss=False)(_outputs(1), tgt)) == {"loss_cls", "loss_box"}


def test_attention_bce_has_finite_gradients_on_saturated_maps():
    p = torch.tensor([1.0, 0.0, 1.0, 0.0], requires_grad=True)
    t = torch.tensor([1.0, 0.0, 0.0, -1.0])
    loss = attention_bce(p.reshape(1, 1, 1, 4), t.reshape(1, 1, 1, 4))
    loss.backward()
    assert math.isfinite(loss.item()) and bool(torch.isfinite(p.grad).all())


def test_regress_outside_decides_whether_an_unrepresentable_box_is_regressed():
    # a 3 px wide box at stride 8 whose centre cell has its centre on the box edge (x = 12): classified either way
    target = [{"boxes": torch.tensor([[9.0, 9.0, 12.0, 15.0]]), "ignore": torch.zeros(0, 4)}]
    kept = FoveaCriterion(**CRIT, center_fallback=True)(_outputs(1), target)
    skipped = FoveaCriterion(**CRIT, center_fallback=True, regress_outside=False)(_outputs(1), target)
    assert kept["loss_box"].item() > 0 and skipped["loss_box"].item() == 0.0
    assert kept["loss_cls"].item() == skipped["loss_cls"].item()


def test_giou_of_distance_boxes_matches_torchvision_on_xyxy_boxes():
    from torchvision.ops import generalized_box_iou
    g = torch.Generator().manual_seed(1)
    pred, target = torch.rand(50, 4, generator=g) * 6 + 0.1, torch.rand(50, 4, generator=g) * 6 + 0.1
    point = torch.rand(50, 2, generator=g) * 100

    def xyxy(d):
        return torch.cat([point - d[:, :2], point + d[:, 2:]], dim=1)

    expected = (1 - generalized_box_iou(xyxy(pred), xyxy(target)).diagonal()).sum()
    assert giou_ltrb_sum(pred, target).item() == pytest.approx(expected.item(), rel=1e-5)
    assert giou_ltrb_sum(target, target).item() == pytest.approx(0.0, abs=1e-5)


def test_giou_box_loss_is_zero_at_the_target_and_pulls_towards_it():
    target = [{"boxes": torch.tensor([[10.0, 12.0, 30.0, 40.0]]), "ignore": torch.zeros(0, 4)}]
    crit = FoveaCriterion(**CRIT, box_loss="giou")
    out = _outputs(1)
    loss = crit(out, target)["loss_box"]
    loss.backward()
    assert loss.item() > 0 and all(bool(torch.isfinite(r.grad).all()) for r in out["reg"])
    # the regression outputs set to the assigned log distances give a loss of zero
    assigned = fovea_targets(target, [(8, 8), (4, 4)], CRIT["strides"], CRIT["base_edges"], CRIT["scale_ranges"])
    exact = assigned.reg_ltrb[0].T
    reg = [exact[:, :64].reshape(1, 4, 8, 8), exact[:, 64:].reshape(1, 4, 4, 4)]
    at_target = crit({"cls": out["cls"], "reg": reg}, target)["loss_box"]
    assert at_target.item() == pytest.approx(0.0, abs=1e-5)
    empty = crit(_outputs(1), [{"boxes": torch.zeros(0, 4), "ignore": torch.zeros(0, 4)}])["loss_box"]
    assert empty.item() == 0.0


def test_config_chooses_the_box_loss_and_names_an_unknown_one():
    import dataclasses
    from pathlib import Path

    from sspnet.config import ConfigError, load_config
    from sspnet.training.build import build_criterion
    cfg = load_config(Path(__file__).resolve().parents[2] / "configs" / "sspnet_edge.yaml")
    giou = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, box_loss="giou"))
    assert build_criterion(giou).box_loss == "giou" and build_criterion(cfg).box_loss == "smooth_l1"
    with pytest.raises(ConfigError, match="model.box_loss: unknown value 'iou'"):
        build_criterion(dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, box_loss="iou")))
