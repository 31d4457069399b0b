"""Tiling a dataset into corner sub-images with the TinyPerson keep rule, corner JSON round trip and CLI."""
import json

import cv2
import numpy as np
import pytest

from sspnet.cli import main
from sspnet.data import load_dataset
from sspnet.data.record import ImageRecord
from sspnet.data.tile_dataset import tile_record, tile_records
from sspnet.data.tinyperson import write_tinyperson_json


def _frame_record(tmp_path, boxes, ignore=()):
    img = np.random.default_rng(0).integers(0, 255, (720, 1280, 3), dtype=np.uint8)
    path = tmp_path / "images" / "f.jpg"
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)
    return ImageRecord(image_path=str(path), width=1280, height=720, image_id=5, file_name="images/f.jpg",
                       boxes_xyxy=np.asarray(boxes, np.float32).reshape(-1, 4),
                       ignore_xyxy=np.asarray(ignore, np.float32).reshape(-1, 4),
                       flags={"logo": np.array([False, True, False])[:len(boxes)]})


def test_layout_and_keep_rule(tmp_path):
    # box crossing x = 640: 15 px in tile x∈[0,640) → sqrt(15/40) = 0.61 < 0.7 dropped; 25 px in [640,1280) → kept
    rec = _frame_record(tmp_path, [[625, 100, 665, 140], [10, 10, 20, 30], [1200, 600, 1210, 700]],
                        ignore=[[560, 0, 700, 50]])
    tiles, landed = tile_record(rec)
    assert [t.corner_xyxy for t in tiles] == [(0, 0, 640, 512), (590, 0, 1230, 512), (640, 0, 1280, 512),
                                             (0, 208, 640, 720), (590, 208, 1230, 720), (640, 208, 1280, 720)]
    assert landed.all()
    t0, t1, t2 = tiles[:3]
    np.testing.assert_allclose(t0.boxes_xyxy, [[10, 10, 20, 30]])           # the crossing box is dropped here
    np.testing.assert_allclose(t1.boxes_xyxy, [[35, 100, 75, 140]])         # fully inside the middle tile
    np.testing.assert_allclose(t2.boxes_xyxy, [[0, 100, 25, 140]])          # clipped, ratio 0.79
    assert t0.flags["logo"].tolist() == [True] and t1.flags["logo"].tolist() == [False]   # flags follow boxes
    np.testing.assert_allclose(t0.ignore_xyxy, [[560, 0, 640, 50]])         # ignore regions: any part is kept
    np.testing.assert_allclose(t2.ignore_xyxy, [[0, 0, 60, 50]])
    assert len(tiles[5].boxes_xyxy) == 1 and tiles[5].flags["logo"].tolist() == [False]
    np.testing.assert_allclose(tiles[5].boxes_xyxy, [[560, 392, 570, 492]])
    assert all(t.width == 640 and t.height == 512 for t in tiles)
    assert t2.load_image().shape == (512, 640, 3)


def test_box_reaching_no_tile_is_counted(tmp_path):
    # 300x100 image, 100x100 tiles without overlap; a 220 px wide box has at most 100/220 of its area in any
    # tile: sqrt(0.45) = 0.67 < 0.7, so it lands nowhere (dropped, not turned into ignore)
    rec = _frame_record(tmp_path, [[40, 0, 260, 10], [110, 0, 120, 10]])
    rec.width, rec.height = 300, 100
    tiles, stats = tile_records([rec, rec], (100, 100), 0)
    assert (stats.images, stats.tiles, stats.boxes_in, stats.boxes_lost) == (2, 6, 4, 2)
    assert [len(t.boxes_xyxy) for t in tiles] == [0, 1, 0, 0, 1, 0]
    assert [t.image_id for t in tiles] == [1, 2, 3, 4, 5, 6]
    assert all(len(t.ignore_xyxy) == 0 for t in tiles)


def test_already_tiled_is_an_error(tmp_path):
    rec = _frame_record(tmp_path, [[0, 0, 10, 10]])
    rec.corner_xyxy = (0, 0, 640, 512)
    with pytest.raises(ValueError, match="already a sub-image"):
        tile_record(rec)


def test_corner_json_round_trip(tmp_path):
    rec = _frame_record(tmp_path, [[625, 100, 665, 140], [10, 10, 20, 30]], ignore=[[560, 0, 700, 50]])
    tiles, _ = tile_records([rec])
    out = tmp_path / "out" / "tiles.json"
    write_tinyperson_json(tiles, out)
    doc = json.loads(out.read_text())
    assert doc["images"][2]["corner"] == [640, 0, 1280, 512] and doc["images"][2]["file_name"] == "../images/f.jpg"
    back = load_dataset(out)
    assert len(back) == len(tiles)
    for a, b in zip(tiles, back):
        assert a.corner_xyxy == b.corner_xyxy and a.image_id == b.image_id
        np.testing.assert_allclose(a.boxes_xyxy, b.boxes_xyxy, atol=1e-3)
        np.testing.assert_allclose(a.ignore_xyxy, b.ignore_xyxy, atol=1e-3)
    assert back[1].load_image().shape == (512, 640, 3)


def test_tile_cli(tmp_path, capsys):
    rec = _frame_record(tmp_path, [[625, 100, 665, 140], [10, 10, 20, 30]])
    src = tmp_path / "full.json"
    write_tinyperson_json([rec], src)
    out = tmp_path / "tiles.json"
    assert main(["tile", "--data", str(src), "--out", str(out), "--tile", "640x512", "--overlap", "50"]) == 0
    assert "1 images → 6 tiles" in capsys.readouterr().out
    assert len(load_dataset(out)) == 6
    with pytest.raises(SystemExit) as e:
        main(["tile", "--data", str(src), "--out", str(out), "--tile", "640by512"])
    assert e.value.code == 2
    assert main(["tile", "--data", str(src), "--out", str(out), "--overlap", "700"]) == 2
