import importlib.metadata as md
import json
import subprocess
import sys

from sspnet.doctor import int8_path

# what scripts/install_system.sh (run by `make test`) installs: libav, ugly (x264), base and good plugins
INSTALLED = {"decoders": ["avdec_h264", "avdec_h265", "decodebin", "v4l2src", "rtspsrc", "souphttpsrc"],
             "converters": ["videoconvert", "videoscale"], "encoders": ["x264enc", "mp4mux"]}


def _sspnet(*args):
    return subprocess.run([sys.executable, "-m", "sspnet.cli", *args], capture_output=True, text=True, timeout=120)


def _gst_inspect(*args) -> subprocess.CompletedProcess:
    return subprocess.run(["gst-inspect-1.0", *args], capture_output=True, text=True, timeout=60)


def _tensorrt_version() -> str | None:
    try:
        return md.version("tensorrt")
    except md.PackageNotFoundError:
        return None


def test_doctor_json_reports_gstreamer_and_int8_path():
    r = _sspnet("doctor", "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    gst = rep["gstreamer"]
    assert gst["available"], gst
    # checked against gst-inspect-1.0 (gstreamer1.0-tools), not against the doctor's own lookups
    assert gst["version"] in _gst_inspect("--version").stdout.splitlines()
    for kind, names in INSTALLED.items():
        assert [n for n in names if not gst[kind][n]] == [], f"{kind} reported missing"
    for kind in INSTALLED:
        for name, present in gst[kind].items():
            assert present == (_gst_inspect("--exists", name).returncode == 0), name
    assert gst["rtsp_server"] is True                                    # gir1.2-gst-rtsp-server-1.0
    assert gst["jetson_hw"] == (gst["decoders"]["nvv4l2decoder"] and gst["converters"]["nvvidconv"])
    trt = _tensorrt_version()
    assert rep["packages"]["tensorrt"] == trt
    assert rep["tensorrt_int8_path"] == int8_path(trt)


def test_int8_path_per_tensorrt_version():
    assert "explicit Q/DQ only" in int8_path("11.4.0")
    assert "deprecated" in int8_path("10.3.0")
    assert "ONNX Runtime" in int8_path(None)


def test_unknown_command_is_usage_error():
    r = _sspnet("frobnicate")
    assert r.returncode == 2 and "unknown command 'frobnicate'" in r.stderr
