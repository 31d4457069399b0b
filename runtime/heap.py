"""Keep a long-running stream's resident memory flat across reconnects (glibc only; elsewhere nothing to do).

Every reconnect builds a new GStreamer pipeline whose streaming threads allocate frame buffers. glibc gives threads
their own malloc arenas (up to 8 per core) and raises its mmap threshold after the first large free, so each new
thread's frames land in a fresh arena that keeps its pages: RSS grew ~1.5 MB per reconnect of a 320×240 RTSP
stream (tests/faults/test_rtsp_restarts.py). Two arenas for the whole process end that.
"""
from __future__ import annotations

import ctypes
import ctypes.util

M_ARENA_MAX = -8   # glibc malloc.h
ARENAS = 2


def limit_malloc_arenas() -> bool:
    """True when glibc accepted the limit; False on another C library (musl has no arenas to limit)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return mallopt(M_ARENA_MAX, ARENAS) == 1
