# Sourced by the GPU-machine scripts: makes this checkout importable as `sspnet` without installing anything
# (the stage folders map into the namespace as setup.py maps them), through a symlink tree on PYTHONPATH.
SSP=${SSP:-/tmp/ssp-path}; rm -rf "$SSP"; mkdir -p "$SSP/sspnet"
for f in "$ROOT"/sspnet/*; do ln -s "$f" "$SSP/sspnet/"; done
for d in training export calibration runtime; do ln -sfn "$ROOT/$d" "$SSP/sspnet/$d"; done
export PYTHONPATH="$SSP${PYTHONPATH:+:$PYTHONPATH}"
