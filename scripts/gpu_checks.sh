#!/usr/bin/env bash
# GPU checks: the tests that need an NVIDIA GPU (and, where installed, TensorRT), plus the TensorRT tests that run on
# any machine as a baseline. No network is needed and nothing is installed unless a local wheelhouse is given.
#
# Usage, from the repository root on a machine with an NVIDIA GPU:  bash scripts/gpu_checks.sh
#   PY=python3.11        the Python to use (default python3)
#   OUT=DIR              where the report goes (default /tmp/gpu-out)
#   PYTEST_WHEELS=DIR    a wheelhouse to install pytest from when it is missing
#   TRT_WHEELS=DIR       a wheelhouse with tensorrt==8.5.3.1 (cp310) and its CUDA 11 wheels, used with CPython 3.10
#                        when TensorRT is not importable
#
# What it runs and prints:
#   1. the machine: GPU name, compute capability, driver and memory (nvidia-smi), CPU architecture, the Jetson
#      L4T release if any; the Python interpreters found and the versions of numpy, onnx, onnxruntime, cuda-python,
#      pycuda, tensorrt, pytest, OpenCV, PyYAML and torch;
#   2. makes the repository importable as `sspnet` without installing it (a symlink tree on PYTHONPATH) and prints
#      the GPU bindings it finds;
#   3. the GPU memory/stream tests (cuda-python buffers, streams, async copies, device info, error messages), then
#      the TensorRT tests that need no GPU (feature table, trtexec lines, Q/DQ check, engine manifest);
#   4. the engine build and backend tests (tests/export/test_trt_gpu.py: FP32/FP16/INT8 Q/DQ and implicit-cache
#      engines, TensorRTBackend against ONNX Runtime, refusal messages) when TensorRT is importable, or in a
#      TensorRT 8.5 venv built from $TRT_WHEELS; otherwise one line saying they were not run.
# Each pytest run prints its summary with the reasons for skipped tests (-rs). Everything printed also goes to
# $OUT/gpu-report.txt.
set -u
OUT=${OUT:-/tmp/gpu-out}; mkdir -p "$OUT"
exec > >(tee "$OUT/gpu-report.txt") 2>&1
ROOT=$(pwd)
PY=${PY:-python3}

echo "== machine"
nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv,noheader || echo "nvidia-smi failed"
uname -m; cat /etc/nv_tegra_release 2>/dev/null || true
echo "== pythons"
for p in python3 python3.10 python3.11 python3.12 python3.13; do
  command -v "$p" >/dev/null && echo "$p: $($p -c 'import sys; print(sys.version.split()[0], sys.executable)')"
done
ls /usr/bin/python3* /usr/local/bin/python3* 2>/dev/null | tr '\n' ' '; echo
PY310=$(command -v python3.10 || true)
echo "CPython 3.10: ${PY310:-absent}"
echo "== packages ($PY)"
$PY - <<'EOF'
import importlib
for m in ("numpy", "onnx", "onnxruntime", "cuda.bindings", "cuda", "pycuda", "tensorrt", "pytest", "cv2", "yaml", "torch"):
    try:
        mod = importlib.import_module(m)
        print(f"{m:14s} {getattr(mod, '__version__', 'present')}")
    except Exception as e:
        print(f"{m:14s} -- {type(e).__name__}: {e}")
EOF

echo "== sspnet importable via a symlink tree"
. "$ROOT/scripts/sspnet_pythonpath.sh"
$PY -c "import sspnet.gpu as g; print('gpu bindings:', g.available_impls())" || exit 1

if ! $PY -c "import pytest" 2>/dev/null; then
  if [ -n "${PYTEST_WHEELS:-}" ]; then $PY -m pip install --no-index --find-links "$PYTEST_WHEELS" pytest -q
  else echo "pytest is missing and no PYTEST_WHEELS wheelhouse given: stopping"; exit 1; fi
fi
PYTEST=($PY -m pytest -p no:cacheprovider --import-mode=importlib -o addopts= -q -rs)

echo "== GPU memory/stream module (cuda-python) on the GPU"
"${PYTEST[@]}" tests/sspnet/test_cuda_mem.py
echo "== this issue's CPU tests, as a baseline on this machine"
"${PYTEST[@]}" tests/export/test_trt_versions.py tests/export/test_trtexec.py tests/export/test_qdq_check.py \
  tests/export/test_engine_manifest.py

echo "== TensorRT engine build + backend"
if $PY -c "import tensorrt" 2>/dev/null; then
  "${PYTEST[@]}" tests/export/test_trt_gpu.py
elif [ -n "$PY310" ] && [ -n "${TRT_WHEELS:-}" ] && ls "$TRT_WHEELS"/tensorrt-8.5.3.1-*cp310*.whl >/dev/null 2>&1; then
  V=/tmp/trt85-venv
  "$PY310" -m venv --system-site-packages "$V"
  "$V/bin/pip" install --no-index --find-links "$TRT_WHEELS" tensorrt==8.5.3.1 cuda-python onnx onnxruntime numpy \
    pyyaml opencv-python-headless pytest -q
  "$V/bin/python" -c "import tensorrt as t; print('tensorrt', t.__version__)" && \
    "$V/bin/python" -m pytest -p no:cacheprovider --import-mode=importlib -o addopts= -q -rs \
      tests/export/test_trt_gpu.py tests/sspnet/test_cuda_mem.py
else
  echo "no TensorRT here (and no CPython 3.10 + TRT_WHEELS wheelhouse): engine build/backend tests not run"
fi
echo "== done; report in $OUT/gpu-report.txt"
