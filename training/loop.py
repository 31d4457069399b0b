"""The training step and validation as plain functions: ``train_one_epoch()`` and ``evaluate()``.

The criterion returns unweighted named terms and their weight table; this is the one place that weights and
sums them (each weighted term is logged). AMP (float16 autocast + a
GradScaler) runs only on CUDA; the criterion always sees float32 outputs. A non-finite loss on any rank raises
``LossNotFinite`` before the optimizer touches the weights, so the last checkpoint on disk stays the last good one.
"""
from __future__ import annotations

import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from tqdm import tqdm

from sspnet.config import Config
from sspnet.training.distributed import DistInfo, all_reduce_mean, any_rank


class LossNotFinite(RuntimeError):
    """The summed loss became NaN or infinite."""


class StopRequest:
    """Turns SIGTERM/SIGINT into a flag the loop checks after each step (it then saves and exits)."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self.signum: int | None = None
        self._old: dict = {}

    def _handle(self, signum, _frame) -> None:
        self.signum = signum

    def install(self) -> "StopRequest":
        for s in self.SIGNALS:
            self._old[s] = signal.signal(s, self._handle)
        return self

    def restore(self) -> None:
        for s, handler in self._old.items():
            signal.signal(s, handler)
        self._old.clear()

    def __bool__(self) -> bool:
        return self.signum is not None


@dataclass
class EpochResult:
    steps: int = 0                      # optimizer steps done in this call
    global_step: int = 0                # steps done in the whole run after this call
    mean_terms: dict = field(default_factory=dict)   # mean of each logged value over the steps of this call
    stopped: str | None = None          # None (epoch finished), "max_steps" or "signal"


def _float_outputs(outputs):
    """Cast every tensor in a (nested) dict/list of model outputs to float32."""
    if isinstance(outputs, torch.Tensor):
        return outputs.float()
    if isinstance(outputs, dict):
        return {k: _float_outputs(v) for k, v in outputs.items()}
    if isinstance(outputs, (list, tuple)):
        return type(outputs)(_float_outputs(v) for v in outputs)
    return outputs


def train_one_epoch(model: torch.nn.Module, criterion: Callable, loader, optimizer: torch.optim.Optimizer,
                    scheduler, scaler: torch.amp.GradScaler, *, device: torch.device, epoch: int, epochs: int,
                    global_step: int, max_steps: int | None, grad_clip: float, info: DistInfo,
                    stop: Callable[[], bool], on_step: Callable[[dict], None] | None = None,
                    progress: bool = True, steps_before: int = 0) -> EpochResult:
    """One pass over ``loader`` (or until ``max_steps`` total steps / a stop request).

    ``steps_before``: steps of this epoch done before a resume (for the progress bar only).
    ``on_step(row)`` gets, after every optimizer step, the rank-averaged logs: step, epoch, lr, loss, each term,
    grad_norm (when clipping), sec_data, sec_step.
    """
    model.train()
    amp = scaler.is_enabled()
    params = [p for p in model.parameters() if p.requires_grad]
    result = EpochResult(global_step=global_step)
    sums: dict[str, float] = {}
    bar = tqdm(total=len(loader) + steps_before, initial=steps_before, desc=f"epoch {epoch + 1}/{epochs}",
               disable=not (progress and info.is_main), dynamic_ncols=True, leave=True)
    t_end = time.perf_counter()
    try:
        for images, targets in loader:
            t_data = time.perf_counter()
            images = images.to(device, non_blocking=True)
            targets = [{k: v.to(device, non_blocking=True) for k, v in t.items()} for t in targets]
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp):
                outputs = model(images)
            terms = criterion(_float_outputs(outputs) if amp else outputs, targets)
            terms = {k: criterion.weights[k] * v for k, v in terms.items()}     # logged as weighted
            loss = sum(terms.values())
            if any_rank(not bool(torch.isfinite(loss).item()), info):
                shown = ", ".join(f"{k}={float(v.detach()):.4g}" for k, v in terms.items())
                raise LossNotFinite(f"loss is not finite at epoch {epoch + 1}, step {result.global_step + 1} "
                                    f"({shown}); stopped without updating the weights")
            lr = optimizer.param_groups[0]["lr"]
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            row = {"loss": float(loss.detach()), **{k: float(v.detach()) for k, v in terms.items()}}
            if grad_clip > 0:
                scaler.unscale_(optimizer)
                row["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(params, grad_clip))
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            t_step = time.perf_counter()
            row.update(sec_data=t_data - t_end, sec_step=t_step - t_end)
            row = all_reduce_mean(row, info)
            result.steps += 1
            result.global_step += 1
            for k, v in row.items():
                sums[k] = sums.get(k, 0.0) + v
            if on_step is not None:
                on_step({"step": result.global_step, "epoch": epoch + 1, "lr": lr, **row})
            bar.update(1)
            bar.set_postfix(loss=f"{row['loss']:.4f}", lr=f"{lr:.2e}", s_it=f"{row['sec_step']:.2f}")
            if max_steps is not None and result.global_step >= max_steps:
                result.stopped = "max_steps"
            elif any_rank(stop(), info):
                result.stopped = "signal"
            if result.stopped:
                break
            t_end = time.perf_counter()
    finally:
        bar.close()
    result.mean_terms = {k: v / max(result.steps, 1) for k, v in sums.items()}
    return result


@torch.no_grad()
def evaluate(model: torch.nn.Module, cfg: Config, records: list, device: torch.device,
             progress: bool = False, dets_path: Path | None = None) -> dict:
    """Tiled inference + merge over ``records`` through the core (``detect_dataset``) and the TinyPerson evaluator.

    Returns the evaluator's flat dict (AP{25,50,75}_{all,tiny,...}, MR..., percent). The detections go to
    ``dets_path`` (COCO results) when given, so an analysis can re-use them (``bench/error_analysis.py --dets``)
    without running the model again. The model's train/eval mode is restored afterwards.
    """
    from sspnet.evaluation import detect_dataset
    from sspnet.evaluation import evaluate as evaluate_detections
    from sspnet.evaluation.detections import save_detections
    from sspnet.training.predict import TorchDetector

    was_training = model.training
    model.eval()
    try:
        detector = TorchDetector(model, cfg, device)
        try:
            detections = detect_dataset(records, detector, progress=progress)
        finally:
            detector.close()
        if dets_path is not None:
            save_detections(dets_path, detections)
        return evaluate_detections(records, detections)
    finally:
        model.train(was_training)
