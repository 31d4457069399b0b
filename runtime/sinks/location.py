"""Where a file output goes must be writable and have room, checked at start: a read-only or full disk is found
before the first frame, not when the first write fails an hour into a flight."""
from __future__ import annotations

import os
from pathlib import Path

# free space an output needs at start: the MP4 grows ~1 GB per hour of 1080p; a JSONL line is ~1 kB per frame
MIN_FREE_BYTES = {"--video": 64 << 20, "--json": 1 << 20, "--summary": 64 << 10}


def check_output_location(option: str, path: str | Path) -> None:
    """ValueError naming the option, the folder and what to do, when ``path`` cannot be written or has no room."""
    folder = _existing_parent(Path(path).absolute())
    if not folder.is_dir():
        raise ValueError(f"{option} {path}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{option} {path}: {folder} is not writable (read-only disk or no permission); "
                         f"give a path on a writable disk")
    st = os.statvfs(folder)
    free, need = st.f_bavail * st.f_frsize, MIN_FREE_BYTES[option]
    if free < need:
        raise ValueError(f"{option} {path}: only {free / 2**20:.1f} MiB free on the disk of {folder} (at least "
                         f"{need / 2**20:g} MiB needed to start); free some space or write elsewhere")


def _existing_parent(path: Path) -> Path:
    """The nearest folder that exists (the sinks create the missing ones below it)."""
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder
