"""The Backend interface every model runner implements (duck-typed), and helpers shared by the runners.

    backend.name: str                      "onnxruntime", "tensorrt", "torch"
    backend.manifest: dict                 the artifact's manifest sidecar, as read
    backend.preprocess: Preprocess         from the manifest (never guessed)
    backend.postprocess: Postprocess       from the manifest
    backend.max_batch: int | None          largest batch one call takes; None = dynamic (any size)
    backend.full_frame: FullFrame | None   whole frames up to this size run in one call (dynamic H, W); None = tiles
    backend.infer(batch [T, 3, H, W] float32) -> (boxes [T, K, 4] xyxy tile-input px, scores [T, K])
    backend.close()

``infer`` accepts any T >= 1: a fixed-batch runner pads a short batch and runs a long one in chunks.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

from sspnet.postprocess import Postprocess
from sspnet.preprocess import FullFrame, Preprocess

MODEL_ARTIFACTS = ("onnx", "onnx-int8", "onnx-fp16", "engine")


class Backend(Protocol):
    name: str
    manifest: dict
    preprocess: Preprocess
    postprocess: Postprocess
    max_batch: int | None
    full_frame: FullFrame | None

    def infer(self, batch_nchw: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def close(self) -> None: ...


class ManifestMismatch(ValueError):
    """The manifest and the model file disagree; the message says which field and how to fix it."""


def input_spec(manifest: dict, where: str) -> tuple:
    """(name, batch: int | None, width, height) from the manifest's ``input``; a malformed one is an error."""
    try:
        inp = manifest["input"]
        name, batch, width, height = inp["name"], inp["batch"], int(inp["width"]), int(inp["height"])
    except (KeyError, TypeError, ValueError) as e:
        raise ManifestMismatch(f"{where}: manifest 'input' is incomplete ({e!r}); re-export the model") from None
    if batch == "dynamic":
        batch = None
    elif not isinstance(batch, int) or batch < 1:
        raise ManifestMismatch(f"{where}: manifest input.batch is {batch!r}; expected an integer >= 1 or 'dynamic'")
    if inp.get("layout", "NCHW") != "NCHW" or inp.get("dtype", "float32") != "float32":
        raise ManifestMismatch(f"{where}: input layout/dtype {inp.get('layout')}/{inp.get('dtype')} not supported; "
                               f"the runtime feeds NCHW float32")
    return name, batch, width, height


def full_frame_spec(manifest: dict, where: str) -> FullFrame | None:
    """``input.full_frame`` of the manifest (an export with dynamic height and width), or None."""
    d = (manifest.get("input") or {}).get("full_frame")
    if d is None:
        return None
    try:
        return FullFrame.from_dict(d)
    except (KeyError, TypeError, ValueError) as e:
        raise ManifestMismatch(f"{where}: manifest input.full_frame is malformed ({e!r}); re-export the model") from None


def check_batch(batch_nchw: np.ndarray, chw: tuple, where: str, full_frame: FullFrame | None = None) -> np.ndarray:
    """A [T, 3, H, W] float32 contiguous array of the model's tile size — or, with ``full_frame``, of any size it
    accepts — or a ValueError that names the shapes."""
    ok = batch_nchw.ndim == 4 and len(batch_nchw) > 0 and batch_nchw.shape[1] == chw[0]
    if ok and tuple(batch_nchw.shape[1:]) != tuple(chw):
        h, w = batch_nchw.shape[2:]
        ok = full_frame is not None and full_frame.fits(w, h) and full_frame.padded(w, h) == (w, h)
    if not ok:
        accepted = (f" or [1, 3, H, W] up to {full_frame.max_h}x{full_frame.max_w}, multiples of {full_frame.multiple}"
                    if full_frame else "")
        raise ValueError(f"{where}: expected a batch [T>=1, {', '.join(map(str, chw))}]{accepted}, got "
                         f"{list(batch_nchw.shape)}")
    return np.ascontiguousarray(batch_nchw, dtype=np.float32)
