#!/usr/bin/env bash
# Same-run comparison of two builds: the working tree against a baseline revision, their `bench` runs
# alternated (base, current, base, current, ...) so that both see the same machine state.
# Usage: scripts/bench-ab.sh BASE_REV [ROUNDS] [bench options...]
#   e.g. scripts/bench-ab.sh 6cf275c 3 --architecture sd15 --width 256 --height 256 --repeat 3
# Prints one JSON line per run, prefixed with "base" or "current", then the medians of each side.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
source scripts/java-env.sh
BASE=${1:?usage: scripts/bench-ab.sh BASE_REV [ROUNDS] [bench options...]}; shift
ROUNDS=${1:-3}; [ $# -gt 0 ] && shift
[ $# -gt 0 ] || set -- --architecture sd15 --width 512 --height 512 --repeat 3
WT="$ROOT/target/bench-base-$(git rev-parse --short "$BASE")"
if [ ! -f "$WT/jdiffusion-cli/target/jdiffusion.jar" ]; then
  rm -rf "$WT"; mkdir -p "$ROOT/target"
  git worktree add -f --detach "$WT" "$BASE" >/dev/null
  (cd "$WT" && jd_maven -q -B -ntp -DskipTests package)
fi
jd_maven -q -B -ntp -DskipTests package
OPTS=(--add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC)
LOG=$(mktemp)
for _ in $(seq "$ROUNDS"); do
  for side in base current; do
    jar="$ROOT/jdiffusion-cli/target/jdiffusion.jar"; [ "$side" = base ] && jar="$WT/jdiffusion-cli/target/jdiffusion.jar"
    line=$("$JAVA_HOME/bin/java" "${OPTS[@]}" -jar "$jar" bench "$@" --json 2>/dev/null)
    echo "$side $line" | tee -a "$LOG"
  done
done
python3 - "$LOG" <<'PY'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    side, js = line.split(" ", 1)
    runs.setdefault(side, []).append(json.loads(js))
keys = ["unet_s", "vae_decode_s", "text_encoder_s", "gemm_gflops", "peak_rss_mb"]
for side, rs in runs.items():
    print(side, " ".join(f"{k}={statistics.median(r[k] for r in rs if k in r):.3f}" for k in keys if any(k in r for r in rs)))
b, c = runs.get("base"), runs.get("current")
if b and c:
    for k in ["unet_s", "vae_decode_s", "text_encoder_s"]:
        print(f"ratio current/base {k}: {statistics.median(r[k] for r in c) / statistics.median(r[k] for r in b):.3f}")
PY
rm -f "$LOG"
