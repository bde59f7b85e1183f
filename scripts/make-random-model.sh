#!/usr/bin/env bash
# Writes a diffusers folder of the published SD 1.5 / 2.1 architecture with random weights (the cost of a
# real model, no download): scripts/make-random-model.sh sd15|sd21 f16|f32|bf16 DIR
# or a ControlNet folder for that architecture: scripts/make-random-model.sh controlnet sd15|sd21 f16|f32|bf16 DIR
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/java-env.sh
jd_maven -q -B -ntp -DskipTests package   # the CLI jar carries the core and its dependencies; tests are compiled too
exec java --add-modules jdk.incubator.vector \
  -cp "jdiffusion-cli/target/jdiffusion.jar:jdiffusion-core/target/test-classes" dev.jdiffusion.tools.RandomModel "$@"
