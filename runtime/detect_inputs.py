"""What ``sspnet detect`` reads: INPUT arguments (image files, folders searched recursively, video files) → a
sorted, de-duplicated list of ``InputFile`` with the key a re-run uses to skip finished work (path, size, mtime).

Folders: every file whose suffix is in ``STILL_SUFFIXES`` or ``VIDEO_SUFFIXES``, in sorted path order; hidden
names (``.x``, e.g. macOS ``._IMG.JPG`` forks) and the run folder itself are not searched. A file named directly
must have one of those suffixes: anything else is a usage error that names it.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

STILL_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".ts", ".m4v", ".webm")


class InputError(ValueError):
    """An INPUT that cannot be used; the message names it and says what is expected."""


@dataclass(frozen=True)
class InputFile:
    path: str           # absolute, symlinks resolved: the key a re-run matches on, with size and mtime
    kind: str           # "still" | "video"
    size: int           # bytes
    mtime_ns: int
    display: str        # the path relative to the common root of the inputs, for logs and the review page

    def uid(self, frame: int | None = None) -> str:
        """16 hex digits naming this file (and frame) in the outputs: same file, size and mtime, same name."""
        key = f"{self.path}\0{self.size}\0{self.mtime_ns}\0{'' if frame is None else frame}"
        return hashlib.sha1(key.encode()).hexdigest()[:16]


def input_kind(path: Path) -> str | None:
    suffix = path.suffix.lower()
    if suffix in STILL_SUFFIXES:
        return "still"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    return None


def collect_inputs(arguments: list[str], exclude: Path | None = None) -> list[InputFile]:
    """INPUT arguments → InputFiles in sorted path order. ``exclude``: a folder never searched (the run folder).
    ``InputError`` when an argument does not exist, is a file of an unknown type, or when nothing is found."""
    excluded = Path(os.path.realpath(exclude)) if exclude is not None else None
    found: dict[str, str] = {}                  # real path → kind
    for arg in arguments:
        p = Path(arg).expanduser()
        if p.is_dir():
            for f in _walk(p, excluded):
                found.setdefault(os.path.realpath(f), input_kind(f))
        elif p.is_file():
            kind = input_kind(p)
            if kind is None:
                raise InputError(f"INPUT '{arg}': unknown file type '{p.suffix}'; give images "
                                 f"({', '.join(STILL_SUFFIXES)}), videos ({', '.join(VIDEO_SUFFIXES)}) or folders")
            found.setdefault(os.path.realpath(p), kind)
        elif p.exists():
            raise InputError(f"INPUT '{arg}': not a regular file or folder")
        else:
            raise InputError(f"INPUT '{arg}': no such file or folder")
    if not found:
        raise InputError(f"no images ({', '.join(STILL_SUFFIXES)}) or videos ({', '.join(VIDEO_SUFFIXES)}) "
                         f"under {', '.join(arguments)}")
    paths = sorted(found)
    root = os.path.commonpath([os.path.dirname(p) for p in paths])
    out = []
    for path in paths:
        st = os.stat(path)
        out.append(InputFile(path=path, kind=found[path], size=st.st_size, mtime_ns=st.st_mtime_ns,
                             display=os.path.relpath(path, root)))
    return out


def _walk(folder: Path, excluded: Path | None):
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")
                             and (excluded is None or Path(os.path.realpath(here / d)) != excluded))
        for name in sorted(filenames):
            f = here / name
            if not name.startswith(".") and input_kind(f) is not None and f.is_file():
                yield f
