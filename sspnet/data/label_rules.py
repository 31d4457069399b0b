"""What every dataset reader does with the labels it reads, whatever the format.

Text label files are decoded line by line, so a byte that is not UTF-8 is a ValueError naming file and line. A box
that sticks out of its image is clipped to it; a box of zero width or height (as written, or once clipped: it lay
outside the image) is dropped. Neither stops reading, but ``BoxCheck.warn`` prints one line per dataset with both
counts and the first place, so a broken export does not pass unseen. Malformed lines and records stay errors.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import numpy as np


def text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number from 1, text) of each line of ``path``; a line that is not UTF-8 → ValueError naming it."""
    for lineno, raw in enumerate(path.read_bytes().splitlines(), 1):
        try:
            yield lineno, raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"{path}:{lineno}: not UTF-8 text (byte {raw[e.start]:#04x} at column {e.start + 1}); "
                             f"save the file as UTF-8") from None


class BoxCheck:
    """Clips and drops boxes by the module's rule, counting both for one warning per dataset."""

    def __init__(self):
        self.clipped = 0
        self.dropped = 0
        self.first: str | None = None

    def apply(self, boxes_xyxy: np.ndarray, width: float, height: float,
              places: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Boxes xyxy px [N, 4] of one image → (the kept boxes clipped to it [K, 4] float32, kept? [N] bool).

        ``places[i]`` names box i's line or record, for the warning."""
        boxes = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4)
        clipped = boxes.clip(0, [width, height, width, height])
        keep = (clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])
        moved = keep & (clipped != boxes).any(axis=1)
        changed = np.flatnonzero(moved | ~keep)
        if len(changed) and self.first is None:
            self.first = places[changed[0]]
        self.clipped += int(moved.sum())
        self.dropped += int((~keep).sum())
        return clipped[keep].astype(np.float32), keep

    def warn(self) -> None:
        if self.clipped or self.dropped:
            print(f"warning: labels: {self.clipped} box{'' if self.clipped == 1 else 'es'} clipped to the image, "
                  f"{self.dropped} of zero size dropped (first: {self.first})", file=sys.stderr)
