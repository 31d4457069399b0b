"""Damaged datasets. A malformed line or record, a missing or empty (0-byte) image, a label file that is not
UTF-8 or an image of no size stops ``sspnet train`` and ``sspnet eval`` with exit 2 and one message naming the file
and its line (or record). A box that sticks out of its image is clipped to it, and a box of zero size (as written,
or once clipped) is dropped; both are counted in one warning line per dataset naming the first place.

Before: boxes of zero size were kept (YOLO, COCO, VisDrone), COCO/VisDrone boxes outside the image were kept as
written, a 0-byte COCO image was accepted (it failed later, in the middle of training), a label file that was not
UTF-8 named neither file nor line, a COCO image id or category that is a list was a TypeError (a traceback), and
``sspnet eval`` exited 1 on a bad dataset."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from sspnet.cli import main
from sspnet.data import load_dataset

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "sspnet_edge.yaml"
W, H = 100, 80


def _image(path: Path, w: int = W, h: int = H) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8))
    return path


def _yolo(tmp_path: Path, labels: bytes | str) -> Path:
    root = tmp_path / "yolo"
    _image(root / "images" / "a.png")
    (root / "labels").mkdir(parents=True)
    label = root / "labels" / "a.txt"
    label.write_bytes(labels if isinstance(labels, bytes) else labels.encode())
    return root


def _coco(tmp_path: Path, image: dict | None = None, ann: dict | None = None, categories=None) -> Path:
    _image(tmp_path / "a.png")
    doc = {"images": [{"id": 1, "file_name": "a.png", "width": W, "height": H, **(image or {})}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 5, 5], **(ann or {})}],
           "categories": categories if categories is not None else [{"id": 1, "name": "person"}]}
    js = tmp_path / "gt.json"
    js.write_text(json.dumps(doc))
    return js


def _train_error(dataset: Path, tmp_path: Path, capsys) -> str:
    with pytest.raises(SystemExit) as e:
        main(["train", "--config", str(CONFIG), "--data", str(dataset), "--out", str(tmp_path / "run"),
              "--device", "cpu"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    return err


YOLO_ERRORS = {   # label file text → what the message says after the file name
    "malformed line": ("0 0.5 0.5 0.1 0.1\n0 0.5 zero 0.1 0.1\n", "a.txt:2: expected numbers"),
    "4 numbers": ("0 0.5 0.5 0.1\n", "a.txt:1: expected 5 values"),
    "pixels, not normalised": ("0 50 40 10 10\n", "a.txt:1: coordinates are not normalised"),
    "not UTF-8": (b"0 0.5 0.5 0.1 0.1\n0 0.5 \xff\xfe 0.1\n", "a.txt:2: not UTF-8 text"),
}


@pytest.mark.parametrize("name", YOLO_ERRORS)
def test_yolo_label_error_exits_2_naming_file_and_line(name, tmp_path, capsys):
    text, expected = YOLO_ERRORS[name]
    err = _train_error(_yolo(tmp_path, text), tmp_path, capsys)
    assert expected in err, err


def test_yolo_label_without_image_and_empty_image(tmp_path, capsys):
    root = _yolo(tmp_path, "0 0.5 0.5 0.1 0.1\n")
    (root / "labels" / "b.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    assert "images/b.jpg: image for label file" in _train_error(root, tmp_path, capsys)
    (root / "labels" / "b.txt").unlink()
    (root / "images" / "a.png").write_bytes(b"")                   # 0 bytes, with a label: flat-ignore reads it
    assert "a.png: image file is empty (0 bytes)" in _train_error(root, tmp_path, capsys)
    (root / "labels" / "a.txt").write_text("")                     # no boxes: only its size is read
    assert "a.png: image file is empty (0 bytes)" in _train_error(root, tmp_path, capsys)


COCO_ERRORS = {   # (image fields, annotation fields, categories) → what the message says
    "missing image": ({"file_name": "gone.png"}, None, None, "images[0]: image 'gone.png' not found"),
    "empty image": ({"file_name": "empty.png"}, None, None, "images[0]: image file"),
    "zero width": ({"width": 0}, None, None, "images[0]: 'width' must be > 0"),
    "malformed bbox": (None, {"bbox": [1, 2, "x", 4]}, None, "annotations[0].bbox: expected a finite number"),
    "list image id": (None, {"image_id": [1]}, None, "annotations[0]: image_id [1] is not in 'images'"),
    "list category": (None, {"category_id": [1]}, None, "annotations[0]: 'category_id' must be an integer"),
    "bad category id": (None, None, [{"id": [1], "name": "person"}], "categories[0]: 'id' must be an integer"),
    "categories not a list": (None, None, 5, "'categories' must be a list"),
}


@pytest.mark.parametrize("name", COCO_ERRORS)
def test_coco_record_error_exits_2_naming_file_and_record(name, tmp_path, capsys):
    image, ann, cats, expected = COCO_ERRORS[name]
    (tmp_path / "empty.png").write_bytes(b"")
    js = _coco(tmp_path, image, ann, cats)
    err = _train_error(js, tmp_path, capsys)
    assert str(js) in err and expected in err, err


def test_eval_bad_dataset_exits_2(tmp_path, capsys):
    js = _coco(tmp_path, ann={"bbox": [1, 2, 3]})
    det = tmp_path / "det.json"
    det.write_text("[]")
    assert main(["eval", "--det", str(det), "--data", str(js)]) == 2
    err = capsys.readouterr().err
    assert "gt.json: annotations[0]: 'bbox' must be [x, y, w, h]" in err and err.count("\n") == 1, err


def _warning(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if "clipped" in line]
    assert len(lines) == 1, lines
    return lines[0]


def test_yolo_boxes_clipped_and_zero_size_dropped_with_one_warning(tmp_path, capsys):
    root = _yolo(tmp_path, "0 0.5 0.5 0.1 0.1\n"          # inside: kept as is
                           "0 0.996 0.5 0.02 0.1\n"       # 0.4 % past the right edge (rounding): clipped
                           "0 0.5 0.5 0 0.1\n"            # zero width: dropped
                           "0 0.3 0.3 0.3 0.3 0.3 0.3\n"  # a polygon of one point: dropped
                           "0 1.007 0.5 0.004 0.1\n")     # inside the slack but entirely outside: dropped
    (rec,) = load_dataset(root, flat_ignore=False)
    np.testing.assert_allclose(rec.boxes_xyxy, [[45, 36, 55, 44], [98.6, 36, 100, 44]], atol=1e-3)
    warning = _warning(capsys)
    assert warning == (f"warning: labels: 1 box clipped to the image, 3 of zero size dropped "
                       f"(first: {root / 'labels' / 'a.txt'}:2)")


def test_coco_boxes_clipped_and_zero_size_dropped_with_one_warning(tmp_path, capsys):
    ann = dict(category_id=1, iscrowd=0, ignore=False, uncertain=False, logo=False, in_dense_image=False)
    doc = {"images": [{"id": 1, "file_name": "a.png", "width": W, "height": H}],
           "annotations": [{**ann, "image_id": 1, "bbox": [10, 10, 5, 5]},
                           {**ann, "image_id": 1, "bbox": [90, 70, 20, 20], "logo": True},   # clipped
                           {**ann, "image_id": 1, "bbox": [20, 20, 0, 5], "logo": True},     # zero width
                           {**ann, "image_id": 1, "bbox": [120, 10, 5, 5]},                  # outside: dropped
                           {**ann, "image_id": 1, "bbox": [-10, 30, 20, 5], "ignore": True}],  # clipped ignore
           "categories": [{"id": 1, "name": "person"}]}
    js = tmp_path / "gt.json"
    js.write_text(json.dumps(doc))
    (rec,) = load_dataset(js, check_images=False)
    np.testing.assert_allclose(rec.boxes_xyxy, [[10, 10, 15, 15], [90, 70, 100, 80]])
    assert rec.flags["logo"].tolist() == [False, True]              # flags stay with their boxes
    np.testing.assert_allclose(rec.ignore_xyxy, [[0, 30, 10, 35]])
    assert _warning(capsys) == (f"warning: labels: 2 boxes clipped to the image, 2 of zero size dropped "
                                f"(first: {js}: annotations[1])")


def test_visdrone_boxes_clipped_and_zero_size_dropped(tmp_path, capsys):
    root = tmp_path / "vd"
    _image(root / "images" / "0001.jpg")
    (root / "annotations").mkdir()
    (root / "annotations" / "0001.txt").write_text("1,2,3,4,1,1,0,0\n95,70,10,20,1,1,0,0\n5,5,0,3,1,2,0,0\n")
    (rec,) = load_dataset(root)
    np.testing.assert_allclose(rec.boxes_xyxy, [[1, 2, 4, 6], [95, 70, 100, 80]])
    assert _warning(capsys) == (f"warning: labels: 1 box clipped to the image, 1 of zero size dropped "
                                f"(first: {root / 'annotations' / '0001.txt'}:2)")


def test_eval_prints_the_warning_and_scores_the_clipped_box(tmp_path, capsys):
    js = _coco(tmp_path, ann={"bbox": [90, 70, 20, 20]})
    det = tmp_path / "det.json"
    det.write_text(json.dumps([{"image_id": 1, "bbox": [90, 70, 10, 10], "score": 0.9}]))
    out = tmp_path / "m.json"
    assert main(["eval", "--det", str(det), "--data", str(js), "--json", str(out), "--no-mr"]) == 0
    assert "1 box clipped to the image, 0 of zero size dropped" in _warning(capsys)
    assert json.loads(out.read_text())["AP50_all"] == pytest.approx(100.0)
