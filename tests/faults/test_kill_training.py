"""``sspnet train`` killed with SIGKILL (no handler runs): at a random step, and in the middle of writing a checkpoint.
Every ``*.pt`` left in the run folder loads with ``load_checkpoint`` (checkpoints are written to a temp file and
renamed), the run then goes on to its last step (``--resume``, or a fresh start when no checkpoint was written
yet), each step is logged once, and no temp file is left behind.

Before: a temp file cut off by the kill stayed in the run folder for good (one checkpoint's size, 28 MB here), and
a fresh start after a kill before the first checkpoint appended to the old ``steps.csv``, logging those steps twice.
"""
from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from sspnet.synth import render_dataset
from sspnet.training.checkpoint import load_checkpoint

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "sspnet_edge.yaml"
STEPS_PER_EPOCH, EPOCHS = 3, 3        # 3 images x 2 crops, batch 2; a checkpoint after each epoch
SMALL = ["--set", "train.crop_w=128", "--set", "train.crop_h=96", "--set", "train.crops_per_image=2", "--batch", "2",
         "--epochs", str(EPOCHS), "--set", "train.warmup_iters=2", "--device", "cpu", "--workers", "0"]
ENV = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> str:
    return str(render_dataset(tmp_path_factory.mktemp("synth"), 3, size=(256, 192), seed=5))


def _cmd(data: str, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "sspnet.cli", "train", "--config", str(CONFIG), "--data", data, "--out", str(out),
            *SMALL, *extra]


def _kill_when(data: str, out: Path, condition) -> None:
    proc = subprocess.Popen(_cmd(data, out), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while proc.poll() is None and time.monotonic() < deadline and not condition():
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, f"the run ended before the kill ({proc.returncode}): {stderr[-2000:]}"


def _logged_steps(out: Path) -> list[int]:
    path = out / "steps.csv"
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return [int(row["step"]) for row in csv.DictReader(f)]


def _temp_files(out: Path) -> list[str]:
    return sorted(p.name for p in out.glob(".*.tmp"))


def _writing(out: Path, checkpoint: str) -> bool:
    """A temp file of ``checkpoint`` exists (not of its .json sidecar): the write has begun, the rename not yet."""
    return any(".json." not in p.name for p in out.glob(f".{checkpoint}.*.tmp"))


def _run(data: str, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(_cmd(data, out, *extra), env=ENV, capture_output=True, text=True, timeout=300)


def _finish(data: str, out: Path, why: str) -> None:
    """Every checkpoint left loads; the run resumes (or starts over) and ends at its last step, logged once."""
    checkpoints = sorted(p.name for p in out.glob("*.pt"))
    assert set(checkpoints) <= {"last.pt", "best.pt"}, (why, checkpoints)
    for name in checkpoints:
        load_checkpoint(out / name)
    r = _run(data, out, "--resume")
    if not checkpoints:         # killed before the first checkpoint: nothing to resume, so start over
        assert r.returncode == 2 and "last.pt not found" in r.stderr, (why, r.stderr[-2000:])
        r = _run(data, out)
    assert r.returncode == 0, (why, r.stdout[-2000:], r.stderr[-2000:])
    assert torch.load(out / "last.pt", weights_only=True)["global_step"] == STEPS_PER_EPOCH * EPOCHS, why
    assert _logged_steps(out) == list(range(1, STEPS_PER_EPOCH * EPOCHS + 1)), why
    assert _temp_files(out) == [], why


def test_sigkill_at_a_random_step_then_resume(data, tmp_path):
    step = random.randint(1, STEPS_PER_EPOCH * EPOCHS - 1)
    out = tmp_path / "run"
    _kill_when(data, out, lambda: len(_logged_steps(out)) >= step)
    _finish(data, out, f"killed at step {step} (logged {len(_logged_steps(out))})")


def test_sigkill_while_last_pt_is_rewritten(data, tmp_path):
    out = tmp_path / "run"
    # epoch 1 wrote last.pt, then best.pt; the next write of last.pt is epoch 2's, over the one on disk
    _kill_when(data, out, lambda: (out / "best.pt").exists() and _writing(out, "last.pt"))
    assert _writing(out, "last.pt"), _temp_files(out)
    assert torch.load(out / "last.pt", weights_only=True)["global_step"] == STEPS_PER_EPOCH   # the old one, whole
    _finish(data, out, f"killed while writing last.pt; temp files left: {_temp_files(out)}")
