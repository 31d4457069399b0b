"""Helpers of the ``sspnet detect`` tests: run it as a user does, synthetic stills on disk, a run's outputs."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2

from streamkit import ENV, ROOT

# what must be the same after a kill + re-run as after one run (the log and the timing summary differ)
NOT_COMPARED = {"detect.log", "summary.json"}


def detect_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "sspnet.cli", "detect", *map(str, args)]


def run_detect(*args, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(detect_cmd(*args), capture_output=True, text=True, timeout=timeout, env=ENV, cwd=ROOT)


def start_detect(*args) -> subprocess.Popen:
    return subprocess.Popen(detect_cmd(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
                            cwd=ROOT)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def write_stills(folder: Path, names: list[str], size_wh=(640, 512), seed: int = 5) -> list[Path]:
    """Synthetic aerial stills (the synth generator's), one per name (relative paths, .jpg or .png)."""
    from sspnet.synth.dataset import render_image
    out = []
    for i, name in enumerate(names):
        p = folder / name
        p.parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(p), render_image(size_wh, seed, i)[0])
        out.append(p)
    return out


def run_outputs(run: Path) -> dict[str, bytes]:
    """Every file of a run folder but the log and the summary, by relative path."""
    return {p.relative_to(run).as_posix(): p.read_bytes() for p in sorted(run.rglob("*"))
            if p.is_file() and p.name not in NOT_COMPARED}
