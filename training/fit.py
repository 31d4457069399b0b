"""One training run: data, model, optimizer, resume, the epoch loop, validation, checkpoints and logs.

RUN_DIR receives ``last.pt`` (every epoch, at ``--max-steps`` and on SIGTERM/SIGINT), ``best.pt`` (best validation
AP50-tiny; the latest epoch's weights when there is no validation data), their ``.json`` manifests, ``steps.csv``,
``metrics.csv``, ``val.jsonl``, ``val.dets.json`` (the last validation's detections) and ``curves.png``.
Exit codes: 0 done (or ``max_steps`` reached), 1 loss not finite, 128+signal after a signal (checkpoint saved).
A SIGKILL costs the steps since the last checkpoint and nothing more: files are written whole (temp file + rename),
and a run that starts deletes the temp files of a write the kill cut off and the log rows after its checkpoint (all
of them when it starts over).
"""
from __future__ import annotations

import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from sspnet.config import Config
from sspnet.training.checkpoint import read_checkpoint, save_checkpoint, set_rng_state
from sspnet.training.data import collate, train_crops_from_config
from sspnet.training.distributed import (DistInfo, SkipSampler, barrier, cleanup, device_for, init_distributed,
                                         make_sampler, wrap_model)
from sspnet.training.loop import LossNotFinite, StopRequest, evaluate, train_one_epoch
from sspnet.training.runlog import HEADLINE, RunLog
from sspnet.training.schedule import build_optimizer, build_scheduler


@dataclass
class TrainOptions:
    cfg: Config
    train_records: list
    out_dir: Path
    val_records: list = field(default_factory=list)
    device: str = "cpu"                 # cpu | cuda
    resume: bool = False
    init: str | None = None             # checkpoint whose weights start a new run (fine-tuning)
    max_steps: int | None = None        # stop after this many optimizer steps in total (smoke runs)
    workers: int = 0
    cache_mb: int = 2048
    progress: bool = True


@dataclass
class RunState:
    epoch: int = 0                      # epoch in progress (0-based)
    step_in_epoch: int = 0
    global_step: int = 0
    best_metric: float | None = None


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _log(info: DistInfo, msg: str) -> None:
    if info.is_main:
        print(msg, flush=True)


def _apply_optim_config(optimizer, scheduler, t) -> None:
    """After loading optimizer/scheduler state: lr, momentum and weight decay come from the (possibly overridden)
    config, not from the checkpoint. With an unchanged config this reproduces the saved values exactly."""
    scheduler.base_lrs = [float(t.lr)] * len(optimizer.param_groups)
    factor = scheduler.lr_lambdas[0](scheduler.last_epoch)
    for g in optimizer.param_groups:
        g.update(initial_lr=float(t.lr), lr=float(t.lr) * factor, momentum=float(t.momentum),
                 weight_decay=float(t.weight_decay))
    scheduler._last_lr = [g["lr"] for g in optimizer.param_groups]


class InitWeightsError(ValueError):
    """The --init checkpoint does not fit the model of this run's config."""


def init_weights(model: torch.nn.Module, path: str | Path) -> None:
    """Load every weight of ``model`` from the checkpoint ``path`` (FP16 shipped checkpoints included)."""
    state = read_checkpoint(path)["model"]
    own = model.state_dict()
    mismatch = sorted(set(own) ^ set(state)) + [k for k in own if k in state and own[k].shape != state[k].shape]
    if mismatch:
        raise InitWeightsError(f"--init {path}: its weights do not fit this config's model (first differences: "
                         f"{mismatch[:3]}); use a checkpoint of the same model config")
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})


@dataclass
class Parts:
    """What one run trains with, built from the config."""
    dataset: object
    sampler: object
    model: torch.nn.Module
    criterion: object
    optimizer: torch.optim.Optimizer
    scheduler: object
    scaler: torch.amp.GradScaler
    steps_per_epoch: int
    drop_last: bool


def build_parts(opts: TrainOptions, info: DistInfo, device: torch.device) -> Parts:
    """Dataset, sampler, model, criterion, optimizer, schedule and AMP scaler of ``opts.cfg``."""
    from sspnet.training.build import build_criterion, build_model
    cfg, t = opts.cfg, opts.cfg.train
    dataset = train_crops_from_config(opts.train_records, cfg, cache_mb=opts.cache_mb)
    sampler = make_sampler(dataset, info, t.seed)
    drop_last = len(sampler) >= t.batch_size
    steps_per_epoch = len(sampler) // t.batch_size if drop_last else 1
    model = build_model(cfg).to(device)
    criterion = build_criterion(cfg)
    if isinstance(criterion, torch.nn.Module):
        criterion = criterion.to(device)
    optimizer = build_optimizer(model.parameters(), t)
    scheduler = build_scheduler(optimizer, t, steps_per_epoch)
    scaler = torch.amp.GradScaler("cuda", enabled=bool(t.amp and device.type == "cuda"))
    return Parts(dataset, sampler, model, criterion, optimizer, scheduler, scaler, steps_per_epoch, drop_last)


def restore(opts: TrainOptions, parts: Parts, last_pt: Path) -> tuple[RunState, dict | None]:
    """--init loads weights into a new run; --resume loads everything from ``last_pt``. (state, checkpoint)."""
    if opts.init and not opts.resume:
        init_weights(parts.model, opts.init)
    if not opts.resume:
        return RunState(), None
    ckpt = read_checkpoint(last_pt)
    parts.model.load_state_dict(ckpt["model"])
    parts.optimizer.load_state_dict(ckpt["optimizer"])
    parts.scheduler.load_state_dict(ckpt["scheduler"])
    if ckpt.get("scaler"):
        parts.scaler.load_state_dict(ckpt["scaler"])
    _apply_optim_config(parts.optimizer, parts.scheduler, opts.cfg.train)
    state = RunState(epoch=int(ckpt["epoch"]), step_in_epoch=int(ckpt["step_in_epoch"]),
                     global_step=int(ckpt["global_step"]), best_metric=ckpt.get("best_metric"))
    return state, ckpt


class Run:
    """The epoch loop of one run and its named steps: train an epoch, close it, validate, save."""

    def __init__(self, opts: TrainOptions, parts: Parts, state: RunState, info: DistInfo, device: torch.device,
                 log: RunLog):
        self.opts, self.parts, self.state, self.info, self.device, self.log = opts, parts, state, info, device, log
        self.t = opts.cfg.train
        self.last_pt, self.best_pt = Path(opts.out_dir) / "last.pt", Path(opts.out_dir) / "best.pt"
        self.ddp_model = wrap_model(parts.model, info, device)
        self.stop = StopRequest()

    def loop(self) -> int:
        """Epochs until done, ``max_steps`` or a signal; the exit code."""
        state, opts = self.state, self.opts
        while state.epoch < self.t.epochs:
            if opts.max_steps is not None and state.global_step >= opts.max_steps:
                _log(self.info, f"max steps {opts.max_steps} already reached (checkpoint at step {state.global_step})")
                break
            t0 = time.perf_counter()
            res = self.train_epoch()
            seconds = time.perf_counter() - t0
            if res.stopped == "signal":
                self.save([self.last_pt])
                _log(self.info, f"stopped by signal {self.stop.signum} at step {state.global_step}; saved "
                                f"{self.last_pt} (continue with --resume)")
                return 128 + int(self.stop.signum or 0)
            if state.step_in_epoch >= self.parts.steps_per_epoch:
                self.close_epoch(res, seconds)
            else:   # max_steps in the middle of an epoch: validate what we have, keep the position for --resume
                self.validate_and_save(state.epoch + state.step_in_epoch / self.parts.steps_per_epoch, res, seconds)
            if res.stopped:
                _log(self.info, f"stopped after {state.global_step} steps (--max-steps); saved {self.last_pt}")
                break
        return 0

    def train_epoch(self):
        """Train from the saved position in the current epoch to its end (or a stop)."""
        state, parts, t = self.state, self.parts, self.t
        parts.dataset.set_epoch(state.epoch)
        parts.sampler.set_epoch(state.epoch)
        loader = DataLoader(parts.dataset, batch_size=t.batch_size,
                            sampler=SkipSampler(parts.sampler, state.step_in_epoch * t.batch_size),
                            collate_fn=collate, num_workers=self.opts.workers, drop_last=parts.drop_last,
                            pin_memory=self.device.type == "cuda",
                            generator=torch.Generator().manual_seed(t.seed + state.epoch))
        res = train_one_epoch(self.ddp_model, parts.criterion, loader, parts.optimizer, parts.scheduler,
                              parts.scaler, device=self.device, epoch=state.epoch, epochs=t.epochs,
                              global_step=state.global_step, max_steps=self.opts.max_steps, grad_clip=t.grad_clip,
                              info=self.info, stop=lambda: bool(self.stop), on_step=self.log.step,
                              progress=self.opts.progress, steps_before=state.step_in_epoch)
        state.global_step = res.global_step
        state.step_in_epoch += res.steps
        return res

    def close_epoch(self, res, seconds: float) -> None:
        """An epoch ended: validate when due (every ``val_every``, the last, a stop), else only save and log."""
        state = self.state
        state.epoch, state.step_in_epoch = state.epoch + 1, 0
        due = state.epoch % max(1, self.t.val_every) == 0 or state.epoch == self.t.epochs or res.stopped
        _log(self.info, f"epoch {state.epoch}/{self.t.epochs}: loss {res.mean_terms.get('loss', float('nan')):.4f}, "
                        f"{seconds / max(res.steps, 1):.2f} s/step")
        if due:
            self.validate_and_save(state.epoch, res, seconds)
        else:
            self.save(self._checkpoints(improved=False))
            self.log.epoch(self._epoch_row(state.epoch, res, seconds), None)

    def validate_and_save(self, epoch_progress: float, res, seconds: float) -> None:
        """Validation AP (main process), ``best.pt`` when it improved, ``last.pt`` always, the epoch log row."""
        val, state = None, self.state
        if self.opts.val_records and self.info.is_main:
            t0 = time.perf_counter()
            val = evaluate(self.parts.model, self.opts.cfg, self.opts.val_records, self.device,
                           progress=self.opts.progress, dets_path=Path(self.opts.out_dir) / "val.dets.json")
            _log(self.info, f"  val: {HEADLINE} {val[HEADLINE]:.2f}  AP25_tiny {val.get('AP25_tiny', float('nan')):.2f}"
                            f"  AP50_all {val.get('AP50_all', float('nan')):.2f}  ({time.perf_counter() - t0:.0f} s)")
        improved = val is not None and (state.best_metric is None or val[HEADLINE] > state.best_metric)
        if improved:
            state.best_metric = float(val[HEADLINE])
        self.save(self._checkpoints(improved), metrics=val)
        self.log.epoch(self._epoch_row(round(epoch_progress, 3), res, seconds), val)

    def _checkpoints(self, improved: bool) -> list[Path]:
        """Where an epoch's weights go: ``best.pt`` too when validation improved, or always when there is no
        validation data (then the latest weights are the best we know, and README's ``best.pt`` exists)."""
        return [self.last_pt, self.best_pt] if improved or not self.opts.val_records else [self.last_pt]

    def save(self, paths: list[Path], metrics: dict | None = None) -> None:
        p, state = self.parts, self.state
        if self.info.is_main:
            save_checkpoint(paths, model=p.model, cfg=self.opts.cfg, optimizer=p.optimizer, scheduler=p.scheduler,
                            scaler=p.scaler, epoch=state.epoch, step_in_epoch=state.step_in_epoch,
                            global_step=state.global_step, best_metric=state.best_metric, metrics=metrics)
        barrier(self.info)

    def _epoch_row(self, epoch, res, seconds: float) -> dict:
        return {"epoch": epoch, "global_step": self.state.global_step,
                "lr": self.parts.optimizer.param_groups[0]["lr"], "seconds": round(seconds, 1), **res.mean_terms}


def _remove_partial_writes(out_dir: Path) -> None:
    """Delete the temp files (``.<name>.*.tmp``, see ``atomic_write_bytes``) of writes that a kill cut off; the run
    folder is this run's own, so no other process is writing them."""
    for p in sorted(out_dir.glob(".*.tmp")):
        p.unlink()
        print(f"removed {p}: a write cut off when an earlier run was killed", flush=True)


def fit(opts: TrainOptions) -> int:
    """Train as described by ``opts``; returns the process exit code."""
    cfg, t = opts.cfg, opts.cfg.train
    info = init_distributed(opts.device)
    device = device_for(info, opts.device)
    out_dir = Path(opts.out_dir)
    if info.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        _remove_partial_writes(out_dir)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    _seed_everything(t.seed)
    parts = build_parts(opts, info, device)
    state, ckpt = restore(opts, parts, out_dir / "last.pt")
    log = RunLog(out_dir, enabled=info.is_main)
    log.resume_at(state.global_step)   # at step 0: the rows of a run killed before its first checkpoint go too
    _log(info, f"train: {len(parts.dataset)} crops/epoch of {len(opts.train_records)} images, "
               f"{parts.steps_per_epoch} steps/epoch x {t.epochs} epochs (batch {t.batch_size} x {info.world_size} "
               f"process(es)), {len(opts.val_records)} val images, device {device}, AMP {parts.scaler.is_enabled()}"
               + (f"; resumed at epoch {state.epoch + 1} step {state.step_in_epoch} (global {state.global_step})"
                  if opts.resume else ""))
    run = Run(opts, parts, state, info, device, log)
    if opts.workers > 0:
        parts.dataset.preload()
    if ckpt is not None:
        set_rng_state(ckpt["rng"])   # last: building the model above consumed random numbers
    run.stop.install()
    code = 0
    try:
        code = run.loop()
        if info.is_main and code == 0:
            log.plot()
    except LossNotFinite as e:
        last_pt = run.last_pt
        keep = f"The last good checkpoint is {last_pt}" if last_pt.is_file() else "No checkpoint was written yet"
        if info.is_main:
            print(f"error: {e}. {keep}. Lower train.lr, set train.grad_clip or check the data, then --resume.",
                  file=sys.stderr, flush=True)
        code = 1
    finally:
        run.stop.restore()
        cleanup(info)
    if info.is_main and code == 0:
        print(f"done: {out_dir} (best {HEADLINE}: "
              f"{'n/a' if state.best_metric is None else f'{state.best_metric:.2f}'})", file=sys.stdout, flush=True)
    return code
