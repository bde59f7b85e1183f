"""What a freshly initialised emoji model looks like in PyTorch: for every tensor that save_pretrained would write
(diffusers' UNet2DConditionModel and AutoencoderKL built from models/jdiffusion-emoji's configs by diffusers 0.30
itself; the CLIP text encoder as transformers 4.44's CLIPTextModel lays it out and initialises it), its name, shape,
dtype and the statistics of its initial values. jdiffusion's ModelInitializer is tested against these.

transformers is not installed here, so the text encoder is rebuilt from torch.nn modules with transformers'
module names, and CLIPPreTrainedModel._init_weights (initializer_factor f):
  token/position embeddings N(0, 0.02 f); q/k/v_proj N(0, d^-0.5 (2L)^-0.5 f); out_proj N(0, d^-0.5 f);
  fc1 N(0, (2d)^-0.5 f); fc2 N(0, d^-0.5 (2L)^-0.5 f); Linear biases 0; LayerNorm 1 and 0.

Usage: source scripts/reference/pyenv.sh; $REF_PYTHON scripts/reference/emoji_model_init_reference.py CONFIG_DIR OUT.json
"""
import json
import sys

import torch
from torch import nn
from diffusers import AutoencoderKL, UNet2DConditionModel


class CLIPAttention(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.k_proj, self.v_proj, self.q_proj, self.out_proj = (nn.Linear(d, d) for _ in range(4))


class CLIPMLP(nn.Module):
    def __init__(self, d, inner):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, inner), nn.Linear(inner, d)


class CLIPEncoderLayer(nn.Module):
    def __init__(self, d, inner, eps):
        super().__init__()
        self.self_attn = CLIPAttention(d)
        self.layer_norm1 = nn.LayerNorm(d, eps=eps)
        self.mlp = CLIPMLP(d, inner)
        self.layer_norm2 = nn.LayerNorm(d, eps=eps)


class CLIPTextEmbeddings(nn.Module):
    def __init__(self, vocab, positions, d):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, d)
        self.position_embedding = nn.Embedding(positions, d)


class CLIPTextTransformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["hidden_size"]
        self.embeddings = CLIPTextEmbeddings(c["vocab_size"], c["max_position_embeddings"], d)
        self.encoder = nn.Module()
        self.encoder.layers = nn.ModuleList(CLIPEncoderLayer(d, c["intermediate_size"], c["layer_norm_eps"])
                                            for _ in range(c["num_hidden_layers"]))
        self.final_layer_norm = nn.LayerNorm(d, eps=c["layer_norm_eps"])


class CLIPTextModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.text_model = CLIPTextTransformer(c)
        self.apply(self._init_weights)  # transformers' post_init

    def _init_weights(self, module):
        c, f = self.c, self.c["initializer_factor"]
        d, layers = c["hidden_size"], c["num_hidden_layers"]
        if isinstance(module, CLIPTextEmbeddings):
            module.token_embedding.weight.data.normal_(mean=0.0, std=f * 0.02)
            module.position_embedding.weight.data.normal_(mean=0.0, std=f * 0.02)
        elif isinstance(module, CLIPAttention):
            in_proj_std = (d ** -0.5) * ((2 * layers) ** -0.5) * f
            for p in (module.q_proj, module.k_proj, module.v_proj):
                nn.init.normal_(p.weight, std=in_proj_std)
            nn.init.normal_(module.out_proj.weight, std=(d ** -0.5) * f)
        elif isinstance(module, CLIPMLP):
            nn.init.normal_(module.fc1.weight, std=(2 * d) ** -0.5 * f)
            nn.init.normal_(module.fc2.weight, std=(d ** -0.5) * ((2 * layers) ** -0.5) * f)
        if isinstance(module, nn.LayerNorm):
            module.bias.data.zero_()
            module.weight.data.fill_(1.0)
        if isinstance(module, nn.Linear) and module.bias is not None:
            module.bias.data.zero_()


def stats(t):
    x = t.detach().double().flatten()
    entry = {"shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", "")}
    if bool((x == x[0]).all()):
        entry["constant"] = float(x[0])
        return entry
    mean, std = float(x.mean()), float(x.std(unbiased=False))
    entry.update(mean=mean, std=std, max_abs=float(x.abs().max()),
                 kurtosis=float(((x - mean) ** 4).mean() / std ** 4))
    return entry


def main(config_dir, out):
    torch.manual_seed(0)
    read = lambda part: json.load(open(f"{config_dir}/{part}/config.json"))
    parts = {
        "unet": UNet2DConditionModel.from_config(read("unet")),
        "vae": AutoencoderKL.from_config(read("vae")),
        "text_encoder": CLIPTextModel(read("text_encoder")),
    }
    result = {"made_by": "scripts/reference/emoji_model_init_reference.py (diffusers 0.30.0, torch 1.13, torch.manual_seed(0))"}
    for name, model in parts.items():
        result[name] = {k: stats(v) for k, v in sorted(model.state_dict().items())}
        print(name, sum(v.numel() for v in model.state_dict().values()), "parameters")
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
