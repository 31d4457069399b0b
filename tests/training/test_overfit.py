"""Proof that training learns: the edge model, trained by the real loop (``fit``: crops, SGD + warm-up + step
decay, checkpoints, validation through the core's tiling and the TinyPerson evaluator) on 4 synthetic tiles,
reaches AP50 >= 90 % on those tiles. ~120 steps of 256x192 crops, batch 4, one CPU thread (about a minute)."""
import dataclasses
import json
from pathlib import Path

import pytest
import torch

from sspnet.config import load_config
from sspnet.data import load_dataset
from sspnet.evaluation import detect_dataset
from sspnet.evaluation import evaluate as evaluate_detections
from sspnet.evaluation.detections import load_detections
from sspnet.synth import render_dataset
from sspnet.training.checkpoint import load_checkpoint
from sspnet.training.fit import TrainOptions, fit
from sspnet.training.predict import TorchDetector

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "sspnet_edge.yaml"
W, H = 256, 192
EPOCHS = int(__import__("os").environ.get("OVERFIT_EPOCHS", 8))


@pytest.mark.slow
def test_edge_model_overfits_four_synthetic_tiles(tmp_path):
    torch.set_num_threads(1)
    records = load_dataset(str(render_dataset(tmp_path / "tiles", 4, size=(W, H), seed=0, ignore_regions=False)))
    assert sum(len(r.boxes_xyxy) for r in records) >= 8
    cfg = load_config(CONFIG)
    cfg = dataclasses.replace(
        cfg, input=dataclasses.replace(cfg.input, input_w=W, input_h=H, scale=1.0),
        train=dataclasses.replace(cfg.train, crop_w=W, crop_h=H, upscale=(1.0, 1.0), flip=False, photometric=False,
                                  empty_tile_ratio=0.0, crops_per_image=30, batch_size=4, epochs=EPOCHS, lr=0.01,
                                  warmup_iters=10, lr_steps=(EPOCHS - 1,), val_every=EPOCHS, seed=0))
    code = fit(TrainOptions(cfg=cfg, train_records=records, val_records=records, out_dir=tmp_path / "run",
                            progress=False))
    assert code == 0
    val = [json.loads(line) for line in (tmp_path / "run" / "val.jsonl").read_text().splitlines()]
    assert len(val) == 1 and val[0]["global_step"] == 30 * EPOCHS
    assert val[0]["AP50_all"] >= 90.0, val[0]

    model, loaded_cfg, ckpt = load_checkpoint(tmp_path / "run" / "best.pt")   # the saved model scores the same
    again = evaluate_detections(records, detect_dataset(records, TorchDetector(model, loaded_cfg, "cpu")))
    assert again["AP50_all"] == pytest.approx(val[0]["AP50_all"], abs=1e-6)
    assert ckpt["best_metric"] == pytest.approx(val[0]["AP50_tiny"])
    saved = load_detections(tmp_path / "run" / "val.dets.json", records)     # the validation's detections
    assert evaluate_detections(records, saved)["AP50_all"] == pytest.approx(val[0]["AP50_all"], abs=1e-6)
