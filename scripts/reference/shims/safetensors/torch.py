# Stand-in for safetensors.torch: the reference scripts never read or write safetensors through diffusers.
def save_file(*args, **kwargs):
    raise NotImplementedError("safetensors is not installed; this shim only lets diffusers import")


def load_file(*args, **kwargs):
    raise NotImplementedError("safetensors is not installed; this shim only lets diffusers import")
