#!/usr/bin/env bash
# Builds the emoji training set (a Hugging Face ImageFolder: 64×64 PNGs on white + metadata.jsonl) that the bundled
# model is trained on: scripts/emoji-dataset.sh [OUT_DIR]   (default datasets/emoji/build/imagefolder)
# Fetches emoji-datasource-google@16.0.0 with `npm pack` into datasets/emoji/build/cache (or $JDIFFUSION_EMOJI_CACHE),
# checks its SHA-1, unpacks emoji.json and img/google/64, and runs `jdiffusion dataset emoji`. Nothing here is committed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PACKAGE=emoji-datasource-google
VERSION=16.0.0
SHA1=a80ac3e8106cbd4d8648ce758aa099e8827b6157   # what `npm pack` reports as the tarball's shasum
CACHE=${JDIFFUSION_EMOJI_CACHE:-$ROOT/datasets/emoji/build/cache}
OUT=${1:-$ROOT/datasets/emoji/build/imagefolder}
TGZ=$CACHE/$PACKAGE-$VERSION.tgz

command -v npm >/dev/null || { echo "emoji-dataset: npm is needed to fetch $PACKAGE (install Node.js)" >&2; exit 1; }
mkdir -p "$CACHE"
if [ ! -f "$TGZ" ]; then
  (cd "$CACHE" && npm pack --silent "$PACKAGE@$VERSION" >/dev/null)
fi
if [ "$(sha1sum "$TGZ" | cut -d' ' -f1)" != "$SHA1" ]; then
  echo "emoji-dataset: $TGZ does not have the expected SHA-1 $SHA1; delete it to fetch it again" >&2
  exit 1
fi
UNPACKED=$CACHE/$PACKAGE-$VERSION
if [ ! -f "$UNPACKED/package/emoji.json" ]; then
  rm -rf "$UNPACKED.tmp" && mkdir -p "$UNPACKED.tmp"
  tar -xzf "$TGZ" -C "$UNPACKED.tmp" package/emoji.json package/LICENSE package/package.json package/img/google/64
  rm -rf "$UNPACKED" && mv "$UNPACKED.tmp" "$UNPACKED"
fi
"$ROOT/jdiffusion" dataset emoji --package "$UNPACKED/package" --output "$OUT"
if ! cmp -s "$OUT/eval_prompts.txt" "$ROOT/datasets/emoji/eval-prompts.txt"; then
  echo "emoji-dataset: warning: $OUT/eval_prompts.txt differs from the committed datasets/emoji/eval-prompts.txt" >&2
fi
