# Stand-in for the safetensors package (not installed here): diffusers only checks that it imports.
__version__ = "0.4.4"
