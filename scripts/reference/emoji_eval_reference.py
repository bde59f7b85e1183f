"""The prompt-following measure of issue 10, computed with OpenCV 4.6 and numpy from its definition, on small
synthetic images: both images on white, Gaussian blur with sigma 1.5, averaged down to 16×16 RGB, squared L2
distance, the best over shifts of the generated image by up to ±4 pixels (uncovered pixels white).
Blur: a 13-tap kernel (radius 6 = 4 sigma), the image lying on an infinite white background (padded with 255).
Shift (dx, dy) moves content right/down: out(x, y) = in(x - dx, y - dy). Levels 0..255.

Writes OUT_DIR/{query_*.png, gallery_*.png} and OUT_DIR/reference.json: each image's 16×16×3 descriptor, the
query × gallery distance matrix (minimum over the 81 shifts) with the best shift, and each query's rank.

Usage: /usr/bin/python3 scripts/reference/emoji_eval_reference.py OUT_DIR
"""
import json
import os
import sys

import cv2
import numpy as np

SIGMA, RADIUS, GRID, SHIFT = 1.5, 6, 16, 4


def descriptor(img):
    padded = cv2.copyMakeBorder(img.astype(np.float32), RADIUS, RADIUS, RADIUS, RADIUS, cv2.BORDER_CONSTANT,
                                value=(255.0, 255.0, 255.0))
    blurred = cv2.GaussianBlur(padded, (2 * RADIUS + 1, 2 * RADIUS + 1), SIGMA, sigmaY=SIGMA,
                               borderType=cv2.BORDER_REPLICATE)[RADIUS:-RADIUS, RADIUS:-RADIUS]
    h, w, _ = img.shape
    return blurred.reshape(GRID, h // GRID, GRID, w // GRID, 3).mean(axis=(1, 3), dtype=np.float64)


def shifted(img, dx, dy):
    out = np.full_like(img, 255)
    h, w, _ = img.shape
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = img[max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
    return out


def distance(query, gallery_descriptor):
    best = None
    for dy in range(-SHIFT, SHIFT + 1):
        for dx in range(-SHIFT, SHIFT + 1):
            d = float(((descriptor(shifted(query, dx, dy)) - gallery_descriptor) ** 2).sum())
            if best is None or d < best[0]:
                best = (d, dx, dy)
    return best


def drawn(seed, shape_kind, colour, centre, size):
    img = np.full((64, 64, 3), 255, np.uint8)
    rng = np.random.default_rng(seed)
    if shape_kind == "circle":
        cv2.circle(img, centre, size, colour, -1, lineType=cv2.LINE_AA)
    elif shape_kind == "square":
        cv2.rectangle(img, (centre[0] - size, centre[1] - size), (centre[0] + size, centre[1] + size), colour, -1)
    else:
        pts = np.array([[centre[0], centre[1] - size], [centre[0] - size, centre[1] + size], [centre[0] + size, centre[1] + size]])
        cv2.fillPoly(img, [pts], colour, lineType=cv2.LINE_AA)
    noise = rng.integers(-6, 7, img.shape)
    return np.clip(img.astype(int) + noise * (img < 250), 0, 255).astype(np.uint8)


def main(out):
    os.makedirs(out, exist_ok=True)
    gallery = [
        drawn(1, "circle", (220, 30, 30), (32, 32), 20),    # red circle
        drawn(2, "circle", (30, 200, 40), (32, 32), 20),    # green circle
        drawn(3, "square", (220, 30, 30), (32, 32), 18),    # red square
        drawn(4, "triangle", (240, 200, 20), (32, 32), 22), # yellow triangle
        drawn(5, "circle", (220, 30, 30), (32, 32), 10),    # small red circle
        drawn(6, "square", (40, 40, 200), (32, 32), 18),    # blue square
    ]
    queries = [
        shifted(gallery[0], 3, -2),                          # the red circle, moved: distance 0 at shift (-3, 2)
        drawn(7, "circle", (200, 40, 40), (30, 34), 19),     # another red circle, off centre
        drawn(8, "square", (50, 50, 190), (35, 31), 16),     # a blue square
        drawn(9, "triangle", (230, 190, 30), (40, 36), 22),  # a yellow triangle, moved 8 px (beyond the shift range)
    ]
    for i, g in enumerate(gallery):
        cv2.imwrite(f"{out}/gallery_{i}.png", cv2.cvtColor(g, cv2.COLOR_RGB2BGR))
    for i, q in enumerate(queries):
        cv2.imwrite(f"{out}/query_{i}.png", cv2.cvtColor(q, cv2.COLOR_RGB2BGR))
    gd = [descriptor(g) for g in gallery]
    matrix = [[distance(q, d) for d in gd] for q in queries]
    result = {
        "made_by": "scripts/reference/emoji_eval_reference.py (OpenCV 4.6, numpy)",
        "gallery_descriptors": [[round(v, 4) for v in d.flatten().tolist()] for d in gd],
        "query_descriptors": [[round(v, 4) for v in descriptor(q).flatten().tolist()] for q in queries],
        "distances": [[m[0] for m in row] for row in matrix],
        "best_shift": [[[m[1], m[2]] for m in row] for row in matrix],
        "unshifted_distance_query0_gallery0": float(((descriptor(queries[0]) - gd[0]) ** 2).sum()),
    }
    with open(f"{out}/reference.json", "w") as f:
        json.dump(result, f)
        f.write("\n")
    for row in matrix:
        print(["%.0f (%d,%d)" % m for m in row])


if __name__ == "__main__":
    main(*sys.argv[1:])
