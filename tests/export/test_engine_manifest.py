"""The engine manifest: its fields, its validation, and the refusal of an engine built for another TensorRT / GPU."""
import importlib.util
import json
import shlex

import pytest

from sspnet.engine_manifest import (check_engine_compat, device_key, engine_fields, read_tegra_release,
                                    rebuild_command, refusal_message, validate_engine_manifest)
from sspnet.manifest import read_manifest, write_manifest
from sspnet.postprocess import Postprocess
from sspnet.preprocess import Preprocess

ONNX_MANIFEST = {
    "artifact": "onnx", "model": {"name": "sspnet", "backbone": "resnet18", "neck": "ssp", "head": "fovea"},
    "input": {"name": "images", "layout": "NCHW", "dtype": "float32", "batch": "dynamic", "width": 640, "height": 512},
    "preprocess": Preprocess().to_dict(), "postprocess": Postprocess().to_dict(),
    "outputs": {"boxes": "[N,K,4] xyxy, tile-input pixels", "scores": "[N,K] person probability"},
    "output_names": ["boxes", "scores"], "classes": ["person"],
}
IO = {"inputs": [{"name": "images", "dtype": "float32", "shape": [-1, 3, 512, 640]}],
      "outputs": [{"name": "boxes", "dtype": "float32", "shape": [-1, 1000, 4]},
                  {"name": "scores", "dtype": "float32", "shape": [-1, 1000]}]}


def _tensorrt(version="10.3.0", gpu="Orin (nvgpu)", cc="8.7"):
    return {"version": version, "gpu": {"name": gpu, "compute_capability": cc, "index": 0},
            "precision": "int8", "quantization": "implicit-cache", "profile": {"input": "images", "batch": [1, 8, 16]},
            "onnx": {"path": "model.onnx", "sha256": "0" * 64},
            "calibration_cache": {"path": "model.calib", "sha256": "1" * 64}, "workspace_mb": 512, "dla_core": None,
            "layers_kept_float": ["/neck/attn0/Sigmoid"]}


def test_engine_fields_carry_what_the_runtime_reads(tmp_path):
    fields = engine_fields(ONNX_MANIFEST, _tensorrt(), IO)
    assert fields["artifact"] == "engine" and fields["preprocess"] == ONNX_MANIFEST["preprocess"]
    assert fields["input"]["name"] == "images" and fields["input"]["batch"] == "dynamic"
    assert fields["input_names"] == ["images"] and fields["output_names"] == ["boxes", "scores"]
    assert fields["tensorrt"]["io"] == IO and fields["tensorrt"]["layers_kept_float"] == ["/neck/attn0/Sigmoid"]
    validate_engine_manifest(fields)
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"plan bytes, no header")
    write_manifest(engine, fields)
    back = read_manifest(engine)
    assert back["tensorrt"]["version"] == "10.3.0" and len(back["sha256"]) == 64
    assert engine.read_bytes() == b"plan bytes, no header"      # the sidecar is beside the engine, not inside it


def test_validation_names_missing_keys():
    with pytest.raises(ValueError, match=r"artifact=engine.*preprocess.*tensorrt\.gpu.*sspnet build"):
        validate_engine_manifest({"artifact": "onnx", "input": {}, "output_names": [], "postprocess": {},
                                  "tensorrt": {"version": "10.3", "precision": "fp16"}})


def test_same_machine_is_compatible():
    m = engine_fields(ONNX_MANIFEST, _tensorrt(), IO)
    assert check_engine_compat(m, "10.3.0.30", "Orin (nvgpu)", "8.7") == []


def test_other_tensorrt_version_is_refused_with_the_rebuild_command(tmp_path):
    m = engine_fields(ONNX_MANIFEST, _tensorrt(version="10.3.0"), IO)
    problems = check_engine_compat(m, "11.4.0.106", "Orin (nvgpu)", "8.7")
    assert problems == ["built with TensorRT 10.3.0, this machine has TensorRT 11.4.0.106"]
    msg = refusal_message(tmp_path / "model.engine", m, problems)
    assert "cannot run here" in msg and "rebuild it on this machine with: sspnet build" in msg
    argv = shlex.split(msg.split("with: ", 1)[1])
    assert argv[:3] == ["sspnet", "build", "--onnx"] and argv[3] == str(tmp_path / "model.onnx")
    assert ["--precision", "int8"] == argv[argv.index("--precision"):argv.index("--precision") + 2]
    assert "--calib-cache" in argv and "1:8:16" in argv and "--workspace" in argv and "--dla" not in argv


def test_other_gpu_is_refused():
    m = engine_fields(ONNX_MANIFEST, _tensorrt(gpu="NVIDIA GeForce RTX 4090", cc="8.9"), IO)
    (p,) = check_engine_compat(m, "10.3.0", "NVIDIA A100-SXM4-80GB", "8.0")
    assert "compute capability 8.9" in p and "this GPU is 8.0" in p
    (p,) = check_engine_compat(m, "10.3.0", "NVIDIA GeForce RTX 4080", "8.9")
    assert "built on NVIDIA GeForce RTX 4090" in p and "same SM 8.9" in p
    two = check_engine_compat(m, "8.6.1", "NVIDIA A100-SXM4-80GB", "8.0")
    assert len(two) == 2


def test_patch_level_counts_but_build_number_does_not():
    m = engine_fields(ONNX_MANIFEST, _tensorrt(version="10.3.0"), IO)
    assert check_engine_compat(m, "10.3.0.26", "Orin (nvgpu)", "8.7") == []
    assert check_engine_compat(m, "10.3.1", "Orin (nvgpu)", "8.7") != []


def test_a_manifest_without_tensorrt_section():
    assert "does not describe a TensorRT engine" in check_engine_compat(ONNX_MANIFEST, "10.3", "x", "8.7")[0]


def test_tegra_release(tmp_path):
    p = tmp_path / "nv_tegra_release"
    p.write_text("# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, DATE: Wed Jan  8\n")
    assert read_tegra_release(p)["l4t"] == "36.4.3" and read_tegra_release(p)["jetpack"] == "6"
    p.write_text("# R35 (release), REVISION: 5.0, GCID: 1\n")
    assert read_tegra_release(p)["jetpack"] == "5"
    assert read_tegra_release(tmp_path / "absent") is None


def test_device_key_is_a_safe_file_name():
    assert device_key("NVIDIA GeForce RTX 4090", "8.9", "10.3.0") == "nvidia-geforce-rtx-4090-sm89-trt10.3.0"
    assert "/" not in device_key("Orin (nvgpu)/x", "8.7", "10.3.0")


def test_rebuild_command_quotes_paths(tmp_path):
    m = engine_fields(ONNX_MANIFEST, _tensorrt(), IO)
    cmd = rebuild_command(tmp_path / "my dir" / "m.engine", m)
    assert shlex.split(cmd)[3] == str(tmp_path / "my dir" / "model.onnx")


def test_backend_refuses_before_touching_the_gpu(tmp_path):
    """Without TensorRT the backend stops at the import with the version the engine needs; without a manifest it
    says which command writes one. (The GPU-side refusal runs in test_trt_gpu.py.)"""
    from sspnet.runtime.backends.tensorrt import TensorRTBackend, parse_device
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"x")
    with pytest.raises(FileNotFoundError, match="sspnet build"):
        TensorRTBackend(engine)
    write_manifest(engine, engine_fields(ONNX_MANIFEST, _tensorrt(), IO))
    if importlib.util.find_spec("tensorrt") is None:
        with pytest.raises(ImportError, match="needs TensorRT 10.3.0"):
            TensorRTBackend(engine)
    bad = dict(json.loads((tmp_path / "model.engine.json").read_text()))
    del bad["preprocess"]
    (tmp_path / "model.engine.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="missing \\['preprocess'\\]"):
        TensorRTBackend(engine)
    assert parse_device(None) == 0 and parse_device("cuda:1") == 1 and parse_device(2) == 2
    with pytest.raises(ValueError, match="ONNX model"):
        parse_device("cpu")
