"""Stand-in for safetensors (torch tensors only), enough for diffusers' model loading."""
__version__ = "0.4.3"
from .torch import safe_open, SafetensorError  # noqa: F401
