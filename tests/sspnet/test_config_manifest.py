import json

import pytest

from sspnet.config import ConfigError, config_from_dict, load_config
from sspnet.manifest import read_manifest, sha256_file, write_manifest


def test_unknown_key_names_file_and_key(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("model:\n  neck: fpn\n  nekc_channels: 3\n")
    with pytest.raises(ConfigError, match=r"c\.yaml\.model: unknown key 'nekc_channels'"):
        load_config(p)


def test_wrong_type_names_key(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("train:\n  epochs: twelve\n")
    with pytest.raises(ConfigError, match=r"train\.epochs: expected int"):
        load_config(p)


def test_round_trip_through_dict():
    cfg = config_from_dict({"model": {"neck": "fpn", "levels": [2, 3]}, "input": {"scale": 2}})
    again = config_from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg and cfg.input.scale == 2.0 and cfg.model.levels == (2, 3)


def test_manifest_records_parent_hash(tmp_path):
    parent, art = tmp_path / "a.pt", tmp_path / "a.onnx"
    parent.write_bytes(b"parent")
    art.write_bytes(b"child")
    write_manifest(art, {"artifact": "onnx"}, parent=parent)
    m = read_manifest(art)
    assert m["parent"]["sha256"] == sha256_file(parent) and m["sha256"] == sha256_file(art)


def test_missing_manifest_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="sspnet export"):
        read_manifest(tmp_path / "x.onnx")


def test_string_where_float_expected_is_an_error(tmp_path):
    # PyYAML reads `1e-3` (no dot) as a string: it must be refused here, not fail deep inside SGD
    p = tmp_path / "c.yaml"
    p.write_text("train:\n  lr: 1e-3\n")
    with pytest.raises(ConfigError, match=r"train\.lr: expected float, got str"):
        load_config(p)
