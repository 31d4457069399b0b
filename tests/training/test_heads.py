"""Heads and the assembled detector: FoveaBox outputs and prior, the paper's anchors written out by hand, box
coding, Faster R-CNN losses on an empty image, TorchDetector against the core decode, ONNX export parity."""
import dataclasses
import math

import numpy as np
import pytest
import torch

from sspnet.config import load_config
from sspnet.postprocess import decode_fovea, fovea_points
from sspnet.training.build import build_model
from sspnet.training.criterion import FasterRCNNCriterion
from sspnet.training.heads.faster_rcnn import (FasterRCNNHead, base_anchors, decode_deltas, encode_deltas,
                                               grid_anchors, roi_levels)
from sspnet.training.heads.fovea import FoveaHead
from sspnet.training.predict import TorchDetector

torch.set_num_threads(1)


def test_fovea_head_shapes_and_prior():
    head = FoveaHead(in_channels=8, channels=8, num_convs=2, num_levels=2, shared_tower=True)
    with torch.no_grad():
        out = head([torch.zeros(2, 8, 16, 20), torch.zeros(2, 8, 8, 10)])
    assert [tuple(c.shape) for c in out["cls"]] == [(2, 1, 16, 20), (2, 1, 8, 10)]
    assert [tuple(r.shape) for r in out["reg"]] == [(2, 4, 16, 20), (2, 4, 8, 10)]
    assert float(torch.sigmoid(out["cls"][0]).mean()) == pytest.approx(0.01, rel=1e-4)   # zero input → the prior
    assert len(head.reg_towers) == 0 and len(head.cls_towers) == 1


def test_fovea_head_paper_form_has_separate_towers_and_per_level_option():
    paper = FoveaHead(in_channels=8, channels=8, num_convs=4, num_levels=5)
    assert len(paper.cls_towers) == 1 and len(paper.reg_towers) == 1 and len(paper.cls_towers[0]) == 8
    per_level = FoveaHead(in_channels=8, channels=8, num_convs=1, num_levels=3, shared_levels=False)
    assert len(per_level.cls_out) == 3


def test_p2_anchors_written_out_by_hand():
    # stride 4, scales (1.5, 2.5, 3.7, 8), ratios h/w (0.4, 0.8, 1.4), ratio-major: w = 4·s/√r, h = 4·s·√r
    want_wh = [(4 * s / math.sqrt(r), 4 * s * math.sqrt(r)) for r in (0.4, 0.8, 1.4) for s in (1.5, 2.5, 3.7, 8)]
    a = base_anchors(4)
    assert a.shape == (12, 4)
    np.testing.assert_allclose((a[:, 2] - a[:, 0]).numpy(), [w for w, _ in want_wh], rtol=1e-6)
    np.testing.assert_allclose((a[:, 3] - a[:, 1]).numpy(), [h for _, h in want_wh], rtol=1e-6)
    np.testing.assert_allclose(((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])).sqrt()[:4].numpy(), [6, 10, 14.8, 32],
                               rtol=1e-6)
    grid = grid_anchors([(2, 3)], torch.device("cpu"))[0]          # centres at (x·4, y·4), ordered (row, col, a)
    assert grid.shape == (2 * 3 * 12, 4)
    centre = (grid[:, :2] + grid[:, 2:]) / 2
    assert centre[12 * 4].tolist() == pytest.approx([4.0, 4.0])   # row 1, col 1
    assert centre[12 * 2].tolist() == pytest.approx([8.0, 0.0])   # row 0, col 2


def test_box_coding_round_trip_and_roi_levels():
    boxes = torch.tensor([[10.0, 10.0, 20.0, 30.0], [0.0, 0.0, 100.0, 50.0]])
    gt = torch.tensor([[12.0, 8.0, 25.0, 28.0], [5.0, 5.0, 90.0, 60.0]])
    stds = (0.1, 0.1, 0.2, 0.2)
    back = decode_deltas(boxes, encode_deltas(boxes, gt, stds), stds, (512, 640))
    np.testing.assert_allclose(back.numpy(), gt.numpy(), rtol=1e-5, atol=1e-4)
    rois = torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 112.0, 112.0], [0.0, 0.0, 500.0, 500.0]])
    assert roi_levels(rois).tolist() == [0, 1, 3]


def test_faster_rcnn_head_and_losses_on_an_empty_image():
    torch.manual_seed(0)
    head = FasterRCNNHead(in_channels=8, fc_channels=16).train()
    pyramid = [torch.randn(2, 8, 32 // 2 ** k, 32 // 2 ** k, requires_grad=True) for k in range(5)]
    out = head(pyramid)
    assert [tuple(c.shape) for c in out["rpn_cls"]] == [(2, 12, 32 // 2 ** k, 32 // 2 ** k) for k in range(5)]
    assert out["roi_cls"].shape == (sum(len(p) for p in out["proposals"]), 2)
    crit = FasterRCNNCriterion(wns=True, attn_loss=False)
    empty = [{"boxes": torch.zeros(0, 4), "ignore": torch.zeros(0, 4)}] * 2
    losses = crit(out, empty)
    assert losses["loss_rpn_box"].item() == 0.0 and losses["loss_rcnn_box"].item() == 0.0
    assert losses["loss_rpn_cls"].item() > 0 and losses["loss_rcnn_cls"].item() > 0
    with_gt = [{"boxes": torch.tensor([[20.0, 20.0, 30.0, 34.0]])}, empty[1]]
    losses = crit(out, with_gt)
    assert losses["loss_rpn_box"].item() > 0
    sum(losses.values()).backward()
    assert pyramid[0].grad is not None


@pytest.fixture(scope="module")
def edge():
    cfg = load_config("configs/sspnet_edge.yaml")
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, backbone_weights=""))
    torch.manual_seed(0)
    return build_model(cfg).eval(), cfg


def test_torch_detector_matches_the_core_decode(edge):
    model, cfg = edge
    x = torch.randn(2, 3, 128, 160)
    det = TorchDetector(model, cfg, "cpu")
    boxes, scores = det.infer(x.numpy())
    k = sum((128 // s) * (160 // s) for s in model.strides)
    assert boxes.shape == (2, k, 4) and scores.shape == (2, k)
    with torch.no_grad():
        out = model(x)
    pts = fovea_points(160, 128, model.strides)
    reg0 = out["reg"][0].reshape(2, 4, -1).permute(0, 2, 1).numpy()
    np.testing.assert_allclose(boxes[:, : len(pts[0])], decode_fovea(reg0, pts[0], model.base_edges[0], 160, 128),
                               rtol=1e-5, atol=1e-4)
    assert det.manifest["model"]["name"] == "sspnet_edge" and det.max_batch is None
    assert det.preprocess.input_w == 640


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_edge_model_exports_to_onnx_and_matches_onnxruntime(edge, tmp_path):
    import onnxruntime as ort
    model, _ = edge

    class Flat(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, images):
            out = self.m(images)
            return tuple(out["cls"]) + tuple(out["reg"])

    flat = Flat(model).eval()
    x = torch.randn(1, 3, 128, 160)
    path = tmp_path / "edge.onnx"
    torch.onnx.export(flat, (x,), str(path), dynamo=False, opset_version=17, input_names=["images"])
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"images": x.numpy()})
    with torch.no_grad():
        want = flat(x)
    assert [g.shape for g in got] == [tuple(w.shape) for w in want]           # static shapes
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w.numpy(), rtol=1e-3, atol=1e-4)
