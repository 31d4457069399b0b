"""Review chips and the page's data, without a browser: the crop window by hand, grey past the image border,
the outline outside the box, entries by score, the flight track, tile URLs, and a page that cannot be broken
out of by a file name."""
from __future__ import annotations

import json
import re

import cv2
import numpy as np
import pytest

from sspnet.review.chips import CHIP_PX, PAD_GREY, chip_window, render_chip, write_chips, write_preview
from sspnet.review.page import check_tile_url, flight_track, review_entries, write_review


def test_chip_window_by_hand():
    assert chip_window([100, 100, 104, 110]) == (78, 81, 48)     # 4x10 px box: 4 × 10 = 40 < 48 → 48 px, centred
    assert chip_window([0, 0, 30, 20]) == (-45, -50, 120)        # 4 × 30 = 120, may extend past the image


def test_chip_is_centred_grey_outside_and_outlined_outside_the_box():
    image = np.zeros((100, 100, 3), np.uint8)
    image[2:6, 2:6] = 255                                        # a 4-px white person in the corner
    chip = render_chip(image, [2, 2, 6, 6])
    assert chip.shape == (CHIP_PX, CHIP_PX, 3)
    k = CHIP_PX / 48
    centre = chip[int(24 * k) - 2:int(24 * k) + 2, int(24 * k) - 2:int(24 * k) + 2]
    assert centre.min() > 200                                    # the person is in the middle, up-scaled
    assert (chip[5, 5] == PAD_GREY).all()                        # above-left of the image: grey
    lo, hi = 22 * k, 26 * k                                      # the box in the chip (crop from x = y = -20)
    inside = chip[int(lo) + 3:int(hi) - 3, int(lo) + 3:int(hi) - 3]
    assert (inside > 200).all()                                  # the outline never covers the box
    ring = chip[int(lo) - 3, int(lo):int(hi)].astype(int)        # 3 px above it: the outline (BGR 0, 220, 255)
    assert (ring[:, 0] < 80).all() and (ring[:, 2] > 180).all()


def test_write_chips_and_preview(tmp_path):
    image = np.full((3000, 4000, 3), 90, np.uint8)
    names = write_chips(image, np.array([[10, 10, 14, 18], [3990, 2990, 4000, 3000]]), "abc", tmp_path)
    assert names == ["abc_0.jpg", "abc_1.jpg"]
    assert cv2.imread(str(tmp_path / names[1])).shape == (CHIP_PX, CHIP_PX, 3)
    preview = write_preview(image, "abc", tmp_path)
    assert preview == "frames/abc.jpg" and cv2.imread(str(tmp_path / preview)).shape == (1200, 1600, 3)
    assert not list(tmp_path.rglob(".*.tmp"))


def record(uid, scores, **extra):
    n = len(scores)
    return {"type": "image", "id": uid, "path": f"/d/{uid}.jpg", "name": f"{uid}.jpg", "frame": None, "pts": None,
            "status": "ok", "width": 64, "height": 48, "boxes": [[1, 1, 5, 5]] * n, "scores": scores,
            "chips": [f"{uid}_{k}.jpg" for k in range(n)], "preview": f"frames/{uid}.jpg", **extra}


def test_entries_by_score_then_id_and_only_what_has_chips():
    records = [record("b", [0.5, 0.9]), record("a", [0.5]), record("c", []),
               {"type": "image", "id": "x", "path": "/d/x", "status": "error", "error": "empty file"},
               {"type": "video", "id": "v", "path": "/d/v.mp4", "status": "ok", "frames": 3}]
    assert [e["id"] for e in review_entries(records)] == ["b_1", "a_0", "b_0"]
    e = review_entries(records)[0]
    assert e["chip"] == "chips/b_1.jpg" and e["frame_image"] == "chips/frames/b.jpg" and e["position"] is None


def test_positions_and_track():
    recs = [record("b", [0.5], camera={"lat": 1.0, "lon": 2.0, "time": "2026-01-01T10:00:02"},
                   positions=[{"lat": 1.0001, "lon": 2.0001, "uncertainty_m": 3.25}]),
            record("a", [0.4], camera={"lat": 1.5, "lon": 2.5, "time": "2026-01-01T10:00:01"},
                   positions=[{"lat": float("nan"), "lon": 2.0}]),
            record("c", [0.3])]
    assert flight_track(recs) == [[1.5, 2.5], [1.0, 2.0]]        # by capture time
    pos = [e["position"] for e in review_entries(recs)]
    assert pos == [{"lat": 1.0001, "lon": 2.0001, "uncertainty_m": 3.2}, None, None]


@pytest.mark.parametrize("url", ["https://t.example/{z}/{x}/{y}.png", "http://10.0.0.2:8080/{z}/{y}/{x}"])
def test_tile_url_accepted(url):
    assert check_tile_url(url) == url and check_tile_url(None) is None


@pytest.mark.parametrize("url", ["https://t.example/{z}/{x}.png", "file:///tiles/{z}/{x}/{y}.png", "{z}/{x}/{y}"])
def test_tile_url_refused(url):
    with pytest.raises(ValueError, match="--tile-url"):
        check_tile_url(url)


def test_page_data_cannot_end_its_script_and_the_page_is_reproducible(tmp_path):
    recs = [record("a", [0.5], name="x</script><script>alert(1)</script>.jpg")]
    page = write_review(tmp_path, recs, title="run <1>", storage_key="k").read_text()
    assert page.count("</script>") == 2                          # the data script and the code script, no more
    assert "<title>run &lt;1&gt; — review</title>" in page
    data = json.loads(re.search(r'id="review-data">(.*?)</script>', page, re.S).group(1))
    assert data["detections"][0]["image"] == "x</script><script>alert(1)</script>.jpg"
    assert write_review(tmp_path, recs, title="run <1>", storage_key="k").read_text() == page
