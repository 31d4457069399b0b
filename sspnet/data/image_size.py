"""Image files and sizes: the image suffixes every reader accepts, the images of a plain folder, ``WIDTHxHEIGHT``
text → (w, h), an image's width/height from the file header (PNG, JPEG) without decoding the pixels (other formats
decode once), and its pixels; a missing, empty or undecodable file is a FileNotFoundError that says which."""
from __future__ import annotations

import argparse
import re
import struct
from pathlib import Path

# suffixes (lower case) of the image files that folder and dataset readers pick up; OpenCV decodes them all
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
_WH = re.compile(r"\s*(\d+)\s*[xX]\s*(\d+)\s*")

# JPEG start-of-frame markers that carry the frame size (all SOFn except DHT/JPG/DAC)
_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _png_size(head: bytes) -> tuple[int, int] | None:
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        w, h = struct.unpack(">II", head[16:24])
        return int(w), int(h)
    return None


def _jpeg_size(f) -> tuple[int, int] | None:
    f.seek(2)
    while True:
        byte = f.read(1)
        while byte and byte != b"\xff":
            byte = f.read(1)
        while byte == b"\xff":
            byte = f.read(1)
        if not byte:
            return None
        marker = byte[0]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            continue  # markers without a length field
        length_bytes = f.read(2)
        if len(length_bytes) < 2:
            return None
        length = struct.unpack(">H", length_bytes)[0]
        if marker in _SOF_MARKERS:
            data = f.read(5)
            if len(data) < 5:
                return None
            h, w = struct.unpack(">HH", data[1:5])
            return int(w), int(h)
        f.seek(length - 2, 1)


def folder_images(path: str | Path) -> list[Path]:
    """The image files directly inside folder ``path``, sorted by name; [] when ``path`` is not a folder, holds no
    images, or is a YOLO dataset root (it has ``labels/``: a dataset reader handles it)."""
    path = Path(path)
    if not path.is_dir() or (path / "labels").is_dir():
        return []
    return sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def _unreadable(path: Path) -> FileNotFoundError:
    """The error for an image file that could not be read, saying why."""
    if not path.is_file():
        return FileNotFoundError(f"{path}: image not found")
    if path.stat().st_size == 0:
        return FileNotFoundError(f"{path}: image file is empty (0 bytes); copy it again or remove it")
    return FileNotFoundError(f"{path}: not a readable image")


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of an image file; FileNotFoundError naming the file when it is missing, empty or
    unreadable."""
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        raise _unreadable(path)
    with open(path, "rb") as f:
        head = f.read(32)
        size = _png_size(head)
        if size is None and head[:2] == b"\xff\xd8":
            size = _jpeg_size(f)
    if size is not None and size[0] > 0 and size[1] > 0:
        return size
    h, w = read_image(path).shape[:2]
    return int(w), int(h)


def read_image(path: str | Path):
    """HWC uint8 BGR pixels of an image file; FileNotFoundError naming the file when it is missing, empty or
    unreadable."""
    import cv2
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise _unreadable(Path(path))
    return img


def parse_wh(text: str, min_px: int = 1) -> tuple[int, int]:
    """``'640x512'`` → (640, 512) px; an argparse type (``ArgumentTypeError`` → usage error, exit 2).

    Both sides must be at least ``min_px`` (a CLI with a larger minimum passes ``type=lambda t: parse_wh(t, 16)``).
    """
    m = _WH.fullmatch(text)
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r}: expected WIDTHxHEIGHT in pixels, e.g. 640x512")
    w, h = int(m.group(1)), int(m.group(2))
    if w < min_px or h < min_px:
        raise argparse.ArgumentTypeError(f"{text!r}: width and height must be >= {min_px} px")
    return w, h
