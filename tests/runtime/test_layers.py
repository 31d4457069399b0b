"""The runtime runs on an edge box without PyTorch: importing every runtime module pulls in no torch."""
from __future__ import annotations

import subprocess
import sys

MODULES = ["sspnet.runtime.stream", "sspnet.runtime.pipeline", "sspnet.runtime.reconnect", "sspnet.runtime.stats",
           "sspnet.runtime.tracker", "sspnet.runtime.sources", "sspnet.runtime.sources.uri",
           "sspnet.runtime.backends", "sspnet.runtime.backends.onnxruntime", "sspnet.runtime.sinks.jsonl",
           "sspnet.runtime.sinks.overlay"]


def test_runtime_imports_no_torch():
    code = ("import sys\n" + "".join(f"import {m}\n" for m in MODULES) +
            "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'torch' or m.startswith('sspnet.training') "
            "or m.startswith('sspnet.export'))\nprint(bad)\nsys.exit(1 if bad else 0)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
