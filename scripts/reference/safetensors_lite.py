"""A minimal safetensors writer and reader (numpy arrays ↔ file), so reference scripts need no extra package."""
import json
import struct

import numpy as np

_DTYPES = {np.dtype("uint8"): "U8", np.dtype("int64"): "I64", np.dtype("float32"): "F32",
           np.dtype("float64"): "F64", np.dtype("float16"): "F16", np.dtype("int32"): "I32"}


def save(tensors, path, metadata=None):
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        raw = a.tobytes()
        header[name] = {"dtype": _DTYPES[a.dtype], "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


_NUMPY = {v: k for k, v in _DTYPES.items()}


def load(path):
    """The tensors of a safetensors file as numpy arrays, by name (the __metadata__ entry is skipped)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(data[a:b], dtype=_NUMPY[v["dtype"]]).reshape(v["shape"])
    return out
