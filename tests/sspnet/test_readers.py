"""Dataset readers: TinyPerson/COCO JSON, VisDrone txt, YOLO txt (box + polygon), flat-fill ignore, detection."""
import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from sspnet.data import ImageRecord, detect_format, load_dataset
from sspnet.data.flat_fill import flat_fill_mask
from sspnet.data.image_size import image_size

DEV = Path(__file__).resolve().parents[3] / "shared" / "data" / "tinyperson-rpi-dev"


def _noise_image(path: Path, w: int, h: int, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)
    cv2.imwrite(str(path), img)


def _tinyperson_doc() -> dict:
    ann = dict(category_id=1, iscrowd=0, ignore=False, uncertain=False, logo=False, in_dense_image=False)
    return {
        "type": "instance",
        "images": [{"id": 7, "file_name": "labeled_images/a.jpg", "width": 120, "height": 80},
                   {"id": 9, "file_name": "labeled_images/a.jpg", "width": 60, "height": 40,
                    "corner": [50, 20, 110, 60]}],
        "annotations": [
            {**ann, "id": 1, "image_id": 7, "bbox": [10, 10, 4, 8]},
            {**ann, "id": 2, "image_id": 7, "bbox": [30, 10, 5, 5], "ignore": True},
            {**ann, "id": 3, "image_id": 7, "bbox": [50, 10, 6, 6], "uncertain": True},
            {**ann, "id": 4, "image_id": 7, "bbox": [70, 10, 3, 3], "logo": True},
            {**ann, "id": 5, "image_id": 9, "bbox": [1, 2, 3, 4], "category_id": 2},
        ],
        "categories": [{"id": 1, "name": "sea_person"}, {"id": 2, "name": "earth_person"}],
    }


def test_tinyperson_flags_corner_and_image_search(tmp_path):
    # TinyPerson layout: annotations/task/x.json, images under <root>/test/labeled_images/
    _noise_image(tmp_path / "test" / "labeled_images" / "a.jpg", 120, 80)
    js = tmp_path / "annotations" / "task" / "tiny_set_test_all.json"
    js.parent.mkdir(parents=True)
    js.write_text(json.dumps(_tinyperson_doc()))
    assert detect_format(js) == "tinyperson"
    full, tile = load_dataset(js)
    assert (full.image_id, tile.image_id) == (7, 9)
    np.testing.assert_allclose(full.boxes_xyxy, [[10, 10, 14, 18], [70, 10, 73, 13]])
    np.testing.assert_allclose(full.ignore_xyxy, [[30, 10, 35, 15], [50, 10, 56, 16]])  # ignore + uncertain
    assert full.flags["logo"].tolist() == [False, True]
    assert full.flags["in_dense_image"].tolist() == [False, False]
    assert tile.corner_xyxy == (50, 20, 110, 60) and (tile.width, tile.height) == (60, 40)
    np.testing.assert_allclose(tile.boxes_xyxy, [[1, 2, 4, 6]])                   # already tile coordinates
    assert tile.load_image().shape == (40, 60, 3)
    assert Path(full.image_path) == tmp_path / "test" / "labeled_images" / "a.jpg"


def test_coco_iscrowd_is_ignore_and_other_classes_dropped(tmp_path):
    doc = {"images": [{"id": 1, "file_name": "x.jpg", "width": 50, "height": 40}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5], "iscrowd": 0},
                           {"id": 2, "image_id": 1, "category_id": 1, "bbox": [10, 1, 5, 5], "iscrowd": 1},
                           {"id": 3, "image_id": 1, "category_id": 3, "bbox": [20, 1, 5, 5], "iscrowd": 0}],
           "categories": [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}]}
    js = tmp_path / "gt.json"
    js.write_text(json.dumps(doc))
    assert detect_format(js) == "coco"
    with pytest.raises(FileNotFoundError, match="x.jpg"):
        load_dataset(js)
    (rec,) = load_dataset(js, check_images=False)
    np.testing.assert_allclose(rec.boxes_xyxy, [[1, 1, 6, 6]])
    np.testing.assert_allclose(rec.ignore_xyxy, [[10, 1, 15, 6]])
    assert rec.width == 50 and rec.file_name == "x.jpg"
    # the same file read as TinyPerson: iscrowd is an ignore key there too
    (rec_tp,) = load_dataset(js, fmt="tinyperson", check_images=False)
    assert len(rec_tp.ignore_xyxy) == 1


@pytest.mark.parametrize("bad, match", [
    ({"bbox": [1, 2, 3]}, r"annotations\[0\].*bbox"),
    ({"bbox": [1, 2, -3, 4]}, r"annotations\[0\].*negative"),
    ({"image_id": 99}, r"annotations\[0\].*image_id 99"),
])
def test_coco_malformed_record_names_it(tmp_path, bad, match):
    ann = {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5], **bad}
    js = tmp_path / "gt.json"
    js.write_text(json.dumps({"images": [{"id": 1, "file_name": "x.jpg", "width": 9, "height": 9}],
                              "annotations": [ann], "categories": [{"id": 1, "name": "person"}]}))
    with pytest.raises(ValueError, match=match):
        load_dataset(js, check_images=False)


def test_json_syntax_error_names_line(tmp_path):
    js = tmp_path / "gt.json"
    js.write_text('{"images": [\n  {"id": 1,,}\n]}')
    with pytest.raises(ValueError, match=r"gt.json:2:"):
        load_dataset(js)


def _visdrone(tmp_path: Path, lines: list[str]) -> Path:
    root = tmp_path / "vd"
    _noise_image(root / "images" / "0001.jpg", 64, 48)
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "0001.txt").write_text("\n".join(lines) + "\n")
    return root


def test_visdrone_categories(tmp_path):
    root = _visdrone(tmp_path, ["1,2,3,4,1,1,0,0", "10,10,5,6,1,2,0,1", "20,20,8,8,0,0,0,0",
                                "30,30,4,4,1,4,0,0", "40,5,6,6,0,11,0,0,"])
    assert detect_format(root) == "visdrone"
    (rec,) = load_dataset(root)
    np.testing.assert_allclose(rec.boxes_xyxy, [[1, 2, 4, 6], [10, 10, 15, 16]])      # pedestrian + people
    np.testing.assert_allclose(rec.ignore_xyxy, [[20, 20, 28, 28], [40, 5, 46, 11]])  # 0 and 11
    assert (rec.width, rec.height, rec.image_id, rec.file_name) == (64, 48, 1, "images/0001.jpg")


def test_visdrone_errors(tmp_path):
    root = _visdrone(tmp_path, ["1,2,3,4,1,1,0,0", "1,2,x,4,1,1,0,0"])
    with pytest.raises(ValueError, match=r"0001.txt:2:"):
        load_dataset(root)
    (root / "annotations" / "0002.txt").write_text("1,2,3,4,1,1,0,0\n")
    (root / "annotations" / "0001.txt").write_text("1,2,3,4,1,1,0,0\n")
    with pytest.raises(FileNotFoundError, match="0002"):
        load_dataset(root)


def _yolo(tmp_path: Path) -> Path:
    root = tmp_path / "yolo"
    img = np.random.default_rng(1).integers(0, 255, (100, 200, 3), dtype=np.uint8)
    img[60:80, 100:140] = (90, 120, 30)                     # a flat-filled patch, labelled as a person
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    cv2.imwrite(str(root / "images" / "b.png"), img)
    cv2.imwrite(str(root / "images" / "a.png"), img)
    (root / "labels" / "b.txt").write_text(
        "0 0.1 0.2 0.05 0.1\n"                                               # box form: cx cy w h
        "0 0.3 0.5 0.35 0.5 0.35 0.4 0.3 0.4 0.3 0.5\n"                       # polygon form
        "0 0.5 0.6 0.7 0.6 0.7 0.8 0.5 0.8 0.5 0.6\n")                        # the flat patch
    return root


def test_yolo_box_polygon_and_flat_ignore(tmp_path):
    root = _yolo(tmp_path)
    assert detect_format(root) == "yolo"
    a, b = load_dataset(root)
    assert (a.image_id, b.image_id) == (1, 2) and a.file_name == "images/a.png"   # sorted file order
    assert len(a.boxes_xyxy) == 0 and (b.width, b.height) == (200, 100)
    np.testing.assert_allclose(b.boxes_xyxy, [[15, 15, 25, 25], [60, 40, 70, 50]], atol=1e-4)
    np.testing.assert_allclose(b.ignore_xyxy, [[100, 60, 140, 80]], atol=1e-4)
    a2, b2 = load_dataset(root, flat_ignore=False)
    assert len(b2.boxes_xyxy) == 3 and len(b2.ignore_xyxy) == 0


def test_yolo_errors_name_file_and_line(tmp_path):
    root = _yolo(tmp_path)
    (root / "labels" / "b.txt").write_text("0 0.1 0.2 0.05 0.1\n0 0.1 0.2 0.3\n")
    with pytest.raises(ValueError, match=r"b.txt:2:"):
        load_dataset(root)
    (root / "labels" / "b.txt").write_text("0 1.5 0.2 0.05 0.1\n")
    with pytest.raises(ValueError, match=r"b.txt:1: .*normalised"):
        load_dataset(root)
    (root / "labels" / "b.txt").write_text("")
    (root / "labels" / "c.txt").write_text("0 0.1 0.2 0.05 0.1\n")
    with pytest.raises(FileNotFoundError, match=r"images/c"):
        load_dataset(root)


def test_yolo_data_yaml(tmp_path):
    root = _yolo(tmp_path)
    (root / "data.yaml").write_text("val: images\nnames: ['person']\n")
    assert len(load_dataset(root / "data.yaml")) == 2
    (root / "data.yaml").write_text("train: train/images\nnames: ['person']\n")
    with pytest.raises(FileNotFoundError, match="pass it instead"):
        load_dataset(root / "data.yaml")


def test_unknown_layout_and_format(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset layout"):
        load_dataset(tmp_path)
    with pytest.raises(ValueError, match="unknown dataset format"):
        load_dataset(tmp_path, fmt="voc")


def test_flat_fill_rule():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (50, 50, 3), dtype=np.uint8)
    img[0:20, 0:20] = 77
    img[0:20, 0:2] = rng.integers(0, 255, (20, 2, 3))     # 10% noise: still >= 85% flat
    boxes = np.array([[0, 0, 20, 20], [25, 25, 45, 45], [0, 0, 3, 3]], np.float32)  # flat, noise, too small
    assert flat_fill_mask(img, boxes).tolist() == [True, False, False]


def test_image_size_from_header(tmp_path):
    for name in ("x.jpg", "x.png", "x.bmp"):
        _noise_image(tmp_path / name, 37, 23)
        assert image_size(tmp_path / name) == (37, 23)
    with pytest.raises(FileNotFoundError, match="nope.jpg"):
        image_size(tmp_path / "nope.jpg")


@pytest.mark.skipif(not DEV.is_dir(), reason=f"dev set not present at {DEV}")
def test_dev_set_reads_and_flat_fill_agrees_with_manifest():
    records = load_dataset(DEV)
    assert len(records) == 67 and all(isinstance(r, ImageRecord) for r in records)
    assert [r.image_id for r in records] == list(range(1, 68))
    total = sum(len(r.boxes_xyxy) + len(r.ignore_xyxy) for r in records)
    assert total == 7181
    strips = {Path(r.file_name).name.split("_jpg")[0]: len(r.ignore_xyxy) for r in records
              if not len(r.boxes_xyxy) and len(r.ignore_xyxy)}
    assert strips == {"bb_V0030_I0001280": 42, "bb_V0031_I0006040": 38}     # every line a broken strip: ignore
    with open(DEV / "manifest.csv") as f:
        manifest = {row["file"]: int(row["n_flatfill_boxes"]) for row in csv.DictReader(f)}
    ours = {Path(r.file_name).name: len(r.ignore_xyxy) for r in records}
    agree = sum(ours[k] == v for k, v in manifest.items())
    assert agree >= 61, f"flat-fill detection agrees with the manifest on only {agree}/67 images"


def test_broken_strip_lines_of_a_polygon_export_are_ignore(tmp_path):
    (tmp_path / "images").mkdir(), (tmp_path / "labels").mkdir()
    _noise_image(tmp_path / "images" / "a.png", 100, 100)
    (tmp_path / "labels" / "a.txt").write_text("0 0.5 0.5 0.6 0.5 0.6 0.6 0.5 0.6 0.5 0.5\n"   # polygon: a box
                                               "0 0.2 0.3 0.4 0.02\n"                           # strip from x = 0
                                               "0 0.7 0.3 0.1 0.1\n")                           # a box line
    (r,) = load_dataset(tmp_path, flat_ignore=False)
    np.testing.assert_allclose(r.boxes_xyxy, [[50, 50, 60, 60], [65, 25, 75, 35]], atol=1e-4)
    np.testing.assert_allclose(r.ignore_xyxy, [[0, 29, 40, 31]], atol=1e-4)
