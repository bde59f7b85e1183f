#!/usr/bin/env bash
# Builds and runs examples/ against the jdiffusion-core installed in the local Maven repository (./run-tests installs
# it first), as a user's project would, then checks that its image is the one `jdiffusion generate` makes.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
source "$ROOT/scripts/java-env.sh"
OUT="$ROOT/examples/target"
rm -f "$OUT/astronaut.png" "$OUT/cli.png"
echo "examples: building and running examples/ against the installed dev.jdiffusion:jdiffusion-core" >&2
jd_maven -B -ntp -q -f examples/pom.xml package exec:exec -Dmodel="$ROOT/testdata/tiny-sd15" -Doutput="$OUT/astronaut.png"
[ -s "$OUT/astronaut.png" ] || { echo "examples: GenerateImage wrote no image" >&2; exit 1; }
# The same request from the CLI (the library's default sampler is the model's own scheduler: pndm for this model).
./jdiffusion generate --model testdata/tiny-sd15 --prompt "A photo of an astronaut riding a horse on the moon" \
  --seed 42 --steps 20 --guidance 7.5 --sampler pndm --quiet --output "$OUT/cli.png" >/dev/null
if ! cmp -s "$OUT/astronaut.png" "$OUT/cli.png"; then
  echo "examples: the example's image differs from jdiffusion generate's ($OUT/astronaut.png vs $OUT/cli.png)" >&2
  exit 1
fi
echo "examples: GenerateImage ran on the module path; its PNG is byte for byte the CLI's" >&2
