#!/usr/bin/env bash
# Builds jdiffusion-core and runs the kernel microbenchmark (dev.jdiffusion.tensor.KernelBench).
# Usage: scripts/bench-kernels.sh [linear|conv|attention] [extra JVM options...]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/java-env.sh
jd_maven -q -B -ntp -pl jdiffusion-core test-compile
filter="${1:-}"; shift || true
exec java --add-modules jdk.incubator.vector -Xmx8g "$@" \
  -cp jdiffusion-core/target/classes:jdiffusion-core/target/test-classes dev.jdiffusion.tensor.KernelBench "$filter"
