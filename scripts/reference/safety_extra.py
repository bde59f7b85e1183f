"""Extra safety-checker references for unseen cases: other images, sizes and PNG modes, and another checker shape.

Run with Debian's python3 (torch 1.13, Pillow 9.4, numpy, cv2):
    /usr/bin/python3 scripts/reference/safety_extra.py /work/shared/fixtures/safety testdata/safety/extra

transformers is not installed, so CLIPImageProcessor, CLIPVisionModel and StableDiffusionSafetyChecker.forward are
written out below in numpy / plain torch, step for step as transformers 4.44 and diffusers 0.30 compute them. Before
anything is written, the script checks that they reproduce the fixture's crops (byte for byte), pooled outputs and
scores (model A, made by the real libraries). Writes into OUT:
  images/*.png            new images: photo-like ones of odd sizes, and one small picture saved in many PNG modes
  tiny-sd15-safe-b/       a second checker of another shape (hidden 48, 3 layers, 6 heads of 8, patch 16, image 96,
                          gelu, layer_norm_eps 1e-6, projection 20, F16 weights; new-style preprocessor_config.json),
                          the other parts linked to testdata/tiny-sd15
  expected.safetensors    rgb_<image> (PIL's convert("RGB") of the mode_* images),
                          crop_b_<photo> (checker B's 96x96 crop of the photo-like images)
  expected.json           per model (A, B) and image: the unrounded scores, nsfw, special_care, bad_concepts
"""
import json
import os
import sys

import cv2
import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_lite import load as load_safetensors, save  # noqa: E402

FIX, OUT = sys.argv[1], sys.argv[2]
torch.set_grad_enabled(False)



# ---------------------------------------------------------------- CLIPImageProcessor (transformers 4.44)
def processor_config(path):
    c = json.load(open(path))
    size, crop = c.get("size", 224), c.get("crop_size", 224)
    shortest = size if isinstance(size, int) else size["shortest_edge"]
    ch, cw = (crop, crop) if isinstance(crop, int) else (crop["height"], crop["width"])
    return dict(shortest=shortest, crop=(ch, cw), resample=c.get("resample", 3),
                scale=c.get("rescale_factor", 1 / 255), mean=c["image_mean"], std=c["image_std"])


def resize_and_crop(img, p):
    img = img.convert("RGB")
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = p["shortest"], int(p["shortest"] * long / short)
    nh, nw = (new_long, new_short) if w <= h else (new_short, new_long)
    a = np.asarray(img.resize((nw, nh), resample=p["resample"])) if (nw, nh) != (w, h) else np.asarray(img)
    ch, cw = p["crop"]
    top, left = (nh - ch) // 2, (nw - cw) // 2
    assert top >= 0 and left >= 0
    return a[top:top + ch, left:left + cw]


def pixel_values(crop, p):
    x = (crop.astype(np.float64) * p["scale"]).astype(np.float32)
    x = (x - np.array(p["mean"], np.float32)) / np.array(p["std"], np.float32)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]


# ---------------------------------------------------------------- CLIPVisionModel + StableDiffusionSafetyChecker
def vision_defaults(vc):
    d = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12, image_size=224,
             patch_size=32, hidden_act="quick_gelu", layer_norm_eps=1e-5)
    d.update({k: v for k, v in vc.items() if k in d})
    return d


def clip_vision_pooled(sd, vc, pv):
    pre = "vision_model.vision_model."
    t = lambda k: torch.from_numpy(sd[pre + k].astype(np.float32))
    d, heads, eps = vc["hidden_size"], vc["num_attention_heads"], vc["layer_norm_eps"]
    act = {"quick_gelu": lambda x: x * torch.sigmoid(1.702 * x), "gelu": torch.nn.functional.gelu}[vc["hidden_act"]]
    ln = lambda x, name: torch.nn.functional.layer_norm(x, (d,), t(name + ".weight"), t(name + ".bias"), eps)
    lin = lambda x, name: torch.nn.functional.linear(x, t(name + ".weight"), t(name + ".bias"))
    x = torch.nn.functional.conv2d(pv, t("embeddings.patch_embedding.weight"), stride=vc["patch_size"])
    x = x.flatten(2).transpose(1, 2)
    x = torch.cat([t("embeddings.class_embedding").expand(x.shape[0], 1, -1), x], dim=1)
    x = x + t("embeddings.position_embedding.weight")[None]
    x = ln(x, "pre_layrnorm")
    hd = d // heads
    for i in range(vc["num_hidden_layers"]):
        p = f"encoder.layers.{i}."
        r = x
        h = ln(x, p + "layer_norm1")
        b, n, _ = h.shape
        q = (lin(h, p + "self_attn.q_proj") * hd ** -0.5).view(b, n, heads, hd).transpose(1, 2)
        k = lin(h, p + "self_attn.k_proj").view(b, n, heads, hd).transpose(1, 2)
        v = lin(h, p + "self_attn.v_proj").view(b, n, heads, hd).transpose(1, 2)
        a = torch.softmax(q @ k.transpose(-1, -2), dim=-1) @ v
        x = r + lin(a.transpose(1, 2).reshape(b, n, d), p + "self_attn.out_proj")
        r = x
        x = r + lin(act(lin(ln(x, p + "layer_norm2"), p + "mlp.fc1")), p + "mlp.fc2")
    return ln(x[:, 0], "post_layernorm")


def scores(sd, pooled):
    f = lambda k: torch.from_numpy(sd[k].astype(np.float32))
    embeds = pooled @ f("visual_projection.weight").T
    cos = lambda e, c: torch.mm(torch.nn.functional.normalize(e), torch.nn.functional.normalize(c).t()).numpy()
    special_cos, concept_cos = cos(embeds, f("special_care_embeds")), cos(embeds, f("concept_embeds"))
    sw, cw = f("special_care_embeds_weights"), f("concept_embeds_weights")
    out = []
    for i in range(embeds.shape[0]):
        adjustment, special, concept, care, bad = 0.0, [], [], [], []
        for j in range(special_cos.shape[1]):   # diffusers' loop: float32 cos - Python float + Python float
            s = special_cos[i][j] - sw[j].item() + adjustment
            special.append(float(s))
            if round(s, 3) > 0:
                care.append(j)
                adjustment = 0.01
        for j in range(concept_cos.shape[1]):
            s = concept_cos[i][j] - cw[j].item() + adjustment
            concept.append(float(s))
            if round(s, 3) > 0:
                bad.append(j)
        out.append(dict(concept_scores=concept, special_scores=special, nsfw=len(bad) > 0, special_care=care,
                        bad_concepts=bad))
    return out, special_cos, concept_cos


def run_model(folder, sd, img):
    p = processor_config(os.path.join(folder, "feature_extractor/preprocessor_config.json"))
    cfg = json.load(open(os.path.join(folder, "safety_checker/config.json")))
    crop = resize_and_crop(img, p)
    pooled = clip_vision_pooled(sd, vision_defaults(cfg.get("vision_config", {})), pixel_values(crop, p))
    return crop, pooled


# ---------------------------------------------------------------- 1. the reimplementation against the fixture (model A)
A = os.path.join(FIX, "tiny-sd15-safe")
sd_a = load_safetensors(os.path.join(A, "safety_checker/model.safetensors"))
ref = load_safetensors(os.path.join(FIX, "expected/safety.safetensors"))
manifest = json.load(open(os.path.join(FIX, "manifest.json")))
for c in manifest["safety_check"]["open:A"]:
    crop, pooled = run_model(A, sd_a, Image.open(os.path.join(FIX, c["image"])))
    name = c["name"]
    if "crop_u8_" + name in ref:
        assert np.array_equal(crop, ref["crop_u8_" + name]), name
        err = np.abs(pooled[0].numpy() - ref["pooled_output_" + name]).max()
        assert err < 1e-5, (name, err)
    got = scores(sd_a, pooled)[0][0]
    for k in ("concept_scores", "special_scores"):
        err = np.abs(np.array(got[k]) - np.array(c["ref"][k])).max()
        assert err < 1e-6, (name, k, err)
    for k in ("nsfw", "special_care", "bad_concepts"):
        assert got[k] == c["ref"][k], (name, k, got[k], c["ref"][k])
print("the reimplementation reproduces the fixture's crops, pooled outputs and scores")

# ---------------------------------------------------------------- 2. new images
rng = np.random.default_rng(2024)


def photo(w, h, blobs=7, noise=6.0):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, 3)) + rng.uniform(40, 200, 3)
    for _ in range(blobs):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        rx, ry = rng.uniform(0.1, 0.5) * w, rng.uniform(0.1, 0.5) * h
        m = np.exp(-(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2))[..., None]
        img = img * (1 - m) + m * rng.uniform(0, 255, 3)
    img += rng.normal(0, noise, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


os.makedirs(os.path.join(OUT, "images"), exist_ok=True)
images = {}   # name -> file name
for name, (w, h) in {"photo_97x131": (97, 131), "photo_400x226": (400, 226), "photo_33x500": (33, 500),
                     "photo_96": (96, 96), "photo_7x5": (7, 5), "photo_224x225": (224, 225)}.items():
    Image.fromarray(photo(w, h, noise=6.0 if w * h < 30000 else 2.5), "RGB").save(os.path.join(OUT, "images", name + ".png"))
    images[name] = name + ".png"

base = photo(45, 33, blobs=5, noise=10.0)
gray = np.asarray(Image.fromarray(base).convert("L"))
alpha = np.clip(np.add.outer(np.arange(33) * 7, np.arange(45) * 3), 0, 255).astype(np.uint8)
modes = {
    "mode_L": Image.fromarray(gray, "L"),
    "mode_LA": Image.fromarray(np.stack([gray, alpha], -1), "LA"),
    "mode_RGBA": Image.fromarray(np.concatenate([base, alpha[..., None]], -1), "RGBA"),
    "mode_P": Image.fromarray(base).quantize(colors=23),
    "mode_1": Image.fromarray(gray).convert("1"),
}
for name, im in modes.items():
    im.save(os.path.join(OUT, "images", name + ".png"))
p_trns = Image.fromarray(base).quantize(colors=16)
p_trns.save(os.path.join(OUT, "images", "mode_P_trns.png"), transparency=3)
p4 = Image.fromarray(base).quantize(colors=12)
p4.save(os.path.join(OUT, "images", "mode_P4.png"), bits=4)
# 16-bit: grey (Pillow's mode "I", clipped to 255 by convert("RGB")) with small and large values, RGB and RGBA
# (Pillow keeps the high byte), written by OpenCV.
g16 = (gray.astype(np.uint16) * 257)
g16[:, :15] = gray[:, :15]                     # a band of values under 256: these survive the clipping
cv2.imwrite(os.path.join(OUT, "images", "mode_I16.png"), g16)
rgb16 = (base.astype(np.uint16) * 257 + rng.integers(0, 257, base.shape)).astype(np.uint16)
cv2.imwrite(os.path.join(OUT, "images", "mode_RGB16.png"), rgb16[..., ::-1])
rgba16 = np.concatenate([rgb16, (alpha.astype(np.uint16) * 257)[..., None]], -1)
cv2.imwrite(os.path.join(OUT, "images", "mode_RGBA16.png"), rgba16[..., [2, 1, 0, 3]])
for name in list(modes) + ["mode_P_trns", "mode_P4", "mode_I16", "mode_RGB16", "mode_RGBA16"]:
    images[name] = name + ".png"
for name, f in images.items():
    print(name, Image.open(os.path.join(OUT, "images", f)).mode, Image.open(os.path.join(OUT, "images", f)).size)

# ---------------------------------------------------------------- 3. checker B: another shape
B = os.path.join(OUT, "tiny-sd15-safe-b")
os.makedirs(os.path.join(B, "safety_checker"), exist_ok=True)
os.makedirs(os.path.join(B, "feature_extractor"), exist_ok=True)
vc_b = dict(hidden_size=48, intermediate_size=96, num_hidden_layers=3, num_attention_heads=6, patch_size=16,
            image_size=96, hidden_act="gelu", layer_norm_eps=1e-6, model_type="clip_vision_model")
proj_b = 20
cfg_b = {"architectures": ["StableDiffusionSafetyChecker"], "model_type": "clip", "projection_dim": proj_b,
         "initializer_factor": 1.0, "logit_scale_init_value": 2.6592, "torch_dtype": "float16",
         "text_config": {"hidden_size": 32, "intermediate_size": 37, "num_attention_heads": 4, "num_hidden_layers": 1,
                         "model_type": "clip_text_model"},
         "vision_config": vc_b}
pre_b = {"crop_size": {"height": 96, "width": 96}, "do_center_crop": True, "do_convert_rgb": True, "do_normalize": True,
         "do_rescale": True, "do_resize": True, "image_mean": [0.48145466, 0.4578275, 0.40821073],
         "image_processor_type": "CLIPImageProcessor", "image_std": [0.26862954, 0.26130258, 0.27577711],
         "resample": 3, "rescale_factor": 0.00392156862745098, "size": {"shortest_edge": 96}}
g = torch.Generator().manual_seed(77)
rand = lambda *s, std=0.02: torch.randn(*s, generator=g) * std
d, k, pp, L = 48, 96, 16, 3
pre = "vision_model.vision_model."
sd_b = {pre + "embeddings.class_embedding": rand(d, std=0.5),
        pre + "embeddings.patch_embedding.weight": rand(d, 3, pp, pp, std=0.05),
        pre + "embeddings.position_embedding.weight": rand((96 // pp) ** 2 + 1, d, std=0.3)}
for name in ("pre_layrnorm", "post_layernorm"):
    sd_b[pre + name + ".weight"] = 1 + rand(d, std=0.2)
    sd_b[pre + name + ".bias"] = rand(d, std=0.2)
for i in range(L):
    p = pre + f"encoder.layers.{i}."
    for n in ("layer_norm1", "layer_norm2"):
        sd_b[p + n + ".weight"] = 1 + rand(d, std=0.2)
        sd_b[p + n + ".bias"] = rand(d, std=0.1)
    for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
        sd_b[p + "self_attn." + n + ".weight"] = rand(d, d, std=0.25)
        sd_b[p + "self_attn." + n + ".bias"] = rand(d, std=0.1)
    sd_b[p + "mlp.fc1.weight"], sd_b[p + "mlp.fc1.bias"] = rand(k, d, std=0.2), rand(k, std=0.1)
    sd_b[p + "mlp.fc2.weight"], sd_b[p + "mlp.fc2.bias"] = rand(d, k, std=0.2), rand(d, std=0.1)
sd_b["visual_projection.weight"] = rand(proj_b, d, std=0.3)
sd_b = {n: v.half().numpy() for n, v in sd_b.items()}   # stored as F16: the reference computes with these values

names = sorted(images)
pils = {n: Image.open(os.path.join(OUT, "images", images[n])) for n in names}
json.dump(pre_b, open(os.path.join(B, "feature_extractor/preprocessor_config.json"), "w"), indent=2)
json.dump(cfg_b, open(os.path.join(B, "safety_checker/config.json"), "w"), indent=2)
pooled_b = torch.cat([run_model(B, sd_b, pils[n])[1] for n in names])
# Thresholds (float16, like every weight here): nothing flagged by default (each threshold 0.08 above every
# image's cosine), then, searched among the images, one of each case: a special-care hit on an image that is kept,
# a cascade (a second special hit only through the first's +0.01) with a concept flagged only through the +0.01,
# a concept flagged directly, and a positive score that rounds to 0. Every score stays more than 1e-4 away from the
# rounding edge 0.0005 (checked below).
def f16_threshold(cos, score, tol=3e-4):
    """The float16 threshold t for which cos - t is nearest to score, or None when none is within tol."""
    t0 = np.float16(cos - score)
    best = min((np.float16(t0 + k * np.spacing(t0)) for k in range(-3, 4)), key=lambda t: abs(cos - float(t) - score))
    return np.float32(best) if abs(cos - float(best) - score) <= tol else None


def evaluate(sw, cw):
    """diffusers' loop over all images: (special_care, bad_concepts, special scores, concept scores) per image."""
    out = []
    for i in range(len(names)):
        adj, care, bad, ss, cs = 0.0, [], [], [], []
        for j in range(3):
            v = scos[i][j] - float(sw[j]) + adj
            ss.append(v)
            if round(v, 3) > 0:
                care.append(j)
                adj = 0.01
        for j in range(17):
            v = ccos[i][j] - float(cw[j]) + adj
            cs.append(v)
            if round(v, 3) > 0:
                bad.append(j)
        out.append((care, bad, ss, cs))
    return out


def design():
    import itertools
    for s_clean, s_first, s_second in itertools.permutations(range(3)):
        sw = np.float16(scos.max(0) + 0.08).astype(np.float32)
        cw = np.float16(ccos.max(0) + 0.08).astype(np.float32)
        clean = int(np.argmax(scos[:, s_clean]))
        cascade = int(np.argmax(scos[:, s_first]))
        if clean == cascade:
            continue
        sw[s_clean] = f16_threshold(scos[clean, s_clean], 0.004)
        sw[s_first] = f16_threshold(scos[cascade, s_first], 0.003)
        sw[s_second] = f16_threshold(scos[cascade, s_second], 0.003 - 0.01)
        r = evaluate(sw, cw)
        if r[clean][0] != [s_clean] or r[cascade][0] != sorted([s_first, s_second]):
            continue
        if any(r[i][0] for i in range(len(names)) if i not in (clean, cascade)):
            continue
        adjusted = {clean, cascade}
        free = list(range(17))
        roles = {}
        for role, image_of, target in (("special_adj", lambda c: cascade, -0.005),
                                       ("direct", lambda c: int(np.argmax(ccos[:, c])), 0.006),
                                       ("rounding", lambda c: max((i for i in range(len(names)) if i not in adjusted),
                                                                  key=lambda i: ccos[i, c]), 0.00025)):
            for c in free:
                i = image_of(c)
                if role == "direct" and i in adjusted:
                    continue
                t = f16_threshold(ccos[i, c], target, 1e-4 if role == "rounding" else 3e-4)
                if t is None:
                    continue
                trial = cw.copy()
                trial[c] = t
                r = evaluate(sw, trial)
                hits = [k for k in range(len(names)) if c in r[k][1]]
                ok = hits == ([] if role == "rounding" else [i])
                ok = ok and all(abs(r[k][3][c] - 0.0005) > 1e-4 for k in range(len(names)))
                if role == "rounding":
                    ok = ok and 0 < r[i][3][c] < 0.0005
                if ok:
                    cw, roles[role] = trial, (names[i], c)
                    free.remove(c)
                    break
            else:
                break
        else:
            roles["special_clean"], roles["cascade"] = (names[clean], s_clean), (names[cascade], (s_first, s_second))
            return sw, cw, roles
    return None


# The concept embeddings are drawn until the images allow every case.
for attempt in range(50):
    sd_b["concept_embeds"] = rand(17, proj_b, std=1.0).half().numpy()
    sd_b["special_care_embeds"] = rand(3, proj_b, std=1.0).half().numpy()
    _, scos, ccos = scores(dict(sd_b, concept_embeds_weights=np.zeros(17, np.float16),
                                special_care_embeds_weights=np.zeros(3, np.float16)), pooled_b)
    designed = design()
    if designed:
        break
sw, cw, roles = designed
print("checker B roles:", roles)
sd_b["special_care_embeds_weights"] = sw.astype(np.float16)
sd_b["concept_embeds_weights"] = cw.astype(np.float16)
save(sd_b, os.path.join(B, "safety_checker/model.safetensors"), {"format": "pt"})
index = json.load(open(os.path.join(A, "model_index.json")))
json.dump(index, open(os.path.join(B, "model_index.json"), "w"), indent=2)
for part in ("scheduler", "text_encoder", "tokenizer", "unet", "vae"):
    link = os.path.join(B, part)
    if not os.path.lexists(link):
        os.symlink("../../../tiny-sd15/" + part, link)

# ---------------------------------------------------------------- 4. references
expected = {"A": {}, "B": {}}
tensors = {}
margins = []
for n in names:
    img = pils[n]
    if img.mode != "RGB" or n.startswith("mode_"):   # mode_RGB16 opens as RGB, from 16-bit samples
        tensors["rgb_" + n] = np.asarray(img.convert("RGB"))
    for model, folder, sd in (("A", A, sd_a), ("B", B, sd_b)):
        crop, pooled = run_model(folder, sd, img)
        s = scores(sd, pooled)[0][0]
        expected[model][n] = s
        if model == "B" and n.startswith("photo_"):
            tensors["crop_b_" + n] = crop
        # Rounding decides at 0.0005: keep every score well away from it (the bar for scores is 1e-4).
        margins += [abs(v - 0.0005) for v in s["concept_scores"] + s["special_scores"]]
    print(n, "A:", expected["A"][n]["nsfw"], expected["A"][n]["bad_concepts"], expected["A"][n]["special_care"],
          "B:", expected["B"][n]["nsfw"], expected["B"][n]["bad_concepts"], expected["B"][n]["special_care"])
assert min(margins) > 1e-4, min(margins)
b = expected["B"]
clean_img, clean_special = roles["special_clean"]
assert b[clean_img]["special_care"] == [clean_special] and not b[clean_img]["nsfw"]
cascade_img, _ = roles["cascade"]
assert len(b[cascade_img]["special_care"]) == 2 and b[cascade_img]["bad_concepts"] == [roles["special_adj"][1]]
assert b[roles["direct"][0]]["bad_concepts"] == [roles["direct"][1]]
assert 0 < b[roles["rounding"][0]]["concept_scores"][roles["rounding"][1]] < 0.0005
assert any(not v["nsfw"] and not v["special_care"] for v in b.values()), "a clean image"
save(tensors, os.path.join(OUT, "expected.safetensors"), {"pillow": Image.__version__})
json.dump({"made_by": "scripts/reference/safety_extra.py", "torch": torch.__version__, "pillow": Image.__version__,
           "images": images, "roles_b": roles, "scores": expected}, open(os.path.join(OUT, "expected.json"), "w"), indent=1)
print("smallest distance of a score from the rounding edge 0.0005:", min(margins))
