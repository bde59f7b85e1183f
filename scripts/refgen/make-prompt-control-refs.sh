#!/usr/bin/env bash
# Regenerates testdata/prompt-control-extra (the unseen prompt-control cases) with the Python reference environment:
# Debian's /usr/bin/python3 (torch 1.13, numpy, regex) and diffusers v0.30.0's source from a git mirror or clone.
#   scripts/refgen/make-prompt-control-refs.sh [DIFFUSERS_GIT_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
GIT=${1:-/work/.mirror/huggingface+diffusers/repo}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
git -C "$GIT" archive v0.30.0 src/diffusers | tar x -C "$TMP"
/usr/bin/python3 scripts/refgen/prompt_control_refs.py "$TMP/src" testdata/prompt-control-extra
