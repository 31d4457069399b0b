"""Fixtures of the calibration tests: an exported edge model (128x128 tiles), calibration frames, a tiny
annotated synthetic dataset. The calibration package itself never imports torch; the tests build their model with
the real exporter."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "export"))  # sspnet_test_models

from sspnet_test_models import export_edge, synth_frames  # noqa: E402


@pytest.fixture(scope="session")
def calib_frames(tmp_path_factory) -> Path:
    return synth_frames(tmp_path_factory.mktemp("calib_frames"), n=4, seed=5)


@pytest.fixture(scope="session")
def test_frames(tmp_path_factory) -> Path:
    return synth_frames(tmp_path_factory.mktemp("test_frames"), n=2, seed=9)


@pytest.fixture(scope="session")
def fp32_onnx(tmp_path_factory, calib_frames) -> Path:
    return export_edge(tmp_path_factory.mktemp("fp32") / "edge.onnx", batch=None, parity_images=str(calib_frames))


@pytest.fixture(scope="session")
def eval_dataset(tmp_path_factory) -> Path:
    """A 3-image annotated synthetic dataset (COCO JSON) of 256x192 frames."""
    from sspnet.synth.dataset import render_dataset
    return render_dataset(tmp_path_factory.mktemp("eval_ds"), 3, (256, 192), seed=21)
