"""Full-frame TensorRT engines: the height/width profile of the build plan, the trtexec shapes, the engine manifest's
input.full_frame, and the backend's per-call shapes (padding, refusal beyond the maximum). Only the last test needs
a GPU and TensorRT."""
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper, save

from sspnet.cli import main
from sspnet.engine_manifest import engine_fields, rebuild_command
from sspnet.export.trt_plan import FULL_FRAME_BATCH, PlanError, plan_build
from sspnet.export.trt_versions import features
from sspnet.export.trtexec import trtexec_argv
from sspnet.manifest import write_manifest
from sspnet.postprocess import Postprocess
from sspnet.preprocess import FullFrame, Preprocess, input_layout, normalize
from sspnet.runtime.backends.base import full_frame_spec
from sspnet.runtime.backends.tensorrt import black_pixel, call_shape, check_input, fill_padded, frames_problem
from sspnet.tiling import crop_tiles

F10 = features("10.3")
RNG = np.random.default_rng(0)


def _onnx(path, batch="N", hw=("H", "W"), tile=(640, 512), full_frame=FullFrame(3840, 2176), scale=1.0):
    """images [batch,3,H,W] → Conv3x3(4)+Relu → boxes [batch,H·W,4] and scores [batch,H·W]; the manifest says
    ``full_frame`` (None: no input.full_frame) for a tile of ``tile`` at ``scale``."""
    inits = [numpy_helper.from_array((RNG.normal(size=(4, 3, 3, 3)) * 0.3).astype(np.float32), "w"),
             numpy_helper.from_array(np.ones((1, 4, 1, 1), np.float32) * 0.2, "w_cls"),
             numpy_helper.from_array(np.array([0, 4, -1], np.int64), "shape_reg"),
             numpy_helper.from_array(np.array([0, -1], np.int64), "shape_cls")]
    nodes = [helper.make_node("Conv", ["images", "w"], ["f"], name="/backbone/conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["f"], ["fr"], name="/backbone/relu"),
             helper.make_node("Reshape", ["fr", "shape_reg"], ["reg"], name="/head/reg_flat"),
             helper.make_node("Transpose", ["reg"], ["boxes"], name="/head/boxes", perm=[0, 2, 1]),
             helper.make_node("Conv", ["fr", "w_cls"], ["cls"], name="/head/cls"),
             helper.make_node("Reshape", ["cls", "shape_cls"], ["cls_flat"], name="/head/cls_flat"),
             helper.make_node("Sigmoid", ["cls_flat"], ["scores"], name="/head/attn/Sigmoid")]
    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 3, *hw])
    outs = [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [batch, "K", 4]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, [batch, "K"])]
    model = helper.make_model(helper.make_graph(nodes, "tiny_full", [x], outs, inits),
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    save(model, str(path))
    w, h = tile
    inp = {"name": "images", "layout": "NCHW", "dtype": "float32", "batch": "dynamic" if batch == "N" else batch,
           "width": w, "height": h}
    if full_frame is not None:
        inp["full_frame"] = full_frame.to_dict()
    write_manifest(path, {
        "artifact": "onnx", "model": {"name": "tiny", "backbone": "none", "neck": "none", "head": "fovea"},
        "input": inp, "preprocess": Preprocess(input_w=w, input_h=h, scale=scale).to_dict(),
        "postprocess": Postprocess().to_dict(), "outputs": {"boxes": "[N,K,4]", "scores": "[N,K]"},
        "output_names": ["boxes", "scores"], "classes": ["person"]})
    return path


def _plan(tmp_path, graph: dict | None = None, **kw):
    """plan_build for TensorRT 10.3 FP16 of ``_onnx(**graph)``."""
    onnx_path = _onnx(tmp_path / "m.onnx", **(graph or {}))
    return plan_build(onnx_path, tmp_path / "m.engine", features=F10, precision="fp16", **kw)


def test_default_profile_is_the_issue_example(tmp_path):
    """Tile 640x512, exported up to 3840x2176, scale 1: min the tile, opt 1080p padded to 32, max the export's."""
    plan = _plan(tmp_path)
    assert plan.batch == FULL_FRAME_BATCH and plan.full_frame.multiple == 32
    assert plan.profile_shapes() == ((1, 3, 512, 640), (1, 3, 1088, 1920), (1, 3, 2176, 3840))
    argv = trtexec_argv(plan)
    assert "--minShapes=images:1x3x512x640" in argv and "--optShapes=images:1x3x1088x1920" in argv
    assert "--maxShapes=images:1x3x2176x3840" in argv


def test_opt_follows_the_scale_and_is_clipped_to_max(tmp_path):
    assert _plan(tmp_path, {"scale": 2.0}).full_frame.opt_wh == (3840, 2176)     # 3840x2160 padded: the max
    assert _plan(tmp_path, {"scale": 0.5}).full_frame.opt_wh == (960, 544)
    assert _plan(tmp_path, {"full_frame": FullFrame(1280, 736)}).full_frame.opt_wh == (1280, 736)
    # a maximum that is not a multiple: the largest frame that fits it, as FullFrame.fits counts
    assert _plan(tmp_path, {"full_frame": FullFrame(1300, 750)}).full_frame.max_wh == (1280, 736)


def test_batch_is_the_existing_batch_profile(tmp_path):
    assert _plan(tmp_path, batch="1:2:4").profile_shapes()[2] == (4, 3, 2176, 3840)
    fixed = _plan(tmp_path, {"batch": 1})
    assert fixed.batch is None and fixed.static_batch == 1
    assert fixed.profile_shapes() == ((1, 3, 512, 640), (1, 3, 1088, 1920), (1, 3, 2176, 3840))
    assert "--minShapes=images:1x3x512x640" in trtexec_argv(fixed)
    with pytest.raises(PlanError, match="fixed batch of 1"):
        _plan(tmp_path, {"batch": 1}, batch="1:2:4")


def test_overrides(tmp_path):
    plan = _plan(tmp_path, full_frame_min=(320, 256), full_frame_opt=(1280, 736), full_frame_max=(1920, 1088))
    assert plan.profile_shapes() == ((1, 3, 256, 320), (1, 3, 736, 1280), (1, 3, 1088, 1920))
    assert plan.full_frame.accepted() == {"max_width": 1920, "max_height": 1088, "multiple": 32}
    # a max below the default opt pulls the default opt down with it
    assert _plan(tmp_path, full_frame_max=(1280, 736)).full_frame.opt_wh == (1280, 736)


@pytest.mark.parametrize("graph, kw, match", [
    ({}, {"full_frame_opt": (1920, 1080)}, r"multiples of 32.*--full-frame-opt 1920x1088"),
    ({}, {"full_frame_max": (7680, 4352)}, r"exported for whole frames up to 3840x2176.*sspnet export --full-frame"),
    ({}, {"full_frame_min": (1280, 720)}, r"tile size 640x512 must lie between"),
    ({}, {"full_frame_max": (512, 512)}, r"tile size 640x512 must lie between"),
    ({}, {"full_frame_opt": (1920, 1088), "full_frame_max": (1280, 736)}, r"need min <= opt <= max"),
    ({"full_frame": None}, {}, r"no input.full_frame.*sspnet export --full-frame"),
    ({"hw": ("H", 640)}, {}, r"height and\s+width together"),
    ({"hw": (512, 640)}, {}, r"m.onnx.json: input.full_frame, but m.onnx's input \[.*\] has a fixed height"),
    ({"hw": (512, 640), "full_frame": None}, {"full_frame_opt": (1920, 1088)}, r"--full-frame-opt: m.onnx has a fixed"),
])
def test_refusals(tmp_path, graph, kw, match):
    with pytest.raises(PlanError, match=match):
        _plan(tmp_path, graph, **kw)


def test_cli_prints_the_shapes_and_exits_2_on_a_bad_profile(tmp_path, capsys):
    onnx_path = _onnx(tmp_path / "m.onnx")
    base = ["build", "--onnx", str(onnx_path), "--out", str(tmp_path / "m.engine"), "--print-trtexec"]
    assert main(base + ["--trt-version", "11.4", "--full-frame-opt", "1280x736"]) == 0
    out, err = capsys.readouterr()
    assert "--optShapes=images:1x3x736x1280" in out and "--maxShapes=images:1x3x2176x3840" in out
    assert "full frames min 640x512 / opt 1280x736 / max 3840x2176" in err
    assert main(base + ["--trt-version", "10.3", "--full-frame-max", "1000x1000"]) == 2
    assert "multiples of 32" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(base + ["--trt-version", "10.3", "--full-frame-opt", "wide"])
    assert e.value.code == 2 and "expected WIDTHxHEIGHT" in capsys.readouterr().err


def _engine_manifest(plan, onnx_manifest):
    io = {"inputs": [{"name": "images", "dtype": "float32", "shape": [plan.static_batch or -1, 3, -1, -1]}],
          "outputs": [{"name": "boxes", "dtype": "float32", "shape": [-1, -1, 4]},
                      {"name": "scores", "dtype": "float32", "shape": [-1, -1]}]}
    tensorrt = {"version": "10.3.0", "gpu": {"name": "Orin (nvgpu)", "compute_capability": "8.7"},
                "precision": plan.precision, "profile": plan.profile_record(), "onnx": {"path": "m.onnx"}}
    return engine_fields(onnx_manifest, tensorrt, io)


def test_engine_manifest_records_what_the_engine_accepts(tmp_path):
    plan = _plan(tmp_path, batch="1:2:2", full_frame_max=(1920, 1088))
    m = _engine_manifest(plan, plan.onnx_manifest)
    assert m["input"]["full_frame"] == {"max_width": 1920, "max_height": 1088, "multiple": 32}   # not the ONNX's
    assert m["input"]["batch"] == "dynamic" and m["tensorrt"]["profile"]["max"] == [2, 3, 1088, 1920]
    ff = full_frame_spec(m, "engine manifest")                 # what the runtime reads
    assert len(input_layout(1920, 1080, Preprocess(), ff)) == 1 and len(input_layout(2560, 1440, Preprocess(), ff)) > 1
    cmd = rebuild_command(tmp_path / "m.engine", m)
    assert "--batch 1:2:2 --full-frame-min 640x512 --full-frame-opt 1920x1088 --full-frame-max 1920x1088" in cmd
    fixed = _plan(tmp_path, {"batch": 1})
    assert _engine_manifest(fixed, fixed.onnx_manifest)["input"]["batch"] == 1


def test_an_engine_without_a_frame_profile_drops_the_onnx_range(tmp_path):
    plan = _plan(tmp_path, {"hw": (512, 640), "full_frame": None})
    onnx_manifest = dict(plan.onnx_manifest, input=dict(_plan(tmp_path).onnx_manifest["input"]))   # says full_frame
    m = _engine_manifest(plan, onnx_manifest)
    assert "full_frame" not in m["input"] and m["tensorrt"]["profile"]["full_frame"] is None


# -- the backend's per-call geometry, without TensorRT ---------------------------------------------------------------
def test_call_shape_raises_batch_and_a_small_frame_to_the_profile_minimum():
    lo = (1, 3, 512, 640)
    assert call_shape((3, 3, 512, 640), lo) == (3, 3, 512, 640)
    assert call_shape((1, 3, 480, 640), lo) == (1, 3, 512, 640)                # VGA at scale 1: padded to the min
    assert call_shape((1, 3, 1088, 1920), lo) == (1, 3, 1088, 1920)
    assert call_shape((2, 3, 8, 8), (4, 3, 8, 8)) == (4, 3, 8, 8)              # a fixed batch of 4


def test_padding_a_whole_frame_equals_cropping_it_larger():
    """A frame below the minimum runs as if crop_tiles had padded it to the minimum (black past the edge)."""
    pre = Preprocess(input_w=64, input_h=64)
    frame = RNG.integers(0, 255, (40, 96, 3), dtype=np.uint8)
    whole = normalize(crop_tiles(frame, np.array([[0, 0, 96, 64]])), pre)[:, :, :40]      # [1, 3, 40, 96]
    dst = np.full((2, 3, 64, 96), np.nan, np.float32)
    fill_padded(dst, whole, black_pixel(pre))
    np.testing.assert_array_equal(dst[:1], normalize(crop_tiles(frame, np.array([[0, 0, 96, 64]])), pre))
    assert not dst[1].any()                                                   # the extra batch slot is zero
    same = np.empty((1, 3, 40, 96), np.float32)
    fill_padded(same, whole, black_pixel(pre))
    np.testing.assert_array_equal(same, whole)


def test_check_input_names_the_engine_maximum():
    ff = FullFrame(1920, 1088)
    chw = (3, 512, 640)
    assert check_input(np.zeros((1, 3, 1088, 1920), np.float32), chw, ff, "e").shape == (1, 3, 1088, 1920)
    assert check_input(np.zeros((5, 3, 512, 640), np.float32), chw, ff, "e").shape == (5, 3, 512, 640)
    with pytest.raises(ValueError, match=r"e: a whole frame of 3840x2176 is beyond this engine's maximum "
                                         r"1920x1088.*640x512 tiles.*--full-frame-max"):
        check_input(np.zeros((1, 3, 2176, 3840), np.float32), chw, ff, "e")
    with pytest.raises(ValueError, match="multiples of 32"):
        check_input(np.zeros((1, 3, 1080, 1920), np.float32), chw, ff, "e")
    with pytest.raises(ValueError, match="expected a batch"):
        check_input(np.zeros((1, 3, 1088, 1920), np.float32), chw, None, "e")    # a tile-only engine


def test_frames_problem():
    ff = FullFrame(1920, 1088)
    assert frames_problem(ff, (1, 3, -1, -1), (1, 3, 1088, 1920)) is None
    assert frames_problem(None, (-1, 3, 512, 640), (8, 3, 512, 640)) is None
    assert "no input.full_frame" in frames_problem(None, (1, 3, -1, -1), (1, 3, 1088, 1920))
    assert "fixed height and width" in frames_problem(ff, (1, 3, 512, 640), (1, 3, 512, 640))
    assert "up to 1920x1088 but the engine's profile up to 3840x2176" in frames_problem(ff, (1, 3, -1, -1),
                                                                                      (1, 3, 2176, 3840))


# -- on a GPU --------------------------------------------------------------------------------------------------------
@pytest.mark.gpu
def test_full_frame_engine_matches_onnxruntime(tmp_path):
    trt = pytest.importorskip("tensorrt", exc_type=ImportError)
    ort = pytest.importorskip("onnxruntime")
    from sspnet.export.trt_build import build_engine
    from sspnet.export.trt_versions import detect
    from sspnet.runtime.backends.tensorrt import TensorRTBackend
    onnx_path = _onnx(tmp_path / "tiny.onnx", tile=(64, 64), full_frame=FullFrame(256, 192))
    plan = plan_build(onnx_path, tmp_path / "tiny.engine", features=detect(trt), precision="fp32", batch="1:2:3",
                      timing_cache=tmp_path / "tiny.timing-cache")
    engine = build_engine(plan)
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    with TensorRTBackend(engine) as be:
        assert be.full_frame == FullFrame(256, 192) and be.max_batch == 3
        # a tile batch above the max (chunked), whole frames at the max, between, and below the min (padded)
        for shape in ((5, 3, 64, 64), (1, 3, 192, 256), (1, 3, 96, 160), (1, 3, 32, 96)):
            x = RNG.normal(size=shape).astype(np.float32)
            padded = np.empty(call_shape(shape, (1, 3, 64, 64)), np.float32)
            fill_padded(padded, x, black_pixel(be.preprocess))
            ref_boxes, ref_scores = sess.run(["boxes", "scores"], {"images": padded})
            boxes, scores = be.infer(x)
            np.testing.assert_allclose(boxes, ref_boxes, rtol=1e-3, atol=1e-3)
            np.testing.assert_allclose(scores, ref_scores, rtol=1e-3, atol=1e-3)
        with pytest.raises(ValueError, match="beyond this engine's maximum"):
            be.infer(np.zeros((1, 3, 224, 256), np.float32))
