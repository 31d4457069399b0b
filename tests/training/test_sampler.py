"""Weighted negative sampling: negatives drawn ∝ exp(0.6·IoF_gt), checked with a chi-square test; the
uniform flag; positive/negative counts."""
import math

import torch

from sspnet.training.sampler import iof_gt, sample_pos_neg, wns_weights

torch.set_num_threads(1)

CHI2_CRIT_3DOF_P001 = 16.266     # chi-square critical value, 3 degrees of freedom, p = 0.001


def _four_groups(per_group=25):
    """Negatives covering 0 %, 25 %, 50 % and 100 % of a 10x10 GT."""
    gt = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    groups = [torch.tensor([50.0, 50.0, 60.0, 60.0]), torch.tensor([0.0, 0.0, 5.0, 5.0]),
              torch.tensor([0.0, 0.0, 5.0, 10.0]), torch.tensor([-2.0, -2.0, 12.0, 12.0])]
    cands = torch.stack([g for g in groups for _ in range(per_group)])
    return cands, gt


def test_iof_is_the_covered_fraction_of_the_gt():
    cands, gt = _four_groups(1)
    assert iof_gt(cands, gt).tolist() == [0.0, 0.25, 0.5, 1.0]
    assert iof_gt(cands, torch.zeros(0, 4)).tolist() == [0.0] * 4
    w = wns_weights(cands, gt)
    assert torch.allclose(w, torch.exp(0.6 * torch.tensor([0.0, 0.25, 0.5, 1.0])))


def _chi2(counts, probs):
    total = sum(counts)
    return sum((c - total * p) ** 2 / (total * p) for c, p in zip(counts, probs))


def _draw(weighted: bool, trials=6000, per_group=25):
    cands, gt = _four_groups(per_group)
    labels = torch.zeros(len(cands), dtype=torch.long)          # all negatives
    weights = wns_weights(cands, gt) if weighted else None
    gen = torch.Generator().manual_seed(0)
    counts = [0, 0, 0, 0]
    for _ in range(trials):
        _, neg = sample_pos_neg(labels, 1, 0.5, weights, generator=gen)
        counts[int(neg[0]) // per_group] += 1
    return counts


def test_weighted_negative_sampling_frequencies_chi_square():
    counts = _draw(weighted=True)
    w = [math.exp(0.6 * f) for f in (0.0, 0.25, 0.5, 1.0)]
    probs = [x / sum(w) for x in w]
    assert _chi2(counts, probs) < CHI2_CRIT_3DOF_P001, counts
    # and it is distinguishable from uniform sampling
    assert _chi2(counts, [0.25] * 4) > CHI2_CRIT_3DOF_P001, counts


def test_uniform_flag_draws_negatives_uniformly():
    counts = _draw(weighted=False)
    assert _chi2(counts, [0.25] * 4) < CHI2_CRIT_3DOF_P001, counts


def test_sample_counts():
    labels = torch.tensor([1] * 200 + [0] * 1000 + [-1] * 50)
    pos, neg = sample_pos_neg(labels, 256, 0.5)
    assert len(pos) == 128 and len(neg) == 128
    assert bool((labels[pos] == 1).all()) and bool((labels[neg] == 0).all())
    assert len(set(neg.tolist())) == 128                           # without replacement
    labels = torch.tensor([1] * 10 + [0] * 1000)
    pos, neg = sample_pos_neg(labels, 256, 0.5, torch.ones(1010))
    assert len(pos) == 10 and len(neg) == 246
    pos, neg = sample_pos_neg(torch.zeros(0, dtype=torch.long), 256, 0.5)
    assert len(pos) == 0 and len(neg) == 0
