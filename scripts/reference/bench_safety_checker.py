"""PyTorch's cost of SD 1.5's safety checker on one image, the baseline of `jdiffusion bench --safety-checker`.

Run with Debian's python3 (torch 1.13, Pillow): /usr/bin/python3 scripts/reference/bench_safety_checker.py [--repeat 5]
Builds CLIP ViT-L/14 (24 layers of width 1024, 16 heads, patch 14, 224 px, projection 768) with random float32
weights, as transformers' CLIPVisionModel computes it (eager attention: matmul, softmax, matmul; quick_gelu) plus
diffusers' StableDiffusionSafetyChecker's projection and cosine scores; preprocessing as CLIPImageProcessor (Pillow
bicubic resize of the shortest side to 224, centre crop, rescale and normalise in numpy). transformers is not
installed here: the forward is written out with the same torch operations. Prints one JSON line, median seconds.
"""
import argparse
import json
import os
import time

import numpy as np
import torch
from PIL import Image

ap = argparse.ArgumentParser()
ap.add_argument("--repeat", type=int, default=5)
ap.add_argument("--width", type=int, default=512)
ap.add_argument("--height", type=int, default=512)
ap.add_argument("--threads", type=int, default=os.cpu_count())
args = ap.parse_args()
torch.set_num_threads(args.threads)
torch.set_grad_enabled(False)

D, FF, HEADS, LAYERS, P, S, PROJ = 1024, 4096, 16, 24, 14, 224, 768
g = torch.Generator().manual_seed(0)
r = lambda *s: (torch.rand(*s, generator=g) * 2 - 1) / (s[-1] ** 0.5)
w = {"patch": r(D, 3, P, P), "cls": r(D), "pos": r((S // P) ** 2 + 1, D), "pre_w": torch.ones(D), "pre_b": torch.zeros(D),
     "post_w": torch.ones(D), "post_b": torch.zeros(D), "proj": r(PROJ, D), "concepts": r(17, PROJ), "special": r(3, PROJ)}
layers = [{n: r(*shape) for n, shape in {"q": (D, D), "k": (D, D), "v": (D, D), "o": (D, D), "fc1": (FF, D),
                                         "fc2": (D, FF), "qb": (D,), "kb": (D,), "vb": (D,), "ob": (D,), "fc1b": (FF,),
                                         "fc2b": (D,), "ln1w": (D,), "ln1b": (D,), "ln2w": (D,),
                                         "ln2b": (D,)}.items()} for _ in range(LAYERS)]
F = torch.nn.functional
mean = np.array([0.48145466, 0.4578275, 0.40821073], np.float32)
std = np.array([0.26862954, 0.26130258, 0.27577711], np.float32)


def preprocess(img):
    w_, h_ = img.size
    short, long = min(w_, h_), max(w_, h_)
    nw, nh = (S, int(S * long / short)) if w_ <= h_ else (int(S * long / short), S)
    a = np.asarray(img.convert("RGB").resize((nw, nh), Image.BICUBIC))
    top, left = (nh - S) // 2, (nw - S) // 2
    a = (a[top:top + S, left:left + S].astype(np.float64) * (1 / 255)).astype(np.float32)
    return torch.from_numpy(((a - mean) / std).transpose(2, 0, 1).copy())[None]


def checker(pv):
    x = F.conv2d(pv, w["patch"], stride=P).flatten(2).transpose(1, 2)
    x = torch.cat([w["cls"].expand(1, 1, -1), x], 1) + w["pos"]
    x = F.layer_norm(x, (D,), w["pre_w"], w["pre_b"])
    hd = D // HEADS
    for L in layers:
        h = F.layer_norm(x, (D,), L["ln1w"], L["ln1b"])
        q = (F.linear(h, L["q"], L["qb"]) * hd ** -0.5).view(1, -1, HEADS, hd).transpose(1, 2)
        k = F.linear(h, L["k"], L["kb"]).view(1, -1, HEADS, hd).transpose(1, 2)
        v = F.linear(h, L["v"], L["vb"]).view(1, -1, HEADS, hd).transpose(1, 2)
        a = torch.softmax(q @ k.transpose(-1, -2), -1) @ v
        x = x + F.linear(a.transpose(1, 2).reshape(1, -1, D), L["o"], L["ob"])
        h = F.linear(F.layer_norm(x, (D,), L["ln2w"], L["ln2b"]), L["fc1"], L["fc1b"])
        x = x + F.linear(h * torch.sigmoid(1.702 * h), L["fc2"], L["fc2b"])
    e = F.linear(F.layer_norm(x[:, 0], (D,), w["post_w"], w["post_b"]), w["proj"])
    n = F.normalize(e)
    return torch.mm(n, F.normalize(w["special"]).t()), torch.mm(n, F.normalize(w["concepts"]).t())


def median(fn):
    start = time.perf_counter()
    for i in range(5):   # warm-up: at least once, more while under two seconds (as jdiffusion's bench)
        fn()
        if time.perf_counter() - start > 2:
            break
    t = []
    for _ in range(args.repeat):
        s = time.perf_counter()
        fn()
        t.append(time.perf_counter() - s)
    return float(np.median(t))


image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (args.height, args.width, 3), dtype=np.uint8))
pv = preprocess(image)
pre = median(lambda: preprocess(image))
chk = median(lambda: checker(pv))
print(json.dumps({"model": "PyTorch " + torch.__version__ + " float32, SD 1.5 safety checker (ViT-L/14)",
                  "width": args.width, "height": args.height, "threads": torch.get_num_threads(),
                  "preprocess_s": pre, "safety_checker_s": chk, "total_s": pre + chk}))
