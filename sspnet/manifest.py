"""The manifest sidecar (``<artifact>.json``): what an artifact is, how to feed it and where it came from."""
from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sspnet.config import Config

FORMAT = "sspnet-manifest/1"
INPUT_NAME = "images"
OUTPUTS = {"boxes": "[N,K,4] xyxy, tile-input pixels", "scores": "[N,K] person probability"}
# what a derived artifact (INT8 ONNX, engine) copies from its parent's manifest: it then says on its own what model
# it holds, how to feed it, how to read its outputs and how it was quantized
COPIED_KEYS = ("model", "input", "preprocess", "postprocess", "outputs", "output_names", "classes", "calibration")


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def manifest_path(artifact: str | Path) -> Path:
    return Path(str(artifact) + ".json")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write via a temp file in the same folder + rename, so readers never see a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def model_fields(cfg: Config, artifact: str, *, input_wh: tuple[int, int] | None = None,
                 batch: int | None = None, full_frame=None) -> dict:
    """The fields every model artifact carries, for a model built from ``cfg``.

    ``input_wh``: the tile size the artifact takes (default: the config's); ``batch``: a fixed batch, or None for a
    dynamic one; ``full_frame``: a ``sspnet.preprocess.FullFrame`` when height and width are dynamic too (recorded
    as ``input.full_frame``). The pre-processing recorded is the config's, at that tile size."""
    pre = cfg.input
    w, h = input_wh or (pre.input_w, pre.input_h)
    m = cfg.model
    shape = {"name": INPUT_NAME, "layout": "NCHW", "dtype": "float32", "batch": "dynamic" if batch is None else batch,
             "width": w, "height": h}
    if full_frame is not None:
        shape["full_frame"] = full_frame.to_dict()
    return {"artifact": artifact,
            "model": {"name": m.name, "backbone": m.backbone, "neck": m.neck, "head": m.head},
            "input": shape,
            "preprocess": dataclasses.replace(pre, input_w=w, input_h=h).to_dict(),
            "postprocess": cfg.postprocess.to_dict(),
            "outputs": dict(OUTPUTS), "output_names": list(OUTPUTS), "classes": ["person"]}


def copied_fields(parent_manifest: dict | None) -> dict:
    """The ``COPIED_KEYS`` that ``parent_manifest`` has, for the manifest of an artifact derived from it."""
    return {k: parent_manifest[k] for k in COPIED_KEYS if parent_manifest and k in parent_manifest}


def write_manifest(artifact: str | Path, fields: dict, parent: str | Path | None = None) -> Path:
    """Write ``<artifact>.json`` with ``fields`` plus format, creation time, artifact sha256 and parent sha256.

    The parent's path is relative to the artifact's folder, so a shipped file names the run it came from
    (``../runs/edge/best.pt``) without recording where the user's checkout lies."""
    artifact = Path(artifact)
    m = {"format": FORMAT, "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    m.update(fields)
    if artifact.is_file():
        m["sha256"] = sha256_file(artifact)
    if parent is not None:
        rel = os.path.relpath(Path(parent).resolve(), artifact.resolve().parent)
        m["parent"] = {"path": Path(rel).as_posix(), "sha256": sha256_file(parent)}
    out = manifest_path(artifact)
    atomic_write_bytes(out, (json.dumps(m, indent=2, sort_keys=False) + "\n").encode())
    return out


def read_manifest(artifact: str | Path) -> dict:
    """Read the sidecar of ``artifact``; a missing or foreign file is an error that says what to do."""
    p = manifest_path(artifact)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: manifest sidecar missing; re-create {Path(artifact).name} with "
                                f"'sspnet export' / 'sspnet calibrate' / 'sspnet build', which write it")
    try:
        m = json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{p}: not valid JSON (line {e.lineno}): {e.msg}") from None
    if m.get("format") != FORMAT:
        raise ValueError(f"{p}: format is {m.get('format')!r}, expected {FORMAT!r}")
    return m
