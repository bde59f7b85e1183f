"""Reference outputs of Pillow's Image.resize for PilResizeTest.

Run with Debian's python3 (Pillow 9.4, numpy):  /usr/bin/python3 scripts/reference/pil_resize.py testdata/pil-resize
Writes resize.safetensors: input_<mode> (H, W, bands) and out_<mode>_<filter>_<w>x<h> (uint8).
"""
import sys

import numpy as np
from PIL import Image

from safetensors_lite import save

rng = np.random.default_rng(7)
h, w = 23, 37
yy, xx = np.mgrid[0:h, 0:w]
smooth = np.stack([xx * 255 / (w - 1), yy * 255 / (h - 1), (xx + yy) * 255 / (w + h - 2)], -1)
noise = rng.integers(0, 256, (h, w, 3))
rgb = np.where((xx // 6 + yy // 6)[..., None] % 2 == 0, smooth, noise).astype(np.uint8)
alpha = rng.integers(0, 256, (h, w, 1)).astype(np.uint8)
alpha[:4] = 0
alpha[-4:] = 255
inputs = {"RGB": rgb, "L": rgb[..., 0], "RGBA": np.concatenate([rgb, alpha], -1)}
filters = {"BOX": Image.BOX, "BILINEAR": Image.BILINEAR, "HAMMING": Image.HAMMING,
           "BICUBIC": Image.BICUBIC, "LANCZOS": Image.LANCZOS}
sizes = [(16, 16), (64, 48), (37, 11), (5, 40), (96, 61)]
out = {}
for mode, a in inputs.items():
    img = Image.fromarray(a, mode)
    out["input_" + mode] = a if a.ndim == 3 else a[..., None]
    for fname, f in filters.items():
        for (tw, th) in sizes:
            r = np.asarray(img.resize((tw, th), f))
            out[f"out_{mode}_{fname}_{tw}x{th}"] = r if r.ndim == 3 else r[..., None]
save(out, sys.argv[1] + "/resize.safetensors", {"pillow": Image.__version__})
