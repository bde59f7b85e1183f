#!/usr/bin/env bash
# Local batch throughput against a plain loop, same run (dev.jdiffusion.spark.BatchBenchmark):
#   scripts/bench-batch.sh MODEL ROWS STEPS SIZE [MASTER]      e.g. scripts/bench-batch.sh testdata/tiny-sd15 40 20 64
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$ROOT/jdiffusion" --version >/dev/null  # builds the jar and the Spark class path when needed
source "$ROOT/scripts/java-env.sh"
exec "$JAVA_HOME/bin/java" --add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
  --sun-misc-unsafe-memory-access=allow -XX:+UseParallelGC \
  -Dlog4j2.configurationFile=dev/jdiffusion/spark/log4j2-batch.properties \
  -cp "$ROOT/jdiffusion-cli/target/jdiffusion.jar:$(cat "$ROOT/jdiffusion-cli/target/spark-classpath.txt")" \
  dev.jdiffusion.spark.BatchBenchmark "$@" 2> >(grep -v "^WARNING: Using incubator modules" >&2)
