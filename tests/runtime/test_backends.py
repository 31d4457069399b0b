"""OnnxRuntimeBackend on real (tiny) ONNX models: batched == one-by-one, fixed-batch padding, manifest checks."""
from __future__ import annotations

import json

import numpy as np
import pytest

from sspnet.manifest import manifest_path
from sspnet.postprocess import detect_frame
from sspnet.runtime.backends import ManifestMismatch, open_backend
from sspnet.runtime.backends.onnxruntime import OnnxRuntimeBackend


def frame_with_blobs(seed: int = 0) -> np.ndarray:
    """320x240 dark frame with bright blobs, some on tile overlaps."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 40, (240, 320, 3), dtype=np.uint8)
    for x, y in ((100, 40), (140, 100), (250, 160), (10, 190), (280, 10)):
        img[y:y + 36, x:x + 36] = 250
    return img


def test_open_backend_reads_the_manifest(models):
    be = open_backend(models["dynamic"])
    assert isinstance(be, OnnxRuntimeBackend) and be.max_batch is None
    assert (be.preprocess.input_w, be.preprocess.input_h) == (160, 128)
    assert be.postprocess.score_thr == 0.5 and be.providers == ["CPUExecutionProvider"]
    assert open_backend(models["fixed4"]).max_batch == 4


@pytest.mark.parametrize("name", ["dynamic", "fixed4"])
def test_batched_equals_one_by_one(models, name):
    be = open_backend(models[name])
    img = frame_with_blobs()
    batched = detect_frame(img, be.preprocess, be.postprocess, be.infer, be.max_batch)  # all 6 tiles in one call
    single = detect_frame(img, be.preprocess, be.postprocess, be.infer, max_batch=1)
    assert len(batched[0]) >= 4
    np.testing.assert_allclose(batched[0], single[0], rtol=0, atol=1e-4)
    np.testing.assert_allclose(batched[1], single[1], rtol=1e-5, atol=1e-6)


def test_fixed_batch_pads_and_chunks(models):
    fixed, dyn = open_backend(models["fixed4"]), open_backend(models["dynamic"])
    x = np.random.default_rng(0).standard_normal((6, 3, 128, 160)).astype(np.float32)
    bf, sf = fixed.infer(x)            # 4 + 2 padded to 4
    bd, sd = dyn.infer(x)
    assert bf.shape == (6, 80, 4) and sf.shape == (6, 80)
    np.testing.assert_allclose(sf, sd, rtol=1e-5, atol=1e-6)
    b3, s3 = fixed.infer(x[:3])        # 3 padded to 4
    np.testing.assert_allclose(s3, sd[:3], rtol=1e-5, atol=1e-6)


def test_wrong_input_shape_is_an_error(models):
    be = open_backend(models["dynamic"])
    with pytest.raises(ValueError, match="expected a batch"):
        be.infer(np.zeros((1, 3, 64, 64), np.float32))


def test_missing_or_foreign_manifest_refused(models, tmp_path):
    import shutil
    onnx = tmp_path / "m.onnx"
    shutil.copy(models["dynamic"], onnx)
    with pytest.raises(FileNotFoundError, match="manifest sidecar missing"):
        open_backend(onnx)
    m = json.loads(manifest_path(models["fixed4"]).read_text())   # the sidecar of another file
    manifest_path(onnx).write_text(json.dumps(m))
    with pytest.raises(ManifestMismatch, match="sha256"):
        open_backend(onnx)
    m.pop("sha256")
    manifest_path(onnx).write_text(json.dumps(m))                # no hash: the graph check still catches it
    with pytest.raises(ManifestMismatch, match="batch"):
        open_backend(onnx)


def test_suffix_and_device_errors(models, tmp_path):
    with pytest.raises(ValueError, match="export it first"):
        open_backend(tmp_path / "m.pt")
    with pytest.raises(FileNotFoundError, match="not found"):
        open_backend(tmp_path / "none.onnx")
    with pytest.raises(ValueError, match="device"):
        open_backend(models["dynamic"], "npu")
    import onnxruntime as ort
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(RuntimeError, match="no CUDAExecutionProvider"):
            open_backend(models["dynamic"], "cuda")
