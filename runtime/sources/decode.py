"""How the runtime decodes: the decode plan (Jetson hardware or software) and the RTP codec table."""
from __future__ import annotations

from dataclasses import dataclass

from sspnet.gst import caps, has_element, make


@dataclass(frozen=True)
class DecodePlan:
    """How compressed video becomes BGR: Jetson hardware (nvv4l2decoder + nvvidconv) or software."""
    hardware: bool

    @property
    def description(self) -> str:
        if self.hardware:
            return "hardware: nvv4l2decoder → nvvidconv (BGRx) → videoconvert (BGR)"
        return "software: decodebin → videoconvert → videoscale (BGR)"


    def converter(self, width: int | None = None, height: int | None = None) -> list:
        """Elements from decoded video (any memory, any format) to system-memory BGR at the requested size."""
        size = {k: v for k, v in (("width", width), ("height", height)) if v}
        if self.hardware:
            return [make("nvvidconv"), make("capsfilter", caps=caps("video/x-raw", format="BGRx", **size)),
                    make("videoconvert"), make("capsfilter", caps=caps("video/x-raw", format="BGR"))]
        return [make("videoconvert"), make("videoscale"),
                make("capsfilter", caps=caps("video/x-raw", format="BGR", **size))]


def decode_plan() -> DecodePlan:
    """Hardware when both Jetson elements exist, software otherwise."""
    return DecodePlan(hardware=has_element("nvv4l2decoder") and has_element("nvvidconv"))


@dataclass(frozen=True)
class Codec:
    encoding_name: str      # RTP encoding-name in the stream's caps
    depay: str
    parse: str


# codec → RTP depayloader and parser; the one table every network source uses
CODEC_TABLE = {
    "h264": Codec("H264", "rtph264depay", "h264parse"),
    "h265": Codec("H265", "rtph265depay", "h265parse"),
    "mjpeg": Codec("JPEG", "rtpjpegdepay", "jpegparse"),
}


def codec_for_encoding(encoding_name: str) -> str | None:
    for name, codec in CODEC_TABLE.items():
        if codec.encoding_name == encoding_name.upper():
            return name
    return None
