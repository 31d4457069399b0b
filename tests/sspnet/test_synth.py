"""Synthetic aerial data: determinism, box geometry, TinyPerson JSON, H.264 round trip, CLI usage errors."""
import json
import os

import cv2
import numpy as np
import pytest

from sspnet.cli import main as sspnet_main
from sspnet.data import load_dataset
from sspnet.synth import Clip, render_dataset, render_image, render_video, size_stats
from sspnet.synth.persons import (MAX_HEIGHT_PX, MIN_HEIGHT_PX, Person, draw_person, person_shapes,
                                  sample_heights_px)
from sspnet.synth.sprite import draw_shapes
from sspnet.synth.world import World, render_view

SIZE = (320, 256)


def _person(pose="standing", xy=(50.0, 40.0), height_px=12.0):
    return Person(pose=pose, anchor_xy_px=xy, height_px=height_px, angle_deg=30.0, skin_bgr=(140, 170, 210),
                  hair_bgr=(20, 20, 25), top_bgr=(40, 40, 200), bottom_bgr=(160, 80, 30), arms_bgr=(140, 170, 210))


def test_same_seed_same_bytes_and_pixels(tmp_path):
    a = render_dataset(tmp_path / "a", 3, SIZE, seed=7)
    b = render_dataset(tmp_path / "b", 3, SIZE, seed=7)
    c = render_dataset(tmp_path / "c", 3, SIZE, seed=8)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    for name in sorted(os.listdir(tmp_path / "a" / "images")):
        assert (tmp_path / "a" / "images" / name).read_bytes() == (tmp_path / "b" / "images" / name).read_bytes()
    img1, boxes1, _ = render_image(SIZE, 7, 1)
    img2, boxes2, _ = render_image(SIZE, 7, 1)
    assert np.array_equal(img1, img2) and boxes1 == boxes2
    # image i does not depend on how many images were asked for
    assert render_dataset(tmp_path / "d", 1, SIZE, seed=7, image_format="png").is_file()
    img_png = cv2.imread(str(tmp_path / "d" / "images" / "synth_000000.png"))
    assert np.array_equal(img_png, render_image(SIZE, 7, 0, ignore_regions=True)[0])


def test_tinyperson_json_structure_and_boxes(tmp_path):
    path = render_dataset(tmp_path, 6, SIZE, seed=3, ignore_regions=False)    # persons only; regions: below
    doc = json.loads(path.read_text())
    assert doc["categories"] == [{"id": 1, "name": "person", "supercategory": "person"}]
    assert [im["id"] for im in doc["images"]] == list(range(1, 7))
    for im in doc["images"]:
        assert (im["width"], im["height"]) == SIZE and (tmp_path / im["file_name"]).is_file()
    anns = doc["annotations"]
    assert len(anns) >= 6 * 3 and len({a["id"] for a in anns}) == len(anns)
    for a in anns:
        x, y, w, h = a["bbox"]
        assert a["category_id"] == 1 and a["iscrowd"] == 0
        assert a["ignore"] is False and a["uncertain"] is False and a["in_dense_image"] is False
        assert 0 <= x and 0 <= y and x + w <= SIZE[0] and y + h <= SIZE[1]
        assert w > 0 and h > 0 and a["area"] == pytest.approx(w * h, abs=1e-3)
        assert 1.5 <= max(w, h) <= MAX_HEIGHT_PX + 0.5
    stats = size_stats(doc)
    assert stats["persons"] == len(anns) and stats["images"] == 6


def test_pycocotools_reads_it_and_gt_as_detections_scores_ap_1(tmp_path):
    import pycocotools.coco as coco_mod
    from pycocotools.cocoeval import COCOeval
    path = render_dataset(tmp_path, 3, SIZE, seed=11)
    gt = coco_mod.COCO(str(path))
    dets = [{"image_id": a["image_id"], "category_id": 1, "bbox": a["bbox"], "score": 1.0}
            for a in gt.dataset["annotations"]]
    ev = COCOeval(gt, gt.loadRes(dets), "bbox")
    ev.params.maxDets = [200, 200, 200]
    ev.evaluate(), ev.accumulate()
    assert ev.eval["precision"][0, :, 0, 0, -1].min() == pytest.approx(1.0)  # AP50, area all, maxDets 200


def test_dataset_loads_with_the_tinyperson_reader(tmp_path):
    path = render_dataset(tmp_path, 2, SIZE, seed=5)
    doc = json.loads(path.read_text())
    records = load_dataset(path, fmt="tinyperson")
    assert len(records) == 2
    assert sum(len(r.boxes_xyxy) for r in records) == sum(not a["ignore"] for a in doc["annotations"])
    assert records[0].load_image().shape == (SIZE[1], SIZE[0], 3)
    assert all(r.synthetic for r in records)                  # known as rendered (copy-paste skips them)
    doc["info"].pop("generator")
    (tmp_path / "unmarked.json").write_text(json.dumps(doc))
    assert not any(r.synthetic for r in load_dataset(tmp_path / "unmarked.json", fmt="tinyperson"))


def test_size_distribution_like_tinyperson():
    h = sample_heights_px(np.random.default_rng(0), 20000)
    assert h.min() >= MIN_HEIGHT_PX and h.max() <= MAX_HEIGHT_PX
    p5, p50, p95 = np.percentile(h, [5, 50, 95])
    assert 3.5 < p5 < 6 and 8 < p50 < 12 and 18 < p95 < 26


@pytest.mark.parametrize("pose", ["standing", "lying", "swimming"])
@pytest.mark.parametrize("height_px", [2.1, 5.0, 30.0])
def test_box_is_tight_around_drawn_pixels(pose, height_px):
    canvas = np.zeros((80, 100, 3), np.uint8)
    person = _person(pose, height_px=height_px)
    full, visible = draw_shapes(canvas, person_shapes(person, 0.0))  # the person alone, no shadow or splash
    assert full == draw_person(np.zeros_like(canvas), person)[0]
    changed = np.argwhere(canvas.any(axis=2))  # [P, 2] (y, x); a 2-px person still shows
    assert len(changed) > 0 and full == visible
    x1, y1, x2, y2 = full
    assert changed[:, 1].min() == int(np.floor(x1)) and changed[:, 1].max() == int(np.ceil(x2)) - 1
    assert changed[:, 0].min() == int(np.floor(y1)) and changed[:, 0].max() == int(np.ceil(y2)) - 1


def test_truncated_person_becomes_ignore_box():
    world = World(scene_kind="grass", canvas_bgr=np.full((60, 60, 3), 90, np.uint8), sun_dir_xy=(1.0, 0.0),
                  persons=[_person(xy=(30.0, 40.0), height_px=20.0)], shadow_opacity=0.4)
    _, inside = render_view(world, 0.0, (0, 0), (60, 60))
    _, half = render_view(world, 0.0, (0, 30.5), (60, 60))  # frame starts at y=30.5: feet only
    _, gone = render_view(world, 0.0, (0, 45.0), (60, 60))
    assert len(inside) == 1 and not inside[0].ignore
    assert len(half) == 1 and half[0].ignore and half[0].box_xyxy[1] == 0.0
    assert gone == []


@pytest.mark.usefixtures("gstreamer")
def test_video_frame_count_ground_truth_and_motion(tmp_path):
    from sspnet.synth.h264 import read_mp4_frames
    mp4, gt = render_video(tmp_path / "v", seconds=1.0, fps=5, size=SIZE, seed=2, scene_kind="beach")
    n_frames, frames = read_mp4_frames(mp4)
    doc = json.loads(gt.read_text())
    assert n_frames == 5 == len(doc["images"]) == doc["info"]["video"]["frames"]
    assert frames[0].shape == (SIZE[1], SIZE[0], 3)
    assert [im["file_name"] for im in doc["images"]] == [f"clip.mp4#{i}" for i in range(5)]
    assert [im["frame_index"] for im in doc["images"]] == list(range(5))
    tracks = {}
    for a in doc["annotations"]:
        x, y, w, h = a["bbox"]
        assert 0 <= x and 0 <= y and x + w <= SIZE[0] and y + h <= SIZE[1]
        tracks.setdefault(a["track_id"], []).append(a["bbox"][:2])
    moved = [np.ptp(np.asarray(v), axis=0).max() for v in tracks.values() if len(v) == 5]
    assert moved and max(moved) > 0.5  # camera drift and walking move the boxes
    _, rendered, boxes = Clip(1.0, 5, SIZE, seed=2, scene_kind="beach").frame(4)  # the clip's last frame
    diff = np.abs(frames[4].astype(np.float32) - rendered)
    assert 10 * np.log10(255 ** 2 / (diff ** 2).mean()) > 30  # PSNR dB: quality high enough for tiny persons
    for b in boxes:
        x1, y1, x2, y2 = (int(round(v)) for v in b.box_xyxy)
        assert diff[y1:y2 + 1, x1:x2 + 1].mean() < 25
    _, gt2 = render_video(tmp_path / "w", seconds=1.0, fps=5, size=SIZE, seed=2, scene_kind="beach")
    assert gt.read_bytes() == gt2.read_bytes()


@pytest.mark.usefixtures("gstreamer")
def test_pipeline_strings_are_never_parsed(tmp_path):
    from sspnet.synth.h264 import H264Writer, read_mp4_frames
    path = tmp_path / "x.mp4 ! filesink location=evil.mp4"
    with H264Writer(path, (64, 48), 5) as w:
        for i in range(3):
            w.write(np.full((48, 64, 3), 40 * i, np.uint8))
    assert path.is_file() and not (tmp_path / "evil.mp4").exists()
    assert read_mp4_frames(path, keep_frames=False)[0] == 3



@pytest.mark.usefixtures("gstreamer")
@pytest.mark.parametrize("width", [160, 162, 170])   # 162 * 3 and 170 * 3 bytes are not whole 4-byte words
def test_any_even_width_keeps_its_colours(tmp_path, width):
    """Before: rows were pushed tightly packed while GStreamer reads BGR rows padded to 4 bytes; a 162-wide clip
    came back all green."""
    from sspnet.synth.h264 import H264Writer, read_mp4_frames
    frame = np.empty((48, width, 3), np.uint8)
    frame[:24, :80], frame[:24, 80:] = (200, 40, 40), (40, 40, 200)     # blue | red   (BGR)
    frame[24:, :80], frame[24:, 80:] = (40, 200, 40), (220, 220, 220)   # green | light grey
    with H264Writer(tmp_path / "clip.mp4", (width, 48), 5) as w:
        for _ in range(3):
            w.write(frame)
    count, frames = read_mp4_frames(tmp_path / "clip.mp4")
    assert count == 3 and frames[1].shape == frame.shape
    diff = np.abs(frames[1].astype(int) - frame)
    diff[22:26], diff[:, 78:82] = 0, 0    # the colour edges blur under 4:2:0 and compression
    assert diff.max() <= 16, diff.max()

@pytest.mark.parametrize("args", [
    ["--images", "1", "--size", "19x"],
    ["--images", "1", "--size", "8x8"],
    ["--images", "0"],
    ["--images", "-1"],
    ["--video", "1", "--size", "321x256"],
    ["--video", "0"],
])
def test_cli_usage_errors_exit_2(tmp_path, args):
    with pytest.raises(SystemExit) as e:
        code = sspnet_main(["synth", "--out", str(tmp_path / "o")] + args)
        raise SystemExit(code)
    assert e.value.code == 2


@pytest.mark.usefixtures("gstreamer")
def test_cli_video_only_writes_only_the_clip(tmp_path, capsys):
    out = tmp_path / "o"
    assert sspnet_main(["synth", "--out", str(out), "--images", "0", "--video", "0.4", "--fps", "5",
                        "--size", "160x128", "--seed", "1"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["clip.SRT", "clip.json", "clip.mp4"]
    assert "frames:" in capsys.readouterr().out


def test_ignore_regions_cover_persons_and_are_read_as_ignore(tmp_path):
    path = render_dataset(tmp_path, 8, SIZE, seed=4)
    doc = json.loads(path.read_text())
    regions = [a for a in doc["annotations"] if a["pose"] == "ignore_region"]
    assert regions and all(a["ignore"] for a in regions)
    assert len({a["image_id"] for a in regions}) < 8                       # about half the stills, not all
    records = load_dataset(str(path))
    assert sum(len(r.ignore_xyxy) for r in records) >= len(regions)
    plain = json.loads(render_dataset(tmp_path / "plain", 8, SIZE, seed=4, ignore_regions=False).read_text())
    assert not [a for a in plain["annotations"] if a["pose"] == "ignore_region"]
    for a in regions:                                                      # no positive keeps its centre inside
        x, y, w, h = a["bbox"]
        for p in (b for b in doc["annotations"] if b["image_id"] == a["image_id"] and not b["ignore"]):
            cx, cy = p["bbox"][0] + p["bbox"][2] / 2, p["bbox"][1] + p["bbox"][3] / 2
            assert not (x <= cx < x + w and y <= cy < y + h)
