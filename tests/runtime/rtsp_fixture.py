"""A loopback RTSP test server (gst-rtsp-server): ``python rtsp_fixture.py PORT [WIDTHxHEIGHT] [FPS]``.

Serves a live videotestsrc as H.264 at ``rtsp://127.0.0.1:PORT/test``; prints ``ready`` once listening and runs
until killed. Run as a separate process so a test can stop it (camera gone) and start it again (camera back).
The media pipeline is built from elements, like the runtime's own.
"""
from __future__ import annotations

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def make(factory, **props):
    el = Gst.ElementFactory.make(factory, props.pop("name", None))
    for k, v in props.items():
        name = k.replace("_", "-")
        if isinstance(v, str):
            Gst.util_set_object_arg(el, name, v)
        else:
            el.set_property(name, v)
    return el


class TestFactory(GstRtspServer.RTSPMediaFactory):
    def __init__(self, width, height, fps):
        super().__init__()
        self.size, self.fps = (width, height), fps

    def do_create_element(self, _url):
        b = Gst.Bin.new("media")
        caps = make("capsfilter")
        caps.set_property("caps", Gst.Caps.from_string(
            f"video/x-raw,width={self.size[0]},height={self.size[1]},framerate={self.fps}/1"))
        i420 = make("capsfilter")
        i420.set_property("caps", Gst.Caps.from_string("video/x-raw,format=I420"))
        els = [make("videotestsrc", is_live=True, pattern="ball"), caps, make("videoconvert"), i420,
               make("x264enc", tune="zerolatency", speed_preset="ultrafast", key_int_max=self.fps, bframes=0),
               make("rtph264pay", name="pay0", pt=96, config_interval=-1)]
        for e in els:
            b.add(e)
        for a, c in zip(els, els[1:]):
            assert a.link(c)
        return b


def main() -> None:
    Gst.init(None)
    port = int(sys.argv[1])
    w, h = (int(v) for v in (sys.argv[2] if len(sys.argv) > 2 else "320x240").split("x"))
    fps = int(sys.argv[3]) if len(sys.argv) > 3 else 15
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    factory = TestFactory(w, h, fps)
    factory.set_shared(True)
    server.get_mount_points().add_factory("/test", factory)
    if not server.attach(None):
        print(f"cannot listen on 127.0.0.1:{port}", flush=True)
        sys.exit(1)
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
