"""Parity of an exported graph with the PyTorch model it came from, on real tiles.

Two checks (FP32 thresholds; an FP16 graph is measured the same way and reported, not enforced):
1. raw outputs: max |ONNX Runtime − PyTorch| of the undecoded logits and regression ≤ ``atol`` (1e-4); the decoded
   boxes (pixels) and scores are reported too (a 1e-4 change of reg moves a 64 px box by ~0.006 px). A graph without
   undecoded outputs (Faster R-CNN: proposals, RoIAlign and decode are inside) is held to ``atol`` on the scores and
   ``atol`` × tile size on the boxes (pixels).
2. detections: per tile, the core's ``select_detections`` (threshold → top-k → NMS) on both outputs must give the
   same detections, paired by IoU (≥ 0.99) and score (≤ 1e-3), not by sorted order. (Faster R-CNN: reported only —
   its proposal top-k and NMS run inside the graph, and a 1e-5 relative difference of two near-equal RPN scores
   changes which proposals survive.) When the manifest's score
   threshold leaves fewer than ``min_dets`` detections (an untrained model), a lower threshold that keeps the top
   scores is used as well, and the report says which threshold was compared.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from sspnet.boxes import box_iou
from sspnet.data.image_size import folder_images
from sspnet.postprocess import Postprocess, run_in_batches, select_detections
from sspnet.preprocess import FullFrame, Preprocess, frame_to_tiles


def _frames(source) -> tuple[list[np.ndarray], str]:
    """BGR frames from a folder, a dataset (``sspnet.data.load_dataset``), a list of arrays, or None (synthetic)."""
    import cv2
    if source is None:
        from sspnet.synth.dataset import render_image
        return [render_image((960, 720), seed=7, index=i)[0] for i in range(2)], "synthetic (sspnet.synth, seed 7)"
    if isinstance(source, (list, tuple)):
        return list(source), f"{len(source)} in-memory frames"
    path = Path(source)
    files = folder_images(path)
    if files:
        frames = [cv2.imread(str(p), cv2.IMREAD_COLOR) for p in files[:8]]
        bad = [str(p) for p, f in zip(files, frames) if f is None]
        if bad:
            raise ValueError(f"cannot read image(s) {bad[:3]}")
        return frames, str(path)
    from sspnet.data import load_dataset
    records = load_dataset(path)
    if not records:
        raise ValueError(f"{path}: dataset has no images")
    return [r.load_image() for r in records[:8]], str(path)


def parity_tiles_from(source, pre: Preprocess, count: int = 4) -> tuple[np.ndarray, str]:
    """Up to ``count`` tiles [T, 3, H, W] through the core's ``frame_to_tiles`` (the runtime's pre-processing)."""
    frames, where = _frames(source)
    tiles = [t for f in frames for t in frame_to_tiles(f, pre).batch]
    if not tiles:
        raise ValueError(f"no tiles from {where}")
    step = max(1, len(tiles) // count)
    return np.stack(tiles[::step][:count]).astype(np.float32), where


def parity_frame_from(source, pre: Preprocess, full_frame: FullFrame) -> np.ndarray:
    """The first frame as one whole, padded input [1, 3, H, W] (a full-frame export's other shape)."""
    frames, where = _frames(source)
    batch = frame_to_tiles(frames[0], pre, full_frame).batch
    if len(batch) != 1:
        raise ValueError(f"the first frame of {where} is larger than the full-frame size "
                         f"{full_frame.max_w}x{full_frame.max_h} once scaled by {pre.scale_xy}")
    return batch


def _ort_outputs(onnx_bytes: bytes, tiles: np.ndarray, raw_names: dict, batch: int | None) -> dict:
    """boxes, scores and the raw tensors (keys of ``raw_names``) from ONNX Runtime (CPU), in chunks of the model's
    fixed batch."""
    import onnx
    import onnxruntime as ort
    model = onnx.load_from_string(onnx_bytes)
    keys = ["boxes", "scores"] + list(raw_names)
    names = ["boxes", "scores"] + list(raw_names.values())
    known = {o.name for o in model.graph.output}
    for n in names:
        if n not in known:
            model.graph.output.append(onnx.helper.make_empty_tensor_value_info(n))
    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    outs = run_in_batches(lambda chunk: sess.run(names, {"images": chunk}), tiles, step=batch, pad=batch is not None)
    return {k: np.asarray(a, np.float32) for k, a in zip(keys, outs)}


def _torch_outputs(wrapper, tiles: np.ndarray, raw_keys) -> dict:
    import torch
    x = torch.from_numpy(tiles)
    with torch.no_grad():
        boxes, scores = wrapper(x)
        res = {"boxes": boxes.numpy(), "scores": scores.numpy()}
        if raw_keys:
            raw = wrapper.raw(x)
            res.update({k: raw[k].numpy() for k in raw_keys})
    return res


def match_detections(a: tuple, b: tuple, iou_min: float = 0.99, score_tol: float = 1e-3) -> bool:
    """Same detections (boxes [K, 4], scores [K]) up to order: greedy pairing by IoU, then score."""
    (ba, sa), (bb, sb) = a, b
    if len(sa) != len(sb):
        return False
    if len(sa) == 0:
        return True
    iou = box_iou(ba, bb)
    used = np.zeros(len(sb), bool)
    for i in np.argsort(-sa):
        cand = np.where(~used & (iou[i] >= iou_min) & (np.abs(sb - sa[i]) <= score_tol))[0]
        if cand.size == 0:
            return False
        used[cand[np.argmax(iou[i, cand])]] = True
    return True


def separable_threshold(scores_desc: np.ndarray, start: int, max_diff: float) -> float | None:
    """A threshold below about ``start`` top scores that sits in a gap wider than the observed score differences
    (so that tiny numeric differences cannot move a score across it); None if the top 4·start scores have none."""
    gaps = scores_desc[start - 1:4 * start] - scores_desc[start:4 * start + 1]
    ok = np.nonzero(gaps > 4 * max_diff + 1e-7)[0]
    if ok.size == 0:
        return None
    i = start - 1 + int(ok[0])
    return float((scores_desc[i] + scores_desc[i + 1]) / 2)


def compare_detections(ref: dict, got: dict, post: Postprocess, min_dets: int = 20) -> dict:
    """Per-tile detections after the core's selection + NMS, at the manifest threshold and (if that gives fewer
    than ``min_dets``) at a threshold keeping about the top ``min_dets`` scores of the reference, placed in a gap
    of the reference scores wider than the observed score differences."""
    thresholds = [post.score_thr]
    flat = np.sort(ref["scores"].ravel())[::-1]
    if int((flat >= post.score_thr).sum()) < min_dets and flat.size > min_dets:
        thr = separable_threshold(flat, min_dets, float(np.max(np.abs(ref["scores"] - got["scores"]))))
        if thr is not None:
            thresholds.append(thr)
    result = {}
    for thr in thresholds:
        p = dataclasses.replace(post, score_thr=thr)
        same, n_ref, n_got = True, 0, 0
        for t in range(len(ref["scores"])):
            da = select_detections(ref["boxes"][t], ref["scores"][t], p)
            db = select_detections(got["boxes"][t], got["scores"][t], p)
            n_ref, n_got = n_ref + len(da[1]), n_got + len(db[1])
            same &= match_detections(da, db)
        result[f"{thr:.6g}"] = {"same": bool(same), "torch": n_ref, "onnx": n_got}
    return result


def check_parity(wrapper, onnx_bytes: bytes, tiles: np.ndarray, post: Postprocess, raw_names: dict,
                 batch: int | None = None, atol: float | None = 1e-4, scaled: bool = False,
                 detections_must_match: bool = True) -> dict:
    """Run both, compare; ``ok`` is False when a raw output differs by more than its tolerance or (if
    ``detections_must_match``) detections differ. ``raw_names``: {key: ONNX tensor name} of the undecoded outputs,
    ``wrapper.raw(x)`` returns the same keys. ``scaled``: tolerance ``atol`` × max(1, max |reference|) per raw
    output (Faster R-CNN's large RPN logits). ``atol=None``: report only, ``ok`` is always True."""
    ref = _torch_outputs(wrapper, tiles, list(raw_names))
    got = _ort_outputs(onnx_bytes, tiles, raw_names, batch)
    diffs = {k: float(np.max(np.abs(ref[k] - got[k]))) for k in ["boxes", "scores"] + list(raw_names)}
    dets = compare_detections(ref, got, post)
    raw_keys = list(raw_names) or ["boxes", "scores"]
    tol = {}
    for k in raw_keys:
        scale = max(1.0, float(np.max(np.abs(ref[k])))) if scaled else 1.0
        # without undecoded outputs boxes are compared relative to the tile size: atol × max(W, H) px
        tol[k] = (atol or 0.0) * (max(tiles.shape[-2:]) if k == "boxes" and not raw_names else scale)
    raw_ok = atol is None or all(diffs[k] <= tol[k] for k in raw_keys)
    dets_ok = all(d["same"] for d in dets.values()) or not detections_must_match
    ok = atol is None or (raw_ok and dets_ok)
    summary = ", ".join(f"max|Δ{k}| {v:.2e}" for k, v in diffs.items())
    summary += "; detections " + ", ".join(f"thr {t}: {'same' if d['same'] else 'DIFFER'} "
                                            f"({d['torch']} torch / {d['onnx']} onnx)" for t, d in dets.items())
    if not detections_must_match:
        summary += " (reported, not enforced: proposal top-k/NMS tie order)"
    return {"ok": bool(ok), "atol": atol, "compared_raw": raw_keys, "tolerance": tol, "max_abs_diff": diffs,
            "detections": dets, "detections_enforced": detections_must_match, "tiles": int(len(tiles)),
            "summary": summary}
