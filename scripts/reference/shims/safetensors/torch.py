# Stand-in for safetensors.torch (the package is not installed here): enough for the reference scripts to read
# the float32/float16/int64 files jdiffusion writes and to write small reference files, in safetensors' format
# (8-byte little-endian header length, JSON header, data in header order).
import json
import struct

import numpy as np
import torch

_DTYPES = {"F32": (np.float32, torch.float32), "F16": (np.float16, torch.float16), "I64": (np.int64, torch.int64)}
_NAMES = {torch.float32: "F32", torch.float16: "F16", torch.int64: "I64"}


def load_file(filename, device="cpu"):
    with open(filename, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        arr = np.frombuffer(data[a:b], dtype=_DTYPES[e["dtype"]][0]).reshape(e["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out


def save_file(tensors, filename, metadata=None):
    # Name order, all tensors (the reference files are read by name, never by layout).
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous()
        blob = t.numpy().tobytes()
        header[name] = {"dtype": _NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(filename, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for blob in blobs:
            f.write(blob)
