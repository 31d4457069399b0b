"""Full-frame export: dynamic height and width, one call per frame, tiles only beyond the recorded size."""
from __future__ import annotations

import argparse
import json

import cv2
import numpy as np
import pytest

from sspnet.export.cli import add_arguments
from sspnet.manifest import read_manifest
from sspnet.postprocess import detect_frame
from sspnet.preprocess import FullFrame, input_layout
from sspnet_test_models import TILE, export_edge

MAX = FullFrame(320, 256)


@pytest.fixture(scope="module")
def edge_full(tmp_path_factory, frames_dir):
    return export_edge(tmp_path_factory.mktemp("full") / "edge_full.onnx", batch=None, full_frame=MAX,
                       parity_images=str(frames_dir))


def test_manifest_and_whole_frame_parity(edge_full):
    m = read_manifest(edge_full)
    assert m["input"]["full_frame"] == {"max_width": 320, "max_height": 256, "multiple": 32}
    assert (m["input"]["width"], m["input"]["height"]) == TILE                  # tiles beyond the full-frame size
    whole = m["export"]["parity"]["fp32"]["full_frame"]
    assert whole["ok"] and whole["tiles"] == 1 and max(whole["max_abs_diff"][k] for k in ("logits", "reg")) <= 1e-4


def test_runtime_runs_a_frame_in_one_call_and_tiles_a_larger_one(edge_full, frames_dir):
    from sspnet.runtime.backends import open_backend
    backend = open_backend(edge_full, "cpu")
    assert backend.full_frame == MAX
    calls = []

    def infer(batch):
        calls.append(batch.shape)
        return backend.infer(batch)
    frame = cv2.imread(str(sorted(frames_dir.iterdir())[0]))                 # 256x192
    boxes, scores = detect_frame(frame, backend.preprocess, backend.postprocess, infer, None, backend.full_frame)
    assert calls == [(1, 3, 192, 256)] and len(scores) > 0
    assert boxes[:, [0, 2]].max() <= 256 and boxes[:, [1, 3]].max() <= 192
    calls.clear()
    big = cv2.resize(frame, (384, 288))                                       # beyond 320x256: tiles
    detect_frame(big, backend.preprocess, backend.postprocess, infer, None, backend.full_frame)
    assert calls == [(len(input_layout(384, 288, backend.preprocess)), 3, TILE[1], TILE[0])]
    with pytest.raises(ValueError, match="multiples of 32"):
        backend.infer(np.zeros((1, 3, 200, 256), np.float32))
    backend.close()


def test_full_frame_manifest_on_a_fixed_size_graph_is_refused(edge_full, tmp_path, frames_dir):
    from sspnet.runtime.backends import open_backend
    from sspnet.runtime.backends.base import ManifestMismatch
    fixed = export_edge(tmp_path / "fixed.onnx", batch=None, parity_images=str(frames_dir))
    m = read_manifest(fixed)
    m["input"]["full_frame"] = MAX.to_dict()
    (tmp_path / "fixed.onnx.json").write_text(json.dumps(m))
    with pytest.raises(ManifestMismatch, match="full_frame but the model's input height is fixed"):
        open_backend(fixed, "cpu")


@pytest.mark.parametrize("given, expected", [([], "1080p"), (["1080p"], "1080p"), (["640x512"], (640, 512))])
def test_full_frame_option_alone_means_1080p_at_the_models_scale(given, expected):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--checkpoint", "c.pt", "--out", "m.onnx", "--full-frame", *given])
    assert args.full_frame == expected
