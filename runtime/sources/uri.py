"""Source URIs: one parser, one table of forms, and credential redaction.

``parse_source(uri)`` normalises what a user types into a ``SourceSpec(kind, location, options)``:

    clip.mp4, ./a/b.mkv, file:///abs/clip.mp4   → file   (location: absolute path)
    rtsp://[user:pass@]host[:port]/path         → rtsp   (location: the URL without user:pass)
    v4l2:///dev/video0, /dev/video0             → v4l2   (location: /dev/videoN)
    csi://0                                     → csi    (location: sensor id "0")
    http(s)://[user:pass@]host/path             → http   (location: the URL without user:pass)
    test://, test://ball?width=320&fps=60       → test   (location: videotestsrc pattern)

Every field is validated here, before any GStreamer element sees it; pipelines are then built element by
element with each field set as a property, so a URI can never add elements (``clip.mp4 ! filesink …`` is refused).
Credentials move from the URI into ``SourceSpec.credentials`` and are never printed: use ``spec.display`` or
``redact(text)`` for anything that goes to a log.
"""
from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field, replace
from pathlib import Path

# kind → (URI forms shown in --help, what it is). The one table of source kinds; --help prints it.
SOURCE_FORMS = {
    "file": (("clip.mp4", "file:///abs/path/clip.mp4"), "video file (every frame processed, no drops)"),
    "rtsp": (("rtsp://[user:pass@]host[:port]/path",), "RTSP camera/stream (live: newest frame wins)"),
    "v4l2": (("v4l2:///dev/videoN", "/dev/videoN"), "V4L2 camera, USB webcams (live)"),
    "csi": (("csi://N",), "Jetson MIPI CSI camera N via nvarguscamerasrc (live)"),
    "http": (("http(s)://[user:pass@]host/path",), "HTTP(S) stream, e.g. MJPEG (live)"),
    "test": (("test://[PATTERN][?width=W&height=H&fps=F]",), "videotestsrc test pattern (live)"),
}
LIVE_KINDS = frozenset({"rtsp", "v4l2", "csi", "http", "test"})

TEST_PATTERNS = ("smpte", "snow", "black", "white", "red", "green", "blue", "checkers-1", "checkers-2",
                 "checkers-4", "checkers-8", "circular", "blink", "smpte75", "zone-plate", "gamut",
                 "chroma-zone-plate", "solid-color", "ball", "smpte100", "bar", "pinwheel", "spokes", "gradient",
                 "colors")
RTSP_TRANSPORTS = ("auto", "tcp", "udp")
CODECS = ("auto", "h264", "h265", "mjpeg")

# option → (parse function, check, meaning); the allowed options per kind follow
_INT = (int, lambda v: 1 <= v <= 16384, "an integer 1..16384")
_FPS = (float, lambda v: 0 < v <= 1000, "a number in (0, 1000]")
OPTION_TYPES = {
    "width": _INT, "height": _INT, "fps": _FPS,
    "latency": (int, lambda v: 0 <= v <= 60000, "milliseconds 0..60000"),
    "transport": (str, lambda v: v in RTSP_TRANSPORTS, f"one of {', '.join(RTSP_TRANSPORTS)}"),
    "codec": (str, lambda v: v in CODECS, f"one of {', '.join(CODECS)}"),
}
KIND_OPTIONS = {
    "file": ("width", "height"),
    "rtsp": ("width", "height", "latency", "transport", "codec"),
    "v4l2": ("width", "height"),
    "csi": ("width", "height", "fps"),
    "http": ("width", "height"),
    "test": ("width", "height", "fps"),
}
DEFAULTS = {"rtsp": {"latency": 100, "transport": "auto", "codec": "auto"},
            "csi": {"width": 1280, "height": 720, "fps": 30.0},
            "test": {"width": 640, "height": 480, "fps": 30.0}}

_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]*@")
_PIPELINE_FRAGMENT = re.compile(r"(^|\s)!(\s|$)")
_DEV_VIDEO = re.compile(r"^/dev/video\d{1,3}$")
_HOST_PATH_SAFE = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no spaces: what a URL may contain


class SourceError(ValueError):
    """A SOURCE that cannot be used as given; the message names it (redacted) and says what is expected."""


@dataclass(frozen=True)
class SourceSpec:
    kind: str                   # one of SOURCE_FORMS
    location: str               # path, URL without credentials, device, sensor id or pattern
    options: dict = field(default_factory=dict)
    credentials: tuple | None = field(default=None, repr=False)  # (user, password) from the URI, never printed

    @property
    def live(self) -> bool:
        return self.kind in LIVE_KINDS

    @property
    def display(self) -> str:
        """The URI as it may appear in logs and JSON: credentials replaced by ``***``."""
        if self.kind == "file":
            return Path(self.location).as_uri()
        if self.kind in ("rtsp", "http") and self.credentials:
            scheme, rest = self.location.split("://", 1)
            return f"{scheme}://***@{rest}"
        return {"v4l2": f"v4l2://{self.location}", "csi": f"csi://{self.location}",
                "test": f"test://{self.location}"}.get(self.kind, self.location)

    def with_options(self, **options) -> "SourceSpec":
        """A copy with ``options`` merged in (None values are skipped), each validated for this kind."""
        given = {k: v for k, v in options.items() if v is not None}
        return replace(self, options={**self.options, **_validate_options(self.kind, given, self.display)})

    def describe(self) -> str:
        opts = " ".join(f"{k}={v}" for k, v in sorted(self.options.items()))
        return f"{self.kind} {self.display}" + (f" ({opts})" if opts else "")


def redact(text: str) -> str:
    """Replace any ``scheme://user:pass@`` in ``text`` by ``scheme://***@``."""
    return _USERINFO.sub(r"\1***@", str(text))


def usage() -> str:
    """The SOURCE forms, one per line, for --help."""
    lines = ["SOURCE forms:"]
    for kind, (forms, meaning) in SOURCE_FORMS.items():
        lines.append(f"  {' | '.join(forms):44s} {meaning}")
        allowed = KIND_OPTIONS[kind]
        if kind in ("test", "csi"):
            lines.append(f"  {'':44s}   URI options: {', '.join(allowed)}")
    lines.append("A SOURCE is a URI, never a pipeline: '!' fragments and unknown options are refused.")
    return "\n".join(lines)


def parse_source(uri: str) -> SourceSpec:
    """Normalise a user's SOURCE string into a validated ``SourceSpec``; ``SourceError`` says what is wrong."""
    if not isinstance(uri, str) or not uri.strip():
        raise SourceError("empty SOURCE; " + _forms_hint())
    shown = redact(uri)
    if _PIPELINE_FRAGMENT.search(uri):
        raise SourceError(f"SOURCE '{shown}' looks like a GStreamer pipeline fragment ('!'); SOURCE is one URI, "
                          f"not a pipeline. " + _forms_hint())
    if any(c in uri for c in "\x00\n\r"):
        raise SourceError(f"SOURCE '{shown}' contains control characters")
    if _DEV_VIDEO.match(uri):
        return SourceSpec("v4l2", uri)
    if "://" not in uri:
        return SourceSpec("file", str(Path(uri).expanduser().absolute()))
    scheme = uri.split("://", 1)[0].lower()
    parser = _PARSERS.get(scheme)
    if parser is None:
        raise SourceError(f"SOURCE '{shown}': unknown scheme '{scheme}://'. " + _forms_hint())
    spec = parser(uri, shown)
    defaults = DEFAULTS.get(spec.kind, {})
    return replace(spec, options={**defaults, **spec.options})


def _forms_hint() -> str:
    forms = [f for fs, _ in SOURCE_FORMS.values() for f in fs]
    return "Expected one of: " + ", ".join(forms)


def _validate_options(kind: str, options: dict, shown: str) -> dict:
    allowed = KIND_OPTIONS[kind]
    out = {}
    for key, raw in options.items():
        if key not in allowed:
            raise SourceError(f"SOURCE '{shown}': option '{key}' does not apply to a {kind} source "
                              f"(allowed: {', '.join(allowed) or 'none'})")
        conv, ok, meaning = OPTION_TYPES[key]
        try:
            value = conv(raw)
        except (TypeError, ValueError):
            raise SourceError(f"SOURCE '{shown}': option {key}={raw!r} must be {meaning}") from None
        if not ok(value):
            raise SourceError(f"SOURCE '{shown}': option {key}={raw!r} must be {meaning}")
        out[key] = value
    return out


def _query_options(query: str, kind: str, shown: str) -> dict:
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise SourceError(f"SOURCE '{shown}': option '{key}' given twice")
        seen[key] = value
    return _validate_options(kind, seen, shown)


def _parse_file(uri: str, shown: str) -> SourceSpec:
    parts = urllib.parse.urlsplit(uri)
    if parts.netloc not in ("", "localhost"):
        raise SourceError(f"SOURCE '{shown}': a file URI needs an absolute path, file:///path "
                          f"(host '{parts.netloc}' is not supported)")
    if parts.query or parts.fragment:
        raise SourceError(f"SOURCE '{shown}': a file URI takes no '?' or '#' part; percent-encode such "
                          f"characters in the path")
    path = urllib.parse.unquote(parts.path)
    if not path.startswith("/"):
        raise SourceError(f"SOURCE '{shown}': file URI path must be absolute (file:///abs/path)")
    return SourceSpec("file", path)


def _split_credentials(uri: str, shown: str, kind: str) -> tuple:
    if not _HOST_PATH_SAFE.match(uri):
        raise SourceError(f"SOURCE '{shown}': a {kind} URL may not contain spaces or non-ASCII characters "
                          f"(percent-encode them)")
    parts = urllib.parse.urlsplit(uri)
    if not parts.hostname:
        raise SourceError(f"SOURCE '{shown}': no host in {kind} URL")
    try:
        port = parts.port
    except ValueError:
        raise SourceError(f"SOURCE '{shown}': bad port in {kind} URL") from None
    credentials = None
    if parts.username is not None or parts.password is not None:
        credentials = (urllib.parse.unquote(parts.username or ""), urllib.parse.unquote(parts.password or ""))
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc = host + (f":{port}" if port is not None else "")
    clean = urllib.parse.urlunsplit((parts.scheme.lower(), netloc, parts.path, parts.query, parts.fragment))
    return clean, credentials


def _parse_rtsp(uri: str, shown: str) -> SourceSpec:
    clean, creds = _split_credentials(uri, shown, "rtsp")
    return SourceSpec("rtsp", clean, credentials=creds)


def _parse_http(uri: str, shown: str) -> SourceSpec:
    clean, creds = _split_credentials(uri, shown, "http")
    return SourceSpec("http", clean, credentials=creds)


def _parse_v4l2(uri: str, shown: str) -> SourceSpec:
    parts = urllib.parse.urlsplit(uri)
    device = parts.netloc + parts.path if parts.netloc else parts.path
    if not device.startswith("/"):
        device = "/dev/" + device
    if not _DEV_VIDEO.match(device):
        raise SourceError(f"SOURCE '{shown}': expected v4l2:///dev/videoN")
    return SourceSpec("v4l2", device, _query_options(parts.query, "v4l2", shown))


def _parse_csi(uri: str, shown: str) -> SourceSpec:
    parts = urllib.parse.urlsplit(uri)
    sensor = parts.netloc + parts.path.strip("/")
    if not re.fullmatch(r"\d{1,2}", sensor):
        raise SourceError(f"SOURCE '{shown}': expected csi://N with a sensor number N (0, 1, ...)")
    return SourceSpec("csi", str(int(sensor)), _query_options(parts.query, "csi", shown))


def _parse_test(uri: str, shown: str) -> SourceSpec:
    parts = urllib.parse.urlsplit(uri)
    pattern = (parts.netloc + parts.path).strip("/") or "smpte"
    if pattern not in TEST_PATTERNS:
        raise SourceError(f"SOURCE '{shown}': unknown test pattern '{pattern}'; choose from {', '.join(TEST_PATTERNS)}")
    return SourceSpec("test", pattern, _query_options(parts.query, "test", shown))


_PARSERS = {"file": _parse_file, "rtsp": _parse_rtsp, "rtsps": _parse_rtsp, "rtspt": _parse_rtsp,
            "v4l2": _parse_v4l2, "csi": _parse_csi, "http": _parse_http, "https": _parse_http, "test": _parse_test}
