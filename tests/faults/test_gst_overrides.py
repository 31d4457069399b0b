"""Frames survive the gst-python overrides (python3-gst-1.0: JetPack/DeepStream images, --system-site-packages
venvs). With them ``Gst.Buffer.map`` gives ``info.data`` as a memoryview that ``unmap`` releases, so a frame built
from it after ``unmap`` fails (plain PyGObject copies). The system Python, in a venv that sees its python3-gi and
python3-gst-1.0 (numpy added at the project's pin), reads a clip through the project's file source; every frame
must have the pixels that were encoded."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.usefixtures("gstreamer")

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = Path("/usr/bin/python3")
CLIP_WH = (160, 96)
SIZE_WH = (170, 96)       # frames scaled to 170 * 3 = 510 bytes a row: GStreamer pads BGR rows to 512, a strided view
COLOURS = [((20 + 30 * i, 200 - 25 * i, 90), (220 - 30 * i, 40 + 25 * i, 160)) for i in range(6)]  # BGR left, right
TOLERANCE = 8             # H.264 at quantizer 18 and BGR → I420 → BGR on flat colours

# in the venv: what map() gives with the overrides, and whether unmap() released it
PROBE = """
import gi
gi.require_version("Gst", "1.0")
from gi.repository import Gst
Gst.init(None)
buf = Gst.Buffer.new_wrapped(b"abc")
ok, info = buf.map(Gst.MapFlags.READ)
buf.unmap(info)
try:
    bytes(info.data)
    released = False
except ValueError:
    released = True
print(type(info.data).__name__, released)
"""

# in the venv: the project's frame path, all frames kept until the source is closed
READ = """
import json, sys
import numpy as np
from sspnet.runtime.sources import create_source, parse_source
from sspnet.runtime.sources.base import Status
w, h = map(int, sys.argv[3:5])
src = create_source(parse_source(sys.argv[1]).with_options(width=w, height=h))
assert src.open() is Status.OK, src.error
frames = []
while True:
    status, frame = src.read(10.0)
    if status is not Status.OK:
        break
    frames.append(frame.image)
src.close()
assert status is Status.EOS, (status, src.error)
np.save(sys.argv[2], np.stack(frames))
print(json.dumps({"overrides": "gi.overrides.Gst" in sys.modules, "row_bytes": frames[0].strides[0]}))
"""


def _unavailable(reason: str) -> None:
    """Skip, except under CI=true: `make test` installs python3-gst-1.0 there (scripts/install_system.sh)."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; `make system` installs it (CI=true: fail, not skip)", pytrace=False)
    pytest.skip(reason)


def _run(*cmd, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=300, **kwargs)


@pytest.fixture(scope="module")
def overrides_python(tmp_path_factory) -> Path:
    """The system Python in a venv with --system-site-packages and the project's numpy."""
    if not SYSTEM_PYTHON.is_file():
        _unavailable(f"{SYSTEM_PYTHON} not found (python3-gst-1.0 is built for the system Python)")
    numpy_pin = re.search(r"^numpy==(\S+)$", (ROOT / "constraints.txt").read_text(), re.M).group(1)
    venv = tmp_path_factory.mktemp("system-venv")
    r = _run(SYSTEM_PYTHON, "-m", "venv", "--system-site-packages", "--without-pip", venv)
    if r.returncode != 0:
        _unavailable(f"the system Python cannot make a venv (apt python3-venv): {r.stderr.strip()[-300:]}")
    python = venv / "bin" / "python"
    r = _run(python, "-c", PROBE)
    if r.returncode != 0:
        _unavailable(f"the system Python cannot import GStreamer (apt python3-gi): {r.stderr.strip()[-300:]}")
    kind, released = r.stdout.split()
    if kind != "memoryview":
        _unavailable(f"the gst-python overrides are not installed (map() gives {kind}): apt python3-gst-1.0")
    assert released == "True", "the overrides' memoryview outlived unmap(): this is not the hazard under test"
    r = _run(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", f"numpy=={numpy_pin}")
    assert r.returncode == 0, f"pip install numpy=={numpy_pin} into {venv} failed:\n{r.stdout}{r.stderr}"
    return python


@pytest.fixture(scope="module")
def colour_clip(tmp_path_factory) -> Path:
    from sspnet.synth.h264 import H264Writer
    w, h = CLIP_WH
    path = tmp_path_factory.mktemp("overrides") / "colours.mp4"
    with H264Writer(path, CLIP_WH, 10.0) as writer:
        for left, right in COLOURS:
            frame = np.empty((h, w, 3), np.uint8)
            frame[:, :w // 2], frame[:, w // 2:] = left, right
            writer.write(frame)
    return path


def test_frames_keep_their_pixels_with_the_overrides(overrides_python, colour_clip, tmp_path):
    out = tmp_path / "frames.npy"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(ROOT=str(ROOT), SSP=str(tmp_path / "ssp-path"))
    # the checkout importable as `sspnet` without installing it, as on the GPU machines (run outside the checkout:
    # there its folder sspnet/ alone would be found first)
    r = _run("bash", "-c", '. "$ROOT/scripts/sspnet_pythonpath.sh" && exec "$0" "$@"', overrides_python, "-c", READ,
             colour_clip, out, *SIZE_WH, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    seen = json.loads(r.stdout)
    assert seen["overrides"] is True and seen["row_bytes"] == 512, seen
    frames = np.load(out)
    w, h = SIZE_WH
    assert frames.shape == (len(COLOURS), h, w, 3) and frames.dtype == np.uint8
    m = 8   # away from the colour edge (4:2:0 chroma, scaling) and the frame border
    for i, (left, right) in enumerate(COLOURS):
        got_left = frames[i, m:-m, m:w // 2 - m].reshape(-1, 3)
        got_right = frames[i, m:-m, w // 2 + m:-m].reshape(-1, 3)
        for got, want, side in ((got_left, left, "left"), (got_right, right, "right")):
            err = np.abs(got.astype(int) - want).max()
            assert err <= TOLERANCE, f"frame {i} {side}: BGR off by up to {err} from {want}"
