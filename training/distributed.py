"""DDP under ``torchrun``: process-group setup from the environment, samplers, reductions, rank-0 gating.

``torchrun --nproc_per_node=N -m sspnet.cli train ...`` (or ``--nnodes``/``--rdzv-endpoint`` across machines) sets
RANK, LOCAL_RANK and WORLD_SIZE; without them training runs as one process (world size 1) through the same code.
Backend: nccl on CUDA, gloo on CPU. Each process loads ``train.batch_size`` images per step.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.utils.data import DistributedSampler


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device_kind: str) -> DistInfo:
    """Join the process group that torchrun describes in the environment; world size 1 when there is none."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if device_kind == "cuda" else "gloo"
    if device_kind == "cuda":
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistInfo(rank=rank, local_rank=local_rank, world_size=world, backend=backend)


def device_for(info: DistInfo, device_kind: str) -> torch.device:
    return torch.device(f"cuda:{info.local_rank}") if device_kind == "cuda" else torch.device("cpu")


def wrap_model(model: torch.nn.Module, info: DistInfo, device: torch.device) -> torch.nn.Module:
    if not info.enabled:
        return model
    ids = [device.index] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)


def make_sampler(dataset, info: DistInfo, seed: int) -> DistributedSampler:
    """A shuffling sampler over this rank's share (world size 1 outside torchrun); call ``set_epoch`` each epoch."""
    return DistributedSampler(dataset, num_replicas=info.world_size, rank=info.rank, shuffle=True, seed=seed,
                              drop_last=False)


class SkipSampler(torch.utils.data.Sampler):
    """The indices of ``sampler`` after the first ``skip`` (resuming in the middle of an epoch)."""

    def __init__(self, sampler, skip: int = 0):
        self.sampler, self.skip = sampler, int(skip)

    def __iter__(self):
        return iter(list(self.sampler)[self.skip:])

    def __len__(self) -> int:
        return max(0, len(self.sampler) - self.skip)


def all_reduce_mean(values: dict[str, float], info: DistInfo) -> dict[str, float]:
    """Average scalar logs over ranks (identity on one process)."""
    if not info.enabled or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64)
    if info.backend == "nccl":
        t = t.cuda()
    dist.all_reduce(t)
    return {k: float(v) / info.world_size for k, v in zip(keys, t.tolist())}


def any_rank(flag: bool, info: DistInfo) -> bool:
    """True when ``flag`` is true on any rank (stop requests, non-finite losses)."""
    if not info.enabled:
        return bool(flag)
    t = torch.tensor([1.0 if flag else 0.0])
    if info.backend == "nccl":
        t = t.cuda()
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def cleanup(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
