"""``sspnet info``: the edge model stays within 15 GMAC per 640x512 tile counted on the traced model; the paper's
R50 Fovea-SSPNet has ~37 M parameters; the JSON and text reports."""
import json

import pytest
import torch

from sspnet.cli import main
from sspnet.config import load_config
from sspnet.training.info import load_for_info

torch.set_num_threads(2)


def test_edge_gmac_within_budget_on_the_traced_model(capsys):
    assert main(["info", "configs/sspnet_edge.yaml", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert {"params", "gmac", "input", "outputs", "strides"} <= set(info)
    assert info["gmac_counted_on"] == "torch.export"
    assert info["tile"] == [640, 512]
    assert 1.0 < info["gmac"] <= 15.0
    assert info["params"] < 6_000_000
    assert info["strides"] == [4, 8, 16, 32]
    assert info["outputs"]["cls"] == [[1, 1, 128, 160], [1, 1, 64, 80], [1, 1, 32, 40], [1, 1, 16, 20]]
    assert len(info["outputs"]["attn"]) == 4


@pytest.mark.parametrize("config,low,high", [("configs/sspnet_r50_fovea.yaml", 33e6, 41e6),
                                             ("configs/sspnet_r50_faster.yaml", 43e6, 51e6)])
def test_paper_models_parameter_counts(config, low, high):
    model, _ = load_for_info(__import__("pathlib").Path(config))
    assert low <= sum(p.numel() for p in model.parameters()) <= high


def test_text_report_and_usage_errors(capsys, tmp_path):
    assert main(["info", "configs/fpn_edge.yaml", "--width", "320", "--height", "256"]) == 0
    out = capsys.readouterr().out
    assert "fpn_edge" in out and "GMAC per 320x256 tile" in out and "parameters" in out
    assert main(["info", str(tmp_path / "missing.yaml")]) == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  neck: bifpn\n")
    assert main(["info", str(bad)]) == 2
    assert "model.neck" in capsys.readouterr().err


def test_every_shipped_config_loads():
    for name in ("sspnet_edge", "fpn_edge", "sspnet_r50_fovea", "fpn_r50_fovea", "sspnet_r50_faster"):
        cfg = load_config(f"configs/{name}.yaml")
        assert cfg.model.name == name


def test_info_of_a_checkpoint(capsys, tmp_path):
    from sspnet.training.checkpoint import save_checkpoint
    model, cfg = load_for_info(__import__("pathlib").Path("configs/fpn_edge.yaml"))
    ckpt = tmp_path / "fpn_edge.pt"
    save_checkpoint(ckpt, model=model, cfg=cfg)
    assert main(["info", str(ckpt), "--json", "--width", "320", "--height", "256"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["model"]["name"] == "fpn_edge" and info["params"] == sum(p.numel() for p in model.parameters())
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    assert main(["info", str(junk)]) == 2
