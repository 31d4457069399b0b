"""Accuracy gate: FP32 vs INT8 AP through the runtime's ONNX Runtime backend, the report, and the widening of the
float exclusions (attention gates → head outputs → noisiest nodes) when the drop is too large."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from sspnet.calibration.calibrate import Request, _int8_fields, calibrate
from sspnet.calibration.data import calibration_set
from sspnet.calibration.gate import REPORTED, run_gate, score_shift, structural_stages
from sspnet.calibration.quantize import default_exclusions, prepare, qdq_from_ranges, quantized_nodes, with_weight_sharers
from sspnet.calibration.ranges import collect_ranges
from sspnet.calibration.sensitivity import rank_nodes
from sspnet.data import load_dataset
from sspnet.manifest import read_manifest, write_manifest
from sspnet.preprocess import Preprocess
from sspnet.runtime.backends import open_backend

QUIET = {"log": lambda *a, **k: None}


def test_gate_report(tmp_path: Path, fp32_onnx: Path, calib_frames: Path, eval_dataset: Path):
    out = tmp_path / "g.int8.onnx"
    report = calibrate(Request(onnx=fp32_onnx, out=out, images=str(calib_frames), count=8, method="minmax",
                               eval_data=str(eval_dataset), max_drop=100.0, open_backend=open_backend), **QUIET)
    gate = report["gate"]
    assert gate["passed"] and gate["images"] == 3 and gate["metric"] == "AP50_tiny"
    assert set(gate["fp32"]) == set(REPORTED) == set(gate["int8"])
    assert gate["steps"] and gate["steps"][0]["excluded"] == len(default_exclusions(onnx.load(str(fp32_onnx))))
    assert "matched" in gate["score_shift"]
    section = read_manifest(out)["calibration"]["gate"]
    assert section["passed"] and section["max_drop"] == 100.0
    assert "Accuracy gate" in Path(report["report_files"][1]).read_text()


def test_gate_widens_exclusions_in_order(tmp_path: Path, fp32_onnx: Path, calib_frames: Path, eval_dataset: Path):
    model = onnx.load(str(fp32_onnx))
    manifest = read_manifest(fp32_onnx)
    prepared = prepare(fp32_onnx, tmp_path / "prepared.onnx")
    calib = calibration_set(calib_frames, Preprocess.from_dict(manifest["preprocess"]), 4)
    ranges = collect_ranges(prepared, calib, "minmax", **QUIET)
    paths = []

    def quantize(excluded: dict) -> Path:
        path = tmp_path / f"candidate{len(paths)}.onnx"
        excluded.update(with_weight_sharers(model, excluded))
        qdq_from_ranges(prepared, path, ranges, "tensorrt", sorted(excluded))
        write_manifest(path, _int8_fields(manifest, {"method": "minmax"}, excluded), parent=fp32_onnx)
        paths.append(path)
        return path

    def rank(path: Path, excluded: dict) -> list[dict]:      # the real ranking, cut to 3 nodes to stay fast
        candidates = set(quantized_nodes(model, onnx.load(str(path)))) - set(excluded)
        rows = rank_nodes(prepared, path, [calib.tiles(2)], candidates)
        assert rows == sorted(rows, key=lambda r: r["qdq_sqnr_db"])
        return rows[:3]

    records = load_dataset(eval_dataset)
    gate = run_gate(fp32_onnx, records, quantize, default_exclusions(model), -1.0, rank, model, open_backend, **QUIET)
    assert not gate["passed"]                                  # an impossible bound: everything was tried
    counts = [s["excluded"] for s in gate["steps"]]
    assert len(counts) == 5 and counts == sorted(counts) and len(set(counts)) == 5   # base, 1, 2, 3 (1 node), 3 (2)
    reasons = gate["excluded"]
    stage1 = [n for n, r in reasons.items() if "gate stage 1" in r]
    assert {n for n in stage1 if "Sigmoid" in n} == {n.name for n in model.graph.node
                                                     if n.name.startswith("neck/cam/") and n.op_type == "Sigmoid"}
    assert any(n.startswith("neck/cam/attn") for n in stage1) and any(n.startswith("neck/Mul_") for n in stage1)
    assert {n for n in reasons if n.startswith(("head/cls_out", "head/reg_out"))} == \
        {n.name for n in model.graph.node if n.name.startswith(("head/cls_out", "head/reg_out"))}
    stage3 = [r for r in reasons.values() if "gate stage 3" in r]
    assert 3 <= len(stage3) and all("SQNR" in r for r in stage3)


def test_structural_stages_follow_the_architecture(fp32_onnx: Path):
    stages = structural_stages(onnx.load(str(fp32_onnx)))
    assert [s[0] for s in stages] == ["attention", "head-outputs"]
    assert all(nodes for _, _, nodes in stages)


def test_score_shift():
    box = np.array([[0, 0, 10, 10]], np.float32)
    far = np.array([[50, 50, 60, 60]], np.float32)
    fp32 = {1: (np.concatenate([box, far]), np.array([0.8, 0.5], np.float32)), 2: (box, np.array([0.9], np.float32))}
    int8 = {1: (box + 0.2, np.array([0.6], np.float32)), 2: (np.zeros((0, 4), np.float32), np.zeros(0, np.float32))}
    s = score_shift(fp32, int8)
    assert s["matched"] == 1 and s["unmatched_fp32"] == 2
    assert s["mean_delta"] == -0.2 and s["median_ratio"] == 0.75


@pytest.mark.slow
def test_failed_gate_keeps_the_previous_out(tmp_path: Path, fp32_onnx: Path, calib_frames: Path, eval_dataset: Path):
    out = tmp_path / "g.int8.onnx"
    out.write_bytes(b"the INT8 model of an earlier, good run")
    report = calibrate(Request(onnx=fp32_onnx, out=out, images=str(calib_frames), count=8, method="minmax",
                               eval_data=str(eval_dataset), max_drop=-1.0, open_backend=open_backend), **QUIET)
    assert not report["gate"]["passed"]
    assert out.read_bytes() == b"the INT8 model of an earlier, good run"
    rejected = Path(report["out"])
    assert rejected.name == "g.int8.rejected.onnx" and rejected.is_file() and Path(f"{rejected}.json").is_file()
