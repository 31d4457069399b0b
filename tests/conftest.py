"""Shared test setup: GPU tests skip with a reason where no NVIDIA driver/GPU exists."""
import ctypes.util
import shutil

import pytest


def _gpu_reason() -> str | None:
    if ctypes.util.find_library("cuda") is None:
        return "no NVIDIA driver (libcuda) on this machine"
    if shutil.which("nvidia-smi") is None:
        return "nvidia-smi not found: no usable NVIDIA GPU"
    return None


def pytest_collection_modifyitems(config, items):
    reason = _gpu_reason()
    if reason is None:
        return
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))
