"""SSFPN / FPN: pyramid and attention shapes for a 640x512 tile, and the SEM/SSM formulas against a hand computation."""
import numpy as np
import pytest
import torch

from sspnet.training.neck import FPN, SSFPN

torch.set_num_threads(1)

SIZES_640x512 = [(128, 160), (64, 80), (32, 40), (16, 20)]       # C2..C5 (H, W) at strides 4..32


def fake_feats(channels=(4, 4, 4, 4), sizes=SIZES_640x512, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(1, c, h, w, generator=g) for c, (h, w) in zip(channels, sizes)]


def test_ssfpn_shapes_for_640x512_tile():
    neck = SSFPN(in_channels=(4, 4, 4, 4), channels=8, cam_entry_kernel=3, extra_level=True).eval()
    with torch.no_grad():
        pyramid, attn = neck(fake_feats())
    assert [tuple(p.shape[-2:]) for p in pyramid] == [(128, 160), (64, 80), (32, 40), (16, 20), (8, 10)]
    assert all(p.shape[1] == 8 for p in pyramid)
    assert [tuple(a.shape) for a in attn] == [(1, 1, h, w) for h, w in SIZES_640x512]
    assert all(float(a.min()) > 0 and float(a.max()) < 1 for a in attn)        # sigmoid probabilities


def test_p6_is_stride_two_subsampling_of_p5():
    neck = SSFPN(in_channels=(4, 4, 4, 4), channels=8, extra_level=True).eval()
    with torch.no_grad():
        pyramid, _ = neck(fake_feats())
    assert torch.equal(pyramid[4], pyramid[3][:, :, ::2, ::2])


def test_fpn_same_interface_no_attention_and_no_p6_when_asked():
    neck = FPN(in_channels=(4, 4, 4, 4), channels=8, extra_level=False).eval()
    with torch.no_grad():
        pyramid, attn = neck(fake_feats())
    assert [tuple(p.shape[-2:]) for p in pyramid] == SIZES_640x512
    assert attn == []


def _identity_convs(neck):
    """Laterals and output convs become identities, so P_k = (1 + A_k)·M_k can be checked by hand."""
    with torch.no_grad():
        for conv in neck.lateral:
            conv.weight.zero_()
            conv.bias.zero_()
            for c in range(conv.weight.shape[0]):
                conv.weight[c, c, 0, 0] = 1.0
        for conv in neck.output:
            conv.weight.zero_()
            conv.bias.zero_()
            for c in range(conv.weight.shape[0]):
                conv.weight[c, c, 1, 1] = 1.0


def up2(x):
    return np.repeat(np.repeat(x, 2, axis=-2), 2, axis=-1)


def test_sem_and_ssm_formulas_match_hand_computation():
    torch.manual_seed(0)
    neck = SSFPN(in_channels=(4, 4, 4, 4), channels=4, cam_entry_kernel=1, extra_level=False).eval()
    _identity_convs(neck)
    sizes = [(8, 8), (4, 4), (2, 2), (1, 1)]
    feats = fake_feats(sizes=sizes, seed=1)
    with torch.no_grad():
        pyramid, attn = neck(feats)
    L = [f[0].numpy() for f in feats]                    # laterals = inputs (identity 1x1 convs)
    A = [a[0].numpy() for a in attn]                     # [1, h, w]
    Lt = [(1 + a) * lat for a, lat in zip(A, L)]         # SEM
    M = [None, None, None, Lt[3]]
    for k in (3, 2, 1):                                  # SSM: M_{k-1} = L~_{k-1} + A_{k-1}·Up(A_k)·Up(M_k)
        M[k - 1] = Lt[k - 1] + A[k - 1] * up2(A[k]) * up2(M[k])
    expected = [(1 + a) * m for a, m in zip(A, M)]       # P_k = (1 + A_k)·Conv(M_k), Conv = identity
    for got, want in zip(pyramid, expected):
        np.testing.assert_allclose(got[0].numpy(), want, rtol=1e-5, atol=1e-5)


def test_ssm_gate_blocks_deep_features_where_attention_is_zero():
    """A_{k-1}·Up(A_k) = 0 ⇒ M_{k-1} = L~_{k-1}: nothing passes down where the finer level does not claim it."""
    torch.manual_seed(0)
    neck = SSFPN(in_channels=(4, 4, 4, 4), channels=4, cam_entry_kernel=1, extra_level=False).eval()
    _identity_convs(neck)
    with torch.no_grad():
        neck.cam.attn[0].weight.zero_()
        neck.cam.attn[0].bias.fill_(-100.0)              # A_0 ≈ 0 everywhere
        feats = fake_feats(sizes=[(8, 8), (4, 4), (2, 2), (1, 1)], seed=2)
        pyramid, attn = neck(feats)
    assert float(attn[0].max()) < 1e-30
    np.testing.assert_allclose(pyramid[0].numpy(), feats[0].numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("entry", [1, 3])
def test_cam_entry_kernel(entry):
    neck = SSFPN(in_channels=(4, 4, 4, 4), channels=8, cam_entry_kernel=entry)
    assert neck.cam.entry.kernel_size == (entry, entry)
    assert neck.cam.entry.in_channels == 32
