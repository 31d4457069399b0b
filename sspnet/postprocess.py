"""Post-processing written once: FoveaBox decode, per-tile selection + NMS, tile merge back to frame pixels.

The exported ONNX already decodes boxes in-graph (see export/); ``decode_fovea`` is the numpy reference of the
same formula, used by the PyTorch evaluation path and by the export parity test.
"""
from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from sspnet.boxes import box_vote, clip_boxes, nms, scale_boxes
from sspnet.preprocess import FullFrame, Preprocess, check_frame, input_layout, normalize, resize_frame
from sspnet.tiling import crop_tiles, merge_tile_detections


@dataclass(frozen=True)
class Postprocess:
    score_thr: float = 0.05
    pre_nms_topk: int = 1000    # per tile
    nms_iou: float = 0.5        # per tile
    merge_iou: float = 0.5      # across tiles (TinyBenchmark's merge)
    max_det: int = 1000         # per frame after merge
    # > 0: Gaussian Soft-NMS with this sigma over the merged frame instead of hard NMS per tile and at the merge
    # (neighbours in a crowd decay instead of vanishing); 0: hard NMS at nms_iou / merge_iou
    soft_nms_sigma: float = 0.0
    # > 0: each box kept by the per-tile NMS is replaced by the score-weighted mean of the candidates overlapping
    # it by at least this IoU (box voting); 0: the best cell's box as it is
    vote_iou: float = 0.0
    # run every input a second time mirrored left-right and pool both sets of boxes before NMS (test-time
    # augmentation, twice the network's cost); with vote_iou the kept box averages both views
    flip_tta: bool = False
    # the operating point (runtime/stream.py's default --score-thr): chosen on the validation PR curve when the
    # model is shipped; score_thr above is the evaluation protocol's, which keeps low scores for AP
    operating_thr: float = 0.25

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Postprocess":
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown post-processing keys {sorted(unknown)}")
        return cls(**d)


def fovea_points(input_w: int, input_h: int, strides: list[int]) -> list[np.ndarray]:
    """Cell centres ((i+0.5)·s, (j+0.5)·s) per level, each [H·W, 2] (x, y), row-major."""
    pts = []
    for s in strides:
        ys, xs = np.meshgrid((np.arange(input_h // s) + 0.5) * s, (np.arange(input_w // s) + 0.5) * s, indexing="ij")
        pts.append(np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32))
    return pts


def decode_fovea(reg_ltrb: np.ndarray, points_xy: np.ndarray, base_edge: float,
                 input_w: int, input_h: int) -> np.ndarray:
    """reg [..., K, 4] log-space (l, t, r, b) distances / base edge, points [K, 2] → xyxy [..., K, 4], clipped."""
    d = base_edge * np.exp(reg_ltrb)
    x, y = points_xy[:, 0], points_xy[:, 1]
    boxes = np.stack([x - d[..., 0], y - d[..., 1], x + d[..., 2], y + d[..., 3]], axis=-1)
    boxes[..., [0, 2]] = boxes[..., [0, 2]].clip(0, input_w)
    boxes[..., [1, 3]] = boxes[..., [1, 3]].clip(0, input_h)
    return boxes


def select_detections(boxes_xyxy: np.ndarray, scores: np.ndarray, post: Postprocess) -> tuple[np.ndarray, np.ndarray]:
    """One tile: score threshold → top-k → NMS (with Soft-NMS, that waits for the merge) → box voting when
    ``vote_iou`` > 0. Inputs [K, 4], [K]; outputs sorted by score."""
    keep = np.nonzero(scores >= post.score_thr)[0]
    if keep.size > post.pre_nms_topk:
        keep = keep[np.argpartition(-scores[keep], post.pre_nms_topk - 1)[:post.pre_nms_topk]]
    b, s = boxes_xyxy[keep], scores[keep]
    k = np.argsort(-s, kind="stable") if post.soft_nms_sigma > 0 else nms(b, s, post.nms_iou)
    kept = box_vote(b, s, k, post.vote_iou) if post.vote_iou > 0 else b[k]
    return kept.astype(np.float32), s[k].astype(np.float32)


TOPK_AREA = 640 * 512   # the area ``pre_nms_topk`` is counted per

# run_batch: NCHW float32 tiles → (boxes [T, K, 4] in tile input pixels, scores [T, K])
RunBatch = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def run_in_batches(run: Callable, inputs, count: int | None = None, step: int | None = None,
                   pad: bool = False) -> tuple:
    """The one batching loop: ``count`` inputs through ``run`` in chunks of at most ``step`` (None: all at once).

    ``inputs``: an array [T, ...], or ``inputs(i, j)`` making chunk i:j only when its turn comes (a 20 MP still's
    tiles need not all be in memory). ``pad``: the last chunk is zero-padded to ``step`` (a fixed-batch model) and
    the outputs cut back. ``run(chunk)`` returns a tuple of arrays with the batch first; so does this.
    """
    count = len(inputs) if count is None else count
    step = step or count
    chunk = inputs if callable(inputs) else (lambda i, j: inputs[i:j])
    parts = []
    for i in range(0, count, step):
        x = chunk(i, min(i + step, count))
        n = len(x)
        if pad and n < step:
            x = np.concatenate([x, np.zeros((step - n,) + x.shape[1:], x.dtype)])
        parts.append([np.asarray(o)[:n] for o in run(x)])
    if len(parts) == 1:
        return tuple(parts[0])
    return tuple(np.concatenate(outs) for outs in zip(*parts))


def with_flip_tta(run_batch: RunBatch) -> RunBatch:
    """``run_batch`` that also runs each input mirrored left-right and returns both views' candidates per input,
    the mirrored boxes mapped back: boxes [T, 2K, 4], scores [T, 2K]. Two calls, not a doubled batch, so a model
    built for a fixed batch size takes it too."""
    def run(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        boxes, scores = (np.asarray(o) for o in run_batch(x))
        m_boxes, m_scores = (np.asarray(o) for o in run_batch(np.ascontiguousarray(x[..., ::-1])))
        width = np.float32(x.shape[-1])
        unmirrored = np.stack([width - m_boxes[..., 2], m_boxes[..., 1], width - m_boxes[..., 0], m_boxes[..., 3]], -1)
        return np.concatenate([boxes, unmirrored], axis=1), np.concatenate([scores, m_scores], axis=1)
    return run


def detections_from_tiles(boxes: np.ndarray, scores: np.ndarray, corners_xyxy: np.ndarray, scale_xy: tuple,
                          frame_wh: tuple, post: Postprocess) -> tuple[np.ndarray, np.ndarray]:
    """Raw per-tile model outputs → merged detections in source-frame pixels. ``pre_nms_topk`` counts per
    640×512-sized area and view: a whole frame (one input of many tiles' area) keeps as many candidates as its tiles
    would, and ``flip_tta`` (``boxes`` from ``with_flip_tta``) twice as many."""
    area = int((corners_xyxy[0, 2] - corners_xyxy[0, 0]) * (corners_xyxy[0, 3] - corners_xyxy[0, 1]))
    areas = -(-area // TOPK_AREA) if len(corners_xyxy) == 1 else 1
    views = 2 if post.flip_tta else 1
    if areas * views > 1:
        post = dataclasses.replace(post, pre_nms_topk=post.pre_nms_topk * areas * views)
    per_tile = [select_detections(b, s, post) for b, s in zip(boxes, scores)]
    merged_b, merged_s = merge_tile_detections([p[0] for p in per_tile], [p[1] for p in per_tile],
                                               corners_xyxy, post.merge_iou, post.max_det,
                                               soft_sigma=post.soft_nms_sigma, score_thr=post.score_thr)
    return clip_boxes(scale_boxes(merged_b, (1.0 / scale_xy[0], 1.0 / scale_xy[1])), *frame_wh), merged_s


def detect_frame(frame_bgr: np.ndarray, pre: Preprocess, post: Postprocess, run_batch: RunBatch,
                 max_batch: int | None = None, full_frame: FullFrame | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Full frame → (boxes xyxy [K, 4] in frame pixels, scores [K]). All tiles go through ``run_batch`` at once
    unless ``max_batch`` splits them (a model exported with a fixed batch, or a 20 MP still whose tiles would not
    fit in memory at once: each chunk is cropped and normalised only when its turn comes). ``full_frame``: the
    artifact takes whole frames up to that size (one call, see ``sspnet.preprocess.input_layout``)."""
    check_frame(frame_bgr)
    resized = resize_frame(frame_bgr, pre.scale_xy)
    corners = input_layout(resized.shape[1], resized.shape[0], pre, full_frame)   # [T, 4]
    run = with_flip_tta(run_batch) if post.flip_tta else run_batch
    boxes, scores = run_in_batches(run, lambda i, j: normalize(crop_tiles(resized, corners[i:j]), pre),
                                   len(corners), max_batch)
    return detections_from_tiles(boxes, scores, corners, pre.scale_xy, (frame_bgr.shape[1], frame_bgr.shape[0]), post)
