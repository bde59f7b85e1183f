# Stand-in for the safetensors package (not installed here): see torch.py.
__version__ = "0.4.4"
