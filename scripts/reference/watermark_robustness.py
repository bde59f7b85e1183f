"""What the invisible watermark survives, measured; and imwatermark <-> jdiffusion in both directions.

Needs imwatermark 0.2.0 (a folder holding its `imwatermark/` package, or `pip install invisible-watermark==0.2.0`;
never part of this repository) and Debian's python3 (numpy, cv2, pywt, Pillow, torch). Run from the repository root:
    /usr/bin/python3 scripts/reference/watermark_robustness.py IMWATERMARK_PARENT_DIR [WORK_DIR]

1. Interoperability: every test image is marked by jdiffusion (`./jdiffusion watermark encode`) and by imwatermark;
   the outputs are compared byte for byte, imwatermark decodes jdiffusion's marks and jdiffusion
   (`./jdiffusion watermark decode`) decodes imwatermark's.
2. Robustness: the marked images are resized, re-encoded as JPEG, cropped, rotated, brightened and given noise
   with Pillow / numpy, then decoded by both decoders. Prints a Markdown table: per change, in how many images the
   text came back exactly, and the share of correct bits.
"""
import io
import json
import os
import subprocess
import sys
import tempfile

import cv2
import numpy as np
from PIL import Image, ImageEnhance

sys.path.insert(0, sys.argv[1])
from imwatermark import WatermarkDecoder, WatermarkEncoder  # noqa: E402

WORK = sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp(prefix="wm-robustness-")
os.makedirs(WORK, exist_ok=True)
ROOT = os.getcwd()
JD = os.path.join(ROOT, "jdiffusion")
TEXTS = ["StableDiffusionV1", "SDV2"]   # SD 1.x scripts' 136-bit mark; SD 2.x's 32-bit one
images = {
    "textured 256": "testdata/safety/watermark/textured_256.png",
    "textured 512": "testdata/safety/watermark/textured_512.png",
    "generated 256": "testdata/safety/watermark/generated_256.png",
    "smooth 256": "testdata/safety/watermark/smooth_256.png",
}
# More 512x512 pictures, made here: blurred colour blobs with grain from fine (a photo) to coarse (a texture).
rng = np.random.default_rng(99)
for grain in (4, 15, 25, 40, 60):
    yy, xx = np.mgrid[0:512, 0:512].astype(np.float64)
    a = np.zeros((512, 512, 3)) + rng.uniform(40, 200, 3)
    for _ in range(8):
        cx, cy, rx, ry = rng.uniform(0, 512, 2).tolist() + rng.uniform(50, 250, 2).tolist()
        m = np.exp(-(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2))[..., None]
        a = a * (1 - m) + m * rng.uniform(0, 255, 3)
    a = np.clip(np.rint(a + rng.normal(0, grain, a.shape)), 0, 255).astype(np.uint8)
    path = os.path.join(WORK, f"blobs_512_grain{grain}.png")
    Image.fromarray(a).save(path)
    images[f"blobs 512, grain {grain}"] = path


def jd(*args):
    r = subprocess.run([JD, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"jdiffusion {' '.join(args)}: {r.stderr}")
    return r.stdout


def im_encode(rgb, text):
    e = WatermarkEncoder()
    e.set_watermark("bytes", text.encode())
    return cv2.cvtColor(e.encode(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), "dwtDct"), cv2.COLOR_BGR2RGB)


def im_bits(rgb, nbits):
    if rgb.shape[0] * rgb.shape[1] < 256 * 256:
        return None
    from imwatermark.maxDct import EmbedMaxDct
    return np.array(EmbedMaxDct(watermarks=[], wmLen=nbits).decode(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)), bool)


def bits_of(text):
    return np.unpackbits(np.frombuffer(text.encode(), np.uint8)).astype(bool)


def changes(img):
    w, h = img.size
    out = {"none (PNG)": img}
    for q in (95, 90, 75, 50):   # Pillow's default: 4:2:0 chroma subsampling (as the web UIs save JPEGs)
        b = io.BytesIO()
        img.save(b, "JPEG", quality=q)
        out[f"JPEG quality {q}"] = Image.open(io.BytesIO(b.getvalue())).convert("RGB")
    for q in (95, 90):           # full-resolution chroma (the mark lives in U)
        b = io.BytesIO()
        img.save(b, "JPEG", quality=q, subsampling=0)
        out[f"JPEG quality {q}, 4:4:4"] = Image.open(io.BytesIO(b.getvalue())).convert("RGB")
    for f in (0.5, 0.75, 1.5):
        out[f"resized x{f}"] = img.resize((round(w * f), round(h * f)), Image.BICUBIC)
    out["resized x0.5 and back"] = img.resize((w // 2, h // 2), Image.BICUBIC).resize((w, h), Image.BICUBIC)
    out["resized x0.9 and back"] = img.resize((round(w * 0.9), round(h * 0.9)), Image.BICUBIC).resize((w, h), Image.BICUBIC)
    out["cropped 4 px left/top"] = img.crop((4, 4, w, h))
    out["cropped 10% (centre)"] = img.crop((w // 20, h // 20, w - w // 20, h - h // 20))
    out["rotated 90°"] = img.transpose(Image.ROTATE_90)
    out["brightness x1.1"] = ImageEnhance.Brightness(img).enhance(1.1)
    rng = np.random.default_rng(0)
    a = np.asarray(img).astype(np.float64) + rng.normal(0, 2, (h, w, 3))
    out["noise sigma 2"] = Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8))
    return out


# ---------------------------------------------------------------- 1. interoperability
interop = []
marked = {}
for name, path in images.items():
    rgb = np.asarray(Image.open(path).convert("RGB"))
    for text in TEXTS:
        ours = os.path.join(WORK, f"{name.replace(' ', '_')}_{len(text)}_jd.png")
        jd("watermark", "encode", path, ours, "--text", text)
        ours_rgb = np.asarray(Image.open(ours).convert("RGB"))
        theirs_rgb = im_encode(rgb, text)
        theirs = os.path.join(WORK, f"{name.replace(' ', '_')}_{len(text)}_im.png")
        Image.fromarray(theirs_rgb).save(theirs)
        im_reads = WatermarkDecoder("bytes", len(text) * 8).decode(cv2.cvtColor(ours_rgb, cv2.COLOR_RGB2BGR), "dwtDct")
        im_own = WatermarkDecoder("bytes", len(text) * 8).decode(cv2.cvtColor(theirs_rgb, cv2.COLOR_RGB2BGR), "dwtDct")
        jd_reads = jd("watermark", "decode", theirs, "--length", str(len(text) * 8)).rstrip("\n")
        interop.append({"image": name, "text": text, "identical_bytes": bool(np.array_equal(ours_rgb, theirs_rgb)),
                        "imwatermark_reads_its_own": im_own == text.encode(),
                        "imwatermark_reads_jdiffusion": im_reads == text.encode(),
                        "jdiffusion_reads_imwatermark": jd_reads == text})
        marked[(name, text)] = Image.fromarray(ours_rgb)
print("## Interoperability (jdiffusion vs imwatermark 0.2.0)\n")
print("| image | text | identical bytes | imwatermark reads its own | imwatermark reads jdiffusion's | jdiffusion reads imwatermark's |")
print("| --- | --- | --- | --- | --- | --- |")
for r in interop:
    yes = lambda v: "yes" if v else "no"
    print(f"| {r['image']} | {r['text']} | {yes(r['identical_bytes'])} | {yes(r['imwatermark_reads_its_own'])} | "
          f"{yes(r['imwatermark_reads_jdiffusion'])} | {yes(r['jdiffusion_reads_imwatermark'])} |")
assert all(r["identical_bytes"] for r in interop)
assert all(r["imwatermark_reads_jdiffusion"] == r["imwatermark_reads_its_own"] == r["jdiffusion_reads_imwatermark"]
           for r in interop)

# ---------------------------------------------------------------- 2. robustness
rows = {}
disagreements = 0
for text in TEXTS:
    nbits = len(text) * 8
    pending = []   # (key, file, imwatermark's bits): jdiffusion decodes them all in one run
    for name in images:
        base = marked[(name, text)]
        own = im_bits(np.asarray(base), nbits)
        readable = own is not None and np.array_equal(own, bits_of(text))
        for change, img in changes(base).items():
            key = (text, change)
            r = rows.setdefault(key, {"readable_marks": 0, "recovered": 0, "bit_share": [], "too_small": 0})
            if not readable:
                continue   # a mark that even imwatermark cannot read unchanged (smooth pictures) says nothing here
            r["readable_marks"] += 1
            rgb = np.asarray(img.convert("RGB"))
            bits = im_bits(rgb, nbits)
            if bits is None:
                r["too_small"] += 1
                continue
            ok = bool(np.array_equal(bits, bits_of(text)))
            r["recovered"] += ok
            r["bit_share"].append(float((bits == bits_of(text)).mean()))
            f = os.path.join(WORK, f"changed_{len(pending)}.png")
            Image.fromarray(rgb).save(f)   # PNG: both decoders see the same pixels
            pending.append((ok, f))
    texts = jd("watermark", "decode", *[f for _, f in pending], "--length", str(nbits)).split("\n")[:len(pending)]
    disagreements += sum((t == text) != ok for (ok, _), t in zip(pending, texts))

print("\n## Robustness (marks that imwatermark reads back unchanged; text recovered exactly / mean share of correct bits)\n")
print("| change | " + " | ".join(f"{t} ({len(t) * 8} bits)" for t in TEXTS) + " |")
print("| --- | " + " | ".join("---" for _ in TEXTS) + " |")
for change in changes(marked[(list(images)[0], TEXTS[0])]):
    cells = []
    for t in TEXTS:
        r = rows[(t, change)]
        n = r["readable_marks"] - r["too_small"]
        share = f"{np.mean(r['bit_share']):.2f}" if r["bit_share"] else "-"
        small = f", {r['too_small']} too small" if r["too_small"] else ""
        cells.append(f"{r['recovered']}/{n}{small}, bits {share}")
    print(f"| {change} | " + " | ".join(cells) + " |")
print(f"\njdiffusion's and imwatermark's decoders disagreed on {disagreements} changed images")
json.dump({"interop": interop, "robustness": {f"{k[0]}|{k[1]}": v for k, v in rows.items()}},
          open(os.path.join(WORK, "robustness.json"), "w"), indent=1)
