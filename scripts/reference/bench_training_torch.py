"""PyTorch's CPU training throughput for the same shapes as `jdiffusion bench --train` (BENCHMARKS.md).

  PYTHONPATH=diffusers-0.30/src:shims /usr/bin/python3 scripts/reference/bench_training_torch.py \
      --model DIR_WITH_unet_AND_vae_CONFIGS --width 256 --height 256 --batch 1 --repeat 3 [--threads 2] [--no-vae]

Random weights (float32) from the configs; times the median forward pass and forward + backward of every
weight (gradients zeroed after each step, no optimizer), as jdiffusion's TrainingBenchmark does.
"""
import argparse
import json
import os
import resource
import time

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel


def median(repeat, fn):
    fn()
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    ts.sort()
    return ts[len(ts) // 2] if repeat % 2 else (ts[repeat // 2 - 1] + ts[repeat // 2]) / 2


def bench(model, forward, repeat):
    def fwd():
        with torch.no_grad():
            forward()

    def step():
        y = forward()
        y.backward(torch.full_like(y, 1e-3))
        model.zero_grad(set_to_none=False)

    return {"forward_s": median(repeat, fwd), "step_s": median(repeat, step),
            "trained_values": sum(p.numel() for p in model.parameters())}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--height", type=int, default=256)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--no-vae", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "width": args.width, "height": args.height,
           "batch": args.batch}
    vae = AutoencoderKL.from_config(AutoencoderKL.load_config(os.path.join(args.model, "vae")))
    f = 2 ** (len(vae.config.block_out_channels) - 1)
    unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(os.path.join(args.model, "unet")))
    x = torch.randn(args.batch, unet.config.in_channels, args.height // f, args.width // f)
    ctx = torch.randn(args.batch, 77, unet.config.cross_attention_dim)
    t = torch.full((args.batch,), 500)
    out["unet"] = bench(unet, lambda: unet(x, t, ctx).sample, args.repeat)
    del unet
    if not args.no_vae:
        img = torch.randn(args.batch, 3, args.height, args.width)
        lc = vae.config.latent_channels

        def vae_forward():
            moments = vae.quant_conv(vae.encoder(img)) if vae.quant_conv is not None else vae.encoder(img)
            return vae.decode(moments[:, :lc]).sample

        out["vae"] = bench(vae, vae_forward, args.repeat)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(json.dumps(out))


if __name__ == "__main__":
    main()
