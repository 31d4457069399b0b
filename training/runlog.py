"""What a run leaves in RUN_DIR besides checkpoints: ``steps.csv`` (one flushed row per optimizer step),
``metrics.csv`` (one flushed row per epoch), ``val.jsonl`` (every validation's full metric dict) and
``curves.png`` (losses per step, validation AP50-tiny per epoch). Only rank 0 writes.
"""
from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from sspnet.evaluation.metrics import HEADLINE
from sspnet.manifest import atomic_write_bytes

VAL_KEYS = ("AP50_tiny", "AP25_tiny", "AP75_tiny", "AP50_tiny1", "AP50_tiny2", "AP50_tiny3", "AP50_small",
            "AP50_all", "MR50_tiny")


def _read_rows(path: Path) -> tuple[list[str], list[dict]]:
    if not path.is_file():
        return [], []
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


class CsvLog:
    """Append-only CSV whose header is fixed by the first row (or by the existing file on resume)."""

    def __init__(self, path: Path):
        self.path = path
        self.fields, _ = _read_rows(path)

    def truncate_after(self, key: str, last: int) -> None:
        """Drop rows whose ``key`` column exceeds ``last`` (rows logged after the checkpoint a run resumes from)."""
        fields, rows = _read_rows(self.path)
        if not fields:
            return
        kept = [r for r in rows if r.get(key) not in (None, "") and int(float(r[key])) <= last]
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=fields)
        w.writeheader()
        w.writerows(kept)
        atomic_write_bytes(self.path, buf.getvalue().encode())

    def append(self, row: dict) -> None:
        new = not self.fields
        if new:
            self.fields = list(row)
        with open(self.path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.fields, extrasaction="ignore", restval="")
            if new:
                w.writeheader()
            w.writerow(row)   # floats as repr: exact (the resume test compares losses bit for bit)
            f.flush()


class RunLog:
    def __init__(self, out_dir: Path, enabled: bool = True):
        self.out_dir, self.enabled = Path(out_dir), enabled
        self.steps = CsvLog(self.out_dir / "steps.csv")
        self.metrics = CsvLog(self.out_dir / "metrics.csv")

    def resume_at(self, global_step: int) -> None:
        if self.enabled:
            self.steps.truncate_after("step", global_step)
            self.metrics.truncate_after("global_step", global_step)

    def step(self, row: dict) -> None:
        if self.enabled:
            self.steps.append(row)

    def epoch(self, row: dict, val: dict | None) -> None:
        if not self.enabled:
            return
        full = dict(row)
        full.update({f"val_{k}": (float(val[k]) if val and k in val else "") for k in VAL_KEYS})
        self.metrics.append(full)
        if val:
            with open(self.out_dir / "val.jsonl", "a") as f:
                f.write(json.dumps({"epoch": row.get("epoch"), "global_step": row.get("global_step"), **val}) + "\n")
                f.flush()
        self.plot()

    def plot(self) -> Path | None:
        """Write curves.png from the CSVs: loss terms per step (moving average) and val AP50-tiny per epoch."""
        if not self.enabled:
            return None
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        s_fields, s_rows = _read_rows(self.steps.path)
        _, m_rows = _read_rows(self.metrics.path)
        terms = [k for k in s_fields if k == "loss" or k.startswith("loss_")]
        fig, (ax_loss, ax_ap) = plt.subplots(1, 2, figsize=(11, 4))
        steps = [int(r["step"]) for r in s_rows]
        for k in terms:
            ys = [float(r[k]) if r.get(k) not in (None, "") else math.nan for r in s_rows]
            ax_loss.plot(steps, _moving_average(ys, 20), label=k, lw=1.2 if k == "loss" else 0.9)
        ax_loss.set(xlabel="step", ylabel="loss (20-step mean)", title="training losses")
        if any(v > 0 for r in s_rows for k in terms if (v := _num(r.get(k))) is not None):
            ax_loss.set_yscale("log")
        if terms:
            ax_loss.legend(fontsize=8)
        col = f"val_{HEADLINE}"
        pts = [(int(float(r["epoch"])), float(r[col])) for r in m_rows if r.get(col) not in (None, "")]
        if pts:
            ax_ap.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=HEADLINE)
            ax_ap.legend(fontsize=8)
        ax_ap.set(xlabel="epoch", ylabel="AP (%)", title=f"validation {HEADLINE}")
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90)
        plt.close(fig)
        out = self.out_dir / "curves.png"
        atomic_write_bytes(out, buf.getvalue())
        return out


def _num(v) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _moving_average(ys: list[float], n: int) -> list[float]:
    out, acc = [], []
    for y in ys:
        acc.append(y)
        if len(acc) > n:
            acc.pop(0)
        vals = [a for a in acc if not math.isnan(a)]
        out.append(sum(vals) / len(vals) if vals else math.nan)
    return out
