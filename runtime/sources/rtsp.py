"""``rtsp`` source: rtspsrc → depay → parse (from the codec table) → decoder → converter → appsink (live).

``latency`` is small by default (100 ms, not rtspsrc's 2000 ms) and late packets are dropped; only the video
stream is set up. Credentials go to ``user-id``/``user-pw``: the location GStreamer may print has none.
"""
from __future__ import annotations

from sspnet.gst import gst, make
from sspnet.runtime.sources.base import GstSource, link_decodebin
from sspnet.runtime.sources.decode import CODEC_TABLE, codec_for_encoding

TRANSPORTS = {"auto": "tcp+udp+udp-mcast", "tcp": "tcp", "udp": "udp"}
TCP_TIMEOUT_US = 5_000_000   # give up connecting after 5 s (rtspsrc default: 20 s); the runtime retries


class RtspSource(GstSource):
    kind = "rtsp"

    def build_head(self, pipeline, tail_sink_pad) -> None:
        o = self.spec.options
        src = make("rtspsrc", location=self.spec.location, latency=int(o["latency"]), drop_on_latency=True,
                   protocols=TRANSPORTS[o["transport"]], tcp_timeout=TCP_TIMEOUT_US)
        if self.spec.credentials:
            src.set_property("user-id", self.spec.credentials[0])
            src.set_property("user-pw", self.spec.credentials[1])
        self.connect_signal(src, "select-stream", self._select_video)
        self.connect_signal(src, "pad-added", self._on_pad, pipeline, tail_sink_pad)
        pipeline.add(src)
        self._linked = False

    @staticmethod
    def _select_video(_src, _num, caps) -> bool:
        s = caps.get_structure(0)
        return s.get_string("media") == "video"

    def _on_pad(self, _src, pad, pipeline, tail_sink_pad) -> None:
        caps = pad.get_current_caps() or pad.query_caps(None)
        s = caps.get_structure(0)
        if s.get_string("media") != "video" or self._linked:
            return
        encoding = s.get_string("encoding-name") or "?"
        codec = codec_for_encoding(encoding)
        wanted = self.spec.options["codec"]
        if codec is None:
            supported = ", ".join(c.encoding_name for c in CODEC_TABLE.values())
            self.fail(f"{self.spec.display}: RTP video encoding {encoding} is not supported (supported: {supported})")
            return
        if wanted != "auto" and wanted != codec:
            self.fail(f"{self.spec.display}: stream is {codec}, but --input-codec {wanted} was given")
            return
        entry = CODEC_TABLE[codec]
        hardware = self.plan.hardware and codec in ("h264", "h265")
        decoder = make("nvv4l2decoder") if hardware else make("decodebin")
        chain = [make(entry.depay), make(entry.parse), decoder]
        for el in chain:
            pipeline.add(el)
        for a, b in zip(chain, chain[1:]):
            if not a.link(b):
                self.fail(f"{self.spec.display}: cannot link {a.get_factory().get_name()} → "
                          f"{b.get_factory().get_name()}")
                return
        if hardware:
            decoder.get_static_pad("src").link(tail_sink_pad)
        else:
            link_decodebin(self, pipeline, decoder, tail_sink_pad, self.spec.display)
        for el in chain:
            el.sync_state_with_parent()
        if pad.link(chain[0].get_static_pad("sink")) != gst().PadLinkReturn.OK:
            self.fail(f"{self.spec.display}: cannot link the RTP stream to {entry.depay}")
            return
        self._linked = True
