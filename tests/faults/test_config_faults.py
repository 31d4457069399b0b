"""Bad configs through ``sspnet train --config F``: every fault exits 2 with one line on stderr that names the file
and the key (or the file and line), and no traceback. Before: a wrong type inside a tuple (``scale_ranges:
[[1, "a"]]``, a 3-element pair) and negative or zero sizes were accepted, a missing ``_base_`` file and a YAML
syntax error were tracebacks (exit 1), and unknown keys of mixed types were a TypeError from ``sorted``."""
from __future__ import annotations

from pathlib import Path

import pytest

from sspnet.cli import main
from sspnet.config import ConfigError, load_config

# (YAML text, what the one-line message must contain besides the file name)
CASES = {
    "unknown key": ("model:\n  nekc_channels: 3\n", "model: unknown key 'nekc_channels'"),
    "unknown keys of mixed types": ("model:\n  1: 2\n  zz: 3\n", "model: unknown key '1'"),
    "str inside a pair": ("model:\n  scale_ranges: [[1, a], [8, 64]]\n", "model.scale_ranges[0][1]: expected int"),
    "3-element pair": ("model:\n  scale_ranges: [[1, 2, 3]]\n", "model.scale_ranges[0]: expected 2 values, got 3"),
    "pair not a list": ("model:\n  scale_ranges: [5]\n", "model.scale_ranges[0]: expected a list"),
    "str level": ("model:\n  levels: [2, x]\n", "model.levels[1]: expected int"),
    "1-element upscale": ("train:\n  upscale: [1.0]\n", "train.upscale: expected 2 values, got 1"),
    "negative width": ("input:\n  width: -640\n", "input.width: must be > 0, got -640"),
    "zero crop": ("train:\n  crop_w: 0\n", "train.crop_w: must be > 0, got 0"),
    "negative lr": ("train:\n  lr: -0.01\n", "train.lr: must be > 0, got -0.01"),
    "zero batch": ("train:\n  batch_size: 0\n", "train.batch_size: must be > 0, got 0"),
    "negative overlap": ("input:\n  overlap: -1\n", "input.overlap: must be >= 0, got -1"),
    "zero std": ("input:\n  std: [58.0, 0, 57.0]\n", "input.std[1]: must be > 0, got 0.0"),
    "iou above 1": ("postprocess:\n  nms_iou: 1.5\n", "postprocess.nms_iou: must be between 0 and 1, got 1.5"),
    "not finite": ("input:\n  scale: .inf\n", "input.scale: expected a finite float, got inf"),
    "missing base": ("_base_: nope.yaml\n", "_base_ 'nope.yaml' not found"),
    "base not a name": ("_base_: [1, 2]\n", "_base_ must name a YAML file"),
    "syntax error": ("train:\n  lr: 0.1\n bad: [\n", "c.yaml:3:"),
    "bad timestamp": ("train:\n  seed: 2001-13-45\n", "invalid YAML"),
    "not a mapping": ("- 1\n- 2\n", "top level must be a mapping"),
}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> str:
    from sspnet.synth import render_dataset
    return str(render_dataset(tmp_path_factory.mktemp("synth"), 1, size=(64, 48), seed=1))


def _train_stderr(config: Path, dataset: str, out: Path, capsys, *extra: str) -> str:
    with pytest.raises(SystemExit) as e:
        main(["train", "--config", str(config), "--data", dataset, "--out", str(out), "--device", "cpu", *extra])
    err = capsys.readouterr().err
    assert e.value.code == 2, err
    return err


@pytest.mark.parametrize("name", CASES)
def test_bad_config_exits_2_with_one_line(name, dataset, tmp_path, capsys):
    text, expected = CASES[name]
    config = tmp_path / "c.yaml"
    config.write_text(text)
    err = _train_stderr(config, dataset, tmp_path / "run", capsys)
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert str(config) in err and expected in err, err
    assert not (tmp_path / "run").exists()


def test_error_in_the_base_names_the_base(tmp_path):
    (tmp_path / "base.yaml").write_text("train:\n  crop_h: -512\n")
    (tmp_path / "c.yaml").write_text("_base_: base.yaml\ntrain:\n  lr: 0.01\n")
    with pytest.raises(ConfigError, match=r"base\.yaml\.train\.crop_h: must be > 0"):
        load_config(tmp_path / "c.yaml")


def test_override_is_checked_like_the_file(dataset, tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("train:\n  lr: 0.01\n")
    err = _train_stderr(config, dataset, tmp_path / "run", capsys, "--set", "train.crop_h=-96")
    assert "train.crop_h: must be > 0, got -96" in err and err.count("\n") == 1, err


def test_shipped_configs_still_load():
    for path in sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml")):
        load_config(path)
