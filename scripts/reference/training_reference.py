"""Reference training runs for jdiffusion's `train --replay` parity tests (PyTorch autograd + torch.optim).

Needs Debian's python3 with torch 1.13 and numpy, and diffusers 0.30.0 on PYTHONPATH (e.g. its src/ from a git
checkout; a pure-Python `safetensors` stand-in is enough). transformers is not needed: the CLIP text model is
written out below in plain torch, and `--check` first proves it and the recipe against the shared fixtures.

  PYTHONPATH=diffusers-0.30/src:shims /usr/bin/python3 scripts/reference/training_reference.py \
      --model testdata/tiny-sd2 --case NAME --train unet --optimizer adamw --lr 1e-3 --steps 2 --batch 2 \
      --height 48 --width 64 --out testdata/training/NAME

Writes replay.safetensors and expected.safetensors in the layout of the shared training fixtures
(loss.K, <part>.<name> final values, gradient_strength.<part>.<name> for AdamW) and prints the losses.
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from safetensors_lite import save  # noqa: E402
import safetensors.torch as st  # noqa: E402
from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel  # noqa: E402


class ClipText(torch.nn.Module):
    """transformers' CLIPTextModel (causal pre-norm encoder), parameters named as transformers names them."""

    def __init__(self, cfg):
        super().__init__()
        d, self.heads = cfg["hidden_size"], cfg["num_attention_heads"]
        self.act = cfg["hidden_act"]
        self.eps = cfg["layer_norm_eps"]
        m = torch.nn.Module()
        m.embeddings = torch.nn.Module()
        m.embeddings.token_embedding = torch.nn.Embedding(cfg["vocab_size"], d)
        m.embeddings.position_embedding = torch.nn.Embedding(cfg["max_position_embeddings"], d)
        m.encoder = torch.nn.Module()
        layers = []
        for _ in range(cfg["num_hidden_layers"]):
            layer = torch.nn.Module()
            layer.self_attn = torch.nn.Module()
            for p in ("q_proj", "k_proj", "v_proj", "out_proj"):
                setattr(layer.self_attn, p, torch.nn.Linear(d, d))
            layer.layer_norm1 = torch.nn.LayerNorm(d, eps=self.eps)
            layer.layer_norm2 = torch.nn.LayerNorm(d, eps=self.eps)
            layer.mlp = torch.nn.Module()
            layer.mlp.fc1 = torch.nn.Linear(d, cfg["intermediate_size"])
            layer.mlp.fc2 = torch.nn.Linear(cfg["intermediate_size"], d)
            layers.append(layer)
        m.encoder.layers = torch.nn.ModuleList(layers)
        m.final_layer_norm = torch.nn.LayerNorm(d, eps=self.eps)
        self.text_model = m

    def forward(self, ids):
        m = self.text_model
        n, l = ids.shape
        x = m.embeddings.token_embedding(ids) + m.embeddings.position_embedding(torch.arange(l))[None]
        mask = torch.full((l, l), float("-inf"), dtype=x.dtype).triu(1)
        for layer in m.encoder.layers:
            h = layer.layer_norm1(x)
            d = h.shape[-1]
            hd = d // self.heads
            q = layer.self_attn.q_proj(h).view(n, l, self.heads, hd).transpose(1, 2) * hd ** -0.5
            k = layer.self_attn.k_proj(h).view(n, l, self.heads, hd).transpose(1, 2)
            v = layer.self_attn.v_proj(h).view(n, l, self.heads, hd).transpose(1, 2)
            a = torch.softmax(q @ k.transpose(-1, -2) + mask, dim=-1) @ v
            x = x + layer.self_attn.out_proj(a.transpose(1, 2).reshape(n, l, d))
            h = layer.mlp.fc1(layer.layer_norm2(x))
            h = h * torch.sigmoid(1.702 * h) if self.act == "quick_gelu" else F.gelu(h)
            x = x + layer.mlp.fc2(h)
        return m.final_layer_norm(x)


def load_parts(model, dtype):
    unet = UNet2DConditionModel.from_pretrained(os.path.join(model, "unet")).to(dtype)
    vae = AutoencoderKL.from_pretrained(os.path.join(model, "vae")).to(dtype)
    cfg = json.load(open(os.path.join(model, "text_encoder", "config.json")))
    te = ClipText(cfg)
    te.load_state_dict(st.load_file(os.path.join(model, "text_encoder", "model.safetensors")), strict=False)
    te = te.to(dtype)
    sched = DDPMScheduler.from_pretrained(os.path.join(model, "scheduler"))
    return unet, vae, te, sched


def compute_snr(sched, timesteps, dtype):
    ac = sched.alphas_cumprod.to(dtype)
    alpha = (ac ** 0.5)[timesteps]
    sigma = ((1.0 - ac) ** 0.5)[timesteps]
    return (alpha / sigma) ** 2


def run(args, replay, dtype):
    torch.manual_seed(0)
    unet, vae, te, sched = load_parts(args.model, dtype)
    for m in (unet, vae, te):
        m.requires_grad_(False)
    parts = {"unet": unet, "text_encoder": te, "vae": vae}
    trained = {"unet": ["unet"], "unet+text_encoder": ["unet", "text_encoder"], "vae": ["vae"]}[args.train]
    params = []
    for p in trained:
        parts[p].requires_grad_(True)
        parts[p].train()
        params += [(p + "." + n, t) for n, t in parts[p].named_parameters()]
    tensors = [t for _, t in params]
    if args.optimizer == "sgd":
        opt = torch.optim.SGD(tensors, lr=args.lr)
    else:
        opt = torch.optim.AdamW(tensors, lr=args.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=args.weight_decay)
    strength = {n: None for n, _ in params}
    losses, norms = [], []
    sf = vae.config.scaling_factor
    for k in range(args.steps):
        px = replay["pixel_values.%d" % k].to(dtype)
        pn = replay["posterior_noise.%d" % k].to(dtype)
        if args.train == "vae":
            moments = vae.quant_conv(vae.encoder(px)) if vae.quant_conv is not None else vae.encoder(px)
            mean, logvar = torch.chunk(moments, 2, dim=1)
            logvar = torch.clamp(logvar, -30.0, 20.0)
            std, var = torch.exp(0.5 * logvar), torch.exp(logvar)
            z = mean + std * pn
            rec = vae.decode(z).sample
            kl = 0.5 * torch.sum(mean ** 2 + var - 1.0 - logvar, dim=[1, 2, 3])
            loss = torch.mean(torch.abs(px - rec)) + args.kl_weight * kl.mean()
        else:
            with torch.no_grad():
                dist = vae.encode(px).latent_dist
                latents = (dist.mean + dist.std * pn) * sf
            noise = replay["noise.%d" % k].to(dtype)
            ts = replay["timesteps.%d" % k]
            noisy = sched.add_noise(latents, noise, ts)
            target = noise if sched.config.prediction_type == "epsilon" else sched.get_velocity(latents, noise, ts)
            ctx = te(replay["input_ids.%d" % k])
            pred = unet(noisy, ts, ctx).sample
            if args.snr_gamma:
                snr = compute_snr(sched, ts, dtype)
                w = torch.stack([snr, args.snr_gamma * torch.ones_like(ts, dtype=dtype)], dim=1).min(dim=1)[0]
                w = w / snr if sched.config.prediction_type == "epsilon" else w / (snr + 1)
                l = F.mse_loss(pred, target, reduction="none")
                loss = (l.mean(dim=list(range(1, l.ndim))) * w).mean()
            else:
                loss = F.mse_loss(pred, target, reduction="mean")
        opt.zero_grad()
        loss.backward()
        grads = [t.grad for t in tensors]
        rms = torch.sqrt(sum((g.double() ** 2).sum() for g in grads) / sum(g.numel() for g in grads))
        for (n, t) in params:
            s = t.grad.abs().double() / rms
            strength[n] = s if strength[n] is None else torch.minimum(strength[n], s)
        if args.max_grad_norm > 0:
            norm = torch.nn.utils.clip_grad_norm_(tensors, args.max_grad_norm)
        else:
            norm = torch.sqrt(sum((g.double() ** 2).sum() for g in grads))
        losses.append(float(loss))
        norms.append(float(norm))
        opt.step()
    expected = {"loss.%d" % i: np.array(l, dtype=np.float32) for i, l in enumerate(losses)}
    for n, t in params:
        expected[n] = t.detach().to(torch.float32).numpy()
        if args.optimizer == "adamw":
            expected["gradient_strength." + n] = strength[n].to(torch.float32).numpy().astype(np.float16)
    return losses, norms, expected


def make_replay(args, model):
    g = torch.Generator().manual_seed(args.seed)
    unet_cfg = json.load(open(os.path.join(model, "unet", "config.json")))
    vae_cfg = json.load(open(os.path.join(model, "vae", "config.json")))
    f = 2 ** (len(vae_cfg["block_out_channels"]) - 1)
    c, h, w = vae_cfg["latent_channels"], args.height // f, args.width // f
    out = {}
    for k in range(args.steps):
        b = args.batch
        out["pixel_values.%d" % k] = (torch.rand(b, 3, args.height, args.width, generator=g) * 2 - 1)
        out["posterior_noise.%d" % k] = torch.randn(b, c, h, w, generator=g)
        if args.train != "vae":
            out["input_ids.%d" % k] = torch.randint(0, 49407, (b, 77), generator=g)
            out["input_ids.%d" % k][:, 0] = 49406
            out["noise.%d" % k] = torch.randn(b, unet_cfg["in_channels"], h, w, generator=g)
            out["timesteps.%d" % k] = torch.randint(0, 1000, (b,), generator=g)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--train", default="unet", choices=["unet", "unet+text_encoder", "vae"])
    ap.add_argument("--optimizer", default="sgd", choices=["sgd", "adamw"])
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--weight-decay", type=float, default=1e-2)
    ap.add_argument("--max-grad-norm", type=float, default=0.0)
    ap.add_argument("--snr-gamma", type=float, default=0.0)
    ap.add_argument("--kl-weight", type=float, default=1e-6)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--height", type=int, default=64)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    ap.add_argument("--replay", help="use this replay.safetensors instead of making one")
    ap.add_argument("--check", help="an expected.safetensors to compare against instead of writing")
    ap.add_argument("--out")
    args = ap.parse_args()
    dtype = torch.float64 if args.dtype == "float64" else torch.float32
    replay = st.load_file(args.replay) if args.replay else make_replay(args, args.model)
    args.steps = sum(1 for k in replay if k.startswith("pixel_values."))
    losses, norms, expected = run(args, replay, dtype)
    print(json.dumps({"losses": losses, "grad_norms_before_clipping": norms}))
    if args.check:
        ref = st.load_file(args.check)
        worst = max(float((torch.from_numpy(expected[k]).double() - ref[k].double()).abs().max())
                    for k in ref if not k.startswith("gradient_strength"))
        print("largest difference from", args.check, worst)
        return
    os.makedirs(args.out, exist_ok=True)
    save({k: v.numpy() for k, v in replay.items()}, os.path.join(args.out, "replay.safetensors"))
    meta = {k: str(v) for k, v in vars(args).items() if k not in ("out", "check", "replay")}
    meta["losses"] = json.dumps(losses)
    save(expected, os.path.join(args.out, "expected.safetensors"), meta)


if __name__ == "__main__":
    main()
