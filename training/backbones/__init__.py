"""Backbones: each returns [C2, C3, C4, C5] (strides 4/8/16/32) and exposes ``out_channels``."""
from sspnet.training.backbones.efficientnet_lite import EfficientNetLite0, load_lite0_weights, package_weights_path
from sspnet.training.backbones.resnet import ResNetBackbone, load_resnet_weights

__all__ = ["EfficientNetLite0", "ResNetBackbone", "load_lite0_weights", "load_resnet_weights", "package_weights_path"]
