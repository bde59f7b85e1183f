#!/usr/bin/env python3
"""Reference outputs for jdiffusion's prompt control beyond the shared fixtures ("unseen cases").

Run with the Python reference environment (Debian's /usr/bin/python3: torch 1.13, numpy, regex) and a checkout of
diffusers v0.30.0's src/ (scripts/refgen/make-prompt-control-refs.sh prepares both):

    python3 scripts/refgen/prompt_control_refs.py DIFFUSERS_SRC OUT_DIR

What computes what:
- A1111's prompt handling (prompt_parser.parse_prompt_attention, sd_hijack_clip.tokenize_line with the comma rule and
  textual-inversion placement, the "Original" emphasis, padding prompt/negative to equal chunk counts) is re-written
  here in Python from A1111's rules (no A1111 code is copied); it is first checked against the shared fixtures
  (../shared/fixtures/prompt-control: its parse table, its text/*.safetensors token ids, weights and embeddings).
- The text encoder is transformers' CLIPTextModel written out in torch (transformers is not installed here), checked
  against tiny-sd15/tiny-sd2's expected/text_encoder.safetensors; the tokenizer is CLIP's BPE, checked against
  expected/tokenizer.safetensors.
- LoRAs are fused as diffusers/PEFT fuse them, W + scale * (alpha / rank) * up @ down in float32 (what the shared
  fixtures checked PEFT's fused weights against), and the fused model runs in diffusers 0.30's own
  StableDiffusionPipeline (prompt_embeds=..., negative_prompt_embeds=...), with stub modules standing in for
  huggingface_hub / safetensors / transformers, which the pipeline imports but never uses here.
Everything in float32 on the CPU, seeds through torch.Generator("cpu").manual_seed(seed) as the pipeline takes them.
"""
import hashlib
import json
import math
import os
import struct
import sys
import types
import importlib.abc
import importlib.machinery

import numpy as np
import regex
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
from safetensors_lite import save  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TESTDATA = os.path.join(ROOT, "testdata")
FIXTURES = os.path.join(TESTDATA, "prompt-control")

# ---------------------------------------------------------------------------------------------------------------
# safetensors without the safetensors package
DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "U8": np.uint8, "F64": np.float64, "I32": np.int32,
          "BF16": None}


def st_load(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8:8 + n])
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        s, e = v["data_offsets"]
        out[k] = np.frombuffer(b[8 + n + s:8 + n + e], dtype=DTYPES[v["dtype"]]).reshape(v["shape"]).copy()
    return out


def st_save(path, tensors, metadata=None):
    save(tensors, path, metadata)


# ---------------------------------------------------------------------------------------------------------------
# CLIP BPE tokenizer (transformers' CLIPTokenizer without ftfy, for the prompts used here)
def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


class Tokenizer:
    PAT = regex.compile(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
                        regex.IGNORECASE)

    def __init__(self, folder):
        self.encoder = json.load(open(os.path.join(folder, "vocab.json")))
        merges = open(os.path.join(folder, "merges.txt"), encoding="utf-8").read().strip().split("\n")[1:49152 - 256 - 2 + 1]
        self.ranks = {tuple(m.split()): i for i, m in enumerate(merges)}
        self.byte_encoder = bytes_to_unicode()
        cfg = json.load(open(os.path.join(folder, "tokenizer_config.json")))
        special = json.load(open(os.path.join(folder, "special_tokens_map.json")))

        def tok(name, default):
            v = special.get(name, cfg.get(name, default))
            return v["content"] if isinstance(v, dict) else v
        self.bos = self.encoder[tok("bos_token", "<|startoftext|>")]
        self.eos = self.encoder[tok("eos_token", "<|endoftext|>")]
        self.pad = self.encoder[tok("pad_token", "<|endoftext|>")]
        self.cache = {}

    def bpe(self, token):
        word = [self.byte_encoder[b] for b in token.encode("utf-8")]
        word[-1] += "</w>"
        while len(word) > 1:
            pairs = [(self.ranks.get((word[i], word[i + 1]), math.inf), i) for i in range(len(word) - 1)]
            rank, _ = min(pairs)
            if rank == math.inf:
                break
            first, second = word[[i for r, i in pairs if r == rank][0]], word[[i for r, i in pairs if r == rank][0] + 1]
            merged, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and word[i] == first and word[i + 1] == second:
                    merged.append(first + second)
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        return [self.encoder[w] for w in word]

    def encode(self, text):
        text = " ".join(w.lower() for w in text.split())
        ids = []
        for m in self.PAT.findall(text):
            if m not in self.cache:
                self.cache[m] = self.bpe(m)
            ids += self.cache[m]
        return ids


# ---------------------------------------------------------------------------------------------------------------
# transformers' CLIPTextModel, in torch
class ClipText:
    def __init__(self, folder):
        self.cfg = json.load(open(os.path.join(folder, "text_encoder", "config.json")))
        self.w = {k: torch.from_numpy(v.astype(np.float32)) for k, v in st_load(os.path.join(folder, "text_encoder", "model.safetensors")).items()}

    def lora(self, deltas):
        """A copy with fused weights: deltas maps a tensor name to the float32 array to add."""
        c = ClipText.__new__(ClipText)
        c.cfg = self.cfg
        c.w = dict(self.w)
        for k, d in deltas.items():
            c.w[k] = c.w[k] + torch.from_numpy(d)
        return c

    def forward(self, ids, extra_rows=None, clip_skip=1):
        """ids: list of int lists; extra_rows: {token id: vector} for ids past the vocabulary (textual inversion)."""
        w, cfg = self.w, self.cfg
        table = w["text_model.embeddings.token_embedding.weight"]
        if extra_rows:
            n = max(extra_rows) + 1
            table = torch.cat([table, torch.zeros(n - table.shape[0], table.shape[1])]) if n > table.shape[0] else table.clone()
            for i, v in extra_rows.items():
                table[i] = torch.from_numpy(np.asarray(v, dtype=np.float32))
        ids = torch.tensor(ids)
        b, length = ids.shape
        x = table[ids] + w["text_model.embeddings.position_embedding.weight"][:length]
        mask = torch.full((length, length), float("-inf")).triu(1)
        heads = cfg["num_attention_heads"]
        d = cfg["hidden_size"]
        eps = cfg.get("layer_norm_eps", 1e-5)
        hidden = [x]
        for i in range(cfg["num_hidden_layers"]):
            p = f"text_model.encoder.layers.{i}."
            lin = lambda t, n: t @ w[p + n + ".weight"].T + w[p + n + ".bias"]
            h = torch.nn.functional.layer_norm(x, (d,), w[p + "layer_norm1.weight"], w[p + "layer_norm1.bias"], eps)
            q = lin(h, "self_attn.q_proj") * (d // heads) ** -0.5
            k, v = lin(h, "self_attn.k_proj"), lin(h, "self_attn.v_proj")
            split = lambda t: t.view(b, length, heads, d // heads).transpose(1, 2)
            a = torch.softmax(split(q) @ split(k).transpose(-1, -2) + mask, dim=-1) @ split(v)
            x = x + lin(a.transpose(1, 2).reshape(b, length, d), "self_attn.out_proj")
            h = torch.nn.functional.layer_norm(x, (d,), w[p + "layer_norm2.weight"], w[p + "layer_norm2.bias"], eps)
            h = lin(h, "mlp.fc1")
            h = h * torch.sigmoid(1.702 * h) if cfg.get("hidden_act", "quick_gelu") == "quick_gelu" else torch.nn.functional.gelu(h)
            x = x + lin(h, "mlp.fc2")
            hidden.append(x)
        ln = lambda t: torch.nn.functional.layer_norm(t, (d,), w["text_model.final_layer_norm.weight"], w["text_model.final_layer_norm.bias"], eps)
        return ln(x) if clip_skip <= 1 else ln(hidden[-clip_skip])


# ---------------------------------------------------------------------------------------------------------------
# A1111's prompt rules (re-written from the rules its prompt_parser.py / sd_hijack_clip.py implement)
RE_ATTENTION = regex.compile(r"\\\(|\\\)|\\\[|\\]|\\\\|\\|\(|\[|:\s*([+-]?[.\d]+)\s*\)|\)|]|[^\\()\[\]:]+|:")
RE_BREAK = regex.compile(r"\s*\bBREAK\b\s*", regex.S)
RE_EXTRA = regex.compile(r"<(\w+):([^>]+)>")


def parse_attention(text):
    res, rb, sb = [], [], []

    def mul(start, m):
        for p in range(start, len(res)):
            res[p][1] *= m
    for m in RE_ATTENTION.finditer(text):
        t, weight = m.group(0), m.group(1)
        if t.startswith("\\"):
            res.append([t[1:], 1.0])
        elif t == "(":
            rb.append(len(res))
        elif t == "[":
            sb.append(len(res))
        elif weight is not None and rb:
            mul(rb.pop(), float(weight))
        elif t == ")" and rb:
            mul(rb.pop(), 1.1)
        elif t == "]" and sb:
            mul(sb.pop(), 1 / 1.1)
        else:
            for i, part in enumerate(RE_BREAK.split(t)):
                if i > 0:
                    res.append(["BREAK", -1])
                res.append([part, 1.0])
    for pos in rb:
        mul(pos, 1.1)
    for pos in sb:
        mul(pos, 1 / 1.1)
    if not res:
        res = [["", 1.0]]
    i = 0
    while i + 1 < len(res):
        if res[i][1] == res[i + 1][1]:
            res[i][0] += res[i + 1][0]
            res.pop(i + 1)
        else:
            i += 1
    return res


class Embedding:
    def __init__(self, trigger, vectors, first_id):
        self.trigger, self.vectors, self.first_id = trigger, np.asarray(vectors, np.float32), first_id


def chunks(tok, prompt, embeddings=()):
    """tokenize_line: [(tokens77, multipliers77, fixes)] with fixes [(position incl. bos, embedding)]."""
    lookup = {}
    for e in embeddings:
        ids = tok.encode(e.trigger)
        lookup.setdefault(ids[0], []).append((ids, e))
    for k in lookup:
        lookup[k].sort(key=lambda x: len(x[0]), reverse=True)
    comma = tok.encoder[",</w>"]
    out = []
    cur = {"t": [], "m": [], "f": []}
    state = {"last_comma": -1}

    def next_chunk():
        t, m = cur["t"], cur["m"]
        pad = 75 - len(t)
        out.append(([tok.bos] + t + [tok.eos] * pad + [tok.eos], [1.0] + m + [1.0] * pad + [1.0], [(o + 1, e) for o, e in cur["f"]]))
        cur["t"], cur["m"], cur["f"] = [], [], []
        state["last_comma"] = -1

    for text, weight in parse_attention(prompt):
        if text == "BREAK" and weight == -1:
            next_chunk()
            continue
        tokens = tok.encode(text)
        pos = 0
        while pos < len(tokens):
            token = tokens[pos]
            if token == comma:
                state["last_comma"] = len(cur["t"])
            elif len(cur["t"]) == 75 and state["last_comma"] != -1 and len(cur["t"]) - state["last_comma"] <= 20:
                at = state["last_comma"] + 1
                rt, rm = cur["t"][at:], cur["m"][at:]
                rf = [(o - at, e) for o, e in cur["f"] if o >= at]
                cur["t"], cur["m"], cur["f"] = cur["t"][:at], cur["m"][:at], [(o, e) for o, e in cur["f"] if o < at]
                next_chunk()
                cur["t"], cur["m"], cur["f"] = rt, rm, rf
            if len(cur["t"]) == 75:
                next_chunk()
            found = None
            for ids, e in lookup.get(token, []):
                if tokens[pos:pos + len(ids)] == ids:
                    found = (ids, e)
                    break
            if found is None:
                cur["t"].append(token)
                cur["m"].append(weight)
                pos += 1
                continue
            ids, e = found
            n = len(e.vectors)
            if len(cur["t"]) + n > 75:
                next_chunk()
            cur["f"].append((len(cur["t"]), e))
            cur["t"] += [0] * n
            cur["m"] += [weight] * n
            pos += len(ids)
    if cur["t"] or not out:
        next_chunk()
    return out


def empty_chunk(tok):
    return [tok.bos] + [tok.eos] * 76, [1.0] * 77, []


def encode_chunk(tok, te, chunk, clip_skip):
    tokens, mults, fixes = chunk
    ids = list(tokens)
    extra = {}
    for p, e in fixes:
        for i in range(len(e.vectors)):
            ids[p + i] = e.first_id + i
            extra[e.first_id + i] = e.vectors[i]
    if tok.eos != tok.pad:
        first = tokens.index(tok.eos)
        ids = ids[:first + 1] + [tok.pad] * (len(ids) - first - 1)
    with torch.no_grad():
        z = te.forward([ids], extra, clip_skip)[0]
        m = torch.tensor(mults, dtype=torch.float32)
        before = z.mean()
        z = z * m[:, None]
        ratio = before / z.mean()
        z = z * ratio
    encode_chunk.ratios.append(float(ratio))
    return z


encode_chunk.ratios = []


def a1111_encode(tok, te, prompt, negative, embeddings=(), clip_skip=1, cfg=True):
    prompt = RE_EXTRA.sub("", prompt)
    c = chunks(tok, prompt, embeddings)
    u = chunks(tok, negative, embeddings) if cfg else []
    if cfg:
        while len(c) < len(u):
            c.append(empty_chunk(tok))
        while len(u) < len(c):
            u.append(empty_chunk(tok))
    enc = lambda cs: torch.cat([encode_chunk(tok, te, ch, clip_skip) for ch in cs])[None]
    return c, u, enc(c), (enc(u) if cfg else None)


# ---------------------------------------------------------------------------------------------------------------
# diffusers' textual inversion in plain mode (load_textual_inversion + maybe_convert_prompt)
def plain_ids(tok, prompt, embeddings):
    """Token ids as diffusers' tokenizer gives them after load_textual_inversion (added tokens split off first)."""
    added = {}
    for e in embeddings:
        for i in range(len(e.vectors)):
            added[e.trigger if i == 0 else f"{e.trigger}_{i}"] = e.first_id + i
    present = set()
    for t in sorted(added, key=len, reverse=True):
        if t in prompt:
            present.add(t)
    for e in embeddings:
        if e.trigger in present and len(e.vectors) > 1:
            prompt = prompt.replace(e.trigger, " ".join([e.trigger] + [f"{e.trigger}_{i}" for i in range(1, len(e.vectors))]))
    keys = sorted(added, key=len, reverse=True)
    ids, i, start = [], 0, 0
    while i < len(prompt):
        hit = next((k for k in keys if prompt.startswith(k, i)), None)
        if hit is None:
            i += 1
            continue
        ids += tok.encode(prompt[start:i]) + [added[hit]]
        i += len(hit)
        start = i
    ids += tok.encode(prompt[start:])
    ids = ids[:75]
    return prompt, [tok.bos] + ids + [tok.eos] + [tok.pad] * (75 - len(ids))


# ---------------------------------------------------------------------------------------------------------------
# LoRA: kohya files written here, fused as PEFT fuses them
def kohya_to_diffusers(key, names):
    """lora_unet_x_y / lora_te_x_y -> the diffusers tensor name whose module path reads x.y."""
    part = "unet" if key.startswith("lora_unet_") else "te"
    path = key[len("lora_unet_"):] if part == "unet" else key[len("lora_te_"):]
    index = {n[:-7].replace(".", "_"): n for n in names[part] if n.endswith(".weight")}
    return part, index[path]


def fuse(lora, scale, names, shapes):
    """{part: {tensor: float32 delta}} for a kohya or PEFT state dict, as W += scale * alpha/r * up @ down."""
    out = {"unet": {}, "te": {}}
    keys = {}
    for k in lora:
        for suffix, role in ((".lora_down.weight", "down"), (".lora_up.weight", "up"), (".alpha", "alpha"),
                             (".lora_A.weight", "down"), (".lora_B.weight", "up")):
            if k.endswith(suffix):
                keys.setdefault(k[:-len(suffix)], {})[role] = lora[k]
    for base, t in keys.items():
        if base.startswith("lora_"):
            part, name = kohya_to_diffusers(base, names)
        elif base.startswith("unet."):
            part, name = "unet", base[5:] + ".weight"
        else:
            part, name = "te", base[len("text_encoder."):] + ".weight"
        down = torch.from_numpy(t["down"].astype(np.float32))
        up = torch.from_numpy(t["up"].astype(np.float32))
        r = down.shape[0]
        alpha = float(t["alpha"]) if "alpha" in t else r
        s = scale[part] if isinstance(scale, dict) else scale
        delta = (up.reshape(up.shape[0], r) @ down.reshape(r, -1)).reshape(shapes[part][name]) * (s * alpha / r)
        out[part][name] = out[part].get(name, 0) + delta.numpy()
    return out


# ---------------------------------------------------------------------------------------------------------------
def stub_modules():
    class Any:
        def __init__(self, *a, **k): pass
        def __call__(self, *a, **k): return Any()
        def __getattr__(self, n): return Any()
        def __mro_entries__(self, bases): return (object,)
        def __iter__(self): return iter(())
        def __bool__(self): return False

    class Stub(types.ModuleType):
        def __getattr__(self, name):
            if name.startswith("__"):
                raise AttributeError(name)
            if name.isupper():
                return "/nonexistent"
            if name[:1].isupper():
                return type(name, (Exception,) if name.endswith(("Error", "Exception")) else (object,), {})
            return Any()

    class Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] in ("huggingface_hub", "safetensors", "transformers"):
                return importlib.machinery.ModuleSpec(name, self, is_package=True)

        def create_module(self, spec):
            m = Stub(spec.name)
            m.__path__ = []
            return m

        def exec_module(self, module):
            if module.__name__ == "huggingface_hub":
                module.__version__ = "0.24.0"
    sys.meta_path.insert(0, Finder())


SCHEDULERS = {"ddim": ("DDIMScheduler", {}), "pndm": ("PNDMScheduler", {}), "lms": ("LMSDiscreteScheduler", {}),
              "euler": ("EulerDiscreteScheduler", {}), "euler_a": ("EulerAncestralDiscreteScheduler", {}),
              "heun": ("HeunDiscreteScheduler", {}), "dpmpp_2m": ("DPMSolverMultistepScheduler", {"use_karras_sigmas": False}),
              "dpmpp_2m_karras": ("DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
              "unipc": ("UniPCMultistepScheduler", {}), "ddpm": ("DDPMScheduler", {})}


class Pipeline:
    def __init__(self, model):
        import diffusers
        from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import StableDiffusionPipeline
        self.diffusers, self.cls = diffusers, StableDiffusionPipeline
        self.folder = os.path.join(TESTDATA, model)
        self.unet_cfg = json.load(open(os.path.join(self.folder, "unet", "config.json")))
        self.unet_w = st_load(os.path.join(self.folder, "unet", "diffusion_pytorch_model.safetensors"))
        vae_cfg = json.load(open(os.path.join(self.folder, "vae", "config.json")))
        self.vae = diffusers.AutoencoderKL.from_config(vae_cfg)
        self.vae.load_state_dict({k: torch.from_numpy(v) for k, v in st_load(os.path.join(self.folder, "vae", "diffusion_pytorch_model.safetensors")).items()})
        self.sched_cfg = json.load(open(os.path.join(self.folder, "scheduler", "scheduler_config.json")))

    def run(self, unet_deltas, cond, uncond, sampler, steps, guidance, seed, width, height):
        unet = self.diffusers.UNet2DConditionModel.from_config(self.unet_cfg)
        w = {k: torch.from_numpy(v.astype(np.float32)) for k, v in self.unet_w.items()}
        for k, d in unet_deltas.items():
            w[k] = w[k] + torch.from_numpy(d)
        unet.load_state_dict(w)
        cls, extra = SCHEDULERS[sampler]
        scheduler = getattr(self.diffusers, cls).from_config({**self.sched_cfg, **extra})
        pipe = self.cls(vae=self.vae, text_encoder=None, tokenizer=None, unet=unet, scheduler=scheduler, safety_checker=None,
                        feature_extractor=None, requires_safety_checker=False)
        pipe.set_progress_bar_config(disable=True)
        with torch.no_grad():
            image = pipe(prompt_embeds=cond, negative_prompt_embeds=uncond, num_inference_steps=steps, guidance_scale=guidance,
                         generator=torch.Generator("cpu").manual_seed(seed), width=width, height=height, output_type="np").images
        return image.astype(np.float32)


# ---------------------------------------------------------------------------------------------------------------
def check(cond, what):
    if not cond:
        raise SystemExit("reference check failed: " + what)
    print("ok:", what)


def max_rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def load_embedding(path, first_id):
    """The three formats of the fixtures: A1111 .pt (string_to_param, read with torch.load), emb_params, diffusers."""
    stem = os.path.splitext(os.path.basename(path))[0]
    if path.endswith(".pt"):
        d = torch.load(path, map_location="cpu")
        return Embedding(stem, d["string_to_param"]["*"].detach().numpy(), first_id)
    t = st_load(path)
    if "emb_params" in t:
        return Embedding(stem, t["emb_params"].astype(np.float32), first_id)
    (k, v), = t.items()
    return Embedding(k, v.astype(np.float32).reshape(-1, v.shape[-1]), first_id)


def embeddings_from(paths, first_id=49408):
    out = []
    for p in paths:
        e = load_embedding(p, first_id)
        first_id += len(e.vectors)
        out.append(e)
    return out


def validate(tok15, te15, tok2, te2):
    m = json.load(open(os.path.join(FIXTURES, "manifest.json")))
    for prompt, expected in m["parse_prompt_attention"]:
        check(parse_attention(prompt) == [list(x) for x in expected], "parse_prompt_attention(%r)" % prompt)
    for model, tok in (("tiny-sd15", tok15), ("tiny-sd2", tok2)):
        ids = st_load(os.path.join(TESTDATA, model, "expected", "tokenizer.safetensors"))
        prompts = json.load(open(os.path.join(TESTDATA, model, "expected", "manifest.json")))["files"]["tokenizer.safetensors"]["prompts"]
        # (SD 2.x's pad token "!" is a special token that transformers splits off first: prompts with "!" are left out)
        for i in ((0, 1, 3, 4, 5, 11, 15) if model == "tiny-sd15" else (0, 3, 4, 5, 11, 15)):
            check([tok.bos] + tok.encode(prompts[i]) + [tok.eos] == ids["untruncated_%02d" % i].tolist(), f"{model} tokenizer prompt {i}")
    for model, te in (("tiny-sd15", te15), ("tiny-sd2", te2)):
        ref = st_load(os.path.join(TESTDATA, model, "expected", "text_encoder.safetensors"))
        ids = st_load(os.path.join(TESTDATA, model, "expected", "tokenizer.safetensors"))["ids_00"].tolist()
        with torch.no_grad():
            check(max_rel(te.forward([ids]), ref["last_hidden_state_00"]) < 1e-5, f"{model} text encoder, last layer")
            check(max_rel(te.forward([ids], clip_skip=2), ref["penultimate_final_ln_00"]) < 1e-5, f"{model} text encoder, clip skip 2")
    for name, info in m["files"].items():
        if not name.startswith("text/"):
            continue
        ref = st_load(os.path.join(FIXTURES, name))
        c, _, z, _ = a1111_encode(tok15, te15, info["prompt"], "", cfg=False)
        check(np.array_equal(np.array([x[0] for x in c]), ref["tokens"]), name + " tokens")
        check(np.array_equal(np.array([x[1] for x in c], np.float32), ref["multipliers"]), name + " multipliers")
        check(max_rel(z, ref["prompt_embeds"]) < 1e-4, name + " prompt_embeds")
    emb = embeddings_from([os.path.join(FIXTURES, "embeddings", f) for f in ("learned_embeds.safetensors", "softgrain.safetensors", "vividstyle.pt")])
    lora = st_load(os.path.join(FIXTURES, "loras", "locon_style.safetensors"))
    for case, embs, lora_scale in (("weights_default", [], 0), ("long_comma_backtrack", [], 0), ("break_nested", [], 0),
                                   ("ti_dir", emb, 0), ("ti_pt_chunk_boundary", [emb[2]], 0), ("lora_kohya_0.8", [], 0.8)):
        info = m["files"]["cases/%s.safetensors" % case]
        ref = st_load(os.path.join(FIXTURES, "cases", case + ".safetensors"))
        te = te15
        if lora_scale:
            te = te15.lora(fuse(lora, lora_scale, NAMES["tiny-sd15"], SHAPES["tiny-sd15"])["te"])
        c, u, zc, zu = a1111_encode(tok15, te, info["prompt"], info["negative"] or "", embs)
        check(np.array_equal(np.array([x[0] for x in c]), ref["prompt_tokens"]), case + " prompt tokens")
        check(max_rel(zc, ref["prompt_embeds"]) < 1e-4 and max_rel(zu, ref["negative_prompt_embeds"]) < 1e-4, case + " embeddings")
        if case == "lora_kohya_0.8" and "--text-only" not in sys.argv:
            deltas = fuse(lora, lora_scale, NAMES["tiny-sd15"], SHAPES["tiny-sd15"])["unet"]
            img = PIPES["tiny-sd15"].run(deltas, zc, zu, info["sampler"], info["steps"], info["guidance"], info["seed"], 64, 64)
            d = np.abs(np.round(img * 255) - ref["image_u8"].astype(np.float64))
            check(d.max() <= 1, case + " image through diffusers' pipeline (max %d levels)" % d.max())
    info = m["files"]["cases/ti_plain.safetensors"]
    ref = st_load(os.path.join(FIXTURES, "cases", "ti_plain.safetensors"))
    e2 = embeddings_from([os.path.join(FIXTURES, "embeddings", f) for f in ("vividstyle.pt", "learned_embeds.safetensors")])
    text, ids = plain_ids(tok15, info["prompt"], e2)
    check(text == info["text"]["prompt_after_textual_inversion"] and ids == ref["prompt_tokens"][0].tolist(), "ti_plain ids")


NAMES, SHAPES, PIPES = {}, {}, {}


def model_names(model):
    te = st_load(os.path.join(TESTDATA, model, "text_encoder", "model.safetensors"))
    un = st_load(os.path.join(TESTDATA, model, "unet", "diffusion_pytorch_model.safetensors"))
    NAMES[model] = {"te": list(te), "unet": list(un)}
    SHAPES[model] = {"te": {k: v.shape for k, v in te.items()}, "unet": {k: v.shape for k, v in un.items()}}


def random_lora(model, seed, rank, alpha, dtype, kinds, openclip=False):
    """A kohya LoRA for the model: layers whose diffusers path contains one of kinds; alpha None = no alpha."""
    g = np.random.default_rng(seed)
    out = {}
    for part, prefix in (("te", "lora_te_"), ("unet", "lora_unet_")):
        for name, shape in SHAPES[model][part].items():
            if not name.endswith(".weight") or len(shape) < 2 or not any(k in name for k in kinds):
                continue
            path = name[:-7]
            if openclip and part == "te":
                continue
            key = prefix + path.replace(".", "_")
            fan_in = int(np.prod(shape[1:]))
            down_shape = (rank,) + tuple(shape[1:])
            up_shape = (shape[0], rank) + ((1, 1) if len(shape) == 4 else ())
            out[key + ".lora_down.weight"] = (g.standard_normal(down_shape) / math.sqrt(fan_in)).astype(dtype)
            out[key + ".lora_up.weight"] = (g.standard_normal(up_shape) * 0.6 / math.sqrt(rank)).astype(dtype)
            if alpha is not None:
                out[key + ".alpha"] = np.array(alpha, dtype=dtype)
    if openclip:
        d = SHAPES[model]["te"]["text_model.encoder.layers.0.self_attn.q_proj.weight"][0]
        inter = SHAPES[model]["te"]["text_model.encoder.layers.0.mlp.fc1.weight"][0]
        for i in range(json.load(open(os.path.join(TESTDATA, model, "text_encoder", "config.json")))["num_hidden_layers"]):
            for kind, (o, n) in (("attn_in_proj", (3 * d, d)), ("attn_out_proj", (d, d)), ("mlp_c_fc", (inter, d)), ("mlp_c_proj", (d, inter))):
                key = f"lora_te_model_transformer_resblocks_{i}_{kind}"
                out[key + ".lora_down.weight"] = (g.standard_normal((rank, n)) / math.sqrt(n)).astype(dtype)
                out[key + ".lora_up.weight"] = (g.standard_normal((o, rank)) * 0.6 / math.sqrt(rank)).astype(dtype)
                out[key + ".alpha"] = np.array(alpha, dtype=dtype)
    return out


def openclip_te_deltas(lora, scale, model):
    """OpenCLIP-named TE layers as diffusers modules: in_proj's rows are q, k, v."""
    out = {}
    for k in lora:
        if not k.endswith(".lora_down.weight"):
            continue
        base = k[:-len(".lora_down.weight")]
        i, kind = regex.match(r"lora_te_model_transformer_resblocks_(\d+)_(.+)", base).groups()
        down = torch.from_numpy(lora[k].astype(np.float32))
        up = torch.from_numpy(lora[base + ".lora_up.weight"].astype(np.float32))
        r = down.shape[0]
        alpha = float(lora[base + ".alpha"])
        delta = (up @ down) * (scale * alpha / r)
        p = f"text_model.encoder.layers.{i}."
        if kind == "attn_in_proj":
            d = delta.shape[0] // 3
            for j, n in enumerate(("q_proj", "k_proj", "v_proj")):
                out[p + f"self_attn.{n}.weight"] = delta[j * d:(j + 1) * d].numpy()
        else:
            out[p + {"attn_out_proj": "self_attn.out_proj", "mlp_c_fc": "mlp.fc1", "mlp_c_proj": "mlp.fc2"}[kind] + ".weight"] = delta.numpy()
    return out


def add(*deltas):
    out = {}
    for d in deltas:
        for k, v in d.items():
            out[k] = out.get(k, 0) + v
    return out


def sha256(path, skip_header=False):
    b = open(path, "rb").read()
    if skip_header:
        b = b[8 + struct.unpack("<Q", b[:8])[0]:]
    return hashlib.sha256(b).hexdigest()[:12]


def old_diffusers_lora(model, seed):
    """The pre-PEFT diffusers spellings: unet ...attn1.processor.to_q_lora.down.weight, text_encoder ...q_proj.lora_linear_layer.up.weight."""
    g = np.random.default_rng(seed)
    out, fused_names = {}, {}
    for name, shape in SHAPES[model]["unet"].items():
        m = regex.match(r"(.*\.attn[12])\.(to_q|to_k|to_v|to_out\.0)\.weight$", name)
        if not m:
            continue
        proc = m.group(2).replace(".0", "")
        key = f"unet.{m.group(1)}.processor.{proc}_lora"
        out[key + ".down.weight"] = (g.standard_normal((4, shape[1])) / math.sqrt(shape[1])).astype(np.float32)
        out[key + ".up.weight"] = (g.standard_normal((shape[0], 4)) * 0.3).astype(np.float32)
        fused_names[key] = ("unet", name)
    for name, shape in SHAPES[model]["te"].items():
        m = regex.match(r"(.*\.self_attn\.(q_proj|v_proj))\.weight$", name)
        if not m:
            continue
        key = f"text_encoder.{m.group(1)}.lora_linear_layer"
        out[key + ".down.weight"] = (g.standard_normal((4, shape[1])) / math.sqrt(shape[1])).astype(np.float32)
        out[key + ".up.weight"] = (g.standard_normal((shape[0], 4)) * 0.3).astype(np.float32)
        fused_names[key] = ("te", name)
    return out, fused_names


def old_diffusers_deltas(lora, names, scale):
    out = {"te": {}, "unet": {}}
    for key, (part, name) in names.items():
        down, up = torch.from_numpy(lora[key + ".down.weight"]), torch.from_numpy(lora[key + ".up.weight"])
        out[part][name] = ((up @ down) * scale).numpy()
    return out


def main():
    diffusers_src, out_dir = sys.argv[1], os.path.abspath(sys.argv[2])
    sys.path.insert(0, diffusers_src)
    stub_modules()
    import diffusers.utils.import_utils as iu
    iu._transformers_available, iu._transformers_version = True, "4.44.0"
    torch.set_num_threads(1)

    for model in ("tiny-sd15", "tiny-sd2"):
        model_names(model)
        PIPES[model] = Pipeline(model)
    tok = {m: Tokenizer(os.path.join(TESTDATA, m, "tokenizer")) for m in ("tiny-sd15", "tiny-sd2")}
    te = {m: ClipText(os.path.join(TESTDATA, m)) for m in ("tiny-sd15", "tiny-sd2")}
    validate(tok["tiny-sd15"], te["tiny-sd15"], tok["tiny-sd2"], te["tiny-sd2"])

    os.makedirs(os.path.join(out_dir, "loras"), exist_ok=True)
    rel = lambda p: os.path.relpath(p, TESTDATA)
    # LoRA files of the unseen cases
    sd2_locon = random_lora("tiny-sd2", 901, 8, 4.0, np.float16,
                            ["attn1.to_", "attn2.to_", "ff.net", "proj_in", "proj_out", "resnets", "time_emb_proj", "samplers",
                             "self_attn", "mlp.fc"])
    st_save(os.path.join(out_dir, "loras", "sd2_locon.safetensors"), sd2_locon, {"ss_network_dim": "8", "ss_network_alpha": "4.0"})
    sd2_openclip = random_lora("tiny-sd2", 902, 2, 1.0, np.float32, [], openclip=True)
    st_save(os.path.join(out_dir, "loras", "sd2_openclip_te.safetensors"), sd2_openclip)
    old, old_names = old_diffusers_lora("tiny-sd15", 903)
    st_save(os.path.join(out_dir, "loras", "sd15_old_diffusers.safetensors"), old)
    fx_lora = lambda n: st_load(os.path.join(FIXTURES, "loras", n + ".safetensors"))
    emb_path = lambda n: os.path.join(FIXTURES, "embeddings", n)

    manifest = {"made_by": "scripts/refgen/prompt_control_refs.py (see its docstring)", "text": {}, "images": {}, "fused": {}}
    text_only = "--text-only" in sys.argv
    if text_only:  # keep the image cases of an earlier run
        manifest = json.load(open(os.path.join(out_dir, "manifest.json")))
        manifest["text"] = {}

    def save_text(name, model, prompt, negative, clip_skip=1, embs=(), embedding_files=(), what="", rule="a1111"):
        encode_chunk.ratios = []
        c, u, zc, zu = a1111_encode(tok[model], te[model], prompt, negative, embs, clip_skip)
        ratios = np.array(encode_chunk.ratios, np.float32)
        tensors = {"prompt_mean_ratio": ratios[:len(c)], "negative_mean_ratio": ratios[len(c):],
                   "prompt_tokens": np.array([x[0] for x in c], np.int64), "prompt_multipliers": np.array([x[1] for x in c], np.float32),
                   "negative_tokens": np.array([x[0] for x in u], np.int64), "negative_multipliers": np.array([x[1] for x in u], np.float32),
                   "prompt_embeds": zc.numpy(), "negative_prompt_embeds": zu.numpy()}
        st_save(os.path.join(out_dir, "text_" + name + ".safetensors"), tensors)
        if name == "three_chunks_nesting":
            check(len(c) == 3, "three_chunks_nesting has three chunks")
        manifest["text"][name] = {"model": model, "prompt": prompt, "negative": negative, "clip_skip": clip_skip,
                                  "embeddings": [rel(p) for p in embedding_files], "chunks": len(c), "what": what, "rule": rule,
                                  "fixes": [[ci, p, e.trigger] for ci, ch in enumerate(c) for p, e in ch[2]]}
        print("text case", name, "chunks", len(c), len(u))

    long_tail = ", ".join(["a (weathered:1.15) wooden boat", "[[faded]] red sails", "nets drying \\(in the sun\\)",
                           "((seagulls)) over    the harbour", "a [small (stone:1.3) chapel] on the hill", "fishermen mending nets",
                           "children playing by the water", "an old dog asleep on the pier", "barrels of salted fish",
                           "ropes coiled on the dock", "a lighthouse keeper waving", "(distant:0.7) thunder clouds",
                           "golden evening light", "reflections on calm water", "a cat stalking a gull", "smoke from chimneys",
                           "a market stall selling bread", "painted doors in blue and green", "cobbled streets", "lanterns being lit",
                           "a violin playing somewhere", "(((masterpiece)))", "oil painting", "by an old master", "muted colours"])
    save_text("three_chunks_nesting", "tiny-sd15",
              "a (((very old:1.2) lighthouse)) on\ta   rocky  island,\n[stormy [grey]] sea, \\(not weighted\\), (gulls: 0.8 ), "
              + long_tail + ",  " + long_tail[:240], "(blurry:1.4), lowres, [text], watermark",
              what="three chunks through the comma rule; nesting, escapes, spaces inside (x: 0.8 ), tabs, newlines, runs of spaces")
    save_text("sd2_break_spacing", "tiny-sd2", "  leading spaces (castle:1.1)BREAK  tower [[moat]] \\[x\\] BREAK\n(sky:0.5) , , ,trailing   ",
              "(dark:1.2)", what="SD 2.x shape (pad id 0 after eos) with BREAK glued to a bracket, escapes, commas and odd spacing")
    save_text("clip_skip_2", "tiny-sd15", long_tail + ", " + long_tail[:200], "(ugly:1.3)", clip_skip=2,
              what="CLIP skip 2 applies to every chunk of prompt and negative prompt")
    save_text("break_in_brackets", "tiny-sd15", "(a BREAK b) [c BREAK] d BREAK e, (f BREAK:1.5)", "",
              what="BREAK inside brackets is text weighted -1.1 etc. (A1111 only breaks at weight exactly -1)")
    save_text("comma_at_55", "tiny-sd15", " ".join(["cat"] * 55) + ", " + " ".join(["dog"] * 25), "",
              what="the last comma 20 tokens back when the chunk fills: the 19 tokens after it move to chunk 2")
    save_text("comma_at_54", "tiny-sd15", " ".join(["cat"] * 54) + ", " + " ".join(["dog"] * 26), "",
              what="the last comma 21 tokens back: no move, the chunk is cut after 75 tokens")
    embs = embeddings_from([emb_path("vividstyle.pt"), emb_path("softgrain.safetensors"), emb_path("learned_embeds.safetensors")])
    save_text("embeddings_boundary", "tiny-sd15", " ".join(["tree"] * 72) + " vividstyle (softgrain:1.3) <glow-toy> [vividstyle] lamp",
              "softgrain, (<glow-toy>:0.5)", embs=embs,
              embedding_files=[emb_path(n) for n in ("vividstyle.pt", "softgrain.safetensors", "learned_embeds.safetensors")],
              what="72 tokens and a 3-vector embedding fill chunk 1 exactly (72 + 3 = 75 fits); several embeddings, weighted, in the negative prompt too")
    save_text("embedding_moved_by_comma", "tiny-sd15", " ".join(["tree"] * 60) + ", vividstyle " + " ".join(["rock"] * 20), "",
              embs=embs, embedding_files=[emb_path(n) for n in ("vividstyle.pt", "softgrain.safetensors", "learned_embeds.safetensors")],
              what="the comma rule moves tokens that include an embedding: jdiffusion moves the embedding with them", rule="jdiffusion")

    if text_only:
        json.dump(manifest, open(os.path.join(out_dir, "manifest.json"), "w"), indent=1, ensure_ascii=False)
        print("wrote the text cases of", out_dir)
        return

    # images
    def save_image(name, model, prompt, negative, syntax, sampler, steps, guidance, seed, loras=(), lora_dir=None, tag_loras=(),
                   embedding_files=(), embeddings_dir=None, clip_skip=1, what=""):
        """loras: [(path, scale)] given as --lora; tag_loras: [(path, te, unet)] found through the prompt's tags."""
        files = list(embedding_files)
        if embeddings_dir:
            files += sorted(os.path.join(embeddings_dir, f) for f in os.listdir(embeddings_dir))
        embs = embeddings_from(files)
        te_d, un_d = {}, {}
        for path, scale in list(loras) + [(p, {"te": t, "unet": u}) for p, t, u in tag_loras]:
            if os.path.basename(path) == "sd2_openclip_te.safetensors":
                d = {"te": openclip_te_deltas(st_load(path), scale, model), "unet": {}}
            elif os.path.basename(path) == "sd15_old_diffusers.safetensors":
                d = old_diffusers_deltas(st_load(path), old_names, scale)
            else:
                d = fuse(st_load(path), scale, NAMES[model], SHAPES[model])
            te_d, un_d = add(te_d, d["te"]), add(un_d, d["unet"])
        enc = te[model].lora(te_d)
        t = tok[model]
        if syntax == "plain":
            ptxt, pids = plain_ids(t, prompt, embs)
            ntxt, nids = plain_ids(t, negative, embs)
            extra = {e.first_id + i: e.vectors[i] for e in embs for i in range(len(e.vectors))}
            with torch.no_grad():
                zc, zu = enc.forward([pids], extra, clip_skip), enc.forward([nids], extra, 1)
            tokens = np.array([pids], np.int64)
        else:
            c, u, zc, zu = a1111_encode(t, enc, prompt, negative, embs, clip_skip)
            tokens = np.array([x[0] for x in c], np.int64)
        img = PIPES[model].run(un_d, zc, zu, sampler, steps, guidance, seed, 64, 64)
        st_save(os.path.join(out_dir, "image_" + name + ".safetensors"),
                {"image": img, "image_u8": np.round(img * 255).astype(np.uint8), "prompt_embeds": zc.numpy(),
                 "negative_prompt_embeds": zu.numpy(), "prompt_tokens": tokens})
        cli = ["generate", "--model", model, "--prompt", prompt, "--negative-prompt", negative, "--prompt-syntax", syntax,
               "--sampler", sampler, "--steps", str(steps), "--guidance", str(guidance), "--seed", str(seed), "--width", "64",
               "--height", "64", "--clip-skip", str(clip_skip)]
        for p, s in loras:
            cli += ["--lora", rel(p) + ":" + str(s)]
        if lora_dir:
            cli += ["--lora-dir", rel(lora_dir)]
        for p in embedding_files:
            cli += ["--embedding", rel(p)]
        if embeddings_dir:
            cli += ["--embeddings-dir", rel(embeddings_dir)]
        lora_hashes = ", ".join(f"{os.path.splitext(os.path.basename(p))[0]}: {sha256(p, True)}" for p, _ in loras)
        tag_names = [a.split(":")[0] for t, a in RE_EXTRA.findall(prompt) if t == "lora"]
        lora_hashes = ", ".join(x for x in [lora_hashes] + [f"{n}: {sha256(p, True)}" for n, (p, *_) in zip(tag_names, tag_loras)] if x)
        manifest["images"][name] = {"model": model, "prompt": prompt, "negative": negative, "prompt_syntax": syntax, "sampler": sampler,
                                    "steps": steps, "guidance": guidance, "seed": seed, "width": 64, "height": 64, "clip_skip": clip_skip,
                                    "loras": [{"path": rel(p), "scale": s} for p, s in loras],
                                    "lora_dir": rel(lora_dir) if lora_dir else None,
                                    "embeddings": [rel(p) for p in embedding_files],
                                    "embeddings_dir": rel(embeddings_dir) if embeddings_dir else None,
                                    "lora_hashes": lora_hashes, "cli": cli, "what": what}
        print("image case", name)

    loras_dir = os.path.join(FIXTURES, "loras")
    save_image("sd2_lora_embeddings", "tiny-sd2",
               "a (stone bridge:1.3) over a [misty] river, vividstyle, " + long_tail[:300] + ", (softgrain:0.8)",
               "(blurry:1.2), softgrain", "a1111", "euler_a", 12, 7.0, 31,
               loras=[(os.path.join(out_dir, "loras", "sd2_locon.safetensors"), 0.7)],
               embedding_files=[emb_path("vividstyle.pt"), emb_path("softgrain.safetensors")],
               what="SD 2.x shape: a kohya LoCon (fp16, rank 8, alpha 4) at 0.7 on text encoder, attention, linear proj_in/out, "
                    "convolutions; two embeddings; a two-chunk weighted prompt")
    save_image("sd15_loras_tags_dir", "tiny-sd15",
               "portrait of a sailor <lora:peft_detail:0.4:1.1>, (weathered face:1.2), vividstyle, " + long_tail + ", [<glow-toy>]",
               "(lowres:1.3), softgrain", "a1111", "dpmpp_2m_karras", 12, 6.0, 32,
               loras=[(os.path.join(loras_dir, "te_only.safetensors"), 1.3)], lora_dir=loras_dir,
               tag_loras=[(os.path.join(loras_dir, "peft_detail.safetensors"), 0.4, 1.1)],
               embeddings_dir=os.path.join(FIXTURES, "embeddings"),
               what="--lora and a tag with its own text-encoder and UNet multipliers (te 0.4, unet 1.1) at once, both on the "
                    "text encoder's attention; every embedding of a folder; three chunks")
    save_image("sd15_plain_adapters", "tiny-sd15", "a (vividstyle:1.5) portrait of a <glow-toy> [robot], oil painting",
               "softgrain, blurry", "plain", "unipc", 12, 7.5, 33,
               loras=[(os.path.join(loras_dir, "locon_style.safetensors"), -0.5)],
               embedding_files=[emb_path("vividstyle.pt"), emb_path("learned_embeds.safetensors")],
               what="plain syntax with adapters: brackets are text, the 3-vector trigger becomes 'vividstyle vividstyle_1 vividstyle_2',"
                    " softgrain (not loaded) is text; a LoRA at a negative scale")
    save_image("sd2_two_loras_openclip", "tiny-sd2", "a (red:1.3) lantern in the snow", "", "a1111", "ddim", 12, 7.5, 34,
               loras=[(os.path.join(out_dir, "loras", "sd2_openclip_te.safetensors"), 1.0),
                      (os.path.join(out_dir, "loras", "sd2_locon.safetensors"), 0.3)],
               what="two LoRAs on SD 2.x, one with OpenCLIP text-encoder names (fused in_proj split into q, k, v)")
    save_image("sd15_old_diffusers_format", "tiny-sd15", "a quiet (forest:1.2) at dawn", "fog", "a1111", "euler", 10, 7.5, 35,
               loras=[(os.path.join(out_dir, "loras", "sd15_old_diffusers.safetensors"), 0.9)],
               what="the pre-PEFT diffusers spellings (processor.to_q_lora, lora_linear_layer), factor 1 (no alpha)")

    # fused weights of a few layers, for the merge alone
    d = fuse(sd2_locon, 0.7, NAMES["tiny-sd2"], SHAPES["tiny-sd2"])
    oc = openclip_te_deltas(sd2_openclip, 1.0, "tiny-sd2")
    base2 = {**st_load(os.path.join(TESTDATA, "tiny-sd2", "unet", "diffusion_pytorch_model.safetensors")),
             **st_load(os.path.join(TESTDATA, "tiny-sd2", "text_encoder", "model.safetensors"))}
    fused = {}
    for n in ("down_blocks.0.resnets.0.conv1.weight", "down_blocks.0.attentions.0.proj_in.weight",
              "up_blocks.1.attentions.2.transformer_blocks.0.attn2.to_k.weight", "up_blocks.0.resnets.0.time_emb_proj.weight",
              "down_blocks.0.downsamplers.0.conv.weight", "text_model.encoder.layers.1.mlp.fc1.weight"):
        fused["sd2_locon_0.7/" + n] = (base2[n] + (d["unet"] if n in d["unet"] else d["te"])[n]).astype(np.float32)
    for n in ("text_model.encoder.layers.2.self_attn.q_proj.weight", "text_model.encoder.layers.2.self_attn.k_proj.weight",
              "text_model.encoder.layers.2.self_attn.v_proj.weight", "text_model.encoder.layers.4.mlp.fc2.weight"):
        fused["sd2_openclip_te_1.0/" + n] = (base2[n] + oc[n]).astype(np.float32)
    st_save(os.path.join(out_dir, "fused.safetensors"), fused)
    manifest["fused"] = {"file": "fused.safetensors", "keys": "LORA_SCALE/tensor: the tiny-sd2 tensor with the LoRA merged"}
    json.dump(manifest, open(os.path.join(out_dir, "manifest.json"), "w"), indent=1, ensure_ascii=False)
    print("wrote", out_dir)


if __name__ == "__main__":
    main()
