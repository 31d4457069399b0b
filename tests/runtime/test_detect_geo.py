"""``sspnet detect`` places its detections: each stored position is what sspnet.geo computes for that still's pose
and box, the GeoJSON/KML hold the placed ones, a still without a pose gets no position (counted, warned), and
Cursor-on-Target events go to a loopback UDP address only when asked."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading

import numpy as np
import pytest
from detectkit import read_jsonl, run_detect, write_stills
from tiny_model import make_tiny_model

from sspnet.geo import LocateOptions, locate_detections, pose_from_image, still_scale
from sspnet.preprocess import Preprocess, tile_count


@pytest.fixture(scope="module")
def flight(tmp_path_factory):
    d = tmp_path_factory.mktemp("flight")
    r = subprocess.run([sys.executable, "-m", "sspnet.cli", "synth", "--out", str(d / "synth"), "--stills", "2",
                        "--size", "640x480", "--altitude", "30", "--pitch", "-60", "--heading", "180", "--seed", "2"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    write_stills(d / "synth" / "stills", ["no_pose.png"])
    return d, make_tiny_model(d / "tiny.onnx")


def test_positions_are_sspnet_geo_and_the_outputs_hold_them(flight, tmp_path):
    d, model = flight
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(120)      # the first event comes after start-up and detection
        events = []     # read while the run sends: a burst larger than the socket buffer would be dropped

        def receive():
            try:
                while True:
                    events.append(rx.recv(65536))
                    rx.settimeout(2)
            except (TimeoutError, OSError):
                pass
        reader = threading.Thread(target=receive)
        reader.start()
        r = run_detect(d / "synth" / "stills", "--model", model, "--out", tmp_path / "run", "--score-thr", "0.3",
                       "--cot", f"127.0.0.1:{rx.getsockname()[1]}")
        assert r.returncode == 0, r.stderr
        lines = {p["name"]: p for p in read_jsonl(tmp_path / "run" / "detections.jsonl")}
        placed = 0
        for name, line in lines.items():
            assert len(line["positions"]) == len(line["boxes"])
            if name == "no_pose.png":
                assert line["camera"] is None and {p["status"] for p in line["positions"]} <= {"no_pose"}
                continue
            want = locate_detections(pose_from_image(line["path"]), np.asarray(line["boxes"]),
                                     (line["width"], line["height"]), LocateOptions())
            for got, w in zip(line["positions"], want):
                assert got["status"] == w.status == "placed"
                assert (got["lat"], got["lon"], got["uncertainty_m"]) == (w.lat_deg, w.lon_deg, w.uncertainty_m)
            placed += len(want)
        reader.join()
    assert placed > 0 and len(events) == placed
    assert all(e.startswith(b"<?xml") and b"<event" in e for e in events)
    unplaced = len(lines["no_pose.png"]["boxes"])
    assert (f"{unplaced} no_pose" in r.stderr if unplaced else "without a position" not in r.stderr), r.stderr
    assert f"{placed} events sent" in r.stderr
    features = json.loads((tmp_path / "run" / "detections.geojson").read_text())["features"]
    assert len([f for f in features if f["geometry"]]) == placed
    assert (tmp_path / "run" / "detections.kml").read_text().count("<Point>") >= placed


def test_stills_are_resized_from_their_pose_and_the_choice_is_recorded(flight, tmp_path):
    d, _ = flight
    model = make_tiny_model(tmp_path / "model" / "tiny.onnx", scale=2.0, person_px=12.0)
    r = run_detect(d / "synth" / "stills", "--model", model, "--out", tmp_path / "run", "--score-thr", "0.3")
    assert r.returncode == 0, r.stderr
    assert "resized from each one's camera pose so persons are ~12 px tall" in r.stderr
    lines = {p["name"]: p for p in read_jsonl(tmp_path / "run" / "detections.jsonl")}
    for name, line in lines.items():
        size = (line["width"], line["height"])
        want = still_scale(pose_from_image(line["path"]), size, model_scale=2.0, model_person_px=12.0)
        assert line["resize"] == want.to_dict()
        assert want.source == ("manifest" if name == "no_pose.png" else "pose")
        assert line["tiles"] == tile_count(size, Preprocess(input_w=160, input_h=128, overlap=16, scale=want.scale))
    assert all(line["resize"]["scale"] < 2.0 for name, line in lines.items() if name != "no_pose.png")
    again = run_detect(d / "synth" / "stills", "--model", model, "--out", tmp_path / "run", "--still-scale", "model",
                       "--score-thr", "0.3")
    assert again.returncode == 2 and "still_scale='pose'" in again.stderr, again.stderr
    fixed = run_detect(d / "synth" / "stills", "--model", model, "--out", tmp_path / "fixed", "--scale", "1",
                       "--score-thr", "0.3")
    assert fixed.returncode == 0, fixed.stderr
    assert all("resize" not in line for line in read_jsonl(tmp_path / "fixed" / "detections.jsonl"))
