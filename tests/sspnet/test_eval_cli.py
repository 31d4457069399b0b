"""``sspnet eval`` end to end, detections files, and ``detect_dataset`` through the core's tiling."""
import dataclasses
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from sspnet.cli import main
from sspnet.data import load_dataset
from sspnet.data.record import ImageRecord
from sspnet.evaluation import detect_dataset
from sspnet.evaluation.detections import load_detections, save_detections
from sspnet.postprocess import Postprocess
from sspnet.preprocess import Preprocess

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _dataset(tmp_path, with_images=False):
    images = [{"id": 3, "file_name": "a.png", "width": 100, "height": 80},
              {"id": 4, "file_name": "b.png", "width": 100, "height": 80}]
    anns = [{"id": 1, "image_id": 3, "category_id": 1, "bbox": [10, 10, 10, 10], "iscrowd": 0},
            {"id": 2, "image_id": 4, "category_id": 1, "bbox": [50, 40, 6, 8], "iscrowd": 0}]
    js = tmp_path / "gt.json"
    js.write_text(json.dumps({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person"}]}))
    if with_images:
        for name in ("a.png", "b.png"):
            cv2.imwrite(str(tmp_path / name), np.full((80, 100, 3), 120, np.uint8))
    return js


def test_eval_det_prints_table_and_writes_flat_json(tmp_path, capsys):
    js = _dataset(tmp_path)
    det = tmp_path / "det.json"
    det.write_text(json.dumps([{"image_id": 3, "bbox": [10, 10, 10, 10], "score": 0.9},
                               {"file_name": "b.png", "bbox": [51, 40, 6, 8], "score": 0.8},
                               {"image_id": 4, "bbox": [80, 60, 5, 5], "score": 0.95}]))
    out = tmp_path / "m.json"
    assert main(["eval", "--det", str(det), "--data", str(js), "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "AP50_tiny" in text and "small" in text and "-" in text.split("small")[1].splitlines()[0]
    m = json.loads(out.read_text())
    assert len(m) == 43 and m["mr_mode"] == "protocol"
    assert m["AP50_small"] is None and m["MR50_reasonable"] is None
    assert m["AP50_tiny"] == pytest.approx(200 / 3)   # FP first, then two TPs: precision 2/3 up to recall 1


def test_eval_errors(tmp_path, capsys):
    js = _dataset(tmp_path)
    det = tmp_path / "det.json"
    det.write_text(json.dumps([{"image_id": 99, "bbox": [1, 1, 2, 2], "score": 0.5}]))
    assert main(["eval", "--det", str(det), "--data", str(js)]) == 1
    assert "image_id 99 is not in the dataset" in capsys.readouterr().err
    det.write_text(json.dumps([{"file_name": "zzz.png", "bbox": [1, 1, 2, 2], "score": 0.5}]))
    assert main(["eval", "--det", str(det), "--data", str(js)]) == 1
    assert "zzz.png" in capsys.readouterr().err
    det.write_text(json.dumps([{"image_id": 3, "bbox": [1, 1, 2], "score": 0.5}]))
    assert main(["eval", "--det", str(det), "--data", str(js)]) == 1
    assert "det.json[0]" in capsys.readouterr().err
    assert main(["eval", "--det", str(tmp_path / "none.json"), "--data", str(js)]) == 1
    for argv in (["eval", "--data", str(js)], ["eval", "--det", str(det), "--model", "m.onnx", "--data", str(js)]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2


def test_eval_writes_annotated_pngs(tmp_path):
    js = _dataset(tmp_path, with_images=True)
    det = tmp_path / "det.json"
    det.write_text(json.dumps([{"image_id": 3, "bbox": [12, 10, 10, 10], "score": 0.9}]))
    assert main(["eval", "--det", str(det), "--data", str(js), "--out", str(tmp_path / "vis"), "--no-mr"]) == 0
    pngs = sorted((tmp_path / "vis").glob("vis_*.png"))
    assert [p.name for p in pngs] == ["vis_3.png", "vis_4.png"]
    img = cv2.imread(str(pngs[0]))
    assert img.shape == (160, 200, 3)                                        # drawn at 2x
    assert (img == (0, 255, 0)).all(axis=2).any() and (img == (0, 0, 255)).all(axis=2).any()


def test_detections_file_round_trip(tmp_path):
    recs = load_dataset(_dataset(tmp_path), check_images=False)
    dets = {3: (np.array([[1.5, 2.0, 11.25, 12.0]]), np.array([0.75])), 4: (np.zeros((0, 4)), np.zeros(0))}
    path = save_detections(tmp_path / "d.json", dets)
    back = load_detections(path, recs)
    np.testing.assert_allclose(back[3][0], dets[3][0])
    assert 4 not in back and back[3][1].tolist() == [0.75]


class _FixedBoxDetector:
    """A model stand-in that sees one box at tile pixels (10,10)-(20,20) with score 0.9 in every tile."""
    name, manifest, max_batch, full_frame = "fixed", {}, 2, None
    preprocess = Preprocess(input_w=64, input_h=64, overlap=8)
    postprocess = Postprocess()

    def __init__(self):
        self.batches = []

    def infer(self, batch):
        self.batches.append(batch.shape)
        t = len(batch)
        return np.tile([[[10.0, 10.0, 20.0, 20.0]]], (t, 1, 1)), np.full((t, 1), 0.9)

    def close(self):
        pass


def test_detect_dataset_tiles_merges_and_maps_back(tmp_path):
    img = tmp_path / "f.png"
    cv2.imwrite(str(img), np.zeros((80, 100, 3), np.uint8))
    full = ImageRecord(str(img), 100, 80, 1, "f.png")
    det = _FixedBoxDetector()
    out = detect_dataset([full], det)
    # 100x80 with 64x64 tiles and overlap 8: x starts 0, 36; y starts 0, 16 → 4 tiles in batches of 2
    assert det.batches == [(2, 3, 64, 64), (2, 3, 64, 64)]
    boxes = out[1][0][np.lexsort((out[1][0][:, 0], out[1][0][:, 1]))]
    np.testing.assert_allclose(boxes, [[10, 10, 20, 20], [46, 10, 56, 20], [10, 26, 20, 36], [46, 26, 56, 36]])
    sub = ImageRecord(str(img), 64, 64, 2, "f.png", corner_xyxy=(36, 16, 100, 80))   # a corner record: 1 tile
    np.testing.assert_allclose(detect_dataset([sub], _FixedBoxDetector())[2][0], [[10, 10, 20, 20]])


def test_eval_model_checkpoint(tmp_path, capsys):
    import torch

    import sspnet.training.checkpoint as ckpt_mod
    from sspnet.config import load_config
    from sspnet.training.build import build_model
    torch.set_num_threads(1)
    cfg = load_config(CONFIGS / "sspnet_edge.yaml")
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, backbone_weights=""))
    torch.manual_seed(0)
    ckpt = ckpt_mod.save_checkpoint(tmp_path / "m.pt", model=build_model(cfg), cfg=cfg)[0]
    js = _dataset(tmp_path, with_images=True)
    out = tmp_path / "run"
    rc = main(["eval", "--model", str(ckpt), "--data", str(js), "--out", str(out), "--json", str(out / "m.json"),
               "--vis", "1"])
    assert rc == 0, capsys.readouterr().err
    assert json.loads((out / "m.json").read_text())["AP50_tiny"] is not None
    assert isinstance(json.loads((out / "detections.json").read_text()), list)
    assert (out / "vis_3.png").is_file()
