"""The engine's manifest: what a TensorRT engine was built with, and the check that refuses to run it elsewhere.

An engine is tied to its TensorRT version and GPU (ultralytics#20427, tensorrt_demos#147); its sidecar
``model.engine.json`` (never a header inside the engine: ultralytics#20053) names both, and the runtime compares
them with what it finds before deserializing. Written by ``export/trt_build.py``, read by
``runtime/backends/tensorrt.py``: it lives in the core because both sides need it (stdlib only).
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

from sspnet.manifest import copied_fields

TEGRA_RELEASE = "/etc/nv_tegra_release"
# L4T major → JetPack major (R32: JetPack 4, R35: 5, R36: 6, R38: 7)
L4T_TO_JETPACK = {32: "4", 34: "5", 35: "5", 36: "6", 38: "7"}


class EngineMismatch(RuntimeError):
    """The engine was built for another TensorRT version or GPU."""


def read_tegra_release(path: str | Path = TEGRA_RELEASE) -> dict | None:
    """'# R36 (release), REVISION: 4.3, GCID: …' → {'l4t': '36.4.3', 'jetpack': '6', 'raw': …}; None off Jetson."""
    p = Path(path)
    if not p.is_file():
        return None
    raw = p.read_text(errors="replace").splitlines()[0].strip() if p.stat().st_size else ""
    m = re.search(r"R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", raw)
    if not m:
        return {"l4t": None, "jetpack": None, "raw": raw}
    major = int(m.group(1))
    return {"l4t": f"{major}.{m.group(2)}", "jetpack": L4T_TO_JETPACK.get(major), "raw": raw}


def device_key(gpu_name: str, compute_capability: str, trt_version: str) -> str:
    """Filesystem-safe identity of (GPU, SM, TensorRT): 'nvidia-geforce-rtx-4090-sm89-trt10.3.0'."""
    slug = re.sub(r"[^a-z0-9]+", "-", gpu_name.lower()).strip("-") or "gpu"
    return f"{slug}-sm{compute_capability.replace('.', '')}-trt{trt_version}"


def _version3(v: str) -> tuple:
    nums = re.findall(r"\d+", str(v))[:3]
    return tuple(int(n) for n in nums) + (0,) * (3 - len(nums))


def check_engine_compat(manifest: dict, trt_version: str, gpu_name: str, compute_capability: str) -> list[str]:
    """Differences between where the engine was built and where it is about to run (empty list: compatible)."""
    t = manifest.get("tensorrt")
    if not isinstance(t, dict):
        return ["the manifest has no 'tensorrt' section: it does not describe a TensorRT engine"]
    problems = []
    built = str(t.get("version", "?"))
    if _version3(built) != _version3(trt_version):
        problems.append(f"built with TensorRT {built}, this machine has TensorRT {trt_version}")
    gpu = t.get("gpu") or {}
    if str(gpu.get("compute_capability")) != str(compute_capability):
        problems.append(f"built for compute capability {gpu.get('compute_capability')} ({gpu.get('name')}), "
                        f"this GPU is {compute_capability} ({gpu_name})")
    elif gpu.get("name") != gpu_name:
        problems.append(f"built on {gpu.get('name')}, this GPU is {gpu_name} (same SM {compute_capability}, but "
                        f"TensorRT tunes kernels per GPU model)")
    return problems


def rebuild_command(engine_path: str | Path, manifest: dict) -> str:
    """The ``sspnet build`` line that rebuilds this engine from its ONNX on the current machine."""
    engine_path = Path(engine_path)
    t = manifest.get("tensorrt") or {}
    onnx_name = (t.get("onnx") or {}).get("path") or (manifest.get("parent") or {}).get("path") or "model.onnx"
    argv = ["sspnet", "build", "--onnx", str(engine_path.parent / onnx_name), "--out", str(engine_path)]
    if t.get("precision"):
        argv += ["--precision", str(t["precision"])]
    calib = t.get("calibration_cache") or {}
    if calib.get("path"):
        argv += ["--calib-cache", str(engine_path.parent / calib["path"])]
    prof = t.get("profile") or {}
    if prof.get("batch"):
        argv += ["--batch", ":".join(str(b) for b in prof["batch"])]
    if prof.get("full_frame"):
        for key in ("min", "opt", "max"):
            _, _, h, w = prof[key]
            argv += [f"--full-frame-{key}", f"{w}x{h}"]
    if t.get("workspace_mb"):
        argv += ["--workspace", str(t["workspace_mb"])]
    if t.get("dla_core") is not None:
        argv += ["--dla", str(t["dla_core"])]
    return shlex.join(argv)


def refusal_message(engine_path: str | Path, manifest: dict, problems: list[str]) -> str:
    return (f"{engine_path}: this engine cannot run here: " + "; ".join(problems) +
            ". TensorRT engines are tied to the TensorRT version and GPU that built them: rebuild it on this "
            f"machine with: {rebuild_command(engine_path, manifest)}")


def engine_fields(onnx_manifest: dict | None, tensorrt: dict, io: dict) -> dict:
    """The engine manifest body: what the runtime needs from the ONNX manifest, plus the engine's own facts.

    ``io``: {"inputs": [{"name", "dtype", "shape"}], "outputs": [...]} as TensorRT reports them. A full-frame
    engine's ``input.full_frame`` is its profile's (``tensorrt.profile.full_frame``, which a smaller
    --full-frame-max narrows), so the runtime picks whole frame or tiles by what the engine accepts."""
    fields = {"artifact": "engine", **copied_fields(onnx_manifest)}
    inputs = io.get("inputs") or []
    if inputs:
        inp = dict(fields.get("input") or {})
        inp["name"] = inputs[0]["name"]
        prof = tensorrt.get("profile") or {}
        inp["batch"] = "dynamic" if prof.get("batch") else inputs[0]["shape"][0]
        inp.pop("full_frame", None)             # the engine's profile, not the ONNX's range, says what it takes
        if prof.get("full_frame"):
            inp["full_frame"] = dict(prof["full_frame"])
        inp.setdefault("layout", "NCHW")
        inp["dtype"] = inputs[0]["dtype"]
        fields["input"] = inp
    fields["input_names"] = [i["name"] for i in inputs]
    fields["output_names"] = [o["name"] for o in io.get("outputs") or []]
    fields["tensorrt"] = dict(tensorrt, io=io)
    return fields


def validate_engine_manifest(manifest: dict, where: str = "engine manifest") -> None:
    """Structural check: the keys the TensorRT backend reads must be there."""
    missing = [k for k in ("input", "output_names", "preprocess", "postprocess", "tensorrt") if k not in manifest]
    if manifest.get("artifact") != "engine":
        missing.insert(0, "artifact=engine")
    t = manifest.get("tensorrt") or {}
    missing += [f"tensorrt.{k}" for k in ("version", "gpu", "precision") if k not in t]
    if missing:
        raise ValueError(f"{where}: missing {missing}; rebuild the engine with 'sspnet build', which writes them")
