import json

import pytest

from sspnet.config import ConfigError, config_from_dict, load_config
from sspnet.manifest import copied_fields, model_fields, read_manifest, sha256_file, write_manifest
from sspnet.postprocess import Postprocess
from sspnet.preprocess import Preprocess


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


def test_input_and_postprocess_are_the_core_dataclasses_under_their_yaml_keys():
    cfg = config_from_dict({"input": {"width": 320, "height": 256}, "postprocess": {"nms_iou": 0.6}})
    assert cfg.input == Preprocess(input_w=320, input_h=256) and cfg.postprocess == Postprocess(nms_iou=0.6)
    assert list(cfg.to_dict()["input"])[:2] == ["width", "height"]
    with pytest.raises(ConfigError, match=r"ckpt\.input: unknown key 'input_w'"):
        config_from_dict({"input": {"input_w": 320}}, source="ckpt")
    with pytest.raises(ConfigError, match=r"ckpt\.input\.height: expected int"):
        config_from_dict({"input": {"height": 256.0}}, source="ckpt")


def test_model_fields_at_the_export_size():
    cfg = config_from_dict({"input": {"width": 640, "height": 512, "scale": 2.0}})
    m = model_fields(cfg, "onnx", input_wh=(320, 256), batch=1)
    assert (m["input"]["width"], m["input"]["height"], m["input"]["batch"]) == (320, 256, 1)
    assert Preprocess.from_dict(m["preprocess"]) == Preprocess(input_w=320, input_h=256, scale=2.0)
    assert model_fields(cfg, "checkpoint")["input"]["batch"] == "dynamic"
    assert copied_fields(dict(m, sha256="x", calibration={"method": "entropy"})) == dict(
        {k: v for k, v in m.items() if k != "artifact"}, calibration={"method": "entropy"})


def test_manifest_records_parent_hash(tmp_path):
    parent, art = tmp_path / "a.pt", tmp_path / "a.onnx"
    parent.write_bytes(b"parent")
    art.write_bytes(b"child")
    write_manifest(art, {"artifact": "onnx"}, parent=parent)
    m = read_manifest(art)
    assert m["parent"]["sha256"] == sha256_file(parent) and m["sha256"] == sha256_file(art)
    assert m["parent"]["path"] == "a.pt"


def test_manifest_names_a_parent_in_another_folder_relative_to_the_artifact(tmp_path):
    (tmp_path / "runs" / "edge").mkdir(parents=True)
    (tmp_path / "models").mkdir()
    parent, art = tmp_path / "runs" / "edge" / "best.pt", tmp_path / "models" / "edge.pt"
    parent.write_bytes(b"parent")
    art.write_bytes(b"child")
    write_manifest(art, {"artifact": "checkpoint"}, parent=parent)
    assert read_manifest(art)["parent"]["path"] == "../runs/edge/best.pt"


def test_missing_manifest_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="sspnet export"):
        read_manifest(tmp_path / "x.onnx")


def test_string_where_float_expected_is_an_error(tmp_path):
    # PyYAML reads `1e-3` (no dot) as a string: it must be refused here, not fail deep inside SGD
    p = tmp_path / "c.yaml"
    p.write_text("train:\n  lr: 1e-3\n")
    with pytest.raises(ConfigError, match=r"train\.lr: expected float, got str"):
        load_config(p)
