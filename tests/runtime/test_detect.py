"""``sspnet detect`` on folders of real (synthetic) stills with a real ONNX Runtime model, run as a user runs it:
recursion, one JSONL line per image, valid COCO results, unreadable images skipped and counted, a re-run that
skips what is done, and usage errors that name the bad argument."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from detectkit import read_jsonl, run_detect, run_outputs, write_stills

NAMES = ["a/img0.jpg", "a/img1.jpg", "b/c/img2.png", "b/img3.jpg", "top.jpg"]


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """Five stills in nested folders, plus what must not be read: a hidden folder, a text file."""
    root = tmp_path_factory.mktemp("tree") / "flight"
    write_stills(root, NAMES)
    write_stills(root, [".thumbs/hidden.jpg"])
    (root / "notes.txt").write_text("not an image")
    return root


def test_folders_one_line_per_image_and_coco(tree, models, tmp_path):
    run = tmp_path / "run"
    r = run_detect(tree, "--model", models["dynamic"], "--out", run)
    assert r.returncode == 0, r.stderr
    lines = read_jsonl(run / "detections.jsonl")
    assert [d["name"] for d in lines] == sorted(NAMES)            # recursive, sorted, nothing hidden, no .txt
    assert {d["type"] for d in lines} == {"image"} and all(d["status"] == "ok" for d in lines)
    assert lines[0]["boxes"] == lines[0]["chips"] == [] and lines[0]["preview"] is None   # a line all the same
    d = lines[1]
    assert (d["width"], d["height"], d["tiles"]) == (640, 512, 25) and d["frame"] is None
    assert len(d["boxes"]) == len(d["scores"]) == 100 and len(d["chips"]) == 50   # max_det; --max-chips
    assert d["scores"] == sorted(d["scores"], reverse=True) and min(d["scores"]) >= 0.25   # operating point
    boxes = np.asarray([b for d in lines for b in d["boxes"]])
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 2] <= 640).all() and (boxes[:, 3] <= 512).all()
    assert all((run / "chips" / c).is_file() for d in lines for c in d["chips"])
    assert all((run / "chips" / d["preview"]).is_file() for d in lines[1:])
    assert "images/min" in r.stderr and "5 images in" in r.stderr

    from pycocotools.coco import COCO
    gt = COCO(str(run / "images.coco.json"))
    res = gt.loadRes(str(run / "results.coco.json"))
    assert len(res.getImgIds()) == 5 and len(res.getAnnIds()) == len(boxes)
    first = json.loads((run / "results.coco.json").read_text())[0]
    x, y, w, h = first["bbox"]
    assert first["image_id"] == 2 and [x, y, x + w, y + h] == pytest.approx(lines[1]["boxes"][0], abs=0.02)
    assert (run / "review.html").is_file()


def test_unreadable_images_are_skipped_counted_and_logged(tree, models, tmp_path):
    src = tmp_path / "in"
    shutil.copytree(tree, src)
    (src / "a" / "broken.jpg").write_bytes(np.random.default_rng(0).bytes(4000))
    (src / "empty.png").write_bytes(b"")
    good = (src / "top.jpg").read_bytes()
    (src / "cut.jpg").write_bytes(good[:len(good) // 2])          # a copy cut short
    run = tmp_path / "run"
    r = run_detect(src, "--model", models["dynamic"], "--out", run)
    assert r.returncode == 0, r.stderr
    lines = {d["name"]: d for d in read_jsonl(run / "detections.jsonl")}
    assert len(lines) == len(NAMES) + 3
    assert lines["a/broken.jpg"]["status"] == "error" and "cannot decode" in lines["a/broken.jpg"]["error"]
    assert lines["empty.png"]["status"] == "error" and "empty" in lines["empty.png"]["error"]
    assert lines["cut.jpg"]["status"] == "error" and "cannot decode" in lines["cut.jpg"]["error"]
    assert [d["status"] for n, d in lines.items() if n in NAMES] == ["ok"] * len(NAMES)   # the run went on
    summary = json.loads((run / "summary.json").read_text())
    assert summary["this_run"]["skipped_errors"] == 3 and summary["this_run"]["images"] == len(NAMES)
    assert summary["record"]["errors"] == 3
    log = (run / "detect.log").read_text()
    assert all(f"skipped {n}" in log for n in ("a/broken.jpg", "empty.png", "cut.jpg"))
    assert "skipped a/broken.jpg" in r.stderr and "3 skipped as unreadable" in r.stderr

    again = run_detect(src, "--model", models["dynamic"], "--out", run)      # errors are not retried
    assert again.returncode == 0 and "0 to do" in again.stderr
    assert len(read_jsonl(run / "detections.jsonl")) == len(NAMES) + 3


def test_rerun_skips_what_is_done_and_appends_new_images(tree, models, tmp_path):
    src = tmp_path / "in"
    shutil.copytree(tree, src)
    run = src / "run"                                             # inside the input folder: never read as input
    assert run_detect(src, "--model", models["dynamic"], "--out", run).returncode == 0
    before = run_outputs(run)
    r = run_detect(src, "--model", models["dynamic"], "--out", run)
    assert r.returncode == 0 and "5 done before, 0 to do" in r.stderr
    assert run_outputs(run) == before                             # nothing re-done, the outputs rebuilt the same
    write_stills(src, ["late/new.jpg"], seed=9)
    r = run_detect(src, "--model", models["dynamic"], "--out", run)
    assert r.returncode == 0 and "5 done before, 1 to do" in r.stderr
    lines = read_jsonl(run / "detections.jsonl")
    assert [d["name"] for d in lines] == sorted(NAMES) + ["late/new.jpg"]
    assert (run / "detections.jsonl").read_bytes().startswith(before["detections.jsonl"])   # appended


def test_a_rerun_with_other_settings_is_refused(tree, models, tmp_path):
    run = tmp_path / "run"
    assert run_detect(tree / "top.jpg", "--model", models["dynamic"], "--out", run).returncode == 0
    r = run_detect(tree / "top.jpg", "--model", models["dynamic"], "--out", run, "--score-thr", "0.5")
    assert r.returncode == 2 and "postprocess" in r.stderr and "new --out folder" in r.stderr
    r = run_detect(tree / "top.jpg", "--model", models["slow"], "--out", run)
    assert r.returncode == 2 and "model" in r.stderr
    r = run_detect(tree / "top.jpg", "--model", models["dynamic"], "--out", run, "--stretch-x", "2")
    assert r.returncode == 2 and "preprocess" in r.stderr        # another geometry is another run
    r = run_detect(tree / "top.jpg", "--model", models["dynamic"], "--out", run, "--flip-tta")
    assert r.returncode == 2 and "postprocess" in r.stderr       # so is test-time augmentation
    r = run_detect(tree / "top.jpg", "--model", models["dynamic"], "--out", tmp_path / "new", "--scale", "-1")
    assert r.returncode == 2 and "--scale must be > 0" in r.stderr


@pytest.mark.parametrize("make, args, message", [
    (None, ["missing.jpg"], "INPUT 'missing.jpg': no such file or folder"),
    ("notes.txt", ["notes.txt"], "INPUT 'notes.txt': unknown file type '.txt'"),
    ("empty_dir", ["empty_dir"], "no images"),
    ("x.jpg", ["x.jpg", "--every", "0"], "--every must be >= 1"),
    ("x.jpg", ["x.jpg", "--tile-url", "http://tiles/{z}/{x}.png"], "--tile-url"),
])
def test_usage_errors_exit_2_and_name_the_argument(models, tmp_path, make, args, message):
    if make == "empty_dir":
        (tmp_path / make).mkdir()
    elif make:
        (tmp_path / make).write_bytes(b"x")
    args = [str(tmp_path / a) if i == 0 else a for i, a in enumerate(args)]
    r = run_detect(*args, "--model", models["dynamic"], "--out", tmp_path / "run")
    assert r.returncode == 2
    assert message.replace("'missing.jpg'", f"'{tmp_path / 'missing.jpg'}'").replace(
        "'notes.txt'", f"'{tmp_path / 'notes.txt'}'") in r.stderr
