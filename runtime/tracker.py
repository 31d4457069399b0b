"""IoU tracker (``--track``): stable ids for persons across frames, one-frame flickers suppressed.

Each frame, detections are matched greedily (highest IoU first, IoU >= ``iou_thr``) to the tracks' last boxes.
A new detection starts a tentative track; a track is confirmed, and gets an id, once it has been matched on
``min_hits`` consecutive frames. Only detections on confirmed tracks are reported, so a detection that appears on a
single frame never is. A confirmed track survives ``max_misses`` frames without a match (a missed detection
does not change the person's id); a tentative track that misses once is dropped.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sspnet.boxes import box_iou


@dataclass
class Track:
    box_xyxy: np.ndarray
    hits: int = 1           # consecutive matched frames
    misses: int = 0         # consecutive unmatched frames
    track_id: int | None = None   # set on confirmation


class IouTracker:
    def __init__(self, iou_thr: float = 0.3, min_hits: int = 2, max_misses: int = 5):
        if not 0 < iou_thr <= 1 or min_hits < 1 or max_misses < 0:
            raise ValueError(f"tracker: iou_thr in (0, 1], min_hits >= 1, max_misses >= 0; got "
                             f"{iou_thr}, {min_hits}, {max_misses}")
        self.iou_thr, self.min_hits, self.max_misses = iou_thr, min_hits, max_misses
        self.tracks: list[Track] = []
        self._next_id = 1

    def update(self, boxes_xyxy: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Detections [K, 4], [K] of one frame → (indices of the detections to report [R], their track ids [R])."""
        boxes_xyxy = np.asarray(boxes_xyxy, np.float32).reshape(-1, 4)
        pairs = self._match(boxes_xyxy)
        matched_tracks = {t for t, _ in pairs}
        matched_dets = {d for _, d in pairs}
        report_idx, report_ids = [], []
        for t, d in pairs:
            track = self.tracks[t]
            track.box_xyxy, track.hits, track.misses = boxes_xyxy[d], track.hits + 1, 0
            if track.track_id is None and track.hits >= self.min_hits:
                track.track_id, self._next_id = self._next_id, self._next_id + 1
            if track.track_id is not None:
                report_idx.append(d)
                report_ids.append(track.track_id)
        survivors = []
        for i, track in enumerate(self.tracks):
            if i not in matched_tracks:
                track.misses += 1
                track.hits = 0
                if track.track_id is None or track.misses > self.max_misses:
                    continue
            survivors.append(track)
        for d in range(len(boxes_xyxy)):
            if d not in matched_dets:
                track = Track(boxes_xyxy[d])
                if self.min_hits <= 1:
                    track.track_id, self._next_id = self._next_id, self._next_id + 1
                    report_idx.append(d)
                    report_ids.append(track.track_id)
                survivors.append(track)
        self.tracks = survivors
        order = np.argsort(report_idx, kind="stable")
        return np.asarray(report_idx, np.int64)[order], np.asarray(report_ids, np.int64)[order]

    def _match(self, boxes_xyxy: np.ndarray) -> list[tuple[int, int]]:
        if not self.tracks or not len(boxes_xyxy):
            return []
        iou = box_iou(np.stack([t.box_xyxy for t in self.tracks]), boxes_xyxy)  # [tracks, dets]
        pairs = []
        for flat in np.argsort(-iou, axis=None, kind="stable"):
            t, d = divmod(int(flat), iou.shape[1])
            if iou[t, d] < self.iou_thr:
                break
            if all(t != pt and d != pd for pt, pd in pairs):
                pairs.append((t, d))
        return pairs
