"""What diffusers 0.30 computes with the emoji architecture (a 3-level UNet with cross-attention at 8×8 and 4×4, a
VAE with downsampling factor 4) on the weights `jdiffusion init-model --config models/jdiffusion-emoji --seed 0`
writes: UNet outputs, VAE decode and encode, in float32. The Java test rebuilds the same weights (same seed, same
bytes) and compares.

Usage: ./jdiffusion init-model --config models/jdiffusion-emoji --output /tmp/emoji-seed0 --seed 0
       source scripts/reference/pyenv.sh; $REF_PYTHON scripts/reference/emoji_model_forward_reference.py /tmp/emoji-seed0 OUT.safetensors
"""
import json
import sys

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from safetensors.torch import load_file, save_file


def load(cls, folder, part):
    model = cls.from_config(json.load(open(f"{folder}/{part}/config.json")))
    model.load_state_dict(load_file(f"{folder}/{part}/diffusion_pytorch_model.safetensors"))
    return model.eval()


@torch.no_grad()
def main(folder, out):
    unet, vae = load(UNet2DConditionModel, folder, "unet"), load(AutoencoderKL, folder, "vae")
    latents = torch.randn(2, 4, 16, 16, generator=torch.Generator().manual_seed(1))
    context = torch.randn(2, 77, 96, generator=torch.Generator().manual_seed(2))
    timesteps = torch.tensor([999, 10])
    image = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(3)) * 2 - 1
    posterior = vae.encode(image).latent_dist
    tensors = {
        "latents": latents, "context": context, "timesteps": timesteps, "image": image,
        "unet_out": unet(latents, timesteps, encoder_hidden_states=context).sample,
        "vae_decoded": vae.decode(latents[:1] / vae.config.scaling_factor).sample,
        "vae_mean": posterior.mean, "vae_std": posterior.std,
    }
    save_file(tensors, out, {"made_by": "scripts/reference/emoji_model_forward_reference.py"})
    for k, v in tensors.items():
        print(k, tuple(v.shape), float(v.float().abs().max()))


if __name__ == "__main__":
    main(*sys.argv[1:])
