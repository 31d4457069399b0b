"""``sspnet info CONFIG|CHECKPOINT [--json]``: parameters, GMAC per tile, input and outputs of a model.

GMAC are counted with ``torch.utils.flop_counter.FlopCounterMode`` (MAC = FLOPs / 2) while running the model traced
by ``torch.export`` on one tile (default 640×512). Only convolutions and matrix products count; element-wise ops,
resizes, RoIAlign and NMS do not. The Faster R-CNN head (data-dependent proposals, not traceable and not
exportable) is counted in eager mode, and the report says so.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import torch
from torch import nn

from sspnet.config import Config, ConfigError, load_config


class _FlatOutputs(nn.Module):
    """Model outputs as a flat tuple of tensors (what a tracer needs)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model(images)
        return tuple(t for v in out.values() for t in (v if isinstance(v, (list, tuple)) else [v]))


def count_gmac(model: nn.Module, width: int = 640, height: int = 512, traced: bool = True) -> tuple[float, str]:
    """GMAC of one [1, 3, height, width] forward → (gmac, "torch.export" | "eager"). ``traced`` runs the graph that
    ``torch.export`` traced; models with data-dependent shapes (Faster R-CNN proposals) must pass False."""
    from torch.utils.flop_counter import FlopCounterMode
    model = model.eval()
    x = torch.zeros(1, 3, height, width)
    flat = _FlatOutputs(model).eval()
    run, method = (torch.export.export(flat, (x,)).module(), "torch.export") if traced else (flat, "eager")
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        run(x)
    return counter.get_total_flops() / 2e9, method


def describe_outputs(model: nn.Module, width: int, height: int) -> dict:
    with torch.no_grad():
        out = model.eval()(torch.zeros(1, 3, height, width))
    desc = {}
    for name, v in out.items():
        items = v if isinstance(v, (list, tuple)) else [v]
        desc[name] = [list(t.shape) for t in items]
    return desc


def model_info(model: nn.Module, cfg: Config, width: int | None = None, height: int | None = None) -> dict:
    """Everything ``sspnet info`` prints, as a plain dict (keys: params, trainable_params, gmac, …)."""
    width = width or cfg.input.input_w
    height = height or cfg.input.input_h
    # the Faster R-CNN head's proposals have data-dependent shapes that torch.export cannot trace
    gmac, method = count_gmac(model, width, height, traced=cfg.model.head == "fovea")
    m = cfg.model
    return {"model": {"name": m.name, "backbone": m.backbone, "neck": m.neck, "head": m.head},
            "params": sum(p.numel() for p in model.parameters()),
            "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "gmac": round(gmac, 3), "gmac_counted_on": method, "tile": [width, height],
            "input": {"name": "images", "shape": [1, 3, height, width], "dtype": "float32", "layout": "NCHW",
                      "color": cfg.input.color, "scale": cfg.input.scale, "stretch_x": cfg.input.stretch_x},
            "strides": list(getattr(model, "strides", [])),
            "base_edges": list(getattr(model, "base_edges", [])),
            "outputs": describe_outputs(model, width, height)}


def load_for_info(path: Path) -> tuple[nn.Module, Config]:
    if path.suffix == ".pt":
        from sspnet.training.checkpoint import load_checkpoint
        model, cfg, _ = load_checkpoint(path)
        return model.float(), cfg
    from sspnet.training.build import build_model
    cfg = load_config(path)
    # weights change nothing that info reports; don't require the weights file to exist
    bare = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, backbone_weights=""))
    return build_model(bare), cfg


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="a config YAML (configs/*.yaml) or a checkpoint (.pt)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the summary")
    parser.add_argument("--width", type=int, default=None, help="tile width for the GMAC count (default: config)")
    parser.add_argument("--height", type=int, default=None, help="tile height (default: config)")


def run(args: argparse.Namespace) -> int:
    path = Path(args.model)
    if not path.is_file():
        print(f"sspnet info: {path} not found (give a config .yaml or a checkpoint .pt)", file=sys.stderr)
        return 2
    try:
        model, cfg = load_for_info(path)
    except (ConfigError, ValueError) as e:      # a bad config, or a file that is not an sspnet checkpoint
        print(f"sspnet info: {e}", file=sys.stderr)
        return 2
    torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
    info = model_info(model, cfg, args.width, args.height)
    if args.json:
        print(json.dumps(info))
        return 0
    m = info["model"]
    w, h = info["tile"]
    print(f"{m['name']} ({m['backbone']} + {m['neck']} + {m['head']}): {info['params']:,} parameters "
          f"({info['trainable_params']:,} trainable), {info['gmac']:.2f} GMAC per {w}x{h} tile "
          f"[counted on {info['gmac_counted_on']}]")
    print(f"  input   images {info['input']['shape']} float32 NCHW, {cfg.input.color}, scale {cfg.input.scale_text()}")
    for name, shapes in info["outputs"].items():
        if not shapes:
            continue
        shown = ", ".join("x".join(map(str, s)) for s in shapes[:6]) + (" …" if len(shapes) > 6 else "")
        print(f"  output  {name:<10} {shown}")
    if info["strides"]:
        print(f"  strides {info['strides']}" + (f", base edges {info['base_edges']}" if info["base_edges"] else ""))
    return 0
