"""Reference edge maps of OpenCV's cv2.Canny for CannyTest, beyond the image-control fixture's five.

Run with Debian's python3 (OpenCV 4.6, numpy):  /usr/bin/python3 scripts/reference/canny.py testdata/image-control-extra
Writes canny.safetensors: per case K, input_K (H, W, 3 uint8, the RGB array the annotators pass),
thresholds_K (float64 [low, high] as given to cv2.Canny) and edges_K (H, W uint8).
"""
import sys

import cv2
import numpy as np

from safetensors_lite import save

rng = np.random.default_rng(12)


def smooth_noise(h, w, amp):
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([128 + 100 * np.sin(xx / 5.0 + yy / 9.0), 128 + 90 * np.cos(yy / 4.0),
                     (xx * 7 + yy * 3) % 256], -1)
    return np.clip(base + rng.normal(0, amp, (h, w, 3)), 0, 255).astype(np.uint8)


def stripes(h, w, angle):
    yy, xx = np.mgrid[0:h, 0:w]
    t = xx * np.cos(angle) + yy * np.sin(angle)
    v = (np.sin(t / 2.5) > 0) * 200 + 30
    return np.stack([v, 255 - v, v // 2], -1).astype(np.uint8)


def gray3(a):
    g = a[..., 0]
    return np.stack([g, g, g], -1)


cases = [
    (smooth_noise(33, 29, 20), 100, 200),
    (smooth_noise(33, 29, 20), 200, 100),          # swapped thresholds
    (smooth_noise(40, 52, 35), 99.7, 150.2),       # fractional thresholds are floored
    (smooth_noise(17, 64, 8), 0, 0),               # every local maximum with any gradient
    (smooth_noise(17, 64, 8), 10, 400),
    (stripes(48, 48, 0.0), 50, 120),               # vertical edges
    (stripes(48, 48, np.pi / 4), 50, 120),         # diagonal: the 45/135 degree branch
    (stripes(48, 48, -np.pi / 4), 50, 120),
    (stripes(31, 45, np.pi / 2 - 0.3), 80, 240),
    (stripes(31, 45, 1.1), 80, 240),
    (gray3(smooth_noise(25, 25, 40)), 60, 180),
    (rng.integers(0, 256, (1, 1, 3)).astype(np.uint8), 10, 20),
    (rng.integers(0, 256, (2, 3, 3)).astype(np.uint8), 10, 20),
    (rng.integers(0, 256, (1, 19, 3)).astype(np.uint8), 10, 60),
    (rng.integers(0, 256, (23, 1, 3)).astype(np.uint8), 10, 60),
    (rng.integers(0, 256, (30, 30, 3)).astype(np.uint8), 300, 900),
    (np.full((12, 12, 3), 77, np.uint8), 0, 0),    # flat: no edge at all
]
out = {}
for k, (img, low, high) in enumerate(cases):
    out[f"input_{k:02d}"] = img
    out[f"thresholds_{k:02d}"] = np.array([low, high], np.float64)
    out[f"edges_{k:02d}"] = cv2.Canny(img, low, high)
save(out, sys.argv[1] + "/canny.safetensors", {"opencv": cv2.__version__, "cases": str(len(cases))})
