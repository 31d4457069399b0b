"""parse_source: every URI form normalised, every bad one refused with a message; credentials never shown."""
from __future__ import annotations

import pytest

from sspnet.runtime.sources import SOURCE_FORMS, SourceError, parse_source, redact, usage


@pytest.mark.parametrize("uri, kind, location", [
    ("/data/clip.mp4", "file", "/data/clip.mp4"),
    ("file:///data/my%20clip.mp4", "file", "/data/my clip.mp4"),
    ("file://localhost/data/clip.mkv", "file", "/data/clip.mkv"),
    ("rtsp://10.0.0.5:8554/live?channel=1", "rtsp", "rtsp://10.0.0.5:8554/live?channel=1"),
    ("RTSP://Cam.local/stream", "rtsp", "rtsp://cam.local/stream"),
    ("v4l2:///dev/video2", "v4l2", "/dev/video2"),
    ("/dev/video0", "v4l2", "/dev/video0"),
    ("csi://1", "csi", "1"),
    ("https://cam.example/mjpg/video.mjpg", "http", "https://cam.example/mjpg/video.mjpg"),
    ("test://", "test", "smpte"),
    ("test://ball", "test", "ball"),
])
def test_forms_normalise(uri, kind, location):
    spec = parse_source(uri)
    assert (spec.kind, spec.location) == (kind, location)


def test_relative_path_becomes_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = parse_source("a/clip.mp4")
    assert spec.location == str(tmp_path / "a" / "clip.mp4")
    assert spec.display == (tmp_path / "a" / "clip.mp4").as_uri()


def test_options_and_defaults():
    spec = parse_source("test://ball?width=320&height=240&fps=60")
    assert spec.options == {"width": 320, "height": 240, "fps": 60.0}
    assert parse_source("test://").options == {"width": 640, "height": 480, "fps": 30.0}
    rtsp = parse_source("rtsp://h/x").with_options(latency=0, transport="tcp", codec=None)
    assert rtsp.options == {"latency": 0, "transport": "tcp", "codec": "auto"}
    assert parse_source("rtsp://h/x").live and not parse_source("/x.mp4").live


@pytest.mark.parametrize("uri, words", [
    ("file:///x ! filesink location=/tmp/pwned", "pipeline"),
    ("clip.mp4 ! fakesink", "pipeline"),
    ("test://ball ! filesink location=x", "pipeline"),
    ("test://ball!", "unknown test pattern"),
    ("rtsp://host/a b", "spaces"),
    ("test://ball?width=0", "width"),
    ("test://ball?bitrate=5", "does not apply"),
    ("test://ball?width=320&width=640", "twice"),
    ("v4l2:///dev/sda", "/dev/videoN"),
    ("csi://x", "csi://N"),
    ("ftp://host/x.mp4", "unknown scheme"),
    ("file://otherhost/x.mp4", "absolute path"),
    ("rtsp:///nohost", "no host"),
    ("", "empty"),
])
def test_bad_sources_refused(uri, words):
    with pytest.raises(SourceError, match=words):
        parse_source(uri)


def test_cli_options_checked_per_kind():
    with pytest.raises(SourceError, match="does not apply"):
        parse_source("/x.mp4").with_options(latency=100)
    with pytest.raises(SourceError, match="one of"):
        parse_source("rtsp://h/x").with_options(transport="carrier-pigeon")


def test_credentials_leave_the_location_and_are_redacted():
    spec = parse_source("rtsp://alice:s%40cret@10.0.0.5:554/live")
    assert spec.credentials == ("alice", "s@cret")
    assert spec.location == "rtsp://10.0.0.5:554/live"
    for text in (spec.display, spec.describe(), repr(spec)):
        assert "alice" not in text and "cret" not in text
    assert spec.display == "rtsp://***@10.0.0.5:554/live"
    assert redact("failed: rtsp://bob:pw@cam/x and http://u:p@h/") == "failed: rtsp://***@cam/x and http://***@h/"
    with pytest.raises(SourceError) as e:
        parse_source("rtsp://alice:topsecret@host/a b")
    assert "topsecret" not in str(e.value)


def test_usage_lists_every_form():
    text = usage()
    for forms, _ in SOURCE_FORMS.values():
        for form in forms:
            assert form in text
