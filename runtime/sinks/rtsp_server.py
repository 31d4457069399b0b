"""``--rtsp-out PORT``: re-stream the annotated video with gst-rtsp-server at ``rtsp://BIND:PORT/stream``.

The media factory builds its pipeline from elements (appsrc → H.264 encoder tuned for latency → rtph264pay
``pay0``) instead of a launch string; it is shared by all clients. Frames are pushed into the appsrc of every
prepared media; a client that connects later gets the stream from the next key frame. The server binds to
127.0.0.1 unless ``--rtsp-bind`` says otherwise, and runs its GLib main loop in its own thread.
"""
from __future__ import annotations

import threading

import numpy as np

from sspnet.gst import bgr_buffer, gst, link_chain, make, rtsp_server_module
from sspnet.runtime.sinks.video import DEFAULT_FPS, bgr_caps, h264_encoder, newest_frames_only

MOUNT = "/stream"


class RtspServerSink:
    wants_image = True

    def __init__(self, port: int, bind: str = "127.0.0.1"):
        GLib, GstRtspServer = rtsp_server_module()
        self.bind = bind
        self._lock = threading.Lock()
        self._appsrcs: list = []          # [(appsrc, caps_set)] of prepared media
        self._size = None
        self._fps = DEFAULT_FPS
        self.encoder = None
        self.frames = 0

        sink = self

        class Factory(GstRtspServer.RTSPMediaFactory):
            def do_create_element(self, _url):
                return sink._make_bin()

        self._server = GstRtspServer.RTSPServer()
        self._server.set_address(bind)
        self._server.set_service(str(int(port)))
        factory = Factory()
        factory.set_shared(True)
        factory.connect("media-configure", self._on_media_configure)
        self._server.get_mount_points().add_factory(MOUNT, factory)
        self._context = GLib.MainContext.new()
        self._loop = GLib.MainLoop.new(self._context, False)
        self._source_id = self._server.attach(self._context)
        if not self._source_id:
            raise RuntimeError(f"--rtsp-out: cannot listen on {bind}:{port} (port in use, or the address is not "
                               f"on this machine)")
        self.port = self._server.get_bound_port()
        self._thread = threading.Thread(target=self._loop.run, name="sspnet-rtsp-server", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"rtsp://{self.bind}:{self.port}{MOUNT}"

    def describe(self) -> str:
        return f"rtsp-out {self.url}"

    # -- GStreamer side ----------------------------------------------------------------------------------------------
    def _make_bin(self):
        Gst = gst()
        enc_chain, self.encoder = h264_encoder(live=True, fps=self._fps)
        src = make("appsrc", name="src", is_live=True, format="time", do_timestamp=True, block=False)
        newest_frames_only(src)
        pay = make("rtph264pay", name="pay0", pt=96, config_interval=-1)
        b = Gst.Bin.new("sspnet-rtsp-media")
        link_chain(b, [src] + enc_chain + [pay])
        return b

    def _on_media_configure(self, _factory, media) -> None:
        appsrc = media.get_element().get_by_name("src")
        with self._lock:
            entry = [appsrc, False]
            self._appsrcs.append(entry)
        media.connect("unprepared", self._on_unprepared, entry)

    def _on_unprepared(self, _media, entry) -> None:
        with self._lock:
            if entry in self._appsrcs:
                self._appsrcs.remove(entry)

    # -- runtime side ------------------------------------------------------------------------------------------------
    def write(self, result, image: np.ndarray) -> None:
        h, w = image.shape[:2]
        if self._size is None:
            self._size = (w, h)
            fr = result.frame.framerate
            self._fps = fr if fr and fr > 0 else DEFAULT_FPS
        if (w, h) != self._size:
            import cv2
            image = cv2.resize(image, self._size, interpolation=cv2.INTER_AREA)
        with self._lock:
            targets = list(self._appsrcs)
        if not targets:
            return
        data = np.ascontiguousarray(image)
        for entry in targets:
            appsrc = entry[0]
            if not entry[1]:
                appsrc.set_property("caps", bgr_caps(self._size[0], self._size[1], self._fps))
                entry[1] = True
            appsrc.emit("push-buffer", bgr_buffer(data))
        self.frames += 1

    def close(self) -> None:
        _, GstRtspServer = rtsp_server_module()
        with self._lock:
            targets, self._appsrcs = list(self._appsrcs), []
        for appsrc, _ in targets:
            appsrc.emit("end-of-stream")
        self._server.client_filter(lambda _s, _c: GstRtspServer.RTSPFilterResult.REMOVE)
        src = self._context.find_source_by_id(self._source_id)
        if src is not None:
            src.destroy()
        self._loop.quit()
        self._thread.join(timeout=5)
