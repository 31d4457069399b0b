"""Fuzzed dataset files: whatever the bytes, a reader returns records or raises its documented error, a ValueError
(malformed) or FileNotFoundError (an image), whose message names the file. Boxes that come back lie inside their
image and have a size.

Before: COCO/TinyPerson documents with a list where an id belongs, ``categories`` or ``images`` that were not lists,
or an integer too large for a float leaked TypeError/OverflowError; a data.yaml with a bad date, a ``names`` key that
is not an integer or a ``path`` that is not a string leaked ValueError/TypeError without the file; label files that
were not UTF-8 raised UnicodeDecodeError naming neither file nor line."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sspnet.data import load_dataset
from sspnet.data.visdrone import parse_visdrone_txt
from sspnet.data.yolo import read_label_file

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

NUMBERS = st.one_of(st.integers(-3, 3), st.floats(-0.5, 1.5), st.sampled_from(["nan", "inf", "-0", "1e400", "1_0"]))
TOKENS = st.one_of(NUMBERS.map(str), st.sampled_from(["", " ", "\t", ",", "x", "\u00a0", "\ufeff", "\x00"]),
                   st.text(max_size=3))


def _lines(separator: str):
    """Label-like text: lines of number tokens (so that many get past the first check), or any text."""
    line = st.lists(TOKENS, max_size=10).map(separator.join)
    return st.one_of(st.lists(line, max_size=5).map("\n".join), st.text(max_size=40)).map(str.encode)


LABEL_BYTES = st.one_of(_lines(" "), st.binary(max_size=40))
VISDRONE_BYTES = st.one_of(_lines(","), st.binary(max_size=40))


def _json_values():
    scalars = st.one_of(st.none(), st.booleans(), st.integers(-2, 3), st.integers(), st.floats(), st.text(max_size=6))
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=6)


ANY = _json_values()
SMALL_ID = st.one_of(st.integers(0, 3), ANY)
BBOX = st.one_of(st.lists(st.one_of(st.floats(-20, 120), st.integers(-5, 200), ANY), min_size=3, max_size=5), ANY)
FILE_NAME = st.one_of(st.just("a.png"), st.text(max_size=8), st.just("x" * 300), ANY)
SIZE = st.one_of(st.integers(-1, 100), ANY)
IMAGE = st.fixed_dictionaries({}, optional={
    "id": SMALL_ID, "file_name": FILE_NAME, "width": SIZE, "height": SIZE,
    "corner": st.one_of(st.lists(st.integers(-5, 120), max_size=5), ANY)})
ANNOTATION = st.fixed_dictionaries({}, optional={
    "image_id": SMALL_ID, "category_id": SMALL_ID, "bbox": BBOX, "iscrowd": ANY, "ignore": ANY, "logo": ANY})
CATEGORY = st.fixed_dictionaries({}, optional={"id": SMALL_ID,
                                               "name": st.one_of(st.sampled_from(["person", "car"]), ANY)})
DOC = st.one_of(st.fixed_dictionaries({}, optional={
    "images": st.one_of(st.lists(IMAGE, max_size=3), ANY),
    "annotations": st.one_of(st.lists(ANNOTATION, max_size=4), ANY),
    "categories": st.one_of(st.lists(CATEGORY, max_size=2), ANY)}), ANY)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("fuzz")
    cv2.imwrite(str(d / "a.png"), np.full((80, 100, 3), 127, np.uint8))
    return d


def _expect_records_or_named_error(path: Path, read) -> list:
    try:
        records = read()
    except (ValueError, FileNotFoundError) as e:
        assert str(path) in str(e), f"{type(e).__name__} does not name {path}: {e}"
        return []
    for r in records:
        for boxes in (r.boxes_xyxy, r.ignore_xyxy):
            assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
            assert (boxes >= 0).all() and (boxes[:, [0, 2]] <= r.width).all() and (boxes[:, [1, 3]] <= r.height).all()
    return records


@FUZZ
@given(data=st.one_of(LABEL_BYTES, VISDRONE_BYTES), reader=st.sampled_from([read_label_file, parse_visdrone_txt]))
def test_yolo_and_visdrone_label_files(folder, data, reader):
    label = folder / "label.txt"
    label.write_bytes(data)
    try:
        reader(label)
    except ValueError as e:
        assert f"{label}:" in str(e), e


def _yolo_root(folder: Path, label: bytes) -> Path:
    root = folder / "yolo"
    (root / "labels").mkdir(parents=True, exist_ok=True)
    (root / "images").mkdir(exist_ok=True)
    cv2.imwrite(str(root / "images" / "a.png"), np.full((8, 10, 3), 127, np.uint8))
    (root / "labels" / "a.txt").write_bytes(label)
    return root


@FUZZ
@given(data=LABEL_BYTES)
def test_yolo_dataset(folder, data):
    root = _yolo_root(folder, data)
    _expect_records_or_named_error(root / "labels" / "a.txt", lambda: load_dataset(root))


DATA_YAML = st.one_of(
    st.fixed_dictionaries({}, optional={"path": st.one_of(st.just("."), ANY), "val": st.one_of(st.just("images"), ANY),
                                        "names": st.one_of(st.just(["person"]), ANY)}).map(json.dumps),
    st.sampled_from(["names: {a: person}\nval: images\n", "names: {null: person}\nval: images\n", "path: 5\nval: x\n",
                     "val: images\nnames: [person]\nwhen: 2001-13-45\n", "val: [images\n", "val: !!int\n"]),
    st.text(max_size=30))


@FUZZ
@given(text=DATA_YAML)
def test_yolo_data_yaml(folder, text):
    root = _yolo_root(folder, b"0 0.5 0.5 0.1 0.1\n")
    (root / "data.yaml").write_text(text)
    _expect_records_or_named_error(root / "data.yaml", lambda: load_dataset(root / "data.yaml"))


@FUZZ
@given(doc=DOC, fmt=st.sampled_from([None, "coco", "tinyperson"]), check_images=st.booleans())
def test_coco_and_tinyperson_json(folder, doc, fmt, check_images):
    js = folder / "gt.json"
    js.write_text(json.dumps(doc))
    _expect_records_or_named_error(js, lambda: load_dataset(js, fmt, check_images=check_images))


@FUZZ
@given(data=st.one_of(st.binary(max_size=40), DOC.map(lambda d: json.dumps(d).encode()).map(lambda b: b[:len(b) // 2])))
def test_json_bytes(folder, data):
    js = folder / "raw.json"
    js.write_bytes(data)
    _expect_records_or_named_error(js, lambda: load_dataset(js, check_images=False))
