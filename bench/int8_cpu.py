"""INT8 vs FP32 ONNX Runtime throughput and INT8 error of the edge model on this CPU, in one run.

The FP32 ONNX (export of models/sspnet_edge.pt, else of an untrained edge model built from configs/sspnet_edge.yaml;
or ``--model``) is calibrated with ``sspnet calibrate`` from one set of ranges into each CPU form (``--target cpu
--cpu-form vnni``: 8-bit weights; ``avx2``: 7-bit weights, see sspnet/cpu_int8.py) and the TensorRT form. All run
on the same batch of tiles (CPU provider, intra-op threads = 2, ORT_ENABLE_ALL), after a warm-up, in interleaved
rounds; medians per model, ratio = FP32 median time / INT8 median time (= throughput ratio). Each model runs with
ONNX Runtime's thread spinning off (``session.intra_op.allow_spinning=0``, the headline: on a shared or busy 2-core
CPU spinning threads steal the cores the other thread and the video pipeline need) and on (the default).

Error per form: mean and max |Δscore| against FP32 on held-back tiles (the dev split's validation frames when this
checkout sits next to ../shared, never used for calibration; else other synthetic frames), and with ``--frames
DATASET`` AP50-tiny of each model on that dataset.

Writes bench-out/int8_cpu.json; headline ``int8_fp32_throughput_ratio`` (goal ≥ 2.0 without VNNI, ≥ 2.5 with) for
the CPU form ``sspnet calibrate --target cpu`` picks on this CPU; the JSON names the CPU and its ISA flags.
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
SPLIT = ROOT / "configs" / "splits" / "tinyperson-rpi-dev.json"
# name in the JSON → (sspnet calibrate --target, --cpu-form)
FORMS = {"int8_cpu_vnni": ("cpu", "vnni"), "int8_cpu_avx2": ("cpu", "avx2"), "int8_tensorrt": ("tensorrt", "auto")}


def _linked(folder: Path, files: list[Path]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for f in files:
        if not (folder / f.name).exists():
            (folder / f.name).symlink_to(f)
    return folder


def image_sets(work: Path) -> tuple[Path, Path, str]:
    """(calibration folder, held-back folder, description): the dev split's train and validation frames when this
    checkout sits next to them, else synthetic frames of two seeds."""
    if DEV_IMAGES.is_dir() and SPLIT.is_file():
        import json
        files = json.loads(SPLIT.read_text())["files"]
        part = {p: [DEV_IMAGES / f for f in files[p] if (DEV_IMAGES / f).is_file()] for p in ("train", "val")}
        return (_linked(work / "calib_frames", part["train"]), _linked(work / "heldback_frames", part["val"]),
                f"tinyperson-rpi-dev real frames: calibration on {len(part['train'])} train-split frames, error on "
                f"{len(part['val'])} validation-split frames")
    import cv2

    from sspnet.synth.dataset import render_image
    folders = []
    for name, seed in (("synth_calib", 11), ("synth_heldback", 12)):
        folder = work / name
        if not folder.is_dir():
            folder.mkdir(parents=True)
            for i in range(16 if seed == 11 else 4):
                cv2.imwrite(str(folder / f"synth_{i:03d}.png"), render_image((1280, 720), seed=seed, index=i)[0])
        folders.append(folder)
    return folders[0], folders[1], "synthetic frames (sspnet.synth): calibration seed 11, error seed 12"


def calibrate(onnx: Path, images: Path, out: Path, target: str, cpu_form: str, count: int, method: str) -> dict:
    from sspnet.calibration.calibrate import Request, calibrate as run
    return run(Request(onnx=onnx, out=out, images=str(images), method=method, count=count, target=target,
                       cpu_form=cpu_form), log=lambda *a, **k: None)


def score_error(paths: dict, tiles: np.ndarray, threads: int) -> dict:
    """{model: {mean, max |Δscore| vs FP32}} on ``tiles``, each INT8 model on this CPU's fused kernels."""
    ref = session(paths["fp32"], threads, False).run(["scores"], {"images": tiles})[0]
    out = {}
    for k, path in paths.items():
        if k != "fp32":
            d = np.abs(session(path, threads, False).run(["scores"], {"images": tiles})[0] - ref)
            out[k] = {"mean_abs_dscore": round(float(d.mean()), 4), "max_abs_dscore": round(float(d.max()), 4)}
    return out


def frames_ap(paths: dict, dataset: str) -> dict:
    """{model: AP50-tiny} on ``dataset`` through the runtime's ONNX Runtime backend and the core's evaluator."""
    from sspnet.data import load_dataset
    from sspnet.evaluation import detect_dataset, evaluate
    from sspnet.runtime.backends.onnxruntime import OnnxRuntimeBackend
    records = load_dataset(dataset)
    out = {}
    for k, path in paths.items():
        backend = OnnxRuntimeBackend(path)
        out[k] = round(float(evaluate(records, detect_dataset(records, backend))["AP50_tiny"]), 2)
        backend.close()
    return out


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
    ap.add_argument("--frames", metavar="DATASET", help="also report AP50-tiny of every model on this dataset")
    args = ap.parse_args(argv)

    from sspnet.calibration.data import calibration_set
    from sspnet.manifest import read_manifest
    from sspnet.preprocess import Preprocess

    from sspnet.cpu_int8 import cpu_info, form_for
    work = OUT / "int8_cpu"
    fp32, what = bench_model(work / "models", args.model)
    images, heldback, images_what = image_sets(work)
    cpu = cpu_info()
    auto = f"int8_cpu_{form_for(cpu)}"
    print(f"model {fp32.name} ({what}); {images_what}; CPU {cpu.model} ({', '.join(cpu.flags)}): "
          f"sspnet calibrate --target cpu picks '{form_for(cpu)}'", flush=True)
    reports = {}
    for name, (target, form) in FORMS.items():
        t0 = time.perf_counter()
        reports[name] = calibrate(fp32, images, work / f"{fp32.stem}.{name}.onnx", target, form, args.count,
                                  args.method)
        print(f"  calibrated {name} in {time.perf_counter() - t0:.0f} s: "
              f"{reports[name]['kernels']['summary']}", flush=True)
    manifest = read_manifest(fp32)
    pre = Preprocess.from_dict(manifest["preprocess"])
    batch = calibration_set(images, pre, 4 * args.tiles).tiles(args.tiles)
    fixed = manifest["input"]["batch"]
    if fixed != "dynamic" and int(fixed) != len(batch):
        raise SystemExit(f"{fp32.name} has a fixed batch of {fixed}; use --tiles {fixed}")
    paths = {"fp32": fp32, **{name: Path(r["out"]) for name, r in reports.items()}}
    error = score_error(paths, calibration_set(heldback, pre, 8).tiles(8), args.threads)
    for k, e in error.items():
        print(f"  {k:14s} held-back tiles: mean |Δscore| {e['mean_abs_dscore']:.4f}, max {e['max_abs_dscore']:.3f}")
    ap50 = frames_ap(paths, args.frames) if args.frames else None
    print(f"timing {len(batch)} tiles of {pre.input_w}x{pre.input_h}: {args.rounds} interleaved rounds, "
          f"{args.threads} threads", flush=True)
    times = measure(paths, batch, args.rounds, args.warmup, args.threads)
    med = {k: statistics.median(v) for k, v in times.items()}
    ratios = {(k, spin): med[("fp32", spin)] / med[(k, spin)] for (k, spin) in med if k != "fp32"}
    ratio = {spin: ratios[(auto, spin)] for spin in (False, True)}
    paired = statistics.median(a / b for a, b in zip(times[("fp32", False)], times[(auto, False)]))
    for (k, spin), v in med.items():
        print(f"  {k:14s} spinning {'on ' if spin else 'off'} median {1000 * v:8.1f} ms / call  "
              f"({len(batch) / v:6.2f} tiles/s)")
    import onnxruntime
    label = {False: "spinning_off", True: "spinning_on"}
    goal = 2.0 if cpu.saturates else 2.5
    doc = {
        "headline": {"metric": "int8_fp32_throughput_ratio", "value": round(ratio[False], 3), "unit": "x",
                     "goal": goal, "form": auto, "mean_abs_dscore": error[auto]["mean_abs_dscore"]},
        "description": "ONNX Runtime CPU throughput, INT8 Q/DQ (sspnet calibrate --target cpu, the CPU form it picks "
                       "here: uint8 activations, int8 per-channel weights, 7-bit on CPUs without VNNI) / FP32, same "
                       "tiles, same session settings (2 intra-op threads, thread spinning off), interleaved rounds; "
                       "every form's throughput and score error beside it",
        "cpu": {"model": cpu.model, "isa_flags": list(cpu.flags), "u8s8_saturates_with_8bit_weights": cpu.saturates,
                "form_picked": form_for(cpu)},
        "model": {"fp32": fp32.name, "what": what, "tile": [pre.input_w, pre.input_h], "tiles_per_call": len(batch),
                  "images": images_what, "calibration_tiles": reports[auto]["count"], "method": args.method},
        "session": {"provider": "CPUExecutionProvider", "intra_op_threads": args.threads, "inter_op_threads": 1,
                    "graph_optimization_level": "ORT_ENABLE_ALL", "execution_mode": "sequential",
                    "headline_setting": "session.intra_op.allow_spinning=0"},
        "timing": {"warmup": args.warmup, "rounds": args.rounds, "statistic": "median run time per model; "
                   "ratio = FP32 median / INT8 median"},
        "median_ms": {f"{k}_{label[spin]}": round(1000 * v, 2) for (k, spin), v in med.items()},
        "tiles_per_s": {f"{k}_{label[spin]}": round(len(batch) / v, 3) for (k, spin), v in med.items()},
        "ratios": {f"{k}_over_fp32_{label[spin]}": round(v, 3) for (k, spin), v in ratios.items()} |
                  {f"{auto}_over_fp32_spinning_off_median_of_round_pairs": round(paired, 3)},
        "error_vs_fp32_heldback_tiles": error,
        "ap50_tiny_on_frames": ({"dataset": args.frames, **ap50} if ap50 else None),
        "runs_ms": {f"{k}_{label[spin]}": [round(1000 * t, 1) for t in v] for (k, spin), v in times.items()},
        "int8_kernels": {k: r["kernels"]["summary"] for k, r in reports.items()},
        "kept_float_nodes": {k: len(r["excluded_nodes"]) for k, r in reports.items()},
        "machine": dict(machine(), onnxruntime=onnxruntime.__version__),
    }
    path = write_result("int8_cpu", doc)
    print(f"INT8/FP32 throughput ratio {ratio[False]:.2f}x ({auto}, mean |Δscore| {error[auto]['mean_abs_dscore']:.4f}) "
          f"with thread spinning off ({ratio[True]:.2f}x with ORT's default spinning); on {cpu.model} "
          f"({', '.join(cpu.flags)}) → {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
