"""Fixtures of the export tests: rendered frames and one exported edge model (real torch → ONNX export)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sspnet_test_models

from sspnet_test_models import export_edge, synth_frames  # noqa: E402


@pytest.fixture(scope="session")
def frames_dir(tmp_path_factory) -> Path:
    return synth_frames(tmp_path_factory.mktemp("frames"), n=3)


@pytest.fixture(scope="session")
def edge_dyn(tmp_path_factory, frames_dir) -> Path:
    """The edge model exported at 128x128 with a dynamic batch (parity checked by the export itself)."""
    return export_edge(tmp_path_factory.mktemp("edge") / "edge.onnx", batch=None, parity_images=str(frames_dir))
