"""The review page in the system's headless Chromium, driven as a reviewer uses it: load, accept one (key a),
reject one (key r), open the frame, reload (the decisions stay), export, and check the exported GeoJSON; with
positions and a flight track, without them, and with a tile URL. The page asks for nothing but its own files."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the Chromium driver beside this file
from chromium import Chromium, find_chromium  # noqa: E402

from sspnet.review import write_chips, write_preview, write_review  # noqa: E402
from sspnet.synth.dataset import render_image  # noqa: E402

SCORES = ([0.91, 0.62, 0.33], [0.84, 0.55, 0.26])
NAMES = ("flight/img0.jpg", "flight/img</script><b>1</b>.jpg")   # a name that must not end the data <script>
ORDER = ["0000000000000000_0", "0000000000000001_0", "0000000000000000_1", "0000000000000001_1",
         "0000000000000000_2", "0000000000000001_2"]


@pytest.fixture(scope="module")
def chromium_binary() -> str:
    binary = find_chromium()
    if binary is None:
        reason = "headless Chromium not installed (apt-get install chromium-headless-shell; `make system`)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI=true: fail, not skip", pytrace=False)
        pytest.skip(reason)
    return binary


def make_run(run, positions: bool, tile_url: str | None = None) -> list[dict]:
    """Two synthetic stills with three detections each (on drawn persons), their chips, a record per image."""
    records = []
    for i, scores in enumerate(SCORES):
        image, persons, _ = render_image((640, 512), seed=21, index=i)
        boxes = np.asarray([p.box_xyxy for p in persons if not p.ignore][:3], np.float32)
        uid = f"{i:016x}"
        rec = {"type": "image", "id": uid, "path": f"/data/{NAMES[i]}", "name": NAMES[i], "size": 1,
               "mtime_ns": 1, "frame": None, "pts": None, "status": "ok", "width": 640, "height": 512, "tiles": 25,
               "boxes": boxes.round(2).tolist(), "scores": scores,
               "chips": write_chips(image, boxes, uid, run / "chips"), "preview": write_preview(image, uid, run / "chips")}
        if positions:
            lat, lon = 43.70 + 0.001 * i, 7.25 + 0.0005 * i
            rec["camera"] = {"lat": lat, "lon": lon, "alt_m": 60.0}
            rec["positions"] = [{"lat": lat + 1e-4 * k, "lon": lon - 1e-4 * k, "uncertainty_m": 4.0 + k}
                                for k in range(3)]
            if i == 1:
                rec["positions"][2] = None                        # one detection the geo step could not place
        records.append(rec)
    records.append({"type": "image", "id": "e" * 16, "path": "/data/bad.jpg", "name": "bad.jpg", "size": 0,
                    "mtime_ns": 1, "frame": None, "pts": None, "status": "error", "error": "empty file"})
    write_review(run, records, title="flight-7", storage_key=f"test-{positions}-{tile_url is not None}",
                 tile_url=tile_url)
    return records


def open_browser(binary, tmp_path) -> Chromium:
    (tmp_path / "downloads").mkdir()
    return Chromium(binary, tmp_path / "profile", tmp_path / "downloads")


def chip_ids(c, cls: str = "") -> list[str]:
    return c.js(f"[...document.querySelectorAll('.chip{cls}')].map(e => e.dataset.id)")


def test_accept_reject_resume_export_with_positions(chromium_binary, tmp_path):
    run = tmp_path / "run"
    records = make_run(run, positions=True)
    with open_browser(chromium_binary, tmp_path) as c:
        c.open((run / "review.html").as_uri())
        assert c.js("document.body.dataset.ready") == "1"
        assert chip_ids(c) == ORDER                                # highest score first
        assert c.js("Promise.all([...document.querySelectorAll('.chip img')].map(i => i.decode()))"
                    ".then(() => [...document.querySelectorAll('.chip img')].map(i => i.naturalWidth))") == [160] * 6
        assert c.js("document.querySelector('.chip figcaption').textContent") == "0.91 · flight/img0.jpg"
        assert "</script><b>1</b>" in c.js("document.querySelectorAll('.chip figcaption')[1].textContent")
        assert c.js("document.querySelectorAll('#map circle.det').length") == 5      # one has no position
        assert c.js("document.querySelector('#map polyline.track').getAttribute('points').split(' ').length") == 2

        c.press("a")                                               # accept the first, move to the second
        c.press("r")                                               # reject the second
        assert chip_ids(c, ".accepted") == [ORDER[0]] and chip_ids(c, ".rejected") == [ORDER[1]]
        assert chip_ids(c, ".selected") == [ORDER[2]]
        assert "1 accepted, 1 rejected, 4 undecided" in c.js("document.getElementById('counts').textContent")

        c.press("ArrowLeft")
        c.press("ArrowLeft")
        c.press("Enter")                                           # the frame of the first, with its boxes
        assert c.js("document.getElementById('viewer').hidden") is False
        assert c.js("(() => { const i = document.getElementById('viewer-img'); return i.decode()"
                    ".then(() => [i.getAttribute('src'), i.naturalWidth]); })()") == [
            f"chips/{records[0]['preview']}", 640]
        assert c.js("document.querySelectorAll('#viewer-boxes rect').length") == 3
        assert c.js("document.querySelectorAll('#viewer-boxes rect:not(.other)').length") == 1
        c.press("Escape")
        assert c.js("document.getElementById('viewer').hidden") is True

        c.reload()                                                 # the reviewer comes back later
        assert chip_ids(c, ".accepted") == [ORDER[0]] and chip_ids(c, ".rejected") == [ORDER[1]]
        c.click("#export")
        exported = c.wait_download()
        assert not c.page_errors, c.page_errors
        assert all(u.startswith(("file://", "blob:", "data:")) for u in c.requests), c.requests

    doc = json.loads(exported.read_text())
    assert exported.name == "flight-7-confirmed.geojson" and doc["type"] == "FeatureCollection"
    [f] = doc["features"]
    pos = records[0]["positions"][0]
    assert f["geometry"] == {"type": "Point", "coordinates": [pos["lon"], pos["lat"]]}
    p = f["properties"]
    assert p["id"] == ORDER[0] and p["score"] == 0.91 and p["image"] == NAMES[0] and p["path"] == "/data/" + NAMES[0]
    assert p["box_xyxy"] == pytest.approx(records[0]["boxes"][0], abs=0.06) and p["uncertainty_m"] == 4.0
    assert p["chip"] == "chips/" + records[0]["chips"][0] and (run / p["chip"]).is_file()


def test_without_positions_no_map_and_null_geometry(chromium_binary, tmp_path):
    run = tmp_path / "run"
    make_run(run, positions=False)
    with open_browser(chromium_binary, tmp_path) as c:
        c.open((run / "review.html").as_uri())
        assert chip_ids(c) == ORDER
        assert c.js("getComputedStyle(document.getElementById('map')).display") == "none"
        assert "No positions" in c.js("document.getElementById('map-note').textContent")
        c.press("ArrowRight")
        c.press("a")                                               # accept the second (the third is selected)
        c.press("r")                                               # reject the third, then take it back
        c.press("ArrowLeft")
        assert chip_ids(c, ".selected") == [ORDER[2]] and chip_ids(c, ".rejected") == [ORDER[2]]
        c.press("u")
        assert chip_ids(c, ".rejected") == [] and chip_ids(c, ".selected") == [ORDER[2]]   # undo stays
        c.press("e")                                               # export from the keyboard
        exported = c.wait_download()
        assert not c.page_errors, c.page_errors
    [f] = json.loads(exported.read_text())["features"]
    assert f["properties"]["id"] == ORDER[1] and f["geometry"] is None


def test_a_tile_url_puts_tiles_under_the_positions(chromium_binary, tmp_path):
    run = tmp_path / "run"
    make_run(run, positions=True, tile_url="http://127.0.0.1:9/tiles/{z}/{x}/{y}.png")
    with open_browser(chromium_binary, tmp_path) as c:
        c.open((run / "review.html").as_uri())
        hrefs = c.js("[...document.querySelectorAll('#map image')].map(i => i.getAttribute('href'))")
        assert not c.page_errors, c.page_errors
    assert 1 <= len(hrefs) <= 9
    z = {h.split("/")[4] for h in hrefs}
    assert len(z) == 1 and 10 <= int(z.pop()) <= 21               # one zoom, fitted to a few hundred metres
    assert all(h.startswith("http://127.0.0.1:9/tiles/") and h.endswith(".png") for h in hrefs)
