"""transformers' CLIPTextModel forward (last_hidden_state), written out in torch, for reference scripts that
run without transformers installed. Checked against the fixtures' text_encoder.safetensors when used."""
import json
import math
import os

import torch
import torch.nn.functional as F

from safetensors.torch import load_file


class TinyClip:
    def __init__(self, folder):
        self.cfg = json.load(open(os.path.join(folder, "config.json")))
        self.w = load_file(os.path.join(folder, "model.safetensors"))

    def _ln(self, x, name):
        return F.layer_norm(x, (x.shape[-1],), self.w[name + ".weight"], self.w[name + ".bias"], self.cfg["layer_norm_eps"])

    def _lin(self, x, name):
        return F.linear(x, self.w[name + ".weight"], self.w[name + ".bias"])

    def _act(self, x):
        act = self.cfg["hidden_act"]
        if act == "quick_gelu":
            return x * torch.sigmoid(1.702 * x)
        if act == "gelu":
            return F.gelu(x)
        raise ValueError(act)

    @torch.no_grad()
    def __call__(self, ids):
        """ids: LongTensor (B, 77) → last_hidden_state (B, 77, D)."""
        p = "text_model."
        b, n = ids.shape
        x = self.w[p + "embeddings.token_embedding.weight"][ids] + self.w[p + "embeddings.position_embedding.weight"][:n]
        heads = self.cfg["num_attention_heads"]
        d = x.shape[-1]
        hd = d // heads
        mask = torch.full((n, n), torch.finfo(torch.float32).min).triu(1)
        for i in range(self.cfg["num_hidden_layers"]):
            q = f"{p}encoder.layers.{i}."
            r = x
            h = self._ln(x, q + "layer_norm1")
            qs = self._lin(h, q + "self_attn.q_proj") * hd ** -0.5
            ks = self._lin(h, q + "self_attn.k_proj")
            vs = self._lin(h, q + "self_attn.v_proj")
            qs, ks, vs = (t.view(b, n, heads, hd).transpose(1, 2) for t in (qs, ks, vs))
            att = torch.softmax(qs @ ks.transpose(-1, -2) + mask, dim=-1)
            h = (att @ vs).transpose(1, 2).reshape(b, n, d)
            x = r + self._lin(h, q + "self_attn.out_proj")
            r = x
            h = self._ln(x, q + "layer_norm2")
            x = r + self._lin(self._act(self._lin(h, q + "mlp.fc1")), q + "mlp.fc2")
        return self._ln(x, p + "final_layer_norm")
