"""What transformers' slow CLIPTokenizer (4.44, without ftfy, as the fixtures were made) computes, for the bundled
emoji model's cut vocabulary. A port of tokenization_clip.py's algorithm (BasicTokenizer(strip_accents=False,
do_split_on_punc=False), the CLIP regex through the `regex` module, bytes_to_unicode, BPE by merge rank) and of
PreTrainedTokenizer's added-token splitting; no transformers import (it is not installed here).

The port is first checked against the real transformers outputs in testdata/tiny-sd15/expected (full vocabulary),
then run on the cut vocabulary.

Usage: /usr/bin/python3 scripts/reference/clip_tokenizer_reference.py FULL_TOKENIZER_DIR FIXTURE_DIR CUT_DIR OUT.json
"""
import json
import os
import sys
import unicodedata

import regex as re

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_lite import load as load_safetensors  # noqa: E402


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(2 ** 8):
        if b not in bs:
            bs.append(b)
            cs.append(2 ** 8 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def _is_whitespace(ch):
    if ch in (" ", "\t", "\n", "\r"):
        return True
    return unicodedata.category(ch) == "Zs"


def _is_control(ch):
    if ch in ("\t", "\n", "\r"):
        return False
    return unicodedata.category(ch).startswith("C")


def _is_chinese_char(cp):
    return ((0x4E00 <= cp <= 0x9FFF) or (0x3400 <= cp <= 0x4DBF) or (0x20000 <= cp <= 0x2A6DF)
            or (0x2A700 <= cp <= 0x2B73F) or (0x2B740 <= cp <= 0x2B81F) or (0x2B820 <= cp <= 0x2CEAF)
            or (0xF900 <= cp <= 0xFAFF) or (0x2F800 <= cp <= 0x2FA1F))


def basic_tokenize(text):
    """BasicTokenizer(do_lower_case=True, strip_accents=False, do_split_on_punc=False).tokenize."""
    out = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or _is_control(ch):
            continue
        out.append(" " if _is_whitespace(ch) else ch)
    text = "".join(out)
    text = "".join(f" {ch} " if _is_chinese_char(ord(ch)) else ch for ch in text)
    text = unicodedata.normalize("NFC", text)
    tokens = [t.lower() for t in text.strip().split()]
    return " ".join(tokens).strip().split()


class ClipTokenizer:
    PAT = re.compile(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
                     re.IGNORECASE)

    def __init__(self, folder):
        with open(f"{folder}/vocab.json", encoding="utf-8") as f:
            self.encoder = json.load(f)
        with open(f"{folder}/merges.txt", encoding="utf-8") as f:
            merges = f.read().strip().split("\n")[1: 49152 - 256 - 2 + 1]
        self.bpe_ranks = {tuple(m.split()): i for i, m in enumerate(merges)}
        with open(f"{folder}/tokenizer_config.json", encoding="utf-8") as f:
            config = json.load(f)
        self.added = {v["content"]: int(k) for k, v in config.get("added_tokens_decoder", {}).items()}
        for key in ("bos_token", "eos_token", "pad_token", "unk_token"):
            tok = config[key] if isinstance(config[key], str) else config[key]["content"]
            self.added.setdefault(tok, self.encoder[tok])
        self.bos = self.added[config["bos_token"]]
        self.eos = self.added[config["eos_token"]]
        self.pad = self.added[config["pad_token"]]
        self.unk = self.added[config["unk_token"]]
        self.max_length = config["model_max_length"]
        self.byte_encoder = bytes_to_unicode()
        self.cache = {"<|startoftext|>": "<|startoftext|>", "<|endoftext|>": "<|endoftext|>"}

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = tuple(token[:-1]) + (token[-1] + "</w>",)
        pairs = set(zip(word, word[1:]))
        if not pairs:
            return token + "</w>"
        while True:
            bigram = min(pairs, key=lambda p: self.bpe_ranks.get(p, float("inf")))
            if bigram not in self.bpe_ranks:
                break
            first, second = bigram
            new_word, i = [], 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                except ValueError:
                    new_word.extend(word[i:])
                    break
                new_word.extend(word[i:j])
                i = j
                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new_word.append(first + second)
                    i += 2
                else:
                    new_word.append(word[i])
                    i += 1
            word = tuple(new_word)
            if len(word) == 1:
                break
            pairs = set(zip(word, word[1:]))
        result = " ".join(word)
        self.cache[token] = result
        return result

    def _tokenize(self, text):
        text = " ".join(basic_tokenize(text))
        out = []
        for token in re.findall(self.PAT, text):
            token = "".join(self.byte_encoder[b] for b in token.encode("utf-8"))
            out.extend(self.bpe(token).split(" "))
        return out

    def _id(self, token):
        if token in self.added:
            return self.added[token]
        return self.encoder.get(token, self.unk)

    def encode(self, text):
        """tokenize() then convert_tokens_to_ids: added tokens split off first (longest match), never BPE'd."""
        specials = sorted(self.added, key=len, reverse=True)
        pieces = re.split("(" + "|".join(re.escape(s) for s in specials) + ")", text)
        ids = []
        for piece in pieces:
            if piece in self.added:
                ids.append(self.added[piece])
            elif piece:
                ids.extend(self._id(t) for t in self._tokenize(piece))
        return ids

    def padded(self, text):
        ids = self.encode(text)[: self.max_length - 2]
        ids = [self.bos] + ids + [self.eos]
        return ids + [self.pad] * (self.max_length - len(ids))


def read_safetensors_ints(path):
    """The int64 tensors of a safetensors file, each flattened to a list of ints."""
    return {k: v.reshape(-1).tolist() for k, v in load_safetensors(path).items()}


EMOJI_PROMPTS = [
    "red apple", "hot beverage", "grinning face with smiling eyes", "face with tears of joy", "smiling cat face with heart-shaped eyes",
    "family: man, woman, girl, boy", "keycap 2", "hear-no-evil monkey", "womens symbol", "negative squared latin capital letter o",
    "man in motorized wheelchair facing right", "circled ideograph accept", "mortar board", "snowman without snow",
    "food fruit", "animal-mammal", "sky & weather", "person-role", "flying saucer", "jack-o-lantern", "rolling on the floor laughing",
    "pile of poo", "thumbs up sign", "a red apple on a white background", "supercalifragilisticexpialidocious",
    "pneumonoultramicroscopic", "antidisestablishmentarianism", "hippopotamus rhinoceros crocodile", "zzz", "sos",
    "ok hand sign", "t-rex", "sauropod", "DNA double helix", "Japanese “here” button", "piñata", "crème brûlée",
    "new moon with face", "up! button", "back with leftwards arrow above", "a cat 🐱 with a hat 🎩", "",
]


def main(full_dir, fixture_dir, cut_dir, out_file):
    full = ClipTokenizer(full_dir)
    with open(f"{fixture_dir}/manifest.json") as f:
        prompts = json.load(f)["files"]["tokenizer.safetensors"]["prompts"]
    expected = read_safetensors_ints(f"{fixture_dir}/tokenizer.safetensors")
    for i, p in enumerate(prompts):
        assert full.padded(p) == expected[f"ids_{i:02d}"], f"port differs from transformers on prompt {i}: {p!r}"
        assert [full.bos] + full.encode(p) + [full.eos] == expected[f"untruncated_{i:02d}"], p
    cut = ClipTokenizer(cut_dir)
    assert len(cut.encoder) == 8514 and cut.bos == 8512 and cut.eos == 8513, (len(cut.encoder), cut.bos, cut.eos)
    cases = prompts + EMOJI_PROMPTS
    result = {
        "made_by": "scripts/reference/clip_tokenizer_reference.py (transformers 4.44 slow CLIPTokenizer algorithm, no ftfy;"
                   f" checked first against the {len(prompts)} prompts of testdata/tiny-sd15/expected/tokenizer.safetensors)",
        "tokenizer": "models/jdiffusion-emoji/tokenizer",
        "prompts": cases,
        "input_ids": [cut.padded(p) for p in cases],
        "untruncated": [[cut.bos] + cut.encode(p) + [cut.eos] for p in cases],
        "untruncated_full_vocabulary": [[full.bos] + full.encode(p) + [full.eos] for p in cases],
    }
    with open(out_file, "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False, indent=1)
        f.write("\n")
    longer = sum(len(a) > len(b) for a, b in zip(result["untruncated"], result["untruncated_full_vocabulary"]))
    print(f"port matches transformers on {len(prompts)} fixture prompts; wrote {len(cases)} cases "
          f"({longer} tokenize into more tokens with the cut vocabulary)")


if __name__ == "__main__":
    main(*sys.argv[1:])
