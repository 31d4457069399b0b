#!/usr/bin/env bash
# Train the edge model, then (time left) R50 SSPNet-FoveaBox, on one GPU within a time budget; checkpoints to $OUT.
#
#   scripts/train_gpu.sh DATA_DIR...        e.g. data/tinyperson-rpi-dev data/tinyperson-rpi-extra
#
# Runs from the repository root with whatever Python has PyTorch (a venv, or a GPU machine's system Python: the
# checkout is put on PYTHONPATH, nothing is installed). Each run is `sspnet train` under `timeout -s TERM`: on the
# signal the trainer saves last.pt and stops, so a budget never loses the run. The edge run starts from the
# shipped model's weights (models/sspnet_edge.pt) with the recipe of models/README.md; the R50 run from
# $R50_WEIGHTS (ImageNet ResNet-50 state dict) when given, else from scratch.
# Environment: OUT (default runs/gpu), EDGE_MIN (default 5), R50_MIN (default 3; 0 = skip), DEVICE (default cuda),
#   MAX_STEPS (smoke runs: stop each run after N steps), EPOCHS (edge epochs, default 24), PY (default python3).
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: scripts/train_gpu.sh DATA_DIR... (YOLO folders of the split)" >&2; exit 2; }
for d in "$@"; do [ -e "$d" ] || { echo "scripts/train_gpu.sh: $d: no such dataset" >&2; exit 2; }; done
ROOT=$(pwd)
OUT=${OUT:-runs/gpu}; PY=${PY:-python3}; DEVICE=${DEVICE:-cuda}
EDGE_MIN=${EDGE_MIN:-5}; R50_MIN=${R50_MIN:-3}; EPOCHS=${EPOCHS:-24}
$PY -c "import sspnet" 2>/dev/null || . "$ROOT/scripts/sspnet_pythonpath.sh"
DATA=(); for d in "$@"; do DATA+=(--data "$d"); done
STEPS=(); [ -n "${MAX_STEPS:-}" ] && STEPS=(--max-steps "$MAX_STEPS")
mkdir -p "$OUT"

train() {  # train MINUTES RUN_DIR ARGS...: one budgeted run; exit code 143 (SIGTERM, checkpoint saved) is success
  local minutes=$1 run=$2; shift 2
  local rc=0
  timeout -s TERM "${minutes}m" $PY -m sspnet.cli train "${DATA[@]}" --split configs/splits/tinyperson-rpi-dev.json \
    --device "$DEVICE" --out "$run" "${STEPS[@]}" "$@" || rc=$?
  [ $rc -eq 0 ] || [ $rc -eq 143 ] || { echo "train $run failed ($rc)" >&2; return $rc; }
  echo "train $run: done (exit $rc)"
}

train "$EDGE_MIN" "$OUT/edge" --config configs/sspnet_edge.yaml --init models/sspnet_edge.pt \
  --set 'model.backbone_weights=""' --epochs "$EPOCHS" --batch 16 --workers 4 \
  --set input.scale=3.5 --set 'train.upscale=[3.0, 4.0]' --set train.crop_w=320 --set train.crop_h=256 \
  --set train.crops_per_image=3 --set train.warmup_iters=50 --set "train.lr_steps=[$((EPOCHS * 3 / 4)), $((EPOCHS - 1))]" \
  --set train.val_every=4 --set model.box_loss=giou
if [ "$R50_MIN" != 0 ]; then
  W=(); [ -n "${R50_WEIGHTS:-}" ] && W=(--backbone-weights "$R50_WEIGHTS")
  train "$R50_MIN" "$OUT/r50_fovea" --config configs/sspnet_r50_fovea.yaml "${W[@]}" --epochs 12 --batch 8 \
    --workers 4 --set input.scale=3.5 --set 'train.upscale=[3.0, 4.0]' --set train.val_every=4
fi
ls -l "$OUT"/*/last.pt
