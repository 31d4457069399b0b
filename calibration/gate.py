"""Accuracy gate: FP32 and INT8 ONNX on the same data through the runtime's ONNX Runtime backend, TinyPerson AP.

Both models run through the ``open_backend`` factory the caller hands in (the CLI passes the runtime's
``sspnet.runtime.backends.open_backend``: the deployed code path, same tiling, merge and post-processing) and ``sspnet.evaluation.detect_dataset`` + ``evaluate``. Reported: AP50 tiny, tiny1, tiny2, tiny3
(percent) for both, the drop, and the score shift of matched detections (INT8 confidences compress: ultralytics
#24668; deployments may retune the threshold).

If the AP50-tiny drop exceeds ``max_drop``, nodes are taken out of quantization until it passes or none is left:
1. the SSPNet attention maps and gates (CAM attention convs and sigmoids, SEM/SSM multiplications),
2. the head output convolutions (class logits, box regression),
3. then the remaining quantized nodes, noisiest first (``sensitivity.rank_nodes``), 1, 2, 4, … at a time.
Every excluded node is reported with the reason.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from sspnet.boxes import box_iou
from sspnet.evaluation.metrics import HEADLINE

OpenBackend = Callable[[str], object]   # onnx path -> a detector with the runtime Backend interface

REPORTED = ("AP50_tiny", "AP50_tiny1", "AP50_tiny2", "AP50_tiny3")
HEAD_OUTPUT_PREFIXES = ("head/cls_out", "head/reg_out", "cls_score/", "bbox_pred/", "rpn_cls/", "rpn_cls_",
                        "rpn_reg/", "rpn_reg_")


def structural_stages(model) -> list[tuple[str, str, list[str]]]:
    """[(stage, reason, node names)] in gate order for a FP32 ModelProto with the exporter's names."""
    names = [n.name for n in model.graph.node]
    ops = {n.name: n.op_type for n in model.graph.node}
    stages = []
    if any(n.startswith("neck/cam/") for n in names):
        attn = [n for n in names if n.startswith("neck/cam/attn")
                or (n.startswith("neck/cam/") and ops[n] == "Sigmoid")
                or (n.count("/") == 1 and n.startswith("neck/") and ops[n] in ("Mul", "Add"))]
        stages.append(("attention", "SSPNet attention map / gate (CAM sigmoid, SEM/SSM multiply): gate stage 1",
                       attn))
    heads = [n for n in names if n.startswith(HEAD_OUTPUT_PREFIXES)]
    stages.append(("head-outputs", "head output convolution (class logits / box regression): gate stage 2", heads))
    return [s for s in stages if s[2]]


def evaluate_onnx(open_backend: OpenBackend, onnx_path, records) -> tuple[dict, dict]:
    """(metrics, detections) of an ONNX model (with its manifest) on ``records``."""
    from sspnet.evaluation import detect_dataset, evaluate
    backend = open_backend(str(onnx_path))
    try:
        detections = detect_dataset(records, backend)
    finally:
        backend.close()
    return evaluate(records, detections, with_mr=False), detections


def score_shift(det_fp32: dict, det_int8: dict, min_score: float = 0.05, iou: float = 0.5) -> dict:
    """Detections paired per image (greedy, IoU ≥ ``iou``, FP32 score ≥ ``min_score``): INT8 − FP32 score."""
    deltas, ratios, unmatched = [], [], 0
    for image_id, (bf, sf) in det_fp32.items():
        keep = sf >= min_score
        bf, sf = bf[keep], sf[keep]
        bi, si = det_int8.get(image_id, (np.zeros((0, 4), np.float32), np.zeros(0, np.float32)))
        if len(sf) == 0:
            continue
        if len(si) == 0:
            unmatched += len(sf)
            continue
        m = box_iou(bf, bi)
        used = np.zeros(len(si), bool)
        for i in np.argsort(-sf):
            cand = np.where(~used & (m[i] >= iou))[0]
            if cand.size == 0:
                unmatched += 1
                continue
            j = cand[np.argmax(m[i, cand])]
            used[j] = True
            deltas.append(float(si[j] - sf[i]))
            ratios.append(float(si[j] / sf[i]))
    if not deltas:
        return {"matched": 0, "unmatched_fp32": unmatched}
    d = np.asarray(deltas)
    return {"matched": len(deltas), "unmatched_fp32": unmatched, "mean_delta": round(float(d.mean()), 5),
            "median_delta": round(float(np.median(d)), 5), "median_ratio": round(float(np.median(ratios)), 4)}


def _pick(metrics: dict) -> dict:
    return {k: (None if isinstance(metrics.get(k), float) and math.isnan(metrics[k]) else metrics.get(k))
            for k in REPORTED}


def _drop(fp32: dict, int8: dict) -> float:
    a, b = fp32.get(HEADLINE, float("nan")), int8.get(HEADLINE, float("nan"))
    return float(a - b)


def run_gate(fp32_path, records, quantize: Callable[[dict], object], excluded: dict, max_drop: float,
             rank: Callable[[object, dict], list[dict]], float_model, open_backend: OpenBackend,
             min_score: float = 0.05, log=print) -> dict:
    """Quantize with ``excluded`` ({node: reason}), evaluate, widen the exclusions until the drop ≤ ``max_drop``.

    ``open_backend(onnx_path)`` opens a detector (the runtime's ONNX Runtime backend, handed in by the CLI that
    wires the stages: calibration never imports the runtime).

    ``quantize(excluded) -> path`` writes a candidate INT8 ONNX (with manifest); ``rank(path, excluded)`` returns
    ``sensitivity.rank_nodes`` rows for the nodes still quantized. Returns the gate report; ``report["path"]`` is
    the last candidate and ``report["excluded"]`` its exclusions.
    """
    fp32_metrics, fp32_dets = evaluate_onnx(open_backend, fp32_path, records)
    log(f"gate: FP32 {HEADLINE} {fp32_metrics.get(HEADLINE, float('nan')):.2f} on {len(records)} images")
    excluded = dict(excluded)
    stages = structural_stages(float_model)
    steps, ranked, chunk = [], None, 1
    while True:
        path = quantize(excluded)
        int8_metrics, int8_dets = evaluate_onnx(open_backend, path, records)
        drop = _drop(fp32_metrics, int8_metrics)
        steps.append({"excluded": len(excluded), "int8": _pick(int8_metrics), "drop": None if math.isnan(drop) else
                      round(drop, 3)})
        log(f"gate: INT8 {HEADLINE} {int8_metrics.get(HEADLINE, float('nan')):.2f}, drop {drop:.2f} "
            f"(max {max_drop}), {len(excluded)} nodes in float")
        if math.isnan(drop) or drop <= max_drop:
            break
        added = {}
        while stages and not added:
            stage, reason, nodes = stages.pop(0)
            added = {n: reason for n in nodes if n not in excluded}
        if not added:
            if ranked is None:
                ranked = rank(path, excluded)
            ranked = [r for r in ranked if r["node"] not in excluded]
            take, ranked = ranked[:chunk], ranked[chunk:]
            chunk *= 2
            added = {r["node"]: f"per-node quantization error: SQNR {r['qdq_sqnr_db']} dB at {r['tensor']} "
                                f"(gate stage 3, noisiest first)" for r in take}
        if not added:
            log("gate: nothing left to keep in float; the INT8 model still misses the bound")
            break
        excluded.update(added)
    passed = math.isnan(drop) or drop <= max_drop
    return {"metric": HEADLINE, "max_drop": max_drop, "passed": passed,
            "note": None if not math.isnan(drop) else f"{HEADLINE} is undefined on this data (no tiny ground truth): "
                                                      f"not gated",
            "fp32": _pick(fp32_metrics), "int8": _pick(int8_metrics), "drop": None if math.isnan(drop) else
            round(drop, 3), "score_shift": score_shift(fp32_dets, int8_dets, min_score), "steps": steps,
            "images": len(records), "path": path, "excluded": excluded}
