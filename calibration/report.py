"""Calibration report: ``<out stem>.report.json`` (everything) and ``.report.md`` (a short table) next to the INT8
ONNX, plus the ``calibration`` section of its manifest."""
from __future__ import annotations

import json
from pathlib import Path

from sspnet.manifest import atomic_write_bytes


def report_paths(out: str | Path) -> tuple[Path, Path]:
    out = Path(out)
    stem = out.with_suffix("")
    return Path(f"{stem}.report.json"), Path(f"{stem}.report.md")


def manifest_section(report: dict) -> dict:
    """The manifest's ``calibration`` fields: method, count, hashes, excluded nodes, caches, gate."""
    keys = ("method", "count", "target", "images", "hash", "onnx_sha256", "preprocess_digest", "images_sha256",
            "excluded_nodes", "quantization", "cpu_form", "ranges_cache", "trt_cache", "source", "onnxruntime")
    section = {k: report.get(k) for k in keys}
    gate = report.get("gate")
    if gate:
        section["gate"] = {k: gate.get(k) for k in ("metric", "max_drop", "passed", "drop", "fp32", "int8")}
    if report.get("kernels"):
        section["int8_kernels_cpu"] = report["kernels"].get("summary")
    return section


def _fmt(v) -> str:
    if v is None:
        return "-"
    return f"{v:.2f}" if isinstance(v, float) else str(v)


def markdown(report: dict) -> str:
    lines = [f"# INT8 calibration: {Path(report['out']).name}", "",
             f"- target **{report['target']}** ({report['quantization']['note']})",
             f"- method **{report['method']}**, {report['count']} tiles from `{report['images']}` ({report['source']})",
             f"- hash `{report['hash'][:16]}` (ONNX `{report['onnx_sha256'][:12]}`, pre-processing "
             f"`{report['preprocess_digest'][:12]}`, images `{(report['images_sha256'] or '-')[:12]}`)"]
    if report.get("cpu_form"):
        f = report["cpu_form"]
        lines.append(f"- CPU form **{f['name']}** ({f['chosen']}): {f['weight_bits']}-bit weights, {f['isa']}")
    if report.get("trt_cache"):
        lines.append(f"- TensorRT cache `{report['trt_cache']}` ({report.get('trt_header')})")
    if report.get("kernels"):
        lines.append(f"- ONNX Runtime CPU kernels: {report['kernels']['summary']}")
    gate = report.get("gate")
    if gate:
        lines += ["", f"## Accuracy gate ({gate['images']} images, max drop {gate['max_drop']} {gate['metric']})", "",
                  "| | " + " | ".join(gate["fp32"]) + " |", "|---|" + "---|" * len(gate["fp32"]),
                  "| FP32 | " + " | ".join(_fmt(v) for v in gate["fp32"].values()) + " |",
                  "| INT8 | " + " | ".join(_fmt(v) for v in gate["int8"].values()) + " |", "",
                  f"Drop {_fmt(gate['drop'])}: **{'passed' if gate['passed'] else 'FAILED'}**"
                  + (f" ({gate['note']})" if gate.get("note") else "") + f". Score shift: {gate['score_shift']}."]
    lines += ["", f"## Nodes kept in float ({len(report['excluded_nodes'])})", "", "| node | why |", "|---|---|"]
    by_reason: dict[str, list[str]] = {}
    for e in report["excluded_nodes"]:
        by_reason.setdefault(e["reason"], []).append(e["name"])
    for reason, names in by_reason.items():
        shown = ", ".join(f"`{n}`" for n in names[:6]) + (f" … (+{len(names) - 6})" if len(names) > 6 else "")
        lines.append(f"| {shown} | {reason} |")
    return "\n".join(lines) + "\n"


def write_report(out: str | Path, report: dict) -> tuple[Path, Path]:
    js, md = report_paths(out)
    atomic_write_bytes(js, (json.dumps(report, indent=1, default=str) + "\n").encode())
    atomic_write_bytes(md, markdown(report).encode())
    return js, md
