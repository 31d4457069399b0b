"""Checkpoints: one plain dict per file, written atomically (temp file + rename) with a ``<ckpt>.json`` manifest,
loadable with ``torch.load(weights_only=True)``.

Layout: {"format", "model" (state dict), "config" (cfg.to_dict()), "epoch" (epochs completed when step_in_epoch is 0,
else the epoch in progress), "step_in_epoch", "global_step", "optimizer", "scheduler", "scaler", "rng" (python,
numpy, torch, cuda as lists/tensors), "best_metric", "metrics" (last validation)}. A shipped checkpoint
(``slim_checkpoint``) keeps only model (FP16), config and the training summary.
"""
from __future__ import annotations

import dataclasses
import io
import pickle
import random
from pathlib import Path

import numpy as np
import torch

from sspnet.config import Config, config_from_dict
from sspnet.manifest import atomic_write_bytes, model_fields, write_manifest

FORMAT = "sspnet-checkpoint/1"


def rng_state() -> dict:
    """Python, numpy and torch RNG states as plain lists/ints/tensors (no numpy objects: weights_only loads it)."""
    py_version, py_keys, py_gauss = random.getstate()
    _, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    return {"python": [py_version, list(py_keys), py_gauss],
            "numpy": {"keys": torch.from_numpy(np_keys.astype(np.int64)), "pos": int(np_pos),
                      "has_gauss": int(np_has_gauss), "cached_gaussian": float(np_gauss)},
            "torch": torch.get_rng_state(),
            "cuda": list(torch.cuda.get_rng_state_all()) if torch.cuda.is_available() else []}


def set_rng_state(state: dict) -> None:
    py_version, py_keys, py_gauss = state["python"]
    random.setstate((int(py_version), tuple(int(k) for k in py_keys), py_gauss))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def manifest_fields(cfg: Config, training: dict | None = None) -> dict:
    """The checkpoint's manifest: the core's model fields plus the training summary."""
    fields = model_fields(cfg, "checkpoint")
    if training:
        fields["training"] = training
    return fields


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The bare model inside a DistributedDataParallel wrapper (or the model itself)."""
    return model.module if hasattr(model, "module") else model


def _to_bytes(obj: dict) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def save_checkpoint(paths: list[str | Path] | str | Path, *, model: torch.nn.Module, cfg: Config,
                    optimizer=None, scheduler=None, scaler=None, epoch: int = 0, step_in_epoch: int = 0,
                    global_step: int = 0, best_metric: float | None = None, metrics: dict | None = None) -> list[Path]:
    """Serialise once, write each of ``paths`` atomically, then its manifest. Returns the written paths."""
    paths = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    ckpt = {
        "format": FORMAT,
        "model": unwrap(model).state_dict(),
        "config": cfg.to_dict(),
        "epoch": int(epoch), "step_in_epoch": int(step_in_epoch), "global_step": int(global_step),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict() if scaler is not None else None,
        "rng": rng_state(),
        "best_metric": None if best_metric is None else float(best_metric),
        "metrics": {k: float(v) for k, v in (metrics or {}).items()},
    }
    data = _to_bytes(ckpt)
    summary = {"epoch": int(epoch), "step_in_epoch": int(step_in_epoch), "global_step": int(global_step),
               "best_metric": ckpt["best_metric"]}
    for p in paths:
        atomic_write_bytes(p, data)
        write_manifest(p, manifest_fields(cfg, summary))
    return paths


def read_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """The checkpoint dict, loaded with weights_only=True; a missing or foreign file is a clear error."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as e:
        first_line = str(e).splitlines()[0] if str(e) else ""
        raise ValueError(f"{path}: not a loadable checkpoint ({e.__class__.__name__}: {first_line})") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "config" not in ckpt:
        raise ValueError(f"{path}: not an sspnet checkpoint (expected a dict with 'model' and 'config'; "
                         f"write it with sspnet train)")
    return ckpt


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, Config, dict]:
    """(model in eval mode on ``device``, its Config, the checkpoint dict). Backbone weights are not re-read: the
    state dict holds them."""
    from sspnet.training.build import build_model

    ckpt = read_checkpoint(path)
    cfg = config_from_dict(ckpt["config"], source=f"{path} (config)")
    model = build_model(dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, backbone_weights="")))
    missing, unexpected = model.load_state_dict(ckpt["model"], strict=False)
    if missing or unexpected:
        raise ValueError(f"{path}: weights do not fit the model of its config "
                         f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    return model.to(device).eval(), cfg, ckpt


def slim_checkpoint(src: str | Path, dst: str | Path, fp16: bool = True, operating_point: dict | None = None,
                    postprocess: dict | None = None, preprocess: dict | None = None) -> Path:
    """Write the shipped form of ``src``: FP16 floating weights + config + training summary, manifest with parent.

    ``operating_point`` ({'score_thr', 'rule', 'precision', 'recall'}, e.g. from bench/error_analysis.py on the
    validation groups) becomes ``postprocess.operating_thr``, the runtime's default threshold, and is recorded.
    ``postprocess``: post-processing fields the model ships with instead of its training config's (chosen on the
    validation groups, e.g. by bench/postprocess_ablation.py; checked like a config). ``preprocess``: likewise for
    the ``input`` section (e.g. ``person_px``, the validation persons' median height at the model's scale)."""
    ckpt = read_checkpoint(src)
    state = {k: (v.half() if fp16 and v.is_floating_point() else v) for k, v in ckpt["model"].items()}
    config = dict(ckpt["config"], postprocess=dict(ckpt["config"]["postprocess"], **(postprocess or {})),
                  input=dict(ckpt["config"]["input"], **(preprocess or {})))
    if operating_point is not None:
        config["postprocess"]["operating_thr"] = round(float(operating_point["score_thr"]), 4)
    metrics = dict(ckpt.get("metrics") or {}, **({"operating_point": operating_point} if operating_point else {}))
    slim = {"format": FORMAT, "model": state, "config": config, "epoch": ckpt.get("epoch", 0),
            "step_in_epoch": ckpt.get("step_in_epoch", 0), "global_step": ckpt.get("global_step", 0),
            "best_metric": ckpt.get("best_metric"), "metrics": metrics}
    cfg = config_from_dict(config, source=f"{src} (config)")         # refused before anything is written
    dst = Path(dst)
    atomic_write_bytes(dst, _to_bytes(slim))
    write_manifest(dst, manifest_fields(cfg, {"epoch": slim["epoch"], "global_step": slim["global_step"],
                                              "best_metric": slim["best_metric"], "weights": "fp16" if fp16 else "fp32",
                                              "metrics": slim["metrics"]}), parent=src)
    return dst
