"""The trtexec command line equivalent to a BuildPlan, per TensorRT version (no TensorRT needed to write it).

8.6 / 10.x (weakly typed): ``--fp16`` (and ``--int8``) choose precision; the implicit path adds ``--calib=CACHE``
and, for nodes the calibration kept in float, ``--precisionConstraints=prefer --layerPrecisions=name:fp16,…``.
11.x (always strongly typed): no precision flags at all (``--int8 --fp16 --best --calib`` were removed), and
``--stronglyTyped`` is not needed. A dynamic batch or a full-frame ONNX (dynamic height and width) gets the plan's
one profile as ``--minShapes/--optShapes/--maxShapes=images:NxCxHxW``. Paths are quoted with shlex so the line
pastes safely into a shell.
"""
from __future__ import annotations

import shlex
from pathlib import Path

from sspnet.export.trt_plan import BuildPlan, PlanError


def _shape(plan: BuildPlan, shape: tuple) -> str:
    return f"{plan.onnx.input_name}:" + "x".join(str(d) for d in shape)


def layer_precisions(plan: BuildPlan) -> list[str]:
    """``name:fp16`` specs for the implicit path (trtexec splits the list on ',' and each spec on its last ':')."""
    if plan.quantization != "implicit-cache" or not plan.features.trtexec.layer_precisions:
        return []
    return [f"{n}:{plan.keep_float_dtype}" for n in plan.keep_float_nodes if n in plan.onnx.node_outputs]


def trtexec_argv(plan: BuildPlan, timing_cache: Path | None = None, executable: str = "trtexec") -> list[str]:
    f = plan.features
    if "," in plan.onnx.input_name:
        raise PlanError(f"input name {plan.onnx.input_name!r} contains ',' which trtexec's shape lists cannot carry")
    argv = [executable, f"--onnx={plan.onnx.path}", f"--saveEngine={plan.out}"]
    if f.weak_typing:
        if plan.precision in ("fp16", "int8"):
            argv.append("--fp16")          # with INT8: unquantized layers run FP16, not FP32
        if plan.precision == "int8" and f.trtexec.int8:
            argv.append("--int8")
        if plan.quantization == "implicit-cache":
            argv.append(f"--calib={plan.calib.path}")
        specs = layer_precisions(plan)
        bad = [s for s in specs if "," in s]
        if bad:
            raise PlanError(f"node names with ',' cannot be passed to --layerPrecisions: {bad}")
        if specs:
            argv += ["--precisionConstraints=prefer", "--layerPrecisions=" + ",".join(specs)]
    shapes = plan.profile_shapes()
    if shapes is not None:
        lo, opt, hi = (_shape(plan, s) for s in shapes)
        argv += [f"--minShapes={lo}", f"--optShapes={opt}", f"--maxShapes={hi}"]
    if plan.workspace_mb is not None:
        argv.append(f"--memPoolSize=workspace:{plan.workspace_mb}M")
    if timing_cache is not None:
        argv.append(f"--timingCacheFile={timing_cache}")
    if plan.dla_core is not None:
        argv += [f"--useDLACore={plan.dla_core}", "--allowGPUFallback"]
    argv.append("--skipInference")
    return argv


def trtexec_line(plan: BuildPlan, timing_cache: Path | None = None) -> str:
    return shlex.join(trtexec_argv(plan, timing_cache))


def trtexec_notes(plan: BuildPlan) -> list[str]:
    """What a user should know before pasting the line (written to stderr by the CLI)."""
    notes = []
    c = plan.calib
    if c is not None and c.version_int != plan.features.version.nv_version_int:
        notes.append(f"{c.path.name} has header TRT-{c.version_int}-{c.algorithm}; TensorRT {plan.features.version} "
                     f"writes {plan.features.calib_cache_header(c.algorithm)} and may ignore a cache with another "
                     f"version (then it tries to recalibrate without data); 'sspnet build' rewrites the header "
                     f"in memory, for trtexec edit line 1 of a copy")
    skipped = [n for n in plan.keep_float_nodes if n not in plan.onnx.node_outputs]
    if plan.quantization == "implicit-cache" and skipped:
        notes.append(f"not in the graph, left out of --layerPrecisions: {skipped}")
    return notes
