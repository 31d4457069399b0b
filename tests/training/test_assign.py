"""Target assignment: attention-map targets (per-level ±1 by box size, bilinear down-sampling), FoveaBox cells,
MaxIoU assignment — hand-computed cases and empty images."""
import math

import numpy as np
import pytest
import torch

from sspnet.training.assign import attention_level_values, attention_targets, fovea_targets, max_iou_assign

torch.set_num_threads(1)

# √area s (px) → expected sign on A0..A3, by hand from the rule: A_k is +1 for 2^(k+2) < s < 2^(k+5), A0 also
# below 4 px, A3 also above 32 px, -1 otherwise
TABLE = {3: [1, -1, -1, -1], 6: [1, -1, -1, -1], 10: [1, 1, -1, -1], 20: [1, 1, 1, -1],
         40: [-1, 1, 1, 1], 100: [-1, -1, 1, 1]}


@pytest.mark.parametrize("size", sorted(TABLE))
def test_attention_level_values_follow_the_table(size):
    s = torch.tensor([float(size)])
    assert [float(attention_level_values(s, k)[0]) for k in range(4)] == TABLE[size]


@pytest.mark.parametrize("size", sorted(TABLE))
def test_attention_target_maps_carry_the_table_sign(size):
    box = torch.tensor([[32.0, 32.0, 32.0 + size, 32.0 + size]])
    maps = attention_targets([box], (256, 256))
    assert [tuple(m.shape) for m in maps] == [(1, 1, 64, 64), (1, 1, 32, 32), (1, 1, 16, 16), (1, 1, 8, 8)]
    for k, m in enumerate(maps):
        nonzero = m[m != 0]
        assert bool((torch.sign(nonzero) == TABLE[size][k]).all()), (size, k)
    assert float(maps[0].abs().max()) == 1.0            # visible at stride 4 whatever its size
    if size >= 40:                                       # big enough to cover a full cell on every level
        assert all(float(m.abs().max()) == 1.0 for m in maps)


def test_attention_exactly_4px_is_negative_on_a0():
    maps = attention_targets([torch.tensor([[8.0, 8.0, 12.0, 12.0]])], (32, 32))
    assert float(maps[0].min()) < 0 and float(maps[0].max()) == 0


def test_attention_bilinear_downsampling_by_hand():
    # a 6x6 box painted on rows/cols 2..7; stride-4 cell j samples pixels 4j+1 and 4j+2 with weight 1/2 each
    maps = attention_targets([torch.tensor([[2.0, 2.0, 8.0, 8.0]])], (32, 32))
    want = np.zeros((8, 8), dtype=np.float32)
    want[:2, :2] = [[0.25, 0.5], [0.5, 1.0]]
    np.testing.assert_allclose(maps[0][0, 0].numpy(), want, atol=1e-6)


def test_attention_later_boxes_overwrite_earlier_ones():
    boxes = torch.tensor([[0.0, 0.0, 40.0, 40.0], [16.0, 16.0, 22.0, 22.0]])   # 40 px (A0: -1), then 6 px (A0: +1)
    maps = attention_targets([boxes], (64, 64))
    assert float(maps[0][0, 0, 4, 4]) == 1.0             # inside the small box (pixels 17, 18)
    assert float(maps[0][0, 0, 1, 1]) == -1.0            # only the large box


def test_attention_targets_for_a_batch_with_an_empty_image():
    maps = attention_targets([torch.tensor([[8.0, 8.0, 20.0, 20.0]]), torch.zeros(0, 4)], (64, 64))
    assert maps[0].shape == (2, 1, 16, 16)
    assert float(maps[0][1].abs().max()) == 0.0


ONE_LEVEL = dict(sizes_hw=[(8, 8)], strides=[8], base_edges=[16.0], scale_ranges=[(16.0, 64.0)], sigma=0.4)


def _fovea(boxes, ignore=None, **kw):
    args = {**ONE_LEVEL, **kw}
    t = {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
         "ignore": torch.tensor(ignore if ignore is not None else [], dtype=torch.float32).reshape(-1, 4)}
    out = fovea_targets([t], **args)
    h, w = args["sizes_hw"][0]
    return out.labels[0].reshape(-1)[: h * w].reshape(h, w), out.reg_ltrb[0][: h * w].reshape(h, w, 4)


def test_fovea_hand_case():
    # box 32x32 at (16,16): in cells x1 = 2, half w = 2 → cols ceil(2 + 0.6·2 - 0.5) = 3 … floor(2 + 1.4·2 - 0.5) = 4
    labels, reg = _fovea([[16, 16, 48, 48]])
    want = torch.zeros(8, 8, dtype=torch.long)
    want[3:5, 3:5] = 1
    assert torch.equal(labels, want)
    # cell (3, 3) centre (28, 28): l = t = (28-16)/16, r = b = (48-28)/16; cell (4, 4) centre (36, 36)
    np.testing.assert_allclose(reg[3, 3].numpy(), np.log([12 / 16, 12 / 16, 20 / 16, 20 / 16]), rtol=1e-6)
    np.testing.assert_allclose(reg[4, 4].numpy(), np.log([20 / 16, 20 / 16, 12 / 16, 12 / 16]), rtol=1e-6)


def test_fovea_scale_range_is_inclusive_and_out_of_range_boxes_get_nothing():
    labels, _ = _fovea([[4, 4, 20, 20]])                       # √area = 16 = lower bound → assigned
    assert int(labels.sum()) > 0
    labels, _ = _fovea([[4, 4, 19, 19]])                       # below the range
    assert int(labels.abs().sum()) == 0


def test_fovea_smallest_box_wins_a_shared_cell():
    labels, reg = _fovea([[16, 16, 48, 48], [0, 0, 64, 64]])   # the large one is listed last
    assert int(labels.sum()) == 16                            # big: cells 2..5 squared, small inside
    np.testing.assert_allclose(reg[3, 3].numpy(), np.log([12 / 16, 12 / 16, 20 / 16, 20 / 16]), rtol=1e-6)
    np.testing.assert_allclose(reg[2, 2].numpy(), np.log([20 / 16, 20 / 16, 44 / 16, 44 / 16]), rtol=1e-6)


def test_fovea_regression_targets_are_clamped():
    labels, reg = _fovea([[0, 0, 64, 64]], base_edges=[1.0])  # distances / 1 px > 16 → clamped
    assert float(reg[labels == 1].max()) == pytest.approx(math.log(16))


def test_fovea_tiny_box_centre_fallback():
    box = [[8, 8, 13, 13]]                                    # 5 px at stride 8: the fovea misses every cell
    kw = dict(scale_ranges=[(1.0, 32.0)])
    labels, _ = _fovea(box, **kw)
    assert int(labels.sum()) == 0                             # the paper's rule
    labels, reg = _fovea(box, center_fallback=True, **kw)
    assert labels.nonzero().tolist() == [[1, 1]]              # the cell under the centre (10.5, 10.5)
    np.testing.assert_allclose(reg[1, 1].numpy(), np.log([4 / 16, 4 / 16, 1 / 16, 1 / 16]), rtol=1e-6)


def test_fovea_ignore_regions():
    labels, _ = _fovea([[16, 16, 48, 48]], ignore=[[40, 0, 64, 24]], use_ignore=True)
    assert int((labels == -1).sum()) == 9                     # centres x ∈ {44, 52, 60}, y ∈ {4, 12, 20}
    assert int((labels == 1).sum()) == 4
    labels, _ = _fovea([[16, 16, 48, 48]], ignore=[[40, 0, 64, 24]], use_ignore=False)
    assert int((labels == -1).sum()) == 0


def test_fovea_empty_image_and_levels_concatenated():
    out = fovea_targets([{"boxes": torch.zeros(0, 4), "ignore": torch.zeros(0, 4)}],
                        sizes_hw=[(8, 8), (4, 4)], strides=[8, 16], base_edges=[16.0, 32.0],
                        scale_ranges=[(1.0, 32.0), (16.0, 64.0)])
    assert out.labels.shape == (1, 80) and out.reg_ltrb.shape == (1, 80, 4)
    assert int(out.labels.abs().sum()) == 0


def test_max_iou_assign_hand_case():
    gt = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    cands = torch.tensor([[0.0, 0.0, 10.0, 10.0],      # IoU 1    → positive
                          [0.0, 0.0, 10.0, 20.0],      # IoU 0.5  → ignored (between 0.3 and 0.7)
                          [0.0, 0.0, 10.0, 40.0],      # IoU 0.25 → negative
                          [50.0, 50.0, 60.0, 60.0]])   # IoU 0    → negative
    labels, matched = max_iou_assign(cands, gt, 0.7, 0.3, 0.3, low_quality=True)
    assert labels.tolist() == [1, -1, 0, 0]
    assert int(matched[0]) == 0
    # without the perfect candidate, the GT's best (IoU 0.5 ≥ 0.3) becomes a low-quality positive
    labels, _ = max_iou_assign(cands[1:], gt, 0.7, 0.3, 0.3, low_quality=True)
    assert labels.tolist() == [1, 0, 0]
    labels, _ = max_iou_assign(cands[1:], gt, 0.7, 0.3, 0.3, low_quality=False)
    assert labels.tolist() == [-1, 0, 0]


def test_max_iou_assign_without_gt_is_all_negative():
    labels, _ = max_iou_assign(torch.rand(5, 2).repeat(1, 2) + torch.tensor([0, 0, 1, 1]), torch.zeros(0, 4),
                               0.7, 0.3, 0.3, low_quality=True)
    assert labels.tolist() == [0] * 5


def test_fallback_cell_outside_a_sub_stride_box_is_not_reg_valid():
    tiny = dict(sizes_hw=[(4, 4)], strides=[8], base_edges=[8.0], scale_ranges=[(1.0, 64.0)], sigma=0.4,
                center_fallback=True)
    # box x 9..12 (3 px wide, centre 10.5 in cell 1 whose centre is x = 12, on the edge): no representable box
    outside = fovea_targets([{"boxes": torch.tensor([[9.0, 9.0, 12.0, 15.0]]), "ignore": torch.zeros(0, 4)}], **tiny)
    assert int(outside.labels.sum()) == 1 and not outside.reg_valid.any()
    # box x 10..14 around the same cell centre (x = 12, y = 12): positive and regressed
    inside = fovea_targets([{"boxes": torch.tensor([[10.0, 9.0, 14.0, 15.0]]), "ignore": torch.zeros(0, 4)}], **tiny)
    assert int(inside.labels.sum()) == 1 and inside.reg_valid.sum() == 1
    assert torch.equal(inside.reg_valid, inside.labels == 1)
