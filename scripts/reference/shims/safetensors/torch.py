import json
import struct

import numpy as np
import torch

_DT = {"F32": (np.float32, torch.float32), "F16": (np.float16, torch.float16), "I64": (np.int64, torch.int64),
       "U8": (np.uint8, torch.uint8), "F64": (np.float64, torch.float64), "I32": (np.int32, torch.int32)}
_BACK = {torch.float32: "F32", torch.float16: "F16", torch.int64: "I64", torch.uint8: "U8", torch.float64: "F64",
         torch.int32: "I32"}


class SafetensorError(Exception):
    pass


def _read(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", None)
    out = {}
    for k, v in header.items():
        a, b = v["data_offsets"]
        arr = np.frombuffer(data[a:b], dtype=_DT[v["dtype"]][0]).reshape(v["shape"]).copy()
        out[k] = torch.from_numpy(arr)
    return out, meta


def load_file(path, device="cpu"):
    return _read(path)[0]


def load(data):
    raise NotImplementedError


def save_file(tensors, path, metadata=None):
    header, off, blobs = {}, 0, []
    for k in sorted(tensors):
        t = tensors[k].detach().contiguous().cpu()
        raw = t.numpy().tobytes()
        header[k] = {"dtype": _BACK[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        blobs.append(raw)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


class safe_open:
    def __init__(self, path, framework="pt", device="cpu"):
        self._t, self._m = _read(path)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False

    def keys(self):
        return list(self._t.keys())

    def get_tensor(self, k):
        return self._t[k]

    def metadata(self):
        return self._m
