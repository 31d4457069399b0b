import json
import subprocess
import sys

from sspnet.doctor import int8_path


def _sspnet(*args):
    return subprocess.run([sys.executable, "-m", "sspnet.cli", *args], capture_output=True, text=True, timeout=120)


def test_doctor_json_reports_gstreamer_and_int8_path():
    r = _sspnet("doctor", "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["gstreamer"]["available"], rep["gstreamer"]
    assert "nvv4l2decoder" in rep["gstreamer"]["decoders"]
    assert rep["tensorrt_int8_path"]


def test_int8_path_per_tensorrt_version():
    assert "explicit Q/DQ only" in int8_path("11.4.0")
    assert "deprecated" in int8_path("10.3.0")
    assert "ONNX Runtime" in int8_path(None)


def test_unknown_command_is_usage_error():
    r = _sspnet("frobnicate")
    assert r.returncode == 2 and "unknown command 'frobnicate'" in r.stderr
