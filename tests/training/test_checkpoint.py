"""Checkpoints: atomic write + manifest, weights_only loading, RNG round trip, load_checkpoint, slim FP16 form."""
import dataclasses
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from sspnet.config import ConfigError, load_config
from sspnet.manifest import read_manifest, sha256_file
from sspnet.training.checkpoint import (load_checkpoint, read_checkpoint, rng_state, save_checkpoint,
                                        set_rng_state, slim_checkpoint)
from sspnet.training.schedule import build_optimizer, build_scheduler

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.fixture(scope="module")
def cfg():
    c = load_config(CONFIGS / "sspnet_edge.yaml")
    return dataclasses.replace(c, model=dataclasses.replace(c.model, backbone_weights=""))


@pytest.fixture(scope="module")
def model(cfg):
    from sspnet.training.build import build_model
    torch.manual_seed(0)
    return build_model(cfg)


def _draws():
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_rng_state_round_trips_through_weights_only(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    np.random.randn()                         # leaves a cached gaussian in numpy's state
    state = rng_state()
    expected = _draws()
    torch.save({"rng": state}, tmp_path / "rng.pt")
    loaded = torch.load(tmp_path / "rng.pt", weights_only=True)["rng"]
    _draws()
    set_rng_state(loaded)
    assert _draws() == expected


def test_save_writes_atomically_with_manifest(tmp_path, model, cfg):
    opt = build_optimizer(model.parameters(), cfg.train)
    sched = build_scheduler(opt, cfg.train, steps_per_epoch=10)
    paths = save_checkpoint([tmp_path / "last.pt", tmp_path / "best.pt"], model=model, cfg=cfg, optimizer=opt,
                            scheduler=sched, epoch=2, step_in_epoch=3, global_step=23, best_metric=41.5,
                            metrics={"AP50_tiny": 41.5})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "best.pt.json", "last.pt", "last.pt.json"]
    assert sha256_file(paths[0]) == sha256_file(paths[1])
    m = read_manifest(paths[0])
    assert m["artifact"] == "checkpoint" and m["sha256"] == sha256_file(paths[0])
    assert m["model"] == {"name": "sspnet_edge", "backbone": "efficientnet_lite0", "neck": "ssfpn", "head": "fovea"}
    assert m["input"]["name"] == "images" and m["input"]["layout"] == "NCHW" and m["input"]["width"] == 640
    assert m["preprocess"] == cfg.input.to_dict() and m["postprocess"] == cfg.postprocess.to_dict()
    assert m["output_names"] == ["boxes", "scores"] and m["classes"] == ["person"]
    assert m["training"]["global_step"] == 23
    ckpt = torch.load(paths[0], weights_only=True)        # plain data only
    assert ckpt["config"] == cfg.to_dict() and ckpt["epoch"] == 2 and ckpt["step_in_epoch"] == 3
    assert ckpt["best_metric"] == 41.5 and ckpt["metrics"] == {"AP50_tiny": 41.5}
    assert set(ckpt["rng"]) == {"python", "numpy", "torch", "cuda"}


def test_load_checkpoint_restores_model_and_config(tmp_path, model, cfg):
    save_checkpoint(tmp_path / "m.pt", model=model, cfg=cfg)
    loaded, loaded_cfg, ckpt = load_checkpoint(tmp_path / "m.pt")
    assert loaded_cfg == cfg and not loaded.training
    ref = model.state_dict()
    for k, v in loaded.state_dict().items():
        assert torch.equal(v, ref[k]), k
    x = torch.randn(1, 3, 64, 96)
    model.eval()
    with torch.no_grad():
        assert torch.equal(loaded(x)["cls"][0], model(x)["cls"][0])


def test_slim_checkpoint_is_fp16_with_parent(tmp_path, model, cfg):
    save_checkpoint(tmp_path / "best.pt", model=model, cfg=cfg, optimizer=build_optimizer(model.parameters(),
                                                                                          cfg.train))
    out = slim_checkpoint(tmp_path / "best.pt", tmp_path / "ship.pt")
    ckpt = torch.load(out, weights_only=True)
    assert "optimizer" not in ckpt and "rng" not in ckpt
    assert all(v.dtype == torch.float16 for v in ckpt["model"].values() if v.is_floating_point())
    assert out.stat().st_size < 0.6 * (tmp_path / "best.pt").stat().st_size
    m = read_manifest(out)
    assert m["parent"] == {"path": "best.pt", "sha256": sha256_file(tmp_path / "best.pt")}
    loaded, _, _ = load_checkpoint(out)                  # FP16 weights load into the FP32 model
    assert next(loaded.parameters()).dtype == torch.float32


def test_missing_and_foreign_files_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        read_checkpoint(tmp_path / "none.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match="not an sspnet checkpoint"):
        read_checkpoint(tmp_path / "foreign.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a loadable checkpoint"):
        read_checkpoint(tmp_path / "junk.pt")


def test_slim_checkpoint_ships_chosen_postprocessing(tmp_path, model, cfg):
    save_checkpoint(tmp_path / "best.pt", model=model, cfg=cfg)
    out = slim_checkpoint(tmp_path / "best.pt", tmp_path / "ship.pt", postprocess={"vote_iou": 0.6, "flip_tta": True},
                          operating_point={"score_thr": 0.41234, "rule": "F1-best", "precision": 0.3, "recall": 0.3})
    post = read_manifest(out)["postprocess"]
    assert post["vote_iou"] == 0.6 and post["flip_tta"] is True and post["operating_thr"] == 0.4123
    _, shipped, _ = load_checkpoint(out)
    assert shipped.postprocess.flip_tta and shipped.postprocess.nms_iou == cfg.postprocess.nms_iou
    with pytest.raises(ConfigError, match="vote_iou"):
        slim_checkpoint(tmp_path / "best.pt", tmp_path / "bad.pt", postprocess={"vote_iou": 2.0})
    assert not (tmp_path / "bad.pt").exists()
