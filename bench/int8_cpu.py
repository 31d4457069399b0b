"""INT8 vs FP32 ONNX Runtime throughput of the edge model on this CPU, in one run.

The FP32 ONNX (export of models/sspnet_edge.pt, else of an untrained edge model built from configs/sspnet_edge.yaml;
or ``--model``) is calibrated with ``sspnet calibrate`` twice from one set of ranges: ``--target cpu`` (uint8
activations, the fast x86 form) and ``--target tensorrt`` (symmetric int8, the TensorRT form, measured here too).
All three run on the same batch of real tiles (CPU provider, intra-op threads = 2, ORT_ENABLE_ALL), after a warm-up,
in interleaved rounds; medians per model, ratio = FP32 median time / INT8 median time (= throughput ratio). Each model
runs with ONNX Runtime's thread spinning off (``session.intra_op.allow_spinning=0``, the headline: on a shared or
busy 2-core CPU spinning threads steal the cores the other thread and the video pipeline need) and on (the default).

Writes bench-out/int8_cpu.json; headline ``int8_fp32_throughput_ratio`` (goal ≥ 2.5) for the CPU form.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stream_common import OUT, ROOT, bench_model, machine, write_result  # noqa: E402

DEV_IMAGES = ROOT.parent / "shared" / "data" / "tinyperson-rpi-dev" / "images"


def calibration_images(work: Path) -> tuple[Path, str]:
    """The real dev frames when this checkout sits next to them, else rendered synthetic frames."""
    if DEV_IMAGES.is_dir():
        return DEV_IMAGES, "tinyperson-rpi-dev (real frames)"
    folder = work / "synth_frames"
    if not folder.is_dir():
        import cv2

        from sspnet.synth.dataset import render_image
        folder.mkdir(parents=True)
        for i in range(16):
            cv2.imwrite(str(folder / f"synth_{i:03d}.png"), render_image((1280, 720), seed=11, index=i)[0])
    return folder, "synthetic frames (sspnet.synth, seed 11)"


def calibrate(onnx: Path, images: Path, out: Path, target: str, count: int, method: str) -> dict:
    from sspnet.calibration.calibrate import Request, calibrate as run
    return run(Request(onnx=onnx, out=out, images=str(images), method=method, count=count, target=target),
               log=lambda *a, **k: None)


def session(path: Path, threads: int, spinning: bool):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def measure(paths: dict, batch: np.ndarray, rounds: int, warmup: int, threads: int) -> dict:
    """Interleaved timing: every round runs each (model, spinning) session once, FP32 and INT8 of the same setting
    back to back, the order reversed every other round; returns {(model, spinning): [run time s per round]}."""
    keys = [(k, spin) for spin in (False, True) for k in paths]
    sessions = {k: session(paths[k[0]], threads, k[1]) for k in keys}
    feeds = {k: {s.get_inputs()[0].name: batch} for k, s in sessions.items()}
    for k, s in sessions.items():
        for _ in range(warmup):
            s.run(None, feeds[k])
    times: dict = {k: [] for k in keys}
    for r in range(rounds):
        for k in (keys if r % 2 == 0 else keys[::-1]):
            t0 = time.perf_counter()
            sessions[k].run(None, feeds[k])
            times[k].append(time.perf_counter() - t0)
    return times


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="FP32 ONNX with manifest (default: export of the edge model)")
    ap.add_argument("--tiles", type=int, default=2, help="tiles per inference call (default 2: one 640x640 frame)")
    ap.add_argument("--rounds", type=int, default=16, help="interleaved rounds, one run of each model (default 16)")
    ap.add_argument("--warmup", type=int, default=3, help="warm-up runs per model (default 3)")
    ap.add_argument("--threads", type=int, default=2, help="ONNX Runtime intra-op threads (default 2)")
    ap.add_argument("--count", type=int, default=64, help="calibration tiles (default 64: speed, not accuracy)")
    ap.add_argument("--method", default="minmax", choices=("minmax", "entropy", "percentile"))
    args = ap.parse_args(argv)

    from sspnet.calibration.data import calibration_set
    from sspnet.manifest import read_manifest
    from sspnet.preprocess import Preprocess

    work = OUT / "int8_cpu"
    fp32, what = bench_model(work / "models", args.model)
    images, images_what = calibration_images(work)
    print(f"model {fp32.name} ({what}); calibrating on {images_what}", flush=True)
    reports = {}
    for target in ("cpu", "tensorrt"):
        t0 = time.perf_counter()
        reports[target] = calibrate(fp32, images, work / f"{fp32.stem}.int8-{target}.onnx", target, args.count,
                                    args.method)
        print(f"  calibrated --target {target} in {time.perf_counter() - t0:.0f} s: "
              f"{reports[target]['kernels']['summary']}", flush=True)
    manifest = read_manifest(fp32)
    pre = Preprocess.from_dict(manifest["preprocess"])
    batch = calibration_set(images, pre, 4 * args.tiles).tiles(args.tiles)
    fixed = manifest["input"]["batch"]
    if fixed != "dynamic" and int(fixed) != len(batch):
        raise SystemExit(f"{fp32.name} has a fixed batch of {fixed}; use --tiles {fixed}")
    paths = {"fp32": fp32, "int8_cpu": Path(reports["cpu"]["out"]), "int8_tensorrt": Path(reports["tensorrt"]["out"])}
    print(f"timing {len(batch)} tiles of {pre.input_w}x{pre.input_h}: {args.rounds} interleaved rounds, "
          f"{args.threads} threads", flush=True)
    times = measure(paths, batch, args.rounds, args.warmup, args.threads)
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = {spin: med[("fp32", spin)] / med[("int8_cpu", spin)] for spin in (False, True)}
    ratio_trt = {spin: med[("fp32", spin)] / med[("int8_tensorrt", spin)] for spin in (False, True)}
    paired = statistics.median(a / b for a, b in zip(times[("fp32", False)], times[("int8_cpu", False)]))
    for (k, spin), v in med.items():
        print(f"  {k:14s} spinning {'on ' if spin else 'off'} median {1000 * v:8.1f} ms / call  "
              f"({len(batch) / v:6.2f} tiles/s)")
    import onnxruntime
    label = {False: "spinning_off", True: "spinning_on"}
    doc = {
        "headline": {"metric": "int8_fp32_throughput_ratio", "value": round(ratio[False], 3), "unit": "x",
                     "goal": 2.5},
        "description": "ONNX Runtime CPU throughput, INT8 Q/DQ (sspnet calibrate --target cpu: uint8 activations, "
                       "int8 per-channel weights) / FP32, same tiles, same session settings (2 intra-op threads, "
                       "thread spinning off), interleaved rounds; spinning on (ORT default) reported beside it",
        "model": {"fp32": fp32.name, "what": what, "tile": [pre.input_w, pre.input_h], "tiles_per_call": len(batch),
                  "calibration_images": images_what, "calibration_tiles": reports["cpu"]["count"],
                  "method": args.method},
        "session": {"provider": "CPUExecutionProvider", "intra_op_threads": args.threads, "inter_op_threads": 1,
                    "graph_optimization_level": "ORT_ENABLE_ALL", "execution_mode": "sequential",
                    "headline_setting": "session.intra_op.allow_spinning=0"},
        "timing": {"warmup": args.warmup, "rounds": args.rounds, "statistic": "median run time per model; "
                   "ratio = FP32 median / INT8 median"},
        "median_ms": {f"{k}_{label[spin]}": round(1000 * v, 2) for (k, spin), v in med.items()},
        "tiles_per_s": {f"{k}_{label[spin]}": round(len(batch) / v, 3) for (k, spin), v in med.items()},
        "ratios": {f"int8_cpu_over_fp32_{label[s]}": round(ratio[s], 3) for s in ratio} |
                  {f"int8_tensorrt_form_over_fp32_{label[s]}": round(ratio_trt[s], 3) for s in ratio_trt} |
                  {"int8_cpu_over_fp32_spinning_off_median_of_round_pairs": round(paired, 3)},
        "runs_ms": {f"{k}_{label[spin]}": [round(1000 * t, 1) for t in v] for (k, spin), v in times.items()},
        "int8_kernels": {k: reports[t]["kernels"]["summary"] for k, t in (("int8_cpu", "cpu"),
                                                                         ("int8_tensorrt", "tensorrt"))},
        "kept_float_nodes": {t: len(reports[t]["excluded_nodes"]) for t in reports},
        "machine": dict(machine(), onnxruntime=onnxruntime.__version__),
    }
    path = write_result("int8_cpu", doc)
    print(f"INT8/FP32 throughput ratio {ratio[False]:.2f}x with thread spinning off ({ratio[True]:.2f}x with ORT's "
          f"default spinning); TensorRT-form Q/DQ on this CPU {ratio_trt[False]:.2f}x → {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
