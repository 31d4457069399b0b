"""``sspnet train``: resolve config, datasets and device, print them once, then call ``fit``.

Examples::

    sspnet train --config configs/sspnet_edge.yaml --data DATA --split configs/splits/tinyperson-rpi-dev.json \\
        --data SYNTH --out runs/edge
    sspnet train --out runs/edge --data DATA --split ... --resume          # continue where last.pt stopped
    torchrun --nproc_per_node=2 -m sspnet.cli train ...                       # DDP (gloo on CPU, nccl on CUDA)

With ``--split`` and no ``--val``, validation uses the split's 'val' part of the ``--data`` datasets it covers.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

import yaml

from sspnet.config import Config, ConfigError, config_from_dict, load_config

USAGE_PREFIX = "sspnet train: error: "


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="model/training YAML (configs/*.yaml); optional with --resume")
    p.add_argument("--data", action="append", required=True, metavar="DATASET",
                   help="training dataset (any core reader: JSON, YOLO folder, data.yaml); repeat for several")
    p.add_argument("--val", action="append", default=[], metavar="DATASET", help="validation dataset; repeatable")
    p.add_argument("--split", metavar="SPLIT.json",
                   help="group split (training/split.py): --data keeps its 'train' part, validation its 'val' part")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder (checkpoints, CSVs, curves)")
    p.add_argument("--epochs", type=int, help="override train.epochs")
    p.add_argument("--batch", type=int, help="override train.batch_size (images per process)")
    p.add_argument("--workers", type=int, help="DataLoader workers (default: 0 on CPU, train.workers on CUDA)")
    p.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when available, else cpu")
    p.add_argument("--backbone-weights", metavar="PATH", help="ImageNet backbone weights file, or 'package'")
    p.add_argument("--max-steps", type=int, metavar="N", help="stop after N optimizer steps in total (smoke runs)")
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR/last.pt")
    p.add_argument("--init", metavar="CHECKPOINT",
                   help="start from this checkpoint's weights (same model; optimizer and schedule start fresh)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one config value (YAML syntax), e.g. --set train.lr=0.01; repeatable")
    p.add_argument("--cache-mb", type=int, default=2048, help="memory for decoded training images (default 2048)")


def _fail(msg: str) -> SystemExit:
    print(USAGE_PREFIX + msg, file=sys.stderr)
    return SystemExit(2)


def _yaml_value(raw: str):
    """A YAML scalar/list; also '1e-3' style numbers, which YAML 1.1 reads as strings."""
    value = yaml.safe_load(raw)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _apply_overrides(cfg: Config, sets: list[str], args: argparse.Namespace) -> Config:
    d = cfg.to_dict()
    for item in sets:
        key, sep, raw = item.partition("=")
        parts = key.strip().split(".")
        if not sep or len(parts) != 2 or parts[0] not in d:
            raise _fail(f"--set {item!r}: expected SECTION.KEY=VALUE with SECTION one of {', '.join(d)}")
        if parts[1] not in d[parts[0]]:
            raise _fail(f"--set {item!r}: unknown key '{parts[1]}' in section '{parts[0]}' "
                        f"(known: {', '.join(d[parts[0]])})")
        d[parts[0]][parts[1]] = _yaml_value(raw)
    for flag, section, key in (("epochs", "train", "epochs"), ("batch", "train", "batch_size"),
                               ("backbone_weights", "model", "backbone_weights")):
        if getattr(args, flag) is not None:
            d[section][key] = getattr(args, flag)
    try:
        return config_from_dict(d, source="config after command-line overrides")
    except ConfigError as e:
        raise _fail(str(e)) from None


def _resolve_config(args: argparse.Namespace, out_dir: Path) -> Config:
    last = out_dir / "last.pt"
    file_cfg = None
    if args.config:
        try:
            file_cfg = load_config(args.config)
        except ConfigError as e:
            raise _fail(str(e)) from None
    if args.resume:
        from sspnet.training.checkpoint import read_checkpoint
        if not last.is_file():
            raise _fail(f"--resume: {last} not found (start without --resume, or point --out at the run folder)")
        try:
            cfg = config_from_dict(read_checkpoint(last)["config"], source=f"{last} (config)")
        except (ValueError, ConfigError) as e:
            raise _fail(str(e)) from None
        if file_cfg is not None and file_cfg.model != cfg.model:
            raise _fail(f"--config {args.config} describes another model than {last}; drop --config to resume, "
                        f"or start a new --out")
    else:
        if file_cfg is None:
            raise _fail("--config is required (unless --resume)")
        if last.exists():
            raise _fail(f"{out_dir} already holds a run (last.pt); pass --resume or choose another --out")
        cfg = file_cfg
    return _apply_overrides(cfg, args.set, args)


def _load(path: str) -> list:
    from sspnet.data import load_dataset
    try:
        return load_dataset(path)
    except (FileNotFoundError, ValueError, ConfigError) as e:
        raise _fail(f"dataset {path}: {e}") from None


def _resolve_data(args: argparse.Namespace) -> tuple[list, list, list[str]]:
    """(train records, val records, one description line per dataset)."""
    from sspnet.training.split import covers, read_split, select_records

    split = None
    if args.split:
        try:
            split = read_split(args.split)
        except (FileNotFoundError, ValueError) as e:
            raise _fail(str(e)) from None
    train, val, lines = [], [], []
    for path in args.data:
        records = _load(path)
        part = records
        try:
            if split is not None:
                part = select_records(records, split, "train")
        except ValueError as e:
            raise _fail(f"dataset {path}: {e}") from None
        train += part
        lines.append(f"  train {path}: {len(part)} images" + (f" of {len(records)} (split 'train')"
                                                              if len(part) != len(records) else ""))
        if split is not None and not args.val and covers(records, split):
            v = select_records(records, split, "val")
            val += v
            lines.append(f"  val   {path}: {len(v)} images (split 'val')")
    for path in args.val:
        records = _load(path)
        try:
            v = select_records(records, split, "val") if split is not None else records
        except ValueError as e:
            raise _fail(f"dataset {path}: {e}") from None
        val += v
        lines.append(f"  val   {path}: {len(v)} images" + (f" of {len(records)} (split 'val')"
                                                           if len(v) != len(records) else ""))
    # image ids of different datasets collide: the evaluator keys detections by id, so number val images 1..N
    val = [dataclasses.replace(r, image_id=i + 1) for i, r in enumerate(val)]
    return train, val, lines


def run(args: argparse.Namespace) -> int:
    import torch

    from sspnet.training.fit import InitWeightsError, TrainOptions, fit

    for flag in ("epochs", "batch", "max_steps", "workers"):
        v = getattr(args, flag)
        if v is not None and v < (0 if flag == "workers" else 1):
            raise _fail(f"--{flag.replace('_', '-')} must be >= {0 if flag == 'workers' else 1}, got {v}")
    if args.cache_mb < 0:
        raise _fail(f"--cache-mb must be >= 0, got {args.cache_mb}")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise _fail("--device cuda: no CUDA device is visible to PyTorch (use --device cpu)")
    if args.backbone_weights and args.backbone_weights != "package" and not Path(args.backbone_weights).is_file():
        raise _fail(f"--backbone-weights {args.backbone_weights}: file not found (or pass 'package')")
    if args.init and args.resume:
        raise _fail("--init starts a new run from a checkpoint's weights; --resume continues one: pass only one")
    if args.init and not Path(args.init).is_file():
        raise _fail(f"--init {args.init}: checkpoint not found")
    out_dir = Path(args.out)
    cfg = _resolve_config(args, out_dir)
    workers = args.workers if args.workers is not None else (0 if device == "cpu" else cfg.train.workers)
    train, val, data_lines = _resolve_data(args)
    if not train:
        raise _fail("no training images left after --split (check the split file and --data)")
    t = cfg.train
    if os.environ.get("RANK", "0") == "0":
        scale_note = ("" if t.upscale[0] <= cfg.input.scale <= t.upscale[1] else
                      f"   (note: inference scale {cfg.input.scale} lies outside train.upscale)")
        print("sspnet train\n"
              f"  config   {args.config or '(from checkpoint)'}: model {cfg.model.name} "
              f"({cfg.model.backbone} / {cfg.model.neck} / {cfg.model.head})\n"
              f"  out      {out_dir}{'  (resume)' if args.resume else ''}\n"
              f"  device   {device}, workers {workers}, batch {t.batch_size}, epochs {t.epochs}"
              + (f", max steps {args.max_steps}" if args.max_steps else "") + "\n"
              f"  optim    SGD lr {t.lr} momentum {t.momentum} wd {t.weight_decay}, warm-up {t.warmup_iters} it "
              f"from x{t.warmup_ratio}, x{t.lr_gamma} at epochs {list(t.lr_steps)}, grad clip {t.grad_clip or 'off'}, "
              f"AMP {'on' if t.amp and device == 'cuda' else 'off'}\n"
              f"  crops    {t.crop_w}x{t.crop_h}, up-scale {list(t.upscale)}{scale_note}, empty {t.empty_tile_ratio}, "
              f"flip {t.flip}, photometric {t.photometric}, crops/image {t.crops_per_image or 'auto'}\n"
              f"  input    {cfg.input.input_w}x{cfg.input.input_h} tiles, scale {cfg.input.scale_text()}, "
              f"overlap {cfg.input.overlap}\n"
              f"  backbone weights {cfg.model.backbone_weights or '(none: from scratch)'}"
              + (f", then all weights from {args.init}" if args.init else "") + "\n" + "\n".join(data_lines),
              flush=True)
    opts = TrainOptions(cfg=cfg, train_records=train, val_records=val, out_dir=out_dir, device=device,
                        resume=args.resume, init=args.init, max_steps=args.max_steps, workers=workers, cache_mb=args.cache_mb)
    try:
        return fit(opts)
    except InitWeightsError as e:
        raise _fail(str(e)) from None
