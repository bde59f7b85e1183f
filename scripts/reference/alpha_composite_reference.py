"""PIL 9.4's straight-alpha compositing onto white, the dataset's recipe for the emoji artwork:
    Image.alpha_composite(Image.new("RGBA", im.size, (255, 255, 255, 255)), im.convert("RGBA")).convert("RGB")
Writes small PNG inputs in the modes the Noto emoji come in (RGBA, LA, P with tRNS) and a few others, and what PIL
makes of each. The RGBA input covers every (colour, alpha) pair: pixel (x, y) has R = x, G = 255 - x,
B = (37 x + y) mod 256 and alpha y.

With a second argument (a folder of emoji PNGs, e.g. the npm package's img/google/64) and a third (the ImageFolder
jdiffusion built from them), it also compares every built image with PIL's composite and prints the differences.

Usage: /usr/bin/python3 scripts/reference/alpha_composite_reference.py OUT_DIR [EMOJI_PNG_DIR IMAGEFOLDER]
"""
import json
import os
import sys

import numpy as np
from PIL import Image


def on_white(im):
    im = im.convert("RGBA")
    return Image.alpha_composite(Image.new("RGBA", im.size, (255, 255, 255, 255)), im).convert("RGB")


def inputs():
    x, y = np.meshgrid(np.arange(256), np.arange(256))
    rgba = np.stack([x, 255 - x, (37 * x + y) % 256, y], axis=-1).astype(np.uint8)
    rng = np.random.default_rng(10)
    la = rng.integers(0, 256, (16, 16, 2), dtype=np.uint8)
    la[:4, :, 1] = 0                      # fully transparent rows with grey "bleed"
    palette = Image.new("P", (16, 16))
    palette.putpalette(list(rng.integers(0, 256, 48, dtype=np.uint8)))
    palette.putdata(list(rng.integers(0, 16, 256)))
    palette.info["transparency"] = bytes(rng.integers(0, 256, 16, dtype=np.uint8))
    return {
        "rgba_all_pairs": Image.fromarray(rgba, "RGBA"),
        "la": Image.fromarray(la, "LA"),
        "p_trns": palette,
        "rgb": Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), "RGB"),
        "l": Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8), "L"),
    }


def main(out, emoji_dir=None, built=None):
    os.makedirs(out, exist_ok=True)
    for name, im in inputs().items():
        im.save(f"{out}/{name}.png")
        reread = Image.open(f"{out}/{name}.png")
        on_white(reread).save(f"{out}/{name}_on_white.png")
        print(name, reread.mode, reread.size)
    if emoji_dir:
        lines = [json.loads(l) for l in open(f"{built}/metadata.jsonl")]
        worst, differing = 0, 0
        for line in lines:
            ours = np.asarray(Image.open(f"{built}/{line['file_name']}"), dtype=np.int32)
            pil = np.asarray(on_white(Image.open(f"{emoji_dir}/{line['file_name']}")), dtype=np.int32)
            d = int(np.abs(ours - pil).max())
            worst, differing = max(worst, d), differing + (d > 0)
        print(f"{len(lines)} built images against PIL: {differing} differ, largest difference {worst} levels")


if __name__ == "__main__":
    main(*sys.argv[1:])
