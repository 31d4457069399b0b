"""The system's headless Chromium driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``:
commands on fd 3, replies on fd 4, each a JSON message ended by a NUL byte). Enough of CDP for page tests: open a
page, evaluate JavaScript, press keys and click as a user does, take downloads, collect page errors."""
from __future__ import annotations

import fcntl
import json
import os
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path

BINARIES = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome")
# key → (code, windows virtual key code, text) for Input.dispatchKeyEvent
KEYS = {"a": ("KeyA", 65, "a"), "r": ("KeyR", 82, "r"), "u": ("KeyU", 85, "u"), "e": ("KeyE", 69, "e"),
        "j": ("KeyJ", 74, "j"), "k": ("KeyK", 75, "k"), "Enter": ("Enter", 13, "\r"), "Escape": ("Escape", 27, ""),
        "ArrowRight": ("ArrowRight", 39, ""), "ArrowLeft": ("ArrowLeft", 37, "")}


def find_chromium() -> str | None:
    for name in BINARIES:
        path = shutil.which(name) or (f"/usr/lib/chromium/{name}" if os.path.exists(f"/usr/lib/chromium/{name}")
                                      else None)
        if path:
            return path
    return None


class CdpError(RuntimeError):
    pass


class Chromium:
    """One headless browser with one page; use as a context manager."""

    def __init__(self, binary: str, profile: Path, downloads: Path, timeout_s: float = 20.0):
        self.timeout_s = timeout_s
        self.downloads = downloads
        self._log_path = profile / "chromium.log"
        profile.mkdir(parents=True, exist_ok=True)
        self._log = open(self._log_path, "wb")
        cmd_r, self._cmd_w = os.pipe()
        self._out_r, out_w = os.pipe()

        def fds_3_and_4():   # in the child: the pipe ends become fds 3 and 4 (moved high first: no clobbering)
            a, b = fcntl.fcntl(cmd_r, fcntl.F_DUPFD, 10), fcntl.fcntl(out_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "--no-first-run",
             "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
             f"--user-data-dir={profile}", "--window-size=1400,900"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._log,
            preexec_fn=fds_3_and_4, pass_fds=(3, 4))
        os.close(cmd_r)
        os.close(out_w)
        self._next_id = 0
        self._replies: dict[int, queue.Queue] = {}
        self._lock = threading.Lock()
        self.events: queue.Queue = queue.Queue()
        self.page_errors: list[str] = []
        self.requests: list[str] = []             # every URL the page asked for
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.session = None
        self._open_page()

    # -- protocol ----------------------------------------------------------------------------------------------------
    def _read(self) -> None:
        buf = b""
        while True:
            try:
                chunk = os.read(self._out_r, 1 << 16)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                if "id" in msg:
                    with self._lock:
                        q = self._replies.get(msg["id"])
                    if q is not None:
                        q.put(msg)
                    continue
                if msg.get("method") == "Runtime.exceptionThrown":
                    d = msg["params"]["exceptionDetails"]
                    self.page_errors.append(d.get("exception", {}).get("description") or d.get("text", ""))
                elif msg.get("method") == "Network.requestWillBeSent":
                    self.requests.append(msg["params"]["request"]["url"])
                elif msg.get("method") == "Runtime.consoleAPICalled" and msg["params"].get("type") == "error":
                    self.page_errors.append(" ".join(str(a.get("value", a.get("description")))
                                                     for a in msg["params"].get("args", [])))
                self.events.put(msg)

    def send(self, method: str, params: dict | None = None, session: bool = True) -> dict:
        with self._lock:
            self._next_id += 1
            mid = self._next_id
            q = self._replies[mid] = queue.Queue()
        msg = {"id": mid, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        try:
            reply = q.get(timeout=self.timeout_s)
        except queue.Empty:
            raise CdpError(f"{method}: no reply in {self.timeout_s} s; chromium stderr: {self._stderr()}") from None
        finally:
            with self._lock:
                self._replies.pop(mid, None)
        if "error" in reply:
            raise CdpError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def wait_event(self, method: str, match=lambda params: True) -> dict:
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            try:
                msg = self.events.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                break
            if msg.get("method") == method and match(msg.get("params", {})):
                return msg["params"]
        raise CdpError(f"no {method} event in {self.timeout_s} s")

    def _open_page(self) -> None:
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 session=False)["sessionId"]
        self.send("Page.enable")
        self.send("Runtime.enable")
        self.send("Network.enable")
        self.send("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(self.downloads),
                                                  "eventsEnabled": True}, session=False)

    # -- what a test does --------------------------------------------------------------------------------------------
    def open(self, url: str) -> None:
        self.send("Page.navigate", {"url": url})
        self.wait_event("Page.loadEventFired")

    def reload(self) -> None:
        self.send("Page.reload")
        self.wait_event("Page.loadEventFired")

    def js(self, expression: str):
        r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in r:
            raise CdpError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def press(self, key: str) -> None:
        code, vk, text = KEYS[key]
        down = {"type": "keyDown", "key": key, "code": code, "windowsVirtualKeyCode": vk}
        if text:
            down["text"] = text
        self.send("Input.dispatchKeyEvent", down)
        self.send("Input.dispatchKeyEvent", {"type": "keyUp", "key": key, "code": code, "windowsVirtualKeyCode": vk})

    def click(self, selector: str) -> None:
        box = self.js(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e.scrollIntoView(); "
                      f"const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()")
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": box[0], "y": box[1], "button": "left",
                                                   "clickCount": 1})

    def wait_download(self) -> Path:
        """The file of the next download, once Chromium reports it complete."""
        begin = self.wait_event("Browser.downloadWillBegin")
        self.wait_event("Browser.downloadProgress",
                        lambda p: p.get("guid") == begin["guid"] and p.get("state") == "completed")
        return self.downloads / begin["suggestedFilename"]

    def _stderr(self) -> str:
        self._log.flush()
        return self._log_path.read_bytes().decode(errors="replace")[-2000:]

    def close(self) -> None:
        try:
            self.send("Browser.close", session=False)
        except (CdpError, OSError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        for fd in (self._cmd_w, self._out_r):
            try:
                os.close(fd)
            except OSError:
                pass
        self._log.close()

    def __enter__(self) -> "Chromium":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
