"""INT8 Q/DQ: ONNX Runtime runs it and it tracks FP32 on synthetic frames; the TensorRT form passes the static
Q/DQ check (int8 zero points 0, per-channel conv weights on axis 0, no int32 bias) and keeps the FP32 names; the CPU
form really runs integer kernels; calibration tiles are the core's tiles; no torch in the calibration package."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from sspnet.calibration.calibrate import CalibrationError, Request, calibrate
from sspnet.calibration.data import calibration_set, tiles_per_image
from sspnet.cpu_int8 import CPU_FORMS, CpuInfo, cpu_info, form_for, mismatch_warning
from sspnet.manifest import read_manifest, sha256_file
from sspnet.preprocess import Preprocess, frame_to_tiles

QUIET = dict(log=lambda *a, **k: None)


def _outputs(path, x, simulated=False):
    so = ort.SessionOptions()
    if simulated:   # no fusion: each DequantizeLinear feeds a float conv, i.e. int8 values with exact sums
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"]).run(["boxes", "scores"],
                                                                                      {"images": x})


def _tracks_fp32(fp32: Path, int8: Path, frames: Path, simulated=False) -> None:
    pre = Preprocess.from_dict(read_manifest(fp32)["preprocess"])
    x = calibration_set(frames, pre, 8).tiles(8)                       # frames never seen by the calibration
    (bf, sf), (bq, sq) = _outputs(fp32, x), _outputs(int8, x, simulated)
    assert np.isfinite(sq).all() and np.isfinite(bq).all()
    assert np.abs(sf - sq).mean() < 0.05 and np.abs(sf - sq).max() < 0.35
    assert np.corrcoef(sf.ravel(), sq.ravel())[0, 1] > 0.9
    assert np.abs(bf - bq).mean() < 1.0                                # pixels


def test_tensorrt_form(tmp_path: Path, fp32_onnx: Path, calib_frames: Path, test_frames: Path):
    from sspnet.export.qdq_check import check_qdq, errors
    out = tmp_path / "edge.int8.onnx"
    report = calibrate(Request(onnx=fp32_onnx, out=out, images=str(calib_frames), count=16, method="minmax"), **QUIET)
    m = read_manifest(out)
    assert m["artifact"] == "onnx-int8" and m["parent"]["sha256"] == sha256_file(fp32_onnx)
    cal = m["calibration"]
    assert cal["method"] == "minmax" and cal["count"] == report["count"] <= 16 and cal["target"] == "tensorrt"
    assert cal["onnx_sha256"] == sha256_file(fp32_onnx) and len(cal["images_sha256"]) == 64
    assert cal["preprocess_digest"] == Preprocess.from_dict(m["preprocess"]).digest()
    kept = [e["name"] for e in cal["excluded_nodes"]]
    assert kept and all(n.startswith(("decode/", "flatten/")) for n in kept)
    assert all(e["reason"] for e in cal["excluded_nodes"])

    q, f = onnx.load(str(out)), onnx.load(str(fp32_onnx))
    for trt_major in (8, 10):
        assert not errors(check_qdq(q, kept_float=kept, trt_major=trt_major))
    consts = {t.name: numpy_helper.to_array(t) for t in q.graph.initializer}
    zps = [consts[n.input[2]] for n in q.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    assert zps and all(z.dtype == np.int8 and not z.any() for z in zps)
    producer = {o: n for n in q.graph.node for o in n.output}
    for conv in (n for n in q.graph.node if n.op_type == "Conv"):
        dq = producer[conv.input[1]]
        w = consts[producer[dq.input[0]].input[0]]                    # float weight → Q → DQ (TensorRT 8.6 form)
        axis = next(a.i for a in dq.attribute if a.name == "axis")
        assert axis == 0 and consts[dq.input[1]].shape == (w.shape[0],), conv.name
        assert len(conv.input) < 3 or conv.input[2] in consts and consts[conv.input[2]].dtype == np.float32
    assert {n.name for n in f.graph.node} <= {n.name for n in q.graph.node}  # FP32 names kept
    # TensorRT sums int8 products in int32; ONNX Runtime's fused x86 kernels saturate int16 pair sums on CPUs
    # without VNNI (sspnet/cpu_int8.py), so the form is checked with the arithmetic TensorRT performs
    _tracks_fp32(fp32_onnx, out, test_frames, simulated=True)
    assert report["kernels"]["int8_kernels"].get("QLinearConv", 0) > 0
    assert Path(report["report_files"][0]).is_file() and "Nodes kept in float" in Path(
        report["report_files"][1]).read_text()


def test_cpu_form_runs_integer_kernels(tmp_path: Path, fp32_onnx: Path, calib_frames: Path, test_frames: Path):
    out = tmp_path / "edge.int8-cpu.onnx"
    report = calibrate(Request(onnx=fp32_onnx, out=out, images=str(calib_frames), count=16, method="entropy",
                               target="cpu"), **QUIET)
    k = report["kernels"]
    assert k["int8_conv_fraction"] == 1.0 and not k["float_compute"], k      # every conv a QLinearConv
    assert k["int8_kernels"]["QLinearConv"] == sum(n.op_type == "Conv" for n in onnx.load(str(fp32_onnx)).graph.node)
    cal = read_manifest(out)["calibration"]
    assert cal["quantization"]["activation"] == "QUInt8"
    here = cpu_info()
    assert cal["cpu_form"]["name"] == form_for(here) and cal["cpu_form"]["calibrated_on"] == here.to_dict()
    assert cal["quantization"]["weight_bits"] == CPU_FORMS[form_for(here)]["weight_bits"]
    _tracks_fp32(fp32_onnx, out, test_frames)            # the fused integer kernels of this CPU


def _weights_int8(path: Path) -> list:
    m = onnx.load(str(path))
    consts = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    return [consts[n.input[0]] for n in m.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in consts
            and consts[n.input[0]].dtype == np.int8 and consts[n.input[0]].ndim == 4]


def test_cpu_forms_weight_bits_and_backend_warning(tmp_path: Path, fp32_onnx: Path, calib_frames: Path, capfd):
    from sspnet.runtime.backends.onnxruntime import OnnxRuntimeBackend
    outs = {}
    for form in ("vnni", "avx2"):
        outs[form] = tmp_path / f"edge.int8-{form}.onnx"
        calibrate(Request(onnx=fp32_onnx, out=outs[form], images=str(calib_frames), count=8, method="minmax",
                          target="cpu", cpu_form=form), **QUIET)
        peak = max(int(np.abs(w.astype(np.int32)).max()) for w in _weights_int8(outs[form]))
        assert peak == {"vnni": 127, "avx2": 64}[form], (form, peak)   # 8-bit vs 7-bit: 2·255·64 < 2¹⁵
        assert read_manifest(outs[form])["calibration"]["cpu_form"]["name"] == form
    capfd.readouterr()
    for _ in range(2):
        OnnxRuntimeBackend(outs["vnni"]).close()
        OnnxRuntimeBackend(outs["avx2"]).close()
    err = capfd.readouterr().err
    if cpu_info().saturates:                               # once, for the 8-bit model only, naming the fix
        assert err.count("warning: edge.int8-vnni.onnx") == 1 and "--cpu-form avx2" in err
        assert "edge.int8-avx2.onnx" not in err
    else:
        assert "warning" not in err
    with pytest.raises(CalibrationError, match="--cpu-form"):
        calibrate(Request(onnx=fp32_onnx, out=tmp_path / "x.onnx", images=str(calib_frames), count=8,
                          target="cpu", cpu_form="sse"), **QUIET)


def test_mismatch_warning_by_cpu():
    avx2 = CpuInfo(model="AMD EPYC", flags=("avx2",))
    vnni = CpuInfo(model="Intel Xeon", flags=("avx2", "avx512f", "avx512_vnni"))
    if not avx2.is_x86:
        pytest.skip("saturation is an x86 property")
    assert "--cpu-form avx2" in mismatch_warning("m.onnx", "vnni", avx2)
    assert "TensorRT form" in mismatch_warning("m.onnx", None, avx2)
    assert mismatch_warning("m.onnx", "avx2", avx2) is None
    assert mismatch_warning("m.onnx", "vnni", vnni) is None and mismatch_warning("m.onnx", None, vnni) is None
    assert form_for(avx2) == "avx2" and form_for(vnni) == "vnni"
    assert cpu_info("/nonexistent").flags == ()


def test_percentile_with_excluded_node(tmp_path: Path, fp32_onnx: Path, calib_frames: Path):
    node = "head/cls_out.0/Conv_0"
    out = tmp_path / "excl.onnx"
    report = calibrate(Request(onnx=fp32_onnx, out=out, images=str(calib_frames), count=8, method="percentile",
                               exclude=(node,)), **QUIET)
    assert {"name": node, "reason": "requested with --exclude"} in report["excluded_nodes"]
    sharers = [e for e in report["excluded_nodes"] if e["name"].startswith("head/cls_out.0_")]
    assert len(sharers) == 3 and all("shares its weight" in e["reason"] for e in sharers)   # one head, 4 levels
    q = onnx.load(str(out))
    producer = {o: n.op_type for n in q.graph.node for o in n.output}
    for conv in (n for n in q.graph.node if n.name.startswith("head/cls_out.0")):
        assert producer.get(conv.input[1]) is None                             # float weight: the conv runs in float
    with pytest.raises(CalibrationError, match="no node named"):
        calibrate(Request(onnx=fp32_onnx, out=out, images=str(calib_frames), exclude=("nope/Conv_0",)), **QUIET)


def test_calibration_tiles_are_the_runtime_tiles(calib_frames: Path):
    import cv2
    pre = Preprocess(input_w=128, input_h=128, overlap=16)
    files = sorted(calib_frames.iterdir())
    per = tiles_per_image(calibration_set(calib_frames, pre, 1).picks[0][0], pre)
    assert per == len(frame_to_tiles(cv2.imread(str(files[0])), pre).batch)
    full = calibration_set(calib_frames, pre, 10_000)                              # more than there are: all
    assert full.count == per * len(files)
    ref = np.concatenate([frame_to_tiles(cv2.imread(str(f)), pre).batch for f in files])
    np.testing.assert_array_equal(full.tiles(), ref)
    some = calibration_set(calib_frames, pre, 5)
    assert some.count == 5 and len(some.picks) == len(files)                    # spread over every image
    assert calibration_set(calib_frames, pre, 5).images_sha256 == some.images_sha256
    assert calibration_set(calib_frames, pre, 6).images_sha256 != some.images_sha256


def test_cli_and_no_torch(tmp_path: Path, fp32_onnx: Path, calib_frames: Path):
    root = Path(__file__).resolve().parents[2]
    out = tmp_path / "cli.int8.onnx"
    code = ("import sys; from sspnet.cli import main; rc = main(sys.argv[1:]); "
            "assert 'torch' not in sys.modules, 'calibration imported torch'; sys.exit(rc)")
    args = ["calibrate", "--onnx", str(fp32_onnx), "--images", str(calib_frames), "--count", "8", "--method",
            "minmax", "--out", str(out), "--trt-cache", str(tmp_path / "cli.calib")]
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=root)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "next: sspnet build --onnx" in r.stdout and (tmp_path / "cli.calib").is_file()
    for bad in (["--count", "0"], ["--max-drop", "-1"], ["--trt-version", "eleven"]):
        r = subprocess.run([sys.executable, "-c", code, *args, *bad], capture_output=True, text=True, cwd=root)
        assert r.returncode == 2, r.stderr
    r = subprocess.run([sys.executable, "-c", code, "calibrate", "--onnx", str(fp32_onnx), "--out", str(out)],
                       capture_output=True, text=True, cwd=root)
    assert r.returncode == 2 and "--images" in r.stderr
