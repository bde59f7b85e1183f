#!/usr/bin/env bash
# The safety checker's cost per image, jdiffusion next to PyTorch 1.13 in the same run:
#   scripts/bench-safety-checker.sh [ROUNDS] [SIZE]
# alternates `jdiffusion bench --architecture sd15 --safety-checker` (F16 and F32 random weights) with
# scripts/reference/bench_safety_checker.py (PyTorch, float32) ROUNDS times (default 3) on one SIZE x SIZE image
# (default 512), so that all see the same machine state; prints every run and the medians.
# Debian's python3-torch links the generic reference BLAS (about 1 GFLOP/s): point OPENBLAS_DIR at an OpenBLAS
# libblas.so.3 for PyTorch's runs only, without installing it system-wide, e.g.
#   apt-get download libopenblas0-pthread && dpkg -x libopenblas0-pthread_*.deb /tmp/openblas
#   OPENBLAS_DIR=/tmp/openblas/usr/lib/x86_64-linux-gnu/openblas-pthread scripts/bench-safety-checker.sh
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${1:-3}
SIZE=${2:-512}
PY=${PYTHON:-/usr/bin/python3}
LOG=$(mktemp)
for ((i = 1; i <= ROUNDS; i++)); do
  for dtype in f16 f32; do
    "$ROOT/jdiffusion" bench --architecture sd15 --safety-checker --dtype "$dtype" --width "$SIZE" --height "$SIZE" \
      --repeat 5 --json | sed "s/^/jdiffusion-$dtype /" | tee -a "$LOG"
  done
  LD_LIBRARY_PATH=${OPENBLAS_DIR:+$OPENBLAS_DIR:}${LD_LIBRARY_PATH:-} \
    "$PY" "$ROOT/scripts/reference/bench_safety_checker.py" --repeat 5 --width "$SIZE" --height "$SIZE" \
      | sed 's/^/pytorch /' | tee -a "$LOG"
done
"$PY" - "$LOG" "$ROOT/scripts/reference" <<'PY'
import sys, statistics
sys.path.insert(0, sys.argv[2])
from bench_log import read_runs
runs = read_runs(sys.argv[1])
base = statistics.median(r["total_s"] for r in runs["pytorch"])
for who, rs in runs.items():
    tot = statistics.median(r["total_s"] for r in rs)
    pre = statistics.median(r["preprocess_s"] for r in rs)
    chk = statistics.median(r["safety_checker_s"] for r in rs)
    print(f"{who:16s} per image {tot:.3f} s (preprocess {pre:.3f} s, checker {chk:.3f} s), {tot / base:.2f}x PyTorch")
PY
rm -f "$LOG"
