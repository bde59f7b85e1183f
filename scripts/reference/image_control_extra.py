"""More inpainting and ControlNet references, beyond the image-control fixture: other pictures, masks (soft,
RGBA, another size), sizes, samplers (heun, unipc, dpmpp_2m_karras, ddpm), strengths, batches, guess mode with
and without CFG, multi-ControlNet in the other order, ControlNet with img2img and inpainting, padding crops
that shift at the border and fill either way, Canny at other thresholds.

Made by diffusers 0.30.0 itself, run with Debian's python3 (torch 1.13, Pillow 9.4, OpenCV 4.6), the tiny
models in testdata/, and shims for what is not installed (scripts/reference/shims: a torch safetensors reader,
transformers names; tiny_clip.py: the CLIP text encoder, checked here against the fixture's text_encoder
outputs). Prompts are given as token ids from testdata/tiny-sd15/expected/tokenizer.safetensors.

    git -C /work/.mirror/huggingface+diffusers/repo archive v0.30.0 src/diffusers | tar x -C /tmp/d
    git -C /work/.mirror/huggingface+huggingface_hub/repo archive v0.24.6 src/huggingface_hub | tar x -C /tmp/d
    PYTHONPATH=scripts/reference/shims:scripts/reference:/tmp/d/src /usr/bin/python3 \\
        scripts/reference/image_control_extra.py testdata

Writes testdata/image-control-extra/: inputs/*.png, <case>.safetensors (image_u8 [N, H, W, 3]) and
manifest.json (each case's request, and its jdiffusion command line relative to that folder).
"""
import json
import os
import sys

import cv2
import numpy as np
import torch
from PIL import Image

import diffusers
from diffusers import (AutoencoderKL, ControlNetModel, DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler,
                       EulerAncestralDiscreteScheduler, EulerDiscreteScheduler, HeunDiscreteScheduler,
                       LMSDiscreteScheduler, PNDMScheduler, StableDiffusionControlNetImg2ImgPipeline,
                       StableDiffusionControlNetInpaintPipeline, StableDiffusionControlNetPipeline,
                       StableDiffusionInpaintPipeline, UNet2DConditionModel, UniPCMultistepScheduler)
from diffusers.pipelines.controlnet import MultiControlNetModel
from safetensors.torch import load_file

from safetensors_lite import save
from tiny_clip import TinyClip

torch.set_num_threads(1)
TESTDATA = sys.argv[1]
OUT = os.path.join(TESTDATA, "image-control-extra")
IC = os.path.join(TESTDATA, "image-control")
BASE = os.path.join(TESTDATA, "tiny-sd15")
os.makedirs(os.path.join(OUT, "inputs"), exist_ok=True)

# ---------------------------------------------------------------- prompts
manifest_sd15 = json.load(open(os.path.join(BASE, "expected", "manifest.json")))
PROMPTS = manifest_sd15["files"]["tokenizer.safetensors"]["prompts"]
IDS = load_file(os.path.join(BASE, "expected", "tokenizer.safetensors"))
clip = TinyClip(os.path.join(BASE, "text_encoder"))
te_ref = load_file(os.path.join(BASE, "expected", "text_encoder.safetensors"))
for k, p in enumerate(manifest_sd15["files"]["text_encoder.safetensors"]["prompts"]):
    i = PROMPTS.index(p)
    err = (clip(IDS["ids_%02d" % i].view(1, -1).long())[0] - te_ref["last_hidden_state_%02d" % k]).abs().max().item()
    assert err < 1e-5, ("tiny_clip differs from transformers", p, err)


def embed(prompt):
    return clip(IDS["ids_%02d" % PROMPTS.index(prompt)].view(1, -1).long())


# ---------------------------------------------------------------- inputs
rng = np.random.default_rng(2024)


def save_png(name, array, mode):
    Image.fromarray(array, mode).save(os.path.join(OUT, "inputs", name))
    return name


def scene(w, h, seed):
    r = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([120 + 90 * np.sin(xx / (4 + seed % 3) + yy / 7), 110 + 80 * np.cos(yy / 5 - xx / 11),
                    (xx * 3 + yy * 5 + 40 * seed) % 256], -1)
    for _ in range(4):
        cx, cy, rr = r.integers(0, w), r.integers(0, h), r.integers(4, 12)
        img[(xx - cx) ** 2 + (yy - cy) ** 2 < rr * rr] = r.integers(0, 256, 3)
    return np.clip(img + r.normal(0, 6, img.shape), 0, 255).astype(np.uint8)


def soft_circle(w, h, cx, cy, r0, r1):
    yy, xx = np.mgrid[0:h, 0:w]
    d = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2)
    return (np.clip((r1 - d) / (r1 - r0), 0, 1) * 255).astype(np.uint8)


init_e = save_png("init_e_56x40.png", scene(56, 40, 5), "RGB")
init_f = save_png("init_f_64x48.png", scene(64, 48, 6), "RGB")
init_g = save_png("init_g_80x48.png", scene(80, 48, 7), "RGB")
scene_h = save_png("scene_h_72x56.png", scene(72, 56, 8), "RGB")
mask_soft = save_png("mask_soft_56x40.png", soft_circle(56, 40, 30, 18, 7, 13), "L")
corner = np.zeros((40, 56), np.uint8)
corner[2:11, 3:16] = 255
corner[11:14, 3:9] = 140
mask_corner = save_png("mask_corner_56x40.png", corner, "L")
wide = np.zeros((20, 30), np.uint8)
wide[4:15, 9:27] = 255
mask_small = save_png("mask_other_size_30x20.png", wide, "L")
rgba = np.zeros((48, 80, 4), np.uint8)
rgba[..., :3] = soft_circle(80, 48, 55, 30, 6, 10)[..., None]
rgba[..., 3] = np.tile(np.linspace(90, 255, 80).astype(np.uint8), (48, 1))
mask_rgba = save_png("mask_rgba_80x48.png", rgba, "RGBA")
edges = np.zeros((40, 56, 3), np.uint8)
cv2.line(edges, (2, 35), (50, 4), (255, 255, 255), 1)
cv2.rectangle(edges, (8, 8), (30, 30), (255, 255, 255), 1)
cv2.circle(edges, (42, 26), 9, (255, 255, 255), 1)
control_edges = save_png("control_edges_56x40.png", edges, "RGB")
gy, gx = np.mgrid[0:64, 0:64]
control_gray = save_png("control_gray_64.png", ((gx * 3 + gy * 2 + 30 * np.sin(gx / 6)) % 256).astype(np.uint8), "L")


def load(name):
    return Image.open(os.path.join(OUT, "inputs", name))


# ---------------------------------------------------------------- models
vae = AutoencoderKL.from_pretrained(os.path.join(BASE, "vae"))
unet4 = UNet2DConditionModel.from_pretrained(os.path.join(BASE, "unet"))
unet9 = UNet2DConditionModel.from_pretrained(os.path.join(IC, "tiny-sd15-inpaint", "unet"))
sched_cfg = PNDMScheduler.from_pretrained(os.path.join(BASE, "scheduler")).config
nets = {n: ControlNetModel.from_pretrained(os.path.join(IC, n)) for n in ("controlnet-a", "controlnet-b")}
SCHEDULERS = {"ddim": (DDIMScheduler, {}), "pndm": (PNDMScheduler, {}), "lms": (LMSDiscreteScheduler, {}),
              "euler": (EulerDiscreteScheduler, {}), "euler_a": (EulerAncestralDiscreteScheduler, {}),
              "heun": (HeunDiscreteScheduler, {}), "dpmpp_2m": (DPMSolverMultistepScheduler, {"use_karras_sigmas": False}),
              "dpmpp_2m_karras": (DPMSolverMultistepScheduler, {"use_karras_sigmas": True}),
              "unipc": (UniPCMultistepScheduler, {}), "ddpm": (DDPMScheduler, {})}


def scheduler(name):
    cls, extra = SCHEDULERS[name]
    return cls.from_config(sched_cfg, **extra)


def canny(name, low, high):
    """What the ControlNet annotators hand the pipeline: cv2.Canny of the RGB array, repeated to 3 channels."""
    e = cv2.Canny(np.asarray(load(name).convert("RGB")), low, high)
    return Image.fromarray(np.stack([e, e, e], -1), "RGB")


# ---------------------------------------------------------------- cases
cases = []


def run(c):
    kind = c["kind"]
    prompt_embeds, negative = embed(c["prompt"]), embed(c.get("negative", ""))
    unet = unet9 if c["model"] == "inpaint" else unet4
    common = dict(prompt_embeds=prompt_embeds, negative_prompt_embeds=negative, num_inference_steps=c["steps"],
                  guidance_scale=c["guidance"], generator=torch.Generator("cpu").manual_seed(c["seed"]),
                  num_images_per_prompt=c.get("batch", 1), output_type="pil" if "padding_mask_crop" in c else "np")
    if "width" in c:
        common.update(width=c["width"], height=c["height"])
    if kind == "inpaint":
        pipe = StableDiffusionInpaintPipeline(vae=vae, text_encoder=None, tokenizer=None, unet=unet,
                                              scheduler=scheduler(c["sampler"]), safety_checker=None,
                                              feature_extractor=None, requires_safety_checker=False)
        pipe.set_progress_bar_config(disable=True)
        out = pipe(image=load(c["init"]), mask_image=load(c["mask"]), strength=c["strength"],
                   padding_mask_crop=c.get("padding_mask_crop"), **common).images
    else:
        cn = [nets[n["model"]] for n in c["nets"]]
        controlnet = cn[0] if len(cn) == 1 else MultiControlNetModel(cn)
        images = [canny(n["image"], *n["canny"]) if "canny" in n else load(n["image"]) for n in c["nets"]]
        one = len(cn) == 1
        kw = dict(controlnet_conditioning_scale=[n.get("scale", 1.0) for n in c["nets"]] if not one else c["nets"][0].get("scale", 1.0),
                  control_guidance_start=[n.get("start", 0.0) for n in c["nets"]] if not one else c["nets"][0].get("start", 0.0),
                  control_guidance_end=[n.get("end", 1.0) for n in c["nets"]] if not one else c["nets"][0].get("end", 1.0),
                  guess_mode=c.get("guess_mode", False))
        args = dict(vae=vae, text_encoder=None, tokenizer=None, unet=unet, controlnet=controlnet,
                    scheduler=scheduler(c["sampler"]), safety_checker=None, feature_extractor=None,
                    requires_safety_checker=False)
        control = images[0] if one else images
        if "mask" in c:
            pipe = StableDiffusionControlNetInpaintPipeline(**args)
            pipe.set_progress_bar_config(disable=True)
            out = pipe(image=load(c["init"]), mask_image=load(c["mask"]), control_image=control, strength=c["strength"],
                       padding_mask_crop=c.get("padding_mask_crop"), **kw, **common).images
        elif "init" in c:
            pipe = StableDiffusionControlNetImg2ImgPipeline(**args)
            pipe.set_progress_bar_config(disable=True)
            out = pipe(image=load(c["init"]), control_image=control, strength=c["strength"], **kw, **common).images
        else:
            pipe = StableDiffusionControlNetPipeline(**args)
            pipe.set_progress_bar_config(disable=True)
            out = pipe(image=control, **kw, **common).images
    if isinstance(out, list) or "padding_mask_crop" in c:
        u8 = np.stack([np.asarray(im.convert("RGB")) for im in out])
    else:
        u8 = np.round(out * 255).astype(np.uint8)
    save({"image_u8": u8}, os.path.join(OUT, c["name"] + ".safetensors"), {"diffusers": diffusers.__version__})
    cli = ["generate", "--model", "../tiny-sd15" if c["model"] == "base" else "../image-control/tiny-sd15-inpaint",
           "--prompt", c["prompt"]]
    if c.get("negative"):
        cli += ["--negative-prompt", c["negative"]]
    cli += ["--sampler", c["sampler"], "--steps", str(c["steps"]), "--guidance", str(c["guidance"]), "--seed", str(c["seed"])]
    if "width" in c:
        cli += ["--width", str(c["width"]), "--height", str(c["height"])]
    if c.get("batch", 1) > 1:
        cli += ["--batch", str(c["batch"])]
    if "init" in c:
        cli += ["--init-image", "inputs/" + c["init"], "--strength", str(c["strength"])]
    if "mask" in c:
        cli += ["--mask", "inputs/" + c["mask"]]
    if "padding_mask_crop" in c:
        cli += ["--padding-mask-crop", str(c["padding_mask_crop"])]
    for n in c.get("nets", []):
        cli += ["--controlnet", "../image-control/" + n["model"], "--control-image", "inputs/" + n["image"]]
        if "canny" in n:
            cli += ["--control-preprocess", "canny:%d:%d" % tuple(n["canny"])]
        for key, opt in (("scale", "--control-scale"), ("start", "--control-guidance-start"), ("end", "--control-guidance-end")):
            if key in n:
                cli += [opt, str(n[key])]
    if c.get("guess_mode"):
        cli += ["--guess-mode"]
    c["cli"] = cli + ["--quiet"]
    c["expected"] = c["name"] + ".safetensors"
    cases.append(c)
    print(c["name"], u8.shape)


P = PROMPTS
run(dict(name="x_inpaint9_heun_s0.8_batch2", kind="inpaint", model="inpaint", prompt=P[0], sampler="heun", steps=6,
         guidance=6.0, seed=21, width=56, height=40, init=init_e, mask=mask_soft, strength=0.8, batch=2))
run(dict(name="x_inpaint4_unipc_s0.75_mask_other_size", kind="inpaint", model="base", prompt=P[1], negative=P[13],
         sampler="unipc", steps=10, guidance=5.0, seed=22, width=64, height=48, init=init_f, mask=mask_small, strength=0.75))
run(dict(name="x_inpaint9_karras_nocfg_crop4_corner", kind="inpaint", model="inpaint", prompt=P[15],
         sampler="dpmpp_2m_karras", steps=10, guidance=1.0, seed=23, width=48, height=48, init=init_e, mask=mask_corner,
         strength=1.0, padding_mask_crop=4))
run(dict(name="x_inpaint4_euler_a_crop10_rgba_mask", kind="inpaint", model="base", prompt=P[6], sampler="euler_a", steps=8,
         guidance=7.5, seed=24, width=80, height=48, init=init_g, mask=mask_rgba, strength=1.0, padding_mask_crop=10))
run(dict(name="x_cn_b_heun_guess_nocfg_default_size", kind="controlnet", model="base", prompt=P[0], sampler="heun",
         steps=6, guidance=1.0, seed=25, guess_mode=True, nets=[dict(model="controlnet-b", image=control_edges)]))
run(dict(name="x_cn_multi_ba_ddpm", kind="controlnet", model="base", prompt=P[3], sampler="ddpm", steps=10,
         guidance=7.5, seed=26, width=64, height=64,
         nets=[dict(model="controlnet-b", image=control_gray, scale=0.7, start=0.2, end=0.9),
               dict(model="controlnet-a", image=control_edges, scale=1.3, start=0.0, end=0.5)]))
run(dict(name="x_cn_a_img2img_canny_euler_s0.6_batch2", kind="controlnet", model="base", prompt=P[9], sampler="euler",
         steps=10, guidance=7.5, seed=27, width=64, height=48, init=init_f, strength=0.6, batch=2,
         nets=[dict(model="controlnet-a", image=scene_h, canny=(75, 175))]))
run(dict(name="x_cn_b_inpaint9_ddim", kind="controlnet", model="inpaint", prompt=P[1], sampler="ddim", steps=10,
         guidance=7.5, seed=28, width=56, height=40, init=init_e, mask=mask_soft, strength=1.0,
         nets=[dict(model="controlnet-b", image=control_edges, scale=0.8)]))
run(dict(name="x_cn_a_inpaint4_crop6_guess_dpmpp", kind="controlnet", model="base", prompt=P[15], negative=P[0],
         sampler="dpmpp_2m", steps=10, guidance=7.5, seed=29, width=48, height=48, init=init_e, mask=mask_corner,
         strength=0.9, padding_mask_crop=6, guess_mode=True, nets=[dict(model="controlnet-a", image=control_edges, scale=1.1)]))

json.dump({"diffusers": diffusers.__version__, "torch": torch.__version__, "paths": "relative to testdata/image-control-extra/",
           "cases": cases}, open(os.path.join(OUT, "manifest.json"), "w"), indent=1, ensure_ascii=False)
