"""The one place that reads the model config: ``build_model(cfg)`` and ``build_criterion(cfg)``."""
from __future__ import annotations

from torch import nn

from sspnet.config import Config, ConfigError
from sspnet.training.backbones import (EfficientNetLite0, ResNetBackbone, load_lite0_weights, load_resnet_weights,
                                       package_weights_path)
from sspnet.training.detector import SSPNetDetector
from sspnet.training.heads.fovea import FoveaHead
from sspnet.training.neck import FPN, SSFPN

BACKBONES = ("resnet18", "resnet50", "efficientnet_lite0")
NECKS = ("ssfpn", "fpn")
HEADS = ("fovea", "faster_rcnn")
BOX_LOSSES = ("smooth_l1", "giou")


def _check(cfg: Config) -> None:
    m = cfg.model
    for key, value, allowed in (("backbone", m.backbone, BACKBONES), ("neck", m.neck, NECKS),
                                ("head", m.head, HEADS)):
        if value not in allowed:
            raise ConfigError(f"model.{key}: unknown value {value!r}; choose from {', '.join(allowed)}")
    if m.head == "fovea" and m.box_loss not in BOX_LOSSES:
        raise ConfigError(f"model.box_loss: unknown value {m.box_loss!r}; choose from {', '.join(BOX_LOSSES)}")
    if tuple(m.levels) not in ((2, 3, 4, 5), (2, 3, 4, 5, 6)):
        raise ConfigError(f"model.levels: {list(m.levels)} not supported; use [2, 3, 4, 5] or [2, 3, 4, 5, 6]")
    if m.head == "fovea" and (len(m.base_edges) != len(m.levels) or len(m.scale_ranges) != len(m.levels)):
        raise ConfigError(f"model.base_edges / model.scale_ranges need one entry per level ({len(m.levels)} levels "
                          f"{list(m.levels)}), got {len(m.base_edges)} / {len(m.scale_ranges)}")
    if m.head == "faster_rcnn" and tuple(m.levels) != (2, 3, 4, 5, 6):
        raise ConfigError("model.levels: the Faster R-CNN head needs [2, 3, 4, 5, 6] (RPN anchors on P2-P6)")
    if m.neck_channels % 4:
        raise ConfigError(f"model.neck_channels: {m.neck_channels} must be a multiple of 4 (four ASPP branches)")
    mult = 64 if 6 in m.levels else 32          # every level must halve exactly (P6 = stride 64)
    for where, w, h in (("input.width/height", cfg.input.input_w, cfg.input.input_h),
                        ("train.crop_w/crop_h", cfg.train.crop_w, cfg.train.crop_h)):
        if w % mult or h % mult:
            raise ConfigError(f"{where}: {w}x{h} must be multiples of {mult} for levels {list(m.levels)}")


def build_backbone(cfg: Config) -> nn.Module:
    m = cfg.model
    if m.backbone == "efficientnet_lite0":
        net = EfficientNetLite0(frozen_stages=m.frozen_stages, norm_eval=m.norm_eval)
        if m.backbone_weights:
            load_lite0_weights(net, package_weights_path() if m.backbone_weights == "package" else m.backbone_weights)
        return net
    net = ResNetBackbone(depth=int(m.backbone[len("resnet"):]), frozen_stages=m.frozen_stages, norm_eval=m.norm_eval)
    if m.backbone_weights == "package":
        raise ConfigError("model.backbone_weights: 'package' only exists for efficientnet_lite0; give a local "
                          "torchvision ResNet .pth or leave it empty to train from scratch")
    if m.backbone_weights:
        load_resnet_weights(net, m.backbone_weights)
    return net


def build_model(cfg: Config) -> SSPNetDetector:
    """Config → SSPNetDetector (backbone, neck, head); ImageNet weights loaded when the config names them."""
    _check(cfg)
    m = cfg.model
    backbone = build_backbone(cfg)
    extra = 6 in m.levels
    if m.neck == "ssfpn":
        neck = SSFPN(in_channels=tuple(backbone.out_channels), channels=m.neck_channels,
                     cam_entry_kernel=m.cam_entry_kernel, extra_level=extra)
    else:
        neck = FPN(in_channels=tuple(backbone.out_channels), channels=m.neck_channels, extra_level=extra)
    strides = tuple(2 ** lvl for lvl in m.levels)
    if m.head == "fovea":
        head = FoveaHead(in_channels=m.neck_channels, channels=m.head_channels, num_convs=m.head_convs,
                         num_levels=len(m.levels), shared_levels=m.head_shared, shared_tower=m.head_shared_tower)
        return SSPNetDetector(backbone=backbone, neck=neck, head=head, strides=strides,
                              base_edges=tuple(float(b) for b in m.base_edges))
    from sspnet.training.heads.faster_rcnn import FasterRCNNHead
    head = FasterRCNNHead(in_channels=m.neck_channels)
    return SSPNetDetector(backbone=backbone, neck=neck, head=head, strides=strides)


def build_criterion(cfg: Config):
    """Config → callable(outputs, targets) -> dict of unweighted named loss terms."""
    _check(cfg)
    m = cfg.model
    if m.head == "fovea":
        from sspnet.training.criterion import FoveaCriterion
        return FoveaCriterion(strides=[2 ** lvl for lvl in m.levels], base_edges=[float(b) for b in m.base_edges],
                              scale_ranges=[tuple(float(x) for x in r) for r in m.scale_ranges], sigma=m.sigma,
                              center_fallback=m.center_fallback, use_ignore=m.use_ignore,
                              regress_outside=m.regress_outside, box_loss=m.box_loss,
                              attn_loss=cfg.train.attn_loss)
    from sspnet.training.criterion import FasterRCNNCriterion
    return FasterRCNNCriterion(wns=m.wns, attn_loss=cfg.train.attn_loss)
