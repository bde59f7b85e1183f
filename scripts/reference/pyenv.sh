# Sourced by the reference scripts: the Python that made the fixtures (/usr/bin/python3: torch 1.13, PIL 9.4,
# numpy, cv2, regex) plus diffusers 0.30.0 and huggingface_hub 0.24.6 unpacked from the local git mirrors into
# /tmp (never committed), and a tiny safetensors shim (shims/) since the real package is not installed.
# Usage: source scripts/reference/pyenv.sh; "$REF_PYTHON" script.py ...
REF_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REF_CACHE=${REF_CACHE:-/tmp/jdiffusion-pyref}
MIRROR=${MIRROR:-/work/.mirror}
if [ ! -d "$REF_CACHE/diffusers/src/diffusers" ]; then
  mkdir -p "$REF_CACHE/diffusers"
  git -C "$MIRROR/huggingface+diffusers/repo" archive v0.30.0 src | tar -x -C "$REF_CACHE/diffusers"
fi
if [ ! -d "$REF_CACHE/hub/src/huggingface_hub" ]; then
  mkdir -p "$REF_CACHE/hub"
  git -C "$MIRROR/huggingface+huggingface_hub/repo" archive v0.24.6 src | tar -x -C "$REF_CACHE/hub"
fi
export PYTHONPATH="$REF_DIR/shims:$REF_CACHE/hub/src:$REF_CACHE/diffusers/src"
export REF_PYTHON=/usr/bin/python3
