"""Where the time goes: ONNX Runtime's per-node profile of the edge model on one batch of 640x512 tiles, FP32 and
INT8 (``--target cpu``), grouped by op type, by backbone/neck/head pyramid level and by conv shape, against this
CPU's compute peak.

Time: ``SessionOptions.enable_profiling``; each trace "Node" event (``args.op_name``) belongs to the "model_run" it
falls in; warm-up runs dropped; per group the median over runs of the group's summed node time. Session as in
bench/int8_cpu.py (CPU provider, ORT_ENABLE_ALL, sequential, spinning off), intra-op threads = the cores.

Work: 2 ops per multiply-accumulate of every Conv / ConvInteger / QLinearConv (2·Cout·(Cin/group)·kh·kw·Hout·Wout
per batch item) and MatMul / Gemm family node, counted on the ONNX graph (FP32, or INT8 Q/DQ whose convs ORT fuses
into QLinearConv) with ``onnx.shape_inference`` at the concrete input shape. Every other op (elementwise,
activations, bias, resize, concat, layout, Q/DQ) counts 0: its time is overhead in the roofline sense. A profiled
node is the graph node of its name less ORT's "_token_<k>", or, rewritten into NCHWc, "<output tensor>_nchwc"; a
fused node carries the name of one node it absorbed (the conv, or the activation/add after it), so a graph node's
ops go to the profiled node of its own name, else to the first profiled node down its chain of single consumers.
Ops of nodes ORT runs as QLinearConv / ConvInteger / *Integer / QGemm are integer ops, the rest float.

Peak = cores used × clock × ops per cycle per core, assuming x86 with 2 vector FMA units per core (``FMA_UNITS``):
- clock: ``lscpu`` "CPU max MHz", else the highest /proc/cpuinfo "cpu MHz" (in a VM: the nominal clock; boost can
  be higher, which makes the fractions read high);
- FP32: 2 units × lanes (8 with AVX2, 16 with AVX-512F, 4 with SSE) × 2 (FMA; 1 without the ``fma`` flag);
- INT8 with VNNI (``avx512_vnni``: 64-byte, ``avx_vnni``: 32-byte ``vpdpbusd``): one u8×s8 MAC per byte per unit
  per cycle = 2 × bytes × 2 ops; without VNNI (MLAS's AVX2/AVX-512BW u8s8 kernel): ``vpmaddubsw`` then ``vpmaddwd``
  (×1 to int32) per vector, both on the 2 multiply ports, so half that: 2 × bytes × 2 / 2 (AVX2: 64 ops per cycle,
  twice FP32's 32).
A fraction of peak is (time the node's ops would take at its kind's peak) / (time taken), so mixed groups add up.

Writes bench-out/roofline.json (headline ``fp32_fraction_of_peak``: FP32 graph FLOPs / median run wall time / FP32
peak; diagnostic, no goal) and bench-out/roofline.png.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import onnx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stream_common import OUT, bench_model, calibration_frames, int8_cpu_model, machine, write_result  # noqa: E402

FMA_UNITS = 2
CONV_WEIGHT_INPUT = {"Conv": 1, "ConvInteger": 1, "QLinearConv": 3}
MATMUL_OPS = {"MatMul", "Gemm", "MatMulInteger", "QLinearMatMul", "QGemm"}
INTEGER_OPS = {"QLinearConv", "ConvInteger", "MatMulInteger", "QLinearMatMul", "QGemm"}
ORT_SUFFIX = re.compile(r"(_nchwc|_token_\d+)+$")     # what ORT appends to the names of the nodes it rewrites
ISA = ("fma", "avx2", "avx512f", "avx512_vnni", "avx_vnni")
TOP_NODES = 15
P2_GROUPS = ("neck/P2", "head/P2")                      # the stride-4 level and its head: the suspects of issue #14


# --- this CPU's peak ---------------------------------------------------------------------------------------------

def cpu_clock_and_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> tuple[float, str, set[str]]:
    """(GHz, where it came from, the ``ISA`` flags this CPU has)."""
    text = cpuinfo.read_text(errors="replace") if cpuinfo.is_file() else ""
    flags, mhz = set(), []
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            flags |= set(value.split()) & set(ISA)
        elif key.strip() == "cpu MHz":
            mhz.append(float(value))
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout if shutil.which("lscpu") else ""
    found = re.search(r"^CPU max MHz:\s*([\d.]+)", lscpu, re.M)
    if found:
        return float(found.group(1)) / 1000, "lscpu CPU max MHz", flags
    if not mhz:
        raise SystemExit("no clock: neither lscpu 'CPU max MHz' nor /proc/cpuinfo 'cpu MHz' on this machine")
    return max(mhz) / 1000, "/proc/cpuinfo cpu MHz (nominal; boost may be higher)", flags


def peak(flags: set[str], ghz: float, cores: int) -> dict:
    """FP32 FLOP/s and INT8 op/s peaks of ``cores`` cores at ``ghz`` with ``flags`` (see the module docstring)."""
    vec_bytes = 64 if "avx512f" in flags else 32 if "avx2" in flags else 16
    fp32_per_cycle = FMA_UNITS * (vec_bytes // 4) * (2 if "fma" in flags else 1)
    if flags & {"avx512_vnni", "avx_vnni"}:
        int8_per_cycle = FMA_UNITS * (64 if "avx512_vnni" in flags else 32) * 2
        int8_how = "vpdpbusd (VNNI): one u8×s8 MAC per byte lane per unit per cycle"
    else:
        int8_per_cycle = FMA_UNITS * vec_bytes * 2 // 2
        int8_how = "vpmaddubsw + vpmaddwd per vector, both on the 2 multiply ports: one vector of MACs per cycle"
    return {"fp32_gflops": cores * ghz * fp32_per_cycle, "int8_gops": cores * ghz * int8_per_cycle,
            "fp32_flop_per_cycle_per_core": fp32_per_cycle, "int8_op_per_cycle_per_core": int8_per_cycle,
            "vector_bytes": vec_bytes, "fma_units_assumed": FMA_UNITS, "int8_kernel_assumed": int8_how,
            "cores": cores, "ghz": ghz}


# --- work per graph node -----------------------------------------------------------------------------------------

def concrete_shapes(model: onnx.ModelProto, input_shape: list[int]) -> dict[str, list[int]]:
    """{tensor: shape} of every tensor whose shape ``onnx.shape_inference`` fixes with the first input at
    ``input_shape``."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    for dim, size in zip(model.graph.input[0].type.tensor_type.shape.dim, input_shape):
        dim.dim_value = size
    inferred = onnx.shape_inference.infer_shapes(model, data_prop=True).graph
    shapes = {t.name: list(t.dims) for t in model.graph.initializer}
    for v in (*inferred.input, *inferred.value_info, *inferred.output):
        dims = v.type.tensor_type.shape.dim
        if all(d.HasField("dim_value") for d in dims):
            shapes[v.name] = [d.dim_value for d in dims]
    return shapes


def node_ops(node: onnx.NodeProto, shapes: dict[str, list[int]]) -> int:
    """2 × multiply-accumulates of a conv or matmul node; 0 for every other op."""
    if node.op_type in CONV_WEIGHT_INPUT:
        w = shapes[node.input[CONV_WEIGHT_INPUT[node.op_type]]]      # [Cout, Cin/group, kh, kw]
        return 2 * math.prod(shapes[node.output[0]]) * math.prod(w[1:])
    if node.op_type in MATMUL_OPS:
        a = shapes[node.input[0]]
        trans_a = any(at.name == "transA" and at.i for at in node.attribute)
        return 2 * math.prod(shapes[node.output[0]]) * (a[-2] if trans_a else a[-1])
    return 0


def conv_shape(node: onnx.NodeProto, shapes: dict[str, list[int]]) -> str:
    """'depthwise 3x3', 'pointwise 1x1', 'dense 3x3', … for a conv node; '' for any other."""
    if node.op_type not in CONV_WEIGHT_INPUT:
        return ""
    w = shapes[node.input[CONV_WEIGHT_INPUT[node.op_type]]]
    k = "x".join(map(str, w[2:]))
    group = next((at.i for at in node.attribute if at.name == "group"), 1)
    return f"depthwise {k}" if group > 1 and w[1] == 1 else "pointwise 1x1" if math.prod(w[2:]) == 1 else f"dense {k}"


def level(node: onnx.NodeProto, shapes: dict[str, list[int]], input_h: int) -> str:
    """'<stage>/P<k>' (stride 2^k of a [N, C, H, W] output, stage = the name's first part), or '<stage>'."""
    stage = node.name.split("/")[0]
    y = shapes.get(node.output[0], [])
    if len(y) == 4 and y[2] > 1:
        return f"{stage}/P{round(math.log2(input_h / y[2]))}"
    return stage


def attribute_ops(graph: onnx.GraphProto, ops: dict[str, int], executed: set[str]) -> tuple[dict[str, list], int]:
    """({executed graph-node name: the graph nodes whose ops it ran}, ops left unattributed): a node with ops goes to
    the executed node of its own name, else to the first executed node down its chain of single consumers (where ORT
    fused it)."""
    consumers = defaultdict(list)
    for n in graph.node:
        for t in n.input:
            consumers[t].append(n)
    out, lost = defaultdict(list), 0
    for n in (n for n in graph.node if ops[n.name]):
        m = n
        while m is not None and m.name not in executed:
            after = [c for t in m.output for c in consumers[t]]
            m = after[0] if len(after) == 1 else None
        if m is None:
            lost += ops[n.name]
        else:
            out[m.name].append(n)
    return dict(out), lost


# --- the profile -------------------------------------------------------------------------------------------------

def node_times(trace: list[dict], skip: int) -> tuple[list[dict[str, float]], list[float], dict[str, str]]:
    """From one ORT profile trace: per run after the first ``skip`` {node: kernel µs}, each run's wall µs, and
    {node: op_name}. Node names lose ORT's "_kernel_time"."""
    runs = sorted((e["ts"], e["ts"] + e["dur"]) for e in trace
                  if e.get("cat") == "Session" and e["name"] == "model_run")[skip:]
    per_run, op_name = [defaultdict(float) for _ in runs], {}
    for e in trace:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time"):
            continue
        name = e["name"].removesuffix("_kernel_time")
        op_name[name] = e["args"]["op_name"]
        for i, (start, end) in enumerate(runs):
            if start <= e["ts"] <= end:
                per_run[i][name] += e["dur"]
    return [dict(r) for r in per_run], [end - start for start, end in runs], op_name


def profile(onnx_path: Path, batch: np.ndarray, threads: int, warmup: int, runs: int, prefix: Path) -> Path:
    """Run ``onnx_path`` warmup + runs times on ``batch`` with ORT's profiler on; the trace, moved to
    ``prefix``.json."""
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.log_severity_level = 3
    so.enable_profiling = True
    so.profile_file_prefix = str(prefix)
    s = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    feed = {s.get_inputs()[0].name: batch}
    for _ in range(warmup + runs):
        s.run(None, feed)
    return Path(s.end_profiling()).replace(prefix.with_suffix(".json"))


# --- tables ------------------------------------------------------------------------------------------------------

def graph_node_of(names: Iterable[str], model: onnx.ModelProto) -> dict[str, onnx.NodeProto]:
    """{profiled node name: the graph node it stands for}: ORT keeps a node's name with "_token_<k>" appended, or
    names a node it rewrites into NCHWc "<output tensor>_nchwc"; nodes ORT inserted (layout, Q/DQ copies) have none."""
    graph = {t: n for n in model.graph.node for t in n.output} | {n.name: n for n in model.graph.node}
    return {p: graph[ORT_SUFFIX.sub("", p)] for p in names if ORT_SUFFIX.sub("", p) in graph}


def node_rows(model: onnx.ModelProto, shapes: dict, per_run: list[dict], op_name: dict, peaks: dict,
              input_h: int) -> tuple[list[dict], int]:
    """(one row per profiled node: op, group, conv shape, graph nodes, ops, kind, seconds at peak, median ms;
    ops unattributed)."""
    ops = {n.name: node_ops(n, shapes) for n in model.graph.node}
    known = graph_node_of(op_name, model)
    sources, lost = attribute_ops(model.graph, ops, {g.name for g in known.values()})
    rows = []
    for name, op in op_name.items():
        g = known.get(name)
        src = sources.get(g.name, []) if g is not None else []
        n_ops, kind = sum(ops[s.name] for s in src), "int8" if op in INTEGER_OPS else "fp32"
        rows.append({"node": name, "op": op, "group": level(g, shapes, input_h) if g is not None else "inserted by ORT",
                     "conv": "+".join(conv_shape(s, shapes) for s in src), "graph_nodes": [s.name for s in src],
                     "ops": n_ops, "kind": kind,
                     "peak_s": n_ops / (peaks["fp32_gflops" if kind == "fp32" else "int8_gops"] * 1e9),
                     "ms": statistics.median(r.get(name, 0.0) for r in per_run) / 1000})
    return rows, lost


def table(rows: list[dict], per_run: list[dict], key: str) -> list[dict]:
    """Rows grouped by ``key``, slowest first: median ms over runs, share of node time, GOP/s, fraction of peak."""
    members = defaultdict(list)
    for r in rows:
        members[r[key] or "(not a conv)"].append(r)
    total = statistics.median(sum(run.values()) for run in per_run) / 1000
    out = []
    for name, rs in members.items():
        ms = statistics.median(sum(run.get(r["node"], 0.0) for r in rs) for run in per_run) / 1000
        ops = sum(r["ops"] for r in rs)
        rated = ops and ms
        out.append({key: name, "nodes": len(rs), "ms": round(ms, 3), "share": round(ms / total, 4),
                    "gops": round(ops / 1e9, 4), "achieved_gops_per_s": round(ops / ms / 1e6, 2) if rated else None,
                    "fraction_of_peak": round(sum(r["peak_s"] for r in rs) / (ms / 1000), 4) if rated else None})
    return sorted(out, key=lambda r: -r["ms"])


def summarize(onnx_path: Path, trace: Path, warmup: int, batch_shape: list[int], peaks: dict) -> dict:
    """The per-model part of the JSON: totals, the three tables and the top nodes."""
    model = onnx.load(str(onnx_path))
    shapes = concrete_shapes(model, batch_shape)
    per_run, run_us, op_name = node_times(json.loads(trace.read_text()), warmup)
    rows, lost = node_rows(model, shapes, per_run, op_name, peaks, batch_shape[2])
    by_node = {r["node"]: r for r in rows}
    run_s = statistics.median(run_us) / 1e6
    ops = sum(r["ops"] for r in rows)
    int_ops = sum(r["ops"] for r in rows if r["kind"] == "int8")
    levels = table(rows, per_run, "group")
    return {"path": onnx_path.name, "trace": str(trace.relative_to(OUT)), "runs": len(run_us),
            "run_ms_median": round(run_s * 1000, 2), "run_ms": [round(u / 1000, 2) for u in run_us],
            "node_ms_median": round(statistics.median(sum(r.values()) for r in per_run) / 1000, 2),
            "gops_per_batch": round(ops / 1e9, 4), "integer_gops": round(int_ops / 1e9, 4),
            "unattributed_gops": round(lost / 1e9, 4), "achieved_gops_per_s": round(ops / run_s / 1e9, 2),
            "fraction_of_peak": round(sum(r["peak_s"] for r in rows) / run_s, 4),
            "neck_head_p2_share": round(sum(r["share"] for r in levels if r["group"] in P2_GROUPS), 4),
            "by_op_type": table(rows, per_run, "op"), "by_level": levels,
            "by_conv_shape": table(rows, per_run, "conv"),
            "top_nodes": [{k: v for k, v in t.items() if k != "nodes"} | {
                k: by_node[t["node"]][k] for k in ("op", "group", "conv", "graph_nodes")}
                for t in table(rows, per_run, "node")[:TOP_NODES]]}


# --- output ------------------------------------------------------------------------------------------------------

def plot(models: dict, peaks: dict, path: Path) -> None:
    """Time share per op type and per level (FP32 vs INT8), and achieved vs peak per conv shape."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, 3, figsize=(20, 6))
    for a, key, table_name in ((ax[0], "op", "by_op_type"), (ax[1], "group", "by_level")):
        share = {label: {r[key]: r["share"] for r in m[table_name]} for label, m in models.items()}
        names = sorted({n for s in share.values() for n in s}, key=lambda n: -max(s.get(n, 0) for s in share.values()))
        y = np.arange(len(names[:14]))
        for i, (label, s) in enumerate(share.items()):
            a.barh(y + 0.4 * i, [s.get(n, 0) for n in names[:14]], 0.4, label=label)
        a.set_yticks(y + 0.2, names[:14], fontsize=8)
        a.invert_yaxis()
        a.set_xlabel("share of node time")
        a.set_title(f"time share {table_name.replace('_', ' ')}")
        a.legend()
    a = ax[2]
    bars = []
    for i, (label, m) in enumerate(models.items()):
        bars += [(f"{label} {r['conv']}", r["achieved_gops_per_s"], f"C{i}") for r in m["by_conv_shape"]
                 if r["achieved_gops_per_s"]] + [(f"{label} overall (run)", m["achieved_gops_per_s"], f"C{i}")]
    a.barh([b[0] for b in bars], [b[1] for b in bars], color=[b[2] for b in bars])
    a.axvline(peaks["fp32_gflops"], color="C0", ls="--", label=f"FP32 peak {peaks['fp32_gflops']:.0f}")
    a.axvline(peaks["int8_gops"], color="C1", ls="--", label=f"INT8 peak {peaks['int8_gops']:.0f}")
    a.invert_yaxis()
    a.set_xlabel("achieved GFLOP/s (FP32) or GOP/s (INT8)")
    a.set_title("achieved vs peak, by conv shape")
    a.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def print_model(label: str, m: dict) -> None:
    print(f"{label}: run {m['run_ms_median']:.1f} ms (nodes {m['node_ms_median']:.1f} ms), {m['gops_per_batch']:.2f} "
          f"GOP → {m['achieved_gops_per_s']:.1f} GOP/s = {100 * m['fraction_of_peak']:.1f}% of peak; neck+head P2 "
          f"{100 * m['neck_head_p2_share']:.1f}% of node time")
    for key, t in (("op", "by_op_type"), ("group", "by_level"), ("conv", "by_conv_shape")):
        for r in m[t][:6]:
            rate = f"{r['achieved_gops_per_s']:8.1f} GOP/s {100 * r['fraction_of_peak']:5.1f}%" \
                if r["achieved_gops_per_s"] else ""
            print(f"  {r[key]:22s} {r['ms']:8.2f} ms {100 * r['share']:5.1f}%  {rate}")
        print()
    for r in m["top_nodes"][:5]:
        print(f"  top: {'+'.join(r['graph_nodes']) or r['node']:46s} {r['op']:12s} {r['group']:12s} {r['ms']:7.2f} ms "
              f"{r['conv']}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="FP32 ONNX with manifest (default: export of the edge model)")
    ap.add_argument("--tiles", type=int, default=1, help="tiles per inference call (default 1)")
    ap.add_argument("--runs", type=int, default=5, help="profiled runs per model (default 5)")
    ap.add_argument("--warmup", type=int, default=1, help="warm-up runs per model, dropped (default 1)")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                    help="ONNX Runtime intra-op threads (default: the cores this process may use)")
    args = ap.parse_args(argv)

    from sspnet.calibration.data import calibration_set
    from sspnet.manifest import read_manifest
    from sspnet.preprocess import Preprocess

    work = OUT / "roofline"
    fp32, what = bench_model(work / "models", args.model)
    calib = calibration_frames(work / "calib")
    paths = {"fp32": fp32, "int8": int8_cpu_model(fp32, calib)}
    pre = Preprocess.from_dict(read_manifest(fp32)["preprocess"])
    batch = calibration_set(calib, pre, args.tiles).tiles(args.tiles)
    ghz, clock_source, flags = cpu_clock_and_flags()
    cores = min(args.threads, len(os.sched_getaffinity(0)))
    peaks = peak(flags, ghz, cores)
    print(f"model {fp32.name} ({what}); batch {list(batch.shape)}; {args.threads} threads; peak on {cores} cores at "
          f"{ghz:.2f} GHz ({', '.join(sorted(flags))}): FP32 {peaks['fp32_gflops']:.0f} GFLOP/s, INT8 "
          f"{peaks['int8_gops']:.0f} GOP/s", flush=True)
    models = {}
    for label, path in paths.items():
        trace = profile(path, batch, args.threads, args.warmup, args.runs, work / f"profile_{label}")
        models[label] = summarize(path, trace, args.warmup, list(batch.shape), peaks)
        print_model(label, models[label])
    png = OUT / "roofline.png"
    plot(models, peaks, png)
    import onnxruntime
    facts = machine()
    doc = {
        "headline": {"metric": "fp32_fraction_of_peak", "value": models["fp32"]["fraction_of_peak"], "unit": "ratio",
                     "goal": None, "int8_fraction_of_peak": models["int8"]["fraction_of_peak"],
                     "note": "diagnostic (where the time goes), no goal"},
        "description": "ONNX Runtime profiler per-node time of the edge model, FP32 and INT8 --target cpu, on one "
                       "batch of tiles; ops counted on the ONNX graph; achieved vs this CPU's compute peak",
        "counting": "2 ops per multiply-accumulate of Conv/ConvInteger/QLinearConv (Q/DQ convs that ORT fuses) and "
                    "MatMul/Gemm families, from onnx.shape_inference at the batch shape; every other op counts 0; "
                    "a fused node gets the ops of the graph nodes it absorbed; integer ops = nodes ORT runs as "
                    "QLinearConv/ConvInteger/*Integer/QGemm",
        "cpu": {"model": facts["cpu_model"], "flags": sorted(flags), "ghz": ghz, "clock_source": clock_source},
        "peak": peaks | {"fraction_of_peak": "(time a node's ops take at its kind's peak) / (time taken)"},
        "input": {"tiles": args.tiles, "shape": list(batch.shape), "images": str(calib.relative_to(OUT))},
        "session": {"provider": "CPUExecutionProvider", "intra_op_threads": args.threads, "inter_op_threads": 1,
                    "graph_optimization_level": "ORT_ENABLE_ALL", "allow_spinning": 0, "profiling": True},
        "timing": {"warmup": args.warmup, "runs": args.runs,
                   "statistic": "median over runs of each group's summed node time; run = model_run wall time"},
        "model": what,
        "models": models,
        "plot": png.name,
        "machine": dict(facts, onnxruntime=onnxruntime.__version__),
    }
    path = write_result("roofline", doc)
    f, i = models["fp32"], models["int8"]
    print(f"FP32 {f['achieved_gops_per_s']:.1f} GFLOP/s = {100 * f['fraction_of_peak']:.1f}% of "
          f"{peaks['fp32_gflops']:.0f}; INT8 {i['achieved_gops_per_s']:.1f} GOP/s = {100 * i['fraction_of_peak']:.1f}% "
          f"of {peaks['int8_gops']:.0f}; on {doc['cpu']['model']} → {path}, {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
