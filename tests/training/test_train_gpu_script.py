"""scripts/train_gpu.sh on the CPU with a tiny step count: the budgeted runs start from the shipped weights, save
checkpoints under $OUT and stop cleanly; usage errors exit 2."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "train_gpu.sh"


@pytest.mark.slow
def test_train_gpu_script_smoke_on_cpu(tmp_path):
    from sspnet.synth import render_dataset
    from sspnet.training.checkpoint import read_checkpoint
    data = render_dataset(tmp_path / "synth", 2, size=(320, 256), seed=3)
    env = dict(os.environ, PY=sys.executable, OUT=str(tmp_path / "out"), DEVICE="cpu", MAX_STEPS="1",
               EDGE_MIN="5", R50_MIN="0", OMP_NUM_THREADS="1")
    r = subprocess.run(["bash", str(SCRIPT), str(data)], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    ckpt = read_checkpoint(tmp_path / "out" / "edge" / "last.pt")
    shipped = read_checkpoint(ROOT / "models" / "sspnet_edge.pt")["config"]
    assert ckpt["global_step"] == 1                                                 # the shipped recipe:
    assert ckpt["config"]["input"]["scale"] == shipped["input"]["scale"]
    assert ckpt["config"]["model"]["box_loss"] == shipped["model"]["box_loss"]
    assert "then all weights from models/sspnet_edge.pt" in r.stdout


def test_train_gpu_script_usage_errors(tmp_path):
    for args in ([], [str(tmp_path / "missing")]):
        r = subprocess.run(["bash", str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and "train_gpu.sh" in r.stderr
