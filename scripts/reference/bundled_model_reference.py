"""diffusers' own images from the bundled model (issue 10): diffusers 0.30's StableDiffusionPipeline over the
folder's UNet, VAE and scheduler, each loaded by diffusers' from_pretrained (float16 weights upcast to float32, as
from_pretrained(torch_dtype=torch.float32) does), the folder's own DPMSolverMultistepScheduler, torch.Generator("cpu")
seeded as jdiffusion's --seed, written as 8-bit PNGs (diffusers' numpy_to_pil rounding). The test BundledModelTest
compares `jdiffusion generate` without --model against these files.
transformers cannot be installed here (no PyPI), so the prompt embeddings come from this folder's ports of
transformers' CLIPTokenizer (clip_tokenizer_reference.py) and CLIPTextModel (tiny_clip.py, checked against
transformers' fixture outputs within 1e-5) and reach the pipeline as prompt_embeds / negative_prompt_embeds,
exactly where transformers' outputs would.

Usage: source scripts/reference/pyenv.sh
       "$REF_PYTHON" scripts/reference/bundled_model_reference.py MODEL_DIR OUT_DIR STEPS GUIDANCE SEED PROMPT [PROMPT...]
Writes OUT_DIR/<prompt with spaces as _>_seed<SEED>.png for each prompt.
"""
import os
import sys

import torch
from diffusers import AutoencoderKL, DPMSolverMultistepScheduler, StableDiffusionPipeline, UNet2DConditionModel

from clip_tokenizer_reference import ClipTokenizer
from tiny_clip import TinyClip


def main():
    model, out, steps, guidance, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
    prompts = sys.argv[6:]
    torch.set_num_threads(2)
    unet = UNet2DConditionModel.from_pretrained(model, subfolder="unet", torch_dtype=torch.float32)
    vae = AutoencoderKL.from_pretrained(model, subfolder="vae", torch_dtype=torch.float32)
    scheduler = DPMSolverMultistepScheduler.from_pretrained(model, subfolder="scheduler")
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=None, tokenizer=None, unet=unet, scheduler=scheduler,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    tokenizer = ClipTokenizer(os.path.join(model, "tokenizer"))
    clip = TinyClip(os.path.join(model, "text_encoder"))
    clip.w = {k: v.float() for k, v in clip.w.items()}

    def embed(text):
        return clip(torch.tensor([tokenizer.padded(text)], dtype=torch.long))

    negative = embed("")
    print(type(pipe.scheduler).__name__, pipe.vae.config.scaling_factor, file=sys.stderr)
    os.makedirs(out, exist_ok=True)
    for prompt in prompts:
        generator = torch.Generator("cpu").manual_seed(seed)
        image = pipe(prompt_embeds=embed(prompt), negative_prompt_embeds=negative, num_inference_steps=steps, guidance_scale=guidance, generator=generator,
                     height=64, width=64).images[0]
        path = os.path.join(out, prompt.replace(" ", "_") + "_seed" + str(seed) + ".png")
        image.save(path)
        print(path)


if __name__ == "__main__":
    main()
