"""GStreamer from Python, for every part that builds a pipeline (the runtime's sources and sinks, the synthetic
clips): import and initialise once, make and configure elements, typed caps, linking, bus errors.

``gi`` is imported here and only here; a machine without PyGObject gets an error that says what to install.
Elements are always made with ``Gst.ElementFactory.make`` and configured with ``set_property``; nothing parses a
pipeline string, so no user text (a file name, a URI) can become pipeline syntax.
"""
from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache


class GstMissing(RuntimeError):
    """GStreamer, PyGObject or an element is not installed; the message says which package provides it."""


# element → package that provides it (for error messages)
PACKAGES = {
    "rtspsrc": "gstreamer1.0-plugins-good", "rtph264depay": "gstreamer1.0-plugins-good",
    "rtph265depay": "gstreamer1.0-plugins-good", "rtpjpegdepay": "gstreamer1.0-plugins-good",
    "souphttpsrc": "gstreamer1.0-plugins-good", "v4l2src": "gstreamer1.0-plugins-good",
    "qtdemux": "gstreamer1.0-plugins-good", "mp4mux": "gstreamer1.0-plugins-good",
    "h264parse": "gstreamer1.0-plugins-bad", "h265parse": "gstreamer1.0-plugins-bad",
    "jpegparse": "gstreamer1.0-plugins-bad", "openh264enc": "gstreamer1.0-plugins-bad",
    "x264enc": "gstreamer1.0-plugins-ugly", "avdec_h264": "gstreamer1.0-libav",
    "nvv4l2decoder": "NVIDIA L4T GStreamer plugins (JetPack)", "nvvidconv": "NVIDIA L4T GStreamer plugins (JetPack)",
    "nvarguscamerasrc": "NVIDIA L4T GStreamer plugins (JetPack)",
    "nvv4l2h264enc": "NVIDIA L4T GStreamer plugins (JetPack)",
}


@lru_cache(maxsize=1)
def gst():
    """Import and initialise GStreamer once; ``GstMissing`` with the install line when it cannot be."""
    try:
        import gi
        gi.require_version("Gst", "1.0")
        gi.require_version("GstVideo", "1.0")
        from gi.repository import Gst
    except (ImportError, ValueError) as e:
        raise GstMissing(f"GStreamer from Python is not available ({e}): install the system packages "
                         f"(`make system`: gstreamer1.0-plugins-*, gir1.2-gstreamer-1.0, gir1.2-gst-plugins-base-1.0) "
                         f"and PyGObject (`pip install pygobject==3.50.2`, the 'stream' extra)") from None
    Gst.init(None)
    return Gst


def rtsp_server_module():
    """(GLib, GstRtspServer) for serving RTSP; ``GstMissing`` with the install line when gst-rtsp-server's
    introspection data is missing."""
    gst()
    try:
        import gi
        gi.require_version("GstRtspServer", "1.0")
        from gi.repository import GLib, GstRtspServer
    except (ImportError, ValueError) as e:
        raise GstMissing(f"RTSP serving needs gst-rtsp-server from Python ({e}): install gir1.2-gst-rtsp-server-1.0 "
                         f"(`make system`)") from None
    return GLib, GstRtspServer


def has_element(factory: str) -> bool:
    return gst().ElementFactory.find(factory) is not None


def make(factory: str, **props):
    """Create ``factory`` and set ``props`` (``foo_bar`` → ``foo-bar``, ``pass_`` → ``pass``); ``GstMissing`` names
    the package."""
    Gst = gst()
    el = Gst.ElementFactory.make(factory, None)
    if el is None:
        pkg = PACKAGES.get(factory, "the GStreamer plugin packages")
        raise GstMissing(f"GStreamer element '{factory}' is not installed (it comes with {pkg}); "
                         f"`sspnet doctor` lists what is present")
    for key, value in props.items():
        set_prop(el, key.rstrip("_").replace("_", "-"), value)
    return el


def set_prop(el, name: str, value) -> None:
    """Set one property; enum/flag properties take their nick as a string (chosen by this code, never a user)."""
    spec = el.find_property(name)
    if spec is None:
        raise ValueError(f"{el.get_factory().get_name()} has no property '{name}'")
    if isinstance(value, str) and spec.value_type.fundamental.name in ("GEnum", "GFlags"):
        gst().util_set_object_arg(el, name, value)
    else:
        el.set_property(name, value)


def caps(media: str, **fields):
    """Caps from typed fields: ints, fractions and fixed format names chosen by this code. Each value is checked
    against its type before formatting, so no free text can reach the caps parser."""
    parts = [_check_token(media, "media type")]
    for key, value in fields.items():
        _check_token(key, "caps field")
        if isinstance(value, bool):
            raise TypeError(f"caps field {key}: bool is not a caps value")
        if isinstance(value, str):
            parts.append(f"{key}=(string){_check_token(value, key)}")
        elif isinstance(value, (float, Fraction)):
            f = Fraction(value).limit_denominator(1001)
            parts.append(f"{key}=(fraction){f.numerator}/{f.denominator}")
        else:
            parts.append(f"{key}=(int){int(value)}")
    return gst().Caps.from_string(",".join(parts))


_TOKEN = re.compile(r"^[A-Za-z0-9_/:()-]+$")


def _check_token(text: str, what: str) -> str:
    if not _TOKEN.match(text):
        raise ValueError(f"{what} {text!r} is not a plain token")
    return text


def link_chain(pipeline, elements: list) -> None:
    """Add ``elements`` to ``pipeline`` (where not yet in it) and link them in order."""
    for el in elements:
        if el.get_parent() is None:
            pipeline.add(el)
    for a, b in zip(elements, elements[1:]):
        if not a.link(b):
            raise RuntimeError(f"GStreamer: cannot link {a.get_factory().get_name()} → {b.get_factory().get_name()}")


def bus_error_text(msg) -> str:
    err, debug = msg.parse_error()
    return f"{err.message} ({debug.splitlines()[-1] if debug else ''})".replace(" ()", "")


def bgr_buffer(image_bgr):
    """A Gst.Buffer of an HxWx3 uint8 BGR frame, one copy. GStreamer's packed BGR rows start on 4-byte boundaries
    (GstVideoInfo stride): tight rows of a width such as 162 would be read with the wrong stride (a garbage,
    all-green picture), so such rows are padded."""
    import numpy as np
    h, w = image_bgr.shape[:2]
    row = w * 3
    rows = np.ascontiguousarray(image_bgr).reshape(h, row)
    if row % 4:
        rows = np.pad(rows, ((0, 0), (0, -row % 4)))                                # [H, stride]
    return gst().Buffer.new_wrapped(rows.tobytes())
