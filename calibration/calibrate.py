"""``calibrate()``: FP32 ONNX + images → INT8 Q/DQ ONNX (+ TensorRT cache, + accuracy gate, + report).

1. ranges: reuse the stored ranges when their key matches (ONNX sha256, pre-processing digest, image hash, count,
   method); otherwise collect them with ONNX Runtime over the calibration tiles (a stale cache is recalibrated and the
   changed fields are printed; ``require_cache`` turns that into an error). Or import them from a TensorRT cache.
2. quantize (``quantize.qdq_from_ranges``) with the default float nodes (decode) + requested exclusions; with
   ``eval_data``, the accuracy gate widens the exclusions until the AP50-tiny drop is within ``max_drop``.
3. write the Q/DQ ONNX, its manifest (``calibration`` section), the TensorRT cache from the same ranges, the report,
   and check which kernels ONNX Runtime's CPU provider really runs.
"""
from __future__ import annotations

import dataclasses
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


def _fp32_manifest(onnx: Path) -> dict:
    m = read_manifest(onnx)
    if m.get("artifact") != "onnx":
        raise CalibrationError(f"{onnx}: artifact is {m.get('artifact')!r}; calibrate the FP32 ONNX that "
                               f"'sspnet export' writes (not an FP16 or INT8 one)")
    if m.get("sha256") and m["sha256"] != sha256_file(onnx):
        raise CalibrationError(f"{onnx}: the manifest's sha256 is not this file's; re-export the model")
    return m


def _ranges(req: Request, prepared: Path, manifest: dict, onnx_sha: str, log) -> tuple:
    """(ranges, report fields) from a TensorRT cache, the stored ranges, or a new calibration."""
    from sspnet.calibration.trt_cache import check_cache, import_ranges
    pre = Preprocess.from_dict(manifest["preprocess"])
    batch = manifest["input"]["batch"]
    batch = None if batch == "dynamic" else int(batch)
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
    ranges = collect_ranges(prepared, calib, req.method, manifest["input"]["name"], batch, log=log)
    cache.save(ranges, key, digest)
    return ranges, dict(fields, source="calibrated" if stale is None else "recalibrated (stale cache)")


def _sample(req: Request, pre: Preprocess, batch: int | None):
    """A small batch of real tiles for the kernel check and the per-node ranking."""
    import numpy as np
    if req.images is None:
        return None
    tiles = calibration_set(req.images, pre, 4).tiles(4)
    n = batch or 2
    return np.ascontiguousarray(np.resize(tiles, (n,) + tiles.shape[1:]), dtype=np.float32)


def _cpu_form(req: Request) -> dict | None:
    """The manifest's ``cpu_form`` section for ``--target cpu`` (None for the TensorRT form)."""
    if req.target != "cpu":
        return None
    if req.cpu_form != "auto" and req.cpu_form not in CPU_FORMS:
        raise CalibrationError(f"--cpu-form {req.cpu_form!r}: choose from auto, {', '.join(CPU_FORMS)}")
    here = cpu_info()
    name = form_for(here) if req.cpu_form == "auto" else req.cpu_form
    return dict(CPU_FORMS[name], name=name, chosen="auto: exact on the calibrating CPU" if req.cpu_form == "auto"
                else "requested with --cpu-form", calibrated_on=here.to_dict())


def calibrate(req: Request, log=print) -> dict:
    import onnx
    import onnxruntime

    if req.target not in TARGETS:
        raise CalibrationError(f"--target {req.target!r}: choose from {', '.join(TARGETS)}")
    cpu_form = _cpu_form(req)
    manifest = _fp32_manifest(req.onnx)
    onnx_sha = sha256_file(req.onnx)
    float_model = onnx.load(str(req.onnx))
    pre = Preprocess.from_dict(manifest["preprocess"])
    batch = None if manifest["input"]["batch"] == "dynamic" else int(manifest["input"]["batch"])
    excluded = default_exclusions(float_model)
    unknown = [n for n in req.exclude if n not in {x.name for x in float_model.graph.node}]
    if unknown:
        raise CalibrationError(f"--exclude: no node named {unknown[:3]} in {req.onnx} (node names look like "
                               f"'{float_model.graph.node[0].name}')")
    excluded.update({n: "requested with --exclude" for n in req.exclude})
    with tempfile.TemporaryDirectory(prefix="sspnet-calibrate-") as tmp:
        prepared = prepare(req.onnx, Path(tmp) / "prepared.onnx")
        ranges, fields = _ranges(req, prepared, manifest, onnx_sha, log)
        fields.update(target=req.target, onnxruntime=onnxruntime.__version__,
                      quantization=dict(TARGETS[req.target], per_channel=True, weight_axis=0,
                                        activations="per tensor",
                                        weight_bits=cpu_form["weight_bits"] if cpu_form else 8))
        if cpu_form:
            fields["cpu_form"] = cpu_form
            log(f"cpu form '{cpu_form['name']}' ({cpu_form['chosen']}): {cpu_form['weight_bits']}-bit weights, "
                f"{cpu_form['isa']}")
        counter = [0]

        def quantize(excl: dict) -> Path:
            counter[0] += 1
            path = Path(tmp) / f"candidate{counter[0]}.onnx"
            excl.update(with_weight_sharers(float_model, excl))
            qdq_from_ranges(prepared, path, ranges, req.target, sorted(excl),
                            reduce_range=bool(cpu_form and cpu_form["reduce_range"]))
            write_manifest(path, _int8_fields(manifest, fields, excl), parent=req.onnx)
            return path

        gate = None
        if req.eval_data is not None:
            from sspnet.calibration.gate import run_gate
            from sspnet.calibration.sensitivity import rank_nodes
            from sspnet.data import load_dataset
            records = load_dataset(req.eval_data)
            sample = _sample(req, pre, batch)

            def rank(path, excl):
                from sspnet.calibration.quantize import quantized_nodes
                candidates = set(quantized_nodes(float_model, onnx.load(str(path)))) - set(excl)
                return rank_nodes(prepared, path, [sample], candidates, manifest["input"]["name"]) \
                    if sample is not None else []
            if req.open_backend is None:
                raise CalibrationError("the accuracy gate (eval_data) needs Request.open_backend, a factory of "
                                       "ONNX detectors such as sspnet.runtime.backends.open_backend")
            gate = run_gate(req.onnx, records, quantize, excluded, req.max_drop, rank, float_model,
                            req.open_backend, manifest["postprocess"]["score_thr"], log=log)
            final, excluded = Path(gate.pop("path")), gate.pop("excluded")
        else:
            final = quantize(excluded)
        report = dict(fields, out=str(req.out), gate=gate,
                      excluded_nodes=[{"name": n, "reason": r} for n, r in sorted(excluded.items())])
        qdq = onnx.load(str(final))
        if req.trt_cache is not None:
            report.update(_write_trt_cache(req, ranges, qdq, report, log))
        from sspnet.calibration.kernels import kernel_report, summary
        kernels = kernel_report(final, _sample(req, pre, batch))
        kernels["summary"] = summary(kernels)
        report["kernels"] = kernels
        log(f"ONNX Runtime CPU: {kernels['summary']}")
        from sspnet.calibration.report import manifest_section, write_report
        atomic_write_bytes(req.out, Path(final).read_bytes())
        fields_out = _int8_fields(manifest, fields, excluded)
        fields_out["calibration"] = manifest_section(report)
        write_manifest(req.out, fields_out, parent=req.onnx)
        report["report_files"] = [str(p) for p in write_report(req.out, report)]
    return report


def _int8_fields(manifest: dict, fields: dict, excluded: dict) -> dict:
    out = copied_fields(manifest)
    out["artifact"] = "onnx-int8"
    out["calibration"] = dict(fields, excluded_nodes=[{"name": n, "reason": r} for n, r in sorted(excluded.items())])
    return out


def _write_trt_cache(req: Request, ranges, qdq_model, report: dict, log) -> dict:
    from sspnet.calibration.trt_cache import amax_from_ranges, cache_from_amax, write_trt_cache
    scales = activation_scales(qdq_model)
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
