"""Shared test setup: GPU tests skip with a reason where no NVIDIA driver/GPU exists; the ``gstreamer`` fixture
skips (or, in CI, fails) tests on real GStreamer where it is missing."""
import ctypes.util
import os
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


# what the GStreamer tests use, all installed by `make test` (scripts/install_system.sh)
GST_ELEMENTS = ("x264enc", "avdec_h264", "rtspsrc", "mp4mux", "videotestsrc")


def _gst_reason() -> str | None:
    try:
        import gi
        gi.require_version("Gst", "1.0")
        gi.require_version("GstRtspServer", "1.0")
        from gi.repository import Gst, GstRtspServer  # noqa: F401
    except (ImportError, ValueError) as e:
        return f"GStreamer/PyGObject not importable: {e}"
    Gst.init(None)
    missing = [e for e in GST_ELEMENTS if Gst.ElementFactory.find(e) is None]
    return f"GStreamer elements missing: {missing}" if missing else None


@pytest.fixture(scope="session")
def gstreamer() -> None:
    """Use in every test on real GStreamer. It skips where PyGObject, a typelib or a GST_ELEMENTS element is
    missing, except under CI=true: `make test` installs all of them there, so a missing one is a broken setup."""
    reason = _gst_reason()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; `make system` installs what is missing (CI=true: fail, not skip)", pytrace=False)
    pytest.skip(reason)
