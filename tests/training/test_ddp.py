"""DDP on CPU: ``torchrun`` with 2 processes and the gloo backend trains a few steps; rank 0 alone prints, logs and
writes the checkpoint (a plain state dict, no ``module.`` prefix)."""
import csv
import os
import subprocess
import sys
from pathlib import Path

import torch

from sspnet.manifest import read_manifest
from sspnet.synth import render_dataset

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "sspnet_edge.yaml"


def test_torchrun_two_processes_gloo(tmp_path):
    data = render_dataset(tmp_path / "synth", 3, size=(256, 192), seed=2)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "sspnet.cli", "train", "--config", str(CONFIG), "--data", str(data), "--out", str(out),
           "--device", "cpu", "--batch", "2", "--max-steps", "3", "--set", "train.crop_w=128",
           "--set", "train.crop_h=96", "--set", "train.warmup_iters=2"]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert r.stdout.count("sspnet train\n") == 1                # resolved options printed once (rank 0)
    assert "batch 2 x 2 process(es)" in r.stdout
    ckpt = torch.load(out / "last.pt", weights_only=True)
    assert ckpt["global_step"] == 3 and not any(k.startswith("module.") for k in ckpt["model"])
    assert read_manifest(out / "last.pt")["artifact"] == "checkpoint"
    with open(out / "steps.csv", newline="") as f:
        assert [int(row["step"]) for row in csv.DictReader(f)] == [1, 2, 3]   # one writer
    assert sorted(p.name for p in out.iterdir() if p.suffix == ".pt") == ["best.pt", "last.pt"]  # no val: best = last
