"""Extra invisible-watermark references for unseen cases: other images, sizes and texts, marked by imwatermark itself.

Needs imwatermark 0.2.0 (`pip install invisible-watermark==0.2.0`, or a folder holding its `imwatermark/` package
source; it is never part of this repository) and Debian's python3 (numpy, cv2, pywt, Pillow, torch):
    /usr/bin/python3 scripts/reference/watermark_extra.py IMWATERMARK_PARENT_DIR testdata/safety/extra/watermark

Writes <case>_in.png, <case>_out.png (imwatermark's dwtDct output, as Stability's scripts call it: RGB -> BGR ->
encode -> RGB) and cases.json: text, bits, whether imwatermark reads the text back from its own output
(roundtrip) and the bytes it reads (hex). Cases: sides that are not multiples of 4, exactly 256*256 pixels in a
512x128 strip, saturated colours (U near 0 and 255, where the inverse transform leaves 0..255 and numpy's uint8
cast wraps); texts of 2 to 17 bytes, one not ASCII.
"""
import json
import os
import sys

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, sys.argv[1])
from imwatermark import WatermarkDecoder, WatermarkEncoder  # noqa: E402

OUT = sys.argv[2]
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(1313)


def textured(w, h, noise):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, 3)) + rng.uniform(60, 190, 3)
    for _ in range(6):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.2, 0.6) * max(w, h)
        m = np.exp(-(((xx - cx) ** 2 + (yy - cy) ** 2) / r ** 2))[..., None]
        img = img * (1 - m) + m * rng.uniform(0, 255, 3)
    img += rng.normal(0, noise, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def saturated(w, h):
    # Pure blues and yellows (U near 255 and 0) in blocks, with a little noise so that blocks differ.
    colours = np.array([[0, 0, 255], [255, 255, 0], [0, 30, 250], [250, 240, 10], [20, 0, 200]], np.float64)
    pick = rng.integers(0, len(colours), (h // 8 + 1, w // 8 + 1))
    img = colours[np.kron(pick, np.ones((8, 8), int))[:h, :w]] + rng.normal(0, 4, (h, w, 3))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


cases = {
    "odd_259x255": (textured(259, 255, 40), "ça ✓"),
    "strip_512x128": (textured(512, 128, 16), "SD"),
    "saturated_256": (saturated(256, 256), "StableDiffusionV1"),
}
manifest = {"made_by": "scripts/reference/watermark_extra.py", "imwatermark": "0.2.0", "cases": []}
for name, (rgb, text) in cases.items():
    Image.fromarray(rgb).save(os.path.join(OUT, name + "_in.png"))
    payload = text.encode("utf-8")
    enc = WatermarkEncoder()
    enc.set_watermark("bytes", payload)
    bgr = enc.encode(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), "dwtDct")
    out = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    Image.fromarray(out).save(os.path.join(OUT, name + "_out.png"))
    read = WatermarkDecoder("bytes", len(payload) * 8).decode(bgr, "dwtDct")
    # The uint8 wrap: where the marked U left 0..255, numpy's cast wrapped it (visible as large changes).
    changes = np.abs(out.astype(int) - rgb.astype(int))
    manifest["cases"].append({"name": name, "input": name + "_in.png", "output": name + "_out.png", "text": text,
                              "bits": len(payload) * 8, "roundtrip": read == payload, "imwatermark_reads_hex": read.hex(),
                              "size": list(rgb.shape[1::-1]), "max_change": int(changes.max())})
    print(name, rgb.shape, text, "roundtrip:", read == payload, "max change:", int(changes.max()))
json.dump(manifest, open(os.path.join(OUT, "cases.json"), "w"), indent=1, ensure_ascii=False)
