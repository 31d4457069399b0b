"""``calibrate()``: FP32 ONNX + images → INT8 Q/DQ ONNX (+ TensorRT cache, + accuracy gate, + report).

One function per step, in the order ``calibrate()`` calls them:
1. ``_load_fp32``, ``_exclusions``: the FP32 ONNX as its manifest describes it; the nodes kept in float (the
   default float nodes, decode, plus ``--exclude``).
2. ``_ranges``: reuse the stored ranges when their key matches (ONNX sha256, pre-processing digest, image hash,
   count, method); otherwise collect them with ONNX Runtime over the calibration tiles (a stale cache is recalibrated
   and the changed fields are printed; ``require_cache`` turns that into an error). Or import them from a TensorRT
   cache.
3. ``_quantizer`` (``quantize.qdq_from_ranges``) writes a candidate; with ``eval_data``, ``_gate`` widens the
   exclusions until the AP50-tiny drop is within ``max_drop``.
4. ``_write_trt_cache`` (the TensorRT cache from the same ranges), ``_kernels`` (which kernels ONNX Runtime's CPU
   provider really runs), ``_write_outputs`` (the Q/DQ ONNX, its manifest with the ``calibration`` section, the
   report).
"""
from __future__ import annotations

import dataclasses
import itertools
import tempfile
from pathlib import Path
from typing import Callable

from sspnet.calibration.data import cache_key, calibration_set, key_digest
from sspnet.calibration.quantize import (TARGETS, activation_scales, default_exclusions, prepare, qdq_from_ranges,
                                         with_weight_sharers)
from sspnet.calibration.ranges import CALIBRATOR_OPTIONS, RangesCache, StaleCacheError, collect_ranges
from sspnet.cpu_int8 import CPU_FORMS, cpu_info, form_for
from sspnet.manifest import atomic_write_bytes, copied_fields, read_manifest, sha256_file, write_manifest
from sspnet.preprocess import Preprocess


class CalibrationError(RuntimeError):
    """A calibration request that cannot be carried out; the message says what to do."""


@dataclasses.dataclass
class Request:
    onnx: Path
    out: Path
    images: str | None = None
    method: str = "entropy"
    count: int = 512
    target: str = "tensorrt"
    trt_cache: Path | None = None
    trt_version: str = "10.3"
    eval_data: str | None = None
    max_drop: float = 1.0
    require_cache: bool = False
    from_trt_cache: Path | None = None
    exclude: tuple = ()
    cpu_form: str = "auto"          # --target cpu: 'vnni' | 'avx2' | 'auto' (the form exact on this CPU)
    open_backend: Callable[[str], object] | None = None   # the gate's detector factory (the CLI wires the runtime's)


def ranges_cache_path(out: Path) -> Path:
    return out.with_suffix(".ranges")


@dataclasses.dataclass(frozen=True)
class Fp32:
    """The FP32 ONNX being calibrated, as its manifest describes it."""
    manifest: dict
    sha256: str
    model: object               # onnx.ModelProto
    pre: Preprocess
    batch: int | None           # None: dynamic batch


def calibrate(req: Request, log=print) -> dict:
    """Calibrate ``req.onnx`` into ``req.out`` (+ its manifest, TensorRT cache, report files); returns the report."""
    cpu_form = _check_target(req)
    src = _load_fp32(req.onnx)
    excluded = _exclusions(req, src.model)
    with tempfile.TemporaryDirectory(prefix="sspnet-calibrate-") as tmp:
        prepared = prepare(req.onnx, Path(tmp) / "prepared.onnx")
        ranges, fields = _ranges(req, prepared, src, log)
        fields.update(_quantization_fields(req, cpu_form, log))
        quantize = _quantizer(req, src, prepared, ranges, fields, cpu_form, Path(tmp))
        if req.eval_data is None:
            gate, final = None, quantize(excluded)
        else:
            gate, final, excluded = _gate(req, src, prepared, quantize, excluded, log)
        out = req.out if gate is None or gate["passed"] else rejected_path(req.out)
        report = dict(fields, out=str(out), gate=gate, excluded_nodes=_excluded_rows(excluded))
        if req.trt_cache is not None:
            report.update(_write_trt_cache(req, ranges, final, report, log))
        report["kernels"] = _kernels(final, _sample(req, src.pre, src.batch), log)
        report["report_files"] = _write_outputs(req, out, final, src.manifest, fields, excluded, report)
    return report


def rejected_path(out: Path) -> Path:
    """Where a candidate that failed the accuracy gate goes: never over a good ``--out`` of an earlier run."""
    return out.with_name(f"{out.stem}.rejected{out.suffix}")


def _check_target(req: Request) -> dict | None:
    """Check ``--target``; the manifest's ``cpu_form`` section for ``--target cpu`` (None for the TensorRT form)."""
    if req.target not in TARGETS:
        raise CalibrationError(f"--target {req.target!r}: choose from {', '.join(TARGETS)}")
    if req.target != "cpu":
        return None
    if req.cpu_form != "auto" and req.cpu_form not in CPU_FORMS:
        raise CalibrationError(f"--cpu-form {req.cpu_form!r}: choose from auto, {', '.join(CPU_FORMS)}")
    here = cpu_info()
    name = form_for(here) if req.cpu_form == "auto" else req.cpu_form
    return dict(CPU_FORMS[name], name=name, chosen="auto: exact on the calibrating CPU" if req.cpu_form == "auto"
                else "requested with --cpu-form", calibrated_on=here.to_dict())


def _load_fp32(onnx_path: Path) -> Fp32:
    """The FP32 ONNX that 'sspnet export' wrote; an FP16/INT8 one, or one its manifest does not match, is refused."""
    import onnx
    m = read_manifest(onnx_path)
    if m.get("artifact") != "onnx":
        raise CalibrationError(f"{onnx_path}: artifact is {m.get('artifact')!r}; calibrate the FP32 ONNX that "
                               f"'sspnet export' writes (not an FP16 or INT8 one)")
    sha = sha256_file(onnx_path)
    if m.get("sha256") and m["sha256"] != sha:
        raise CalibrationError(f"{onnx_path}: the manifest's sha256 is not this file's; re-export the model")
    batch = m["input"]["batch"]
    return Fp32(manifest=m, sha256=sha, model=onnx.load(str(onnx_path)), pre=Preprocess.from_dict(m["preprocess"]),
                batch=None if batch == "dynamic" else int(batch))


def _exclusions(req: Request, float_model) -> dict:
    """{node: reason} to keep in float: the defaults (decode) plus ``--exclude``, whose nodes must exist."""
    excluded = default_exclusions(float_model)
    unknown = [n for n in req.exclude if n not in {x.name for x in float_model.graph.node}]
    if unknown:
        raise CalibrationError(f"--exclude: no node named {unknown[:3]} in {req.onnx} (node names look like "
                               f"'{float_model.graph.node[0].name}')")
    excluded.update({n: "requested with --exclude" for n in req.exclude})
    return excluded


def _ranges(req: Request, prepared: Path, src: Fp32, log) -> tuple:
    """(ranges, report fields) from a TensorRT cache, the stored ranges, or a new calibration."""
    from sspnet.calibration.trt_cache import check_cache, import_ranges
    pre, onnx_sha = src.pre, src.sha256
    if req.from_trt_cache is not None:
        cache = check_cache(req.from_trt_cache, {"onnx_sha256": onnx_sha, "preprocess_digest": pre.digest()})
        log(f"ranges: imported {len(cache.scales)} scales from {req.from_trt_cache} ({cache.header})")
        stored = read_manifest(req.from_trt_cache)["calibration"]
        fields = {k: stored.get(k) for k in ("method", "count", "images", "images_sha256", "hash")}
        fields.update(source=f"imported from TensorRT cache {req.from_trt_cache.name}", onnx_sha256=onnx_sha,
                      preprocess_digest=pre.digest())
        return import_ranges(cache), fields
    if req.images is None:
        raise CalibrationError("--images DIR|DATASET is required (or --from-trt-cache CACHE)")
    calib = calibration_set(req.images, pre, req.count)
    if calib.count < 300:
        log(f"warning: {calib.count} calibration tiles; fewer than ~300 give noisy entropy histograms")
    key = cache_key(calib, onnx_sha, req.method, CALIBRATOR_OPTIONS[req.method])
    digest = key_digest(key)
    cache = RangesCache(ranges_cache_path(req.out))
    stale = cache.stale_fields(key)
    fields = {"method": req.method, "count": calib.count, "images": str(req.images), "hash": digest,
              "onnx_sha256": onnx_sha, "preprocess_digest": pre.digest(), "images_sha256": calib.images_sha256,
              "ranges_cache": cache.path.name}
    if stale == []:
        log(f"ranges: reusing {cache.path} (key matches: ONNX, pre-processing, images, count, method)")
        return cache.load(key), dict(fields, source="reused stored ranges (key matched)")
    if req.require_cache:
        why = "no stored ranges" if stale is None else f"stored ranges are stale ({', '.join(stale)} differ)"
        raise StaleCacheError(f"{cache.path}: {why}; --require-cache forbids recalibrating")
    if stale:
        log(f"ranges: {cache.path} is stale ({', '.join(stale)} changed): recalibrating")
    log(f"ranges: calibrating on {calib.count} tiles of {len(calib.picks)} images ({req.method}, ONNX Runtime CPU)")
    ranges = collect_ranges(prepared, calib, req.method, src.manifest["input"]["name"], src.batch, log=log)
    cache.save(ranges, key, digest)
    return ranges, dict(fields, source="calibrated" if stale is None else "recalibrated (stale cache)")


def _quantization_fields(req: Request, cpu_form: dict | None, log) -> dict:
    """The ``calibration`` fields that say how the graph is quantized (target, scheme, CPU form)."""
    import onnxruntime
    fields = {"target": req.target, "onnxruntime": onnxruntime.__version__,
              "quantization": dict(TARGETS[req.target], per_channel=True, weight_axis=0, activations="per tensor",
                                   weight_bits=cpu_form["weight_bits"] if cpu_form else 8)}
    if cpu_form:
        fields["cpu_form"] = cpu_form
        log(f"cpu form '{cpu_form['name']}' ({cpu_form['chosen']}): {cpu_form['weight_bits']}-bit weights, "
            f"{cpu_form['isa']}")
    return fields


def _quantizer(req: Request, src: Fp32, prepared: Path, ranges, fields: dict, cpu_form: dict | None,
               tmp: Path) -> Callable[[dict], Path]:
    """``quantize(excluded) -> path``: a candidate Q/DQ ONNX (with manifest) in ``tmp`` from the same ranges.
    It adds to ``excluded``, in place, the nodes that share a weight with an excluded node."""
    candidates = itertools.count(1)

    def quantize(excl: dict) -> Path:
        path = tmp / f"candidate{next(candidates)}.onnx"
        excl.update(with_weight_sharers(src.model, excl))
        qdq_from_ranges(prepared, path, ranges, req.target, sorted(excl),
                        reduce_range=bool(cpu_form and cpu_form["reduce_range"]))
        write_manifest(path, _int8_fields(src.manifest, fields, excl), parent=req.onnx)
        return path
    return quantize


def _gate(req: Request, src: Fp32, prepared: Path, quantize, excluded: dict, log) -> tuple[dict, Path, dict]:
    """The accuracy gate on ``req.eval_data``: (gate report, final candidate, its exclusions)."""
    from sspnet.calibration.gate import run_gate
    from sspnet.data import load_dataset
    records = load_dataset(req.eval_data)
    rank = _ranker(src, prepared, _sample(req, src.pre, src.batch))
    if req.open_backend is None:
        raise CalibrationError("the accuracy gate (eval_data) needs Request.open_backend, a factory of "
                               "ONNX detectors such as sspnet.runtime.backends.open_backend")
    gate = run_gate(req.onnx, records, quantize, excluded, req.max_drop, rank, src.model,
                    req.open_backend, src.manifest["postprocess"]["score_thr"], log=log)
    final, excluded = Path(gate.pop("path")), gate.pop("excluded")
    return gate, final, excluded


def _ranker(src: Fp32, prepared: Path, sample):
    """``rank(path, excluded)``: sensitivity rows of the nodes a candidate still quantizes ([] without images)."""
    import onnx

    from sspnet.calibration.quantize import quantized_nodes
    from sspnet.calibration.sensitivity import rank_nodes

    def rank(path, excl):
        if sample is None:
            return []
        candidates = set(quantized_nodes(src.model, onnx.load(str(path)))) - set(excl)
        return rank_nodes(prepared, path, [sample], candidates, src.manifest["input"]["name"])
    return rank


def _sample(req: Request, pre: Preprocess, batch: int | None):
    """A small batch of real tiles for the kernel check and the per-node ranking."""
    import numpy as np
    if req.images is None:
        return None
    tiles = calibration_set(req.images, pre, 4).tiles(4)
    n = batch or 2
    return np.ascontiguousarray(np.resize(tiles, (n,) + tiles.shape[1:]), dtype=np.float32)


def _kernels(final: Path, sample, log) -> dict:
    """Which kernels ONNX Runtime's CPU provider really runs for the final graph."""
    from sspnet.calibration.kernels import kernel_report, summary
    kernels = kernel_report(final, sample)
    kernels["summary"] = summary(kernels)
    log(f"ONNX Runtime CPU: {kernels['summary']}")
    return kernels


def _write_outputs(req: Request, out: Path, final: Path, manifest: dict, fields: dict, excluded: dict,
                   report: dict) -> list[str]:
    """The INT8 ONNX at ``out``, its manifest and the report files; returns the report files' paths."""
    from sspnet.calibration.report import manifest_section, write_report
    atomic_write_bytes(out, Path(final).read_bytes())
    fields_out = _int8_fields(manifest, fields, excluded)
    fields_out["calibration"] = manifest_section(report)
    write_manifest(out, fields_out, parent=req.onnx)
    return [str(p) for p in write_report(out, report)]


def _excluded_rows(excluded: dict) -> list[dict]:
    return [{"name": n, "reason": r} for n, r in sorted(excluded.items())]


def _int8_fields(manifest: dict, fields: dict, excluded: dict) -> dict:
    out = copied_fields(manifest)
    out["artifact"] = "onnx-int8"
    out["calibration"] = dict(fields, excluded_nodes=_excluded_rows(excluded))
    return out


def _write_trt_cache(req: Request, ranges, final: Path, report: dict, log) -> dict:
    """The TensorRT <= 10 calibration cache from the same ranges as the Q/DQ graph ``final``."""
    import onnx

    from sspnet.calibration.trt_cache import amax_from_ranges, cache_from_amax, write_trt_cache
    scales = activation_scales(onnx.load(str(final)))
    if req.target == "tensorrt":      # symmetric, zero point 0: the Q/DQ scales themselves (amax = 127·scale)
        amax = {name: 127.0 * scale for name, (scale, _) in scales.items()}
    else:                             # asymmetric uint8 Q/DQ: symmetric amax of the same stored ranges
        amax = amax_from_ranges(ranges, scales)
    cache = cache_from_amax(amax, req.trt_version, report["method"] or "minmax")
    section = {k: report.get(k) for k in ("method", "count", "images", "hash", "onnx_sha256", "preprocess_digest",
                                          "images_sha256", "excluded_nodes", "target")}
    write_trt_cache(req.trt_cache, cache, section, parent=req.onnx)
    log(f"wrote {req.trt_cache} ({cache.header}, {len(cache.scales)} tensors) for TensorRT <= 10 implicit INT8")
    return {"trt_cache": str(req.trt_cache), "trt_header": cache.header}
