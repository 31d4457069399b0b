"""trtexec command lines per TensorRT version and the build plan's refusals (no TensorRT needed)."""
import importlib.util
import shlex

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper, save

from sspnet.cli import main
from sspnet.export.trt_plan import PlanError, parse_batch, plan_build
from sspnet.export.trt_versions import features
from sspnet.export.trtexec import trtexec_argv, trtexec_line
from sspnet.manifest import write_manifest

HAVE_TRT = importlib.util.find_spec("tensorrt") is not None


def _graph(path, batch="N", fp16=False, qdq=False):
    """images [batch,3,8,8] → Conv(4) → Sigmoid → out; optional FP16 weights or a Q/DQ pair on each Conv input."""
    et = TensorProto.FLOAT16 if fp16 else TensorProto.FLOAT
    w = numpy_helper.from_array(np.ones((4, 3, 1, 1), np.float16 if fp16 else np.float32), "w")
    inits, nodes, conv_in, conv_w = [w], [], "images", "w"
    if qdq:
        inits += [numpy_helper.from_array(np.array(0.02, np.float32), "s_x"),
                  numpy_helper.from_array(np.array(0, np.int8), "z_x"),
                  numpy_helper.from_array(np.full(4, 0.01, np.float32), "s_w"),
                  numpy_helper.from_array(np.zeros(4, np.int8), "z_w")]
        nodes += [helper.make_node("QuantizeLinear", ["images", "s_x", "z_x"], ["xq"], name="q_x"),
                  helper.make_node("DequantizeLinear", ["xq", "s_x", "z_x"], ["xd"], name="dq_x"),
                  helper.make_node("QuantizeLinear", ["w", "s_w", "z_w"], ["wq"], name="q_w", axis=0),
                  helper.make_node("DequantizeLinear", ["wq", "s_w", "z_w"], ["wd"], name="dq_w", axis=0)]
        conv_in, conv_w = "xd", "wd"
    nodes += [helper.make_node("Conv", [conv_in, conv_w], ["c"], name="/head/conv"),
              helper.make_node("Sigmoid", ["c"], ["out"], name="/head/attn/Sigmoid")]
    x = helper.make_tensor_value_info("images", et, [batch, 3, 8, 8])
    y = helper.make_tensor_value_info("out", et, [batch, 4, 8, 8])
    save(helper.make_model(helper.make_graph(nodes, "g", [x], [y], inits),
                           opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def _cache(path, header="TRT-100300-EntropyCalibration2"):
    path.write_text(f"{header}\nimages: 3c010204\nc: 3c010204\nout: 3c010204\n")
    return path


def test_10_3_implicit_int8_line(tmp_path):
    onnx_path = _graph(tmp_path / "model.onnx")
    plan = plan_build(onnx_path, tmp_path / "m.engine", features=features("10.3"), precision="int8",
                      calib_cache=_cache(tmp_path / "m.calib"), batch="1:4:12", workspace_mb=1024, dla_core=0)
    argv = trtexec_argv(plan, tmp_path / "tc.cache")
    assert argv[0] == "trtexec" and f"--onnx={onnx_path}" in argv and f"--saveEngine={tmp_path / 'm.engine'}" in argv
    assert "--int8" in argv and "--fp16" in argv and f"--calib={tmp_path / 'm.calib'}" in argv
    assert "--minShapes=images:1x3x8x8" in argv and "--optShapes=images:4x3x8x8" in argv
    assert "--maxShapes=images:12x3x8x8" in argv
    assert "--memPoolSize=workspace:1024M" in argv and f"--timingCacheFile={tmp_path / 'tc.cache'}" in argv
    assert "--useDLACore=0" in argv and "--allowGPUFallback" in argv
    assert plan.quantization == "implicit-cache"


def test_8_6_fp16_and_qdq_lines(tmp_path):
    p = plan_build(_graph(tmp_path / "m.onnx"), tmp_path / "m.engine", features=features("8.6"), precision="fp16")
    argv = trtexec_argv(p)
    assert "--fp16" in argv and "--int8" not in argv and not any(a.startswith("--calib") for a in argv)
    q = plan_build(_graph(tmp_path / "q.onnx", qdq=True), tmp_path / "q.engine", features=features("8.6"))
    assert q.precision == "int8" and q.quantization == "qdq"        # precision read from the graph
    argv = trtexec_argv(q)
    assert "--int8" in argv and "--fp16" in argv and not any(a.startswith("--calib") for a in argv)


@pytest.mark.parametrize("kind", ["qdq", "fp16"])
def test_11_4_has_no_precision_flags(tmp_path, kind):
    onnx_path = _graph(tmp_path / "m.onnx", qdq=kind == "qdq", fp16=kind == "fp16")
    plan = plan_build(onnx_path, tmp_path / "m.engine", features=features("11.4"))
    assert plan.precision == ("int8" if kind == "qdq" else "fp16")
    argv = trtexec_argv(plan)
    assert not [a for a in argv if a.split("=")[0] in ("--int8", "--fp16", "--best", "--calib", "--stronglyTyped")]
    assert "--saveEngine=" + str(tmp_path / "m.engine") in argv


def test_11_refuses_calibration_cache_and_fp32_graphs(tmp_path):
    onnx_path = _graph(tmp_path / "m.onnx")
    with pytest.raises(PlanError, match="removed implicit INT8"):
        plan_build(onnx_path, tmp_path / "e", features=features("11.4"), precision="int8",
                   calib_cache=_cache(tmp_path / "c"))
    with pytest.raises(PlanError, match="no Q/DQ nodes.*sspnet calibrate"):
        plan_build(onnx_path, tmp_path / "e", features=features("11.4"), precision="int8")
    with pytest.raises(PlanError, match="sspnet export --fp16"):
        plan_build(onnx_path, tmp_path / "e", features=features("11.4"), precision="fp16")
    # --print-trtexec previews the line, with the graph problem as a note
    p = plan_build(onnx_path, tmp_path / "e", features=features("11.4"), precision="int8", preview=True)
    assert any("no Q/DQ nodes" in w for w in p.warnings)


def test_plan_refusals(tmp_path):
    f10 = features("10.3")
    onnx_path = _graph(tmp_path / "m.onnx")
    q = _graph(tmp_path / "q.onnx", qdq=True)
    with pytest.raises(PlanError, match="needs --calib-cache"):
        plan_build(onnx_path, tmp_path / "e", features=f10, precision="int8")
    with pytest.raises(PlanError, match="applies to --precision int8"):
        plan_build(onnx_path, tmp_path / "e", features=f10, precision="fp16", calib_cache=_cache(tmp_path / "c"))
    with pytest.raises(PlanError, match="already carries its INT8 scales"):
        plan_build(q, tmp_path / "e", features=f10, calib_cache=_cache(tmp_path / "c"))
    with pytest.raises(PlanError, match="INT8 Q/DQ graph"):
        plan_build(q, tmp_path / "e", features=f10, precision="fp16")
    with pytest.raises(PlanError, match="DLA runs FP16 or INT8"):
        plan_build(onnx_path, tmp_path / "e", features=f10, precision="fp32", dla_core=0)
    with pytest.raises(PlanError, match="header"):
        plan_build(onnx_path, tmp_path / "e", features=f10, precision="int8",
                   calib_cache=_cache(tmp_path / "bad", header="not a cache"))
    static = _graph(tmp_path / "s.onnx", batch=1)
    with pytest.raises(PlanError, match="fixed batch of 1"):
        plan_build(static, tmp_path / "e", features=f10, batch="1:4:8")
    assert plan_build(static, tmp_path / "e", features=f10).batch is None


def test_parse_batch():
    assert parse_batch("1:8:16") == (1, 8, 16) and parse_batch("4") == (4, 4, 4)
    for bad in ("0:1:2", "4:2:8", "1:2", "a:b:c"):
        with pytest.raises(PlanError):
            parse_batch(bad)


def test_kept_float_nodes_become_layer_precisions_on_10_only(tmp_path):
    onnx_path = _graph(tmp_path / "m.onnx")
    cache = _cache(tmp_path / "m.calib")
    write_manifest(cache, {"artifact": "trt-calibration-cache",
                           "calibration": {"excluded_nodes": ["/head/attn/Sigmoid", "/gone/node"]}}, parent=onnx_path)
    plan = plan_build(onnx_path, tmp_path / "m.engine", features=features("10.3"), precision="int8", calib_cache=cache)
    argv = trtexec_argv(plan)
    assert "--precisionConstraints=prefer" in argv and "--layerPrecisions=/head/attn/Sigmoid:fp16" in argv
    assert any("/gone/node" in w for w in plan.warnings)


def test_stale_calibration_cache_is_refused(tmp_path):
    onnx_path = _graph(tmp_path / "m.onnx")
    other = _graph(tmp_path / "other.onnx", fp16=True)
    cache = _cache(tmp_path / "m.calib")
    write_manifest(cache, {"artifact": "trt-calibration-cache"}, parent=other)
    with pytest.raises(PlanError, match="another ONNX.*never\\s+reused"):
        plan_build(onnx_path, tmp_path / "e", features=features("10.3"), precision="int8", calib_cache=cache)


def test_paths_are_shell_quoted(tmp_path):
    d = tmp_path / "my models; rm -rf x" / "it's"
    d.mkdir(parents=True)
    onnx_path = _graph(d / "model v1.onnx")
    plan = plan_build(onnx_path, d / "out $HOME.engine", features=features("10.3"), precision="fp16")
    line = trtexec_line(plan)
    assert shlex.split(line) == trtexec_argv(plan)


def test_cli_print_trtexec_without_tensorrt(tmp_path, capsys):
    onnx_path = _graph(tmp_path / "m.onnx")
    cache = _cache(tmp_path / "m.calib", header="TRT-8601-EntropyCalibration2")
    rc = main(["build", "--onnx", str(onnx_path), "--out", str(tmp_path / "m.engine"), "--precision", "int8",
               "--calib-cache", str(cache), "--print-trtexec", "--trt-version", "10.3", "--timing-cache",
               str(tmp_path) + "/"])
    out, err = capsys.readouterr()
    assert rc == 0 and out.count("\n") == 1 and "--int8" in out and "--calib=" in out
    assert f"--timingCacheFile={tmp_path}/sspnet-trt10.3.0.timing-cache" in out
    assert "TRT-100300-EntropyCalibration2" in err           # the header note for trtexec users
    rc = main(["build", "--onnx", str(onnx_path), "--out", str(tmp_path / "m.engine"), "--calib-cache", str(cache),
               "--print-trtexec", "--trt-version", "11.4"])
    assert rc == 2 and "removed implicit INT8" in capsys.readouterr().err


@pytest.mark.skipif(HAVE_TRT, reason="tensorrt is installed here")
def test_cli_without_tensorrt_explains(tmp_path, capsys):
    onnx_path = _graph(tmp_path / "m.onnx")
    rc = main(["build", "--onnx", str(onnx_path), "--out", str(tmp_path / "m.engine")])
    err = capsys.readouterr().err
    assert rc == 1 and "pip install tensorrt" in err and "--print-trtexec --trt-version" in err
    rc = main(["build", "--onnx", str(onnx_path), "--out", str(tmp_path / "m.engine"), "--print-trtexec"])
    assert rc == 2 and "--trt-version 10.3" in capsys.readouterr().err
