"""ONNX export: parity with PyTorch (edge and paper variants, 128x128 tiles), in-graph decode = the core's
decode_fovea, stable names, manifest, CLI. Real torch → ONNX → ONNX Runtime; untrained weights."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from sspnet.manifest import read_manifest, sha256_file
from sspnet.postprocess import decode_fovea, fovea_points
from sspnet_test_models import ROOT, TILE, export_edge, lively_model, load_cfg

NAME_RE = re.compile(r"^[A-Za-z0-9_.]+(/[A-Za-z0-9_.]+)*/[A-Za-z]+_\d+$")


def _run(path: Path, x: np.ndarray, extra: list[str] = ()) -> list[np.ndarray]:
    model = onnx.load(str(path))
    for name in extra:
        model.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(["boxes", "scores", *extra], {"images": x})


def test_edge_export_parity_and_manifest(edge_dyn: Path):
    m = read_manifest(edge_dyn)
    assert m["artifact"] == "onnx" and m["sha256"] == sha256_file(edge_dyn)
    assert m["input"] == {"name": "images", "layout": "NCHW", "dtype": "float32", "batch": "dynamic",
                          "width": TILE[0], "height": TILE[1]}
    assert (m["preprocess"]["input_w"], m["preprocess"]["input_h"]) == TILE
    assert m["output_names"] == ["boxes", "scores"] and m["classes"] == ["person"]
    parity = m["export"]["parity"]["fp32"]
    assert parity["ok"] and parity["compared_raw"] == ["logits", "reg"]
    assert parity["max_abs_diff"]["logits"] <= 1e-4 and parity["max_abs_diff"]["reg"] <= 1e-4
    assert all(d["same"] for d in parity["detections"].values())
    assert sum(d["torch"] for d in parity["detections"].values()) > 0, "parity compared no detections"
    assert set(m["export"]["raw_outputs"]) == {"logits", "reg"}


def test_graph_io_and_decode_match_core(edge_dyn: Path):
    g = onnx.load(str(edge_dyn)).graph
    assert [i.name for i in g.input] == ["images"] and [o.name for o in g.output] == ["boxes", "scores"]
    k = sum((TILE[0] // s) * (TILE[1] // s) for s in (4, 8, 16, 32))
    x = np.random.default_rng(0).normal(size=(3, 3, TILE[1], TILE[0])).astype(np.float32)
    raw = read_manifest(edge_dyn)["export"]["raw_outputs"]
    boxes, scores, logits, reg = _run(edge_dyn, x, [raw["logits"], raw["reg"]])
    assert boxes.shape == (3, k, 4) and scores.shape == (3, k)
    ref, start = [], 0
    for pts, base in zip(fovea_points(TILE[0], TILE[1], [4, 8, 16, 32]), (8.0, 16.0, 32.0, 64.0)):
        ref.append(decode_fovea(reg[:, start:start + len(pts)], pts, base, *TILE))
        start += len(pts)
    ref = np.concatenate(ref, axis=1)
    np.testing.assert_allclose(boxes, ref, atol=1e-3)
    np.testing.assert_allclose(scores, 1 / (1 + np.exp(-logits)), atol=1e-6)


def test_names_are_stable_and_meaningful(tmp_path: Path, edge_dyn: Path):
    a = onnx.load(str(edge_dyn)).graph
    assert all(NAME_RE.match(n.name) for n in a.node), [n.name for n in a.node if not NAME_RE.match(n.name)][:5]
    tensors = {o for n in a.node for o in n.output} | {i for n in a.node for i in n.input}
    assert not [t for t in tensors if t.startswith("onnx::") or t.startswith("/")]
    assert any(n.name.startswith("backbone/_blocks.1/_expand_conv/Conv_") for n in a.node)
    assert any(n.name.startswith("neck/cam/") and n.op_type == "Sigmoid" for n in a.node)
    other = export_edge(tmp_path / "other.onnx", batch=None, seed=3)       # other weights, same architecture
    b = onnx.load(str(other)).graph
    assert [n.name for n in a.node] == [n.name for n in b.node]
    assert [list(n.output) for n in a.node] == [list(n.output) for n in b.node]


def test_export_writes_only_the_onnx_and_its_manifest(tmp_path: Path, monkeypatch):
    # an external-data side file (<uuid>.data) once leaked into the repository root, the exporter's cwd
    cwd, out_dir = tmp_path / "cwd", tmp_path / "out"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    path = export_edge(out_dir / "edge.onnx", batch=1)
    assert list(cwd.iterdir()) == []
    assert sorted(p.name for p in out_dir.iterdir()) == ["edge.onnx", "edge.onnx.json"]
    assert not [t.name for t in onnx.load(str(path), load_external_data=False).graph.initializer
                if t.data_location == onnx.TensorProto.EXTERNAL]


def test_fixed_batch_export_runs_through_runtime_backend(tmp_path: Path, frames_dir: Path):
    from sspnet.runtime.backends import open_backend
    path = export_edge(tmp_path / "edge_b2.onnx", batch=2, parity_images=str(frames_dir))
    assert read_manifest(path)["input"]["batch"] == 2
    backend = open_backend(path, "cpu")
    x = np.zeros((3, 3, TILE[1], TILE[0]), np.float32)                       # 3 tiles through a batch-2 model
    boxes, scores = backend.infer(x)
    assert boxes.shape[0] == 3 and scores.shape[0] == 3 and backend.max_batch == 2
    backend.close()


def test_paper_fovea_variant_parity(tmp_path: Path, frames_dir: Path):
    from sspnet.export.onnx import export_onnx
    torch.set_num_threads(1)
    cfg = load_cfg("sspnet_r50_fovea", neck_channels=64, head_channels=64)   # ResNet-50, SSFPN, 4+4 convs, P2-P6
    path = export_onnx(lively_model(cfg), tmp_path / "r50_fovea.onnx", input_wh=TILE, batch=1, cfg=cfg,
                       parity_images=str(frames_dir), log=lambda *a: None)
    parity = read_manifest(path)["export"]["parity"]["fp32"]
    assert parity["ok"] and max(parity["max_abs_diff"][k] for k in ("logits", "reg")) <= 1e-4
    k = sum((TILE[0] // s) * (TILE[1] // s) for s in (4, 8, 16, 32, 64))
    assert _run(path, np.zeros((1, 3, TILE[1], TILE[0]), np.float32))[1].shape == (1, k)


def test_faster_rcnn_export_runs_in_onnxruntime(tmp_path: Path, frames_dir: Path):
    from sspnet.export.onnx import ExportError, export_onnx
    from sspnet.export.wrapper import wrap_for_export
    from sspnet.training.predict import TorchDetector
    torch.set_num_threads(1)
    cfg = load_cfg("sspnet_r50_faster", neck_channels=64)
    model = lively_model(cfg)
    x = np.random.default_rng(1).normal(size=(1, 3, TILE[1], TILE[0])).astype(np.float32)
    with torch.no_grad():
        wb, ws = wrap_for_export(model, TILE)(torch.from_numpy(x))
    tb, ts = TorchDetector(model, cfg).infer(x)                               # the model's own inference path
    np.testing.assert_allclose(wb.numpy(), tb, atol=1e-4)
    np.testing.assert_allclose(ws.numpy(), ts, atol=1e-5)
    with pytest.raises(ExportError, match="dynamic-batch"):
        export_onnx(model, tmp_path / "rcnn_dyn.onnx", input_wh=TILE, batch=None, cfg=cfg)
    path = export_onnx(model, tmp_path / "rcnn.onnx", input_wh=TILE, batch=1, cfg=cfg, parity_images=str(frames_dir),
                       log=lambda *a: None)
    m = read_manifest(path)
    parity = m["export"]["parity"]["fp32"]
    assert parity["ok"] and {f"rpn_cls_{i}" for i in range(5)} <= set(parity["compared_raw"])
    assert "RoiAlign" in m["export"]["tensorrt"] and "8.6" in m["export"]["tensorrt"]
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert {"RoiAlign", "NonMaxSuppression"} <= ops
    boxes, scores = _run(path, x)
    assert boxes.shape == (1, 1000, 4) and scores.shape == (1, 1000)


def test_cli_from_checkpoint(tmp_path: Path, frames_dir: Path):
    from sspnet.training.checkpoint import save_checkpoint
    torch.manual_seed(0)
    cfg = load_cfg()
    ckpt = tmp_path / "best.pt"
    save_checkpoint(ckpt, model=lively_model(cfg), cfg=cfg)
    out = tmp_path / "model.onnx"
    cmd = [sys.executable, "-m", "sspnet.cli", "export", "--checkpoint", str(ckpt), "--out", str(out),
           "--input", "128x128", "--dynamic-batch", "--parity-images", str(frames_dir)]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "next: sspnet calibrate --onnx" in r.stdout
    m = json.loads(Path(str(out) + ".json").read_text())
    assert m["parent"] == {"path": "best.pt", "sha256": sha256_file(ckpt)}
    assert m["input"]["batch"] == "dynamic" and m["model"]["name"] == "sspnet_edge"
    bad = subprocess.run(cmd[:7] + [str(tmp_path / "model.bin")], capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2 and ".onnx" in bad.stderr
    bad = subprocess.run(cmd + ["--batch", "2"], capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2
