"""Stand-in for transformers: names only (the reference scripts pass prompt embeddings, never use these)."""
__version__ = "4.44.0"


class _Stub:
    def __init__(self, *args, **kwargs):
        raise RuntimeError("transformers is a stub here")

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        raise RuntimeError("transformers is a stub here")


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    cls = type(name, (_Stub,), {})
    globals()[name] = cls
    return cls
