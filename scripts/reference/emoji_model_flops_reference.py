"""Forward FLOPs of the emoji model's UNet and VAE as PyTorch runs diffusers 0.30's modules, counted with forward
hooks the way jdiffusion's FlopCounter counts its kernels: 2 per multiply-add of every Conv2d
(2·N·H_out·W_out·C_out·C_in/groups·k²), every Linear (2·rows·in·out) and every attention (QKᵀ and AV:
4·N·L_q·L_k·inner_dim); norms, activations and additions are not counted. One 64×64 image (16×16×4 latents,
a 77-token context of width 96).

Usage: source scripts/reference/pyenv.sh; $REF_PYTHON scripts/reference/emoji_model_flops_reference.py CONFIG_DIR OUT.json
"""
import json
import sys

import torch
from torch import nn
from diffusers import AutoencoderKL, UNet2DConditionModel
from diffusers.models.attention_processor import Attention

COUNT = [0]


def conv_hook(m, inputs, out):
    COUNT[0] += 2 * out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]


def linear_hook(m, inputs, out):
    COUNT[0] += 2 * (out.numel() // m.out_features) * m.in_features * m.out_features


def count_attention(m, args, kwargs):
    hidden = args[0] if args else kwargs["hidden_states"]
    context = kwargs.get("encoder_hidden_states") if len(args) < 2 else args[1]
    if hidden.ndim == 4:                               # the VAE's spatial self-attention
        n, c, h, w = hidden.shape
        lq = h * w
    else:
        n, lq = hidden.shape[:2]
    lk = lq if context is None else context.shape[1]
    COUNT[0] += 4 * n * lq * lk * m.inner_dim


def wrap(m, forward):
    def counted(*args, **kwargs):
        count_attention(m, args, kwargs)
        return forward(*args, **kwargs)
    return counted


def hooked(model):
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            m.register_forward_hook(conv_hook)
        elif isinstance(m, nn.Linear):
            m.register_forward_hook(linear_hook)
        elif isinstance(m, Attention):  # torch 1.13's hooks do not see keyword arguments: wrap forward
            m.forward = wrap(m, m.forward)
    return model


@torch.no_grad()
def count(fn):
    COUNT[0] = 0
    fn()
    return COUNT[0]


def main(config_dir, out):
    read = lambda part: json.load(open(f"{config_dir}/{part}/config.json"))
    unet = hooked(UNet2DConditionModel.from_config(read("unet")).eval())
    vae = hooked(AutoencoderKL.from_config(read("vae")).eval())
    latents, image = torch.zeros(1, 4, 16, 16), torch.zeros(1, 3, 64, 64)
    context = torch.zeros(1, 77, read("text_encoder")["hidden_size"])
    result = {
        "made_by": "scripts/reference/emoji_model_flops_reference.py (diffusers 0.30.0, torch 1.13, forward hooks)",
        "unet_forward": count(lambda: unet(latents, torch.tensor([500]), encoder_hidden_states=context)),
        "vae_encode": count(lambda: vae.encode(image)),
        "vae_decode": count(lambda: vae.decode(latents)),
    }
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    print(result)


if __name__ == "__main__":
    main(*sys.argv[1:])
