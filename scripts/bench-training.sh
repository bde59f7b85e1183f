#!/usr/bin/env bash
# Training throughput, jdiffusion next to PyTorch 1.13 in the same run (issue 9; BENCHMARKS.md):
#   scripts/bench-training.sh MODEL_OR_ARCH SIZE BATCH [ROUNDS] [--no-vae]
# MODEL_OR_ARCH: a diffusers folder (its unet/ and vae/ configs and weights; PyTorch uses the configs with random
# weights, which cost the same) or sd15 / sd21 (the published architectures, random float32 weights).
# Alternates `jdiffusion bench --train` and scripts/reference/bench_training_torch.py ROUNDS times (default 3), so
# both see the same machine state; each times the median forward pass and forward + backward of every weight (no
# optimizer) of the UNet and the VAE; prints every run and the medians with ratios.
# PyTorch needs diffusers 0.30 on its path: source scripts/reference/pyenv.sh first (it sets PYTHONPATH).
# Debian's python3-torch links the generic reference BLAS: point OPENBLAS_DIR at an OpenBLAS libblas.so.3 for
# PyTorch's runs (see scripts/bench-safety-checker.sh).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WHAT=${1:?model folder or sd15/sd21}
SIZE=${2:-256}
BATCH=${3:-1}
ROUNDS=${4:-3}
NO_VAE=${5:-}
PY=${REF_PYTHON:-/usr/bin/python3}
if [ -d "$WHAT" ]; then
  JD_SRC=(--model "$WHAT"); TORCH_MODEL=$WHAT
else
  JD_SRC=(--architecture "$WHAT")  # random F16 weights: training copies them to float32 (the F16 originals stay frozen)
  TORCH_MODEL=$ROOT/jdiffusion-core/src/main/resources/dev/jdiffusion/io/checkpoint/$WHAT
  [ -d "$TORCH_MODEL" ] || { echo "bench-training: no built-in configs at $TORCH_MODEL" >&2; exit 1; }
fi
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
for ((i = 1; i <= ROUNDS; i++)); do
  "$ROOT/jdiffusion" bench --train "${JD_SRC[@]}" --width "$SIZE" --height "$SIZE" --batch "$BATCH" --repeat 3 --json $NO_VAE \
    | sed 's/^/jdiffusion /' | tee -a "$LOG"
  LD_LIBRARY_PATH=${OPENBLAS_DIR:+$OPENBLAS_DIR:}${LD_LIBRARY_PATH:-} \
    "$PY" "$ROOT/scripts/reference/bench_training_torch.py" --model "$TORCH_MODEL" --width "$SIZE" --height "$SIZE" \
      --batch "$BATCH" --repeat 3 --threads 2 $NO_VAE | sed 's/^/pytorch /' | tee -a "$LOG"
done
"$PY" - "$LOG" "$ROOT/scripts/reference" <<'PY'
import sys, statistics
sys.path.insert(0, sys.argv[2])
from bench_log import read_runs
runs = read_runs(sys.argv[1])
for part in [p for p in ("unet", "vae") if p in runs["pytorch"][0]]:
    base = statistics.median(r[part]["step_s"] for r in runs["pytorch"])
    jd = runs["jdiffusion"][0][part]
    fwd_g, step_g = jd["forward_gflop"], jd["step_gflop"]  # FLOPs of the same shapes (jdiffusion's count)
    for who, rs in runs.items():
        fwd = statistics.median(r[part]["forward_s"] for r in rs)
        step = statistics.median(r[part]["step_s"] for r in rs)
        rss = max(r["peak_rss_mb"] for r in rs)
        bwd = (step_g - fwd_g) / max(step - fwd, 1e-9)
        print(f"{part:5s} {who:10s} forward {fwd:8.3f} s ({fwd_g / fwd:6.1f} GFLOP/s)  training step {step:8.3f} s "
              f"({step_g / step:6.1f} GFLOP/s; backward {bwd:6.1f} GFLOP/s)  {step / base:5.2f}x PyTorch's step  "
              f"samples/s {rs[0]['batch'] / step:.2f}  peak RSS {rss} MB")
PY
