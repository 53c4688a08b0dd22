"""LLM Training Playground: everything that computes.

`core` is pure Python + NumPy/PyTorch and never imports gradio, so every function here can be used
from a notebook or a terminal (`python -m core --help`) exactly as the app uses it.
Heavy libraries (transformers, peft, trl, datasets, bitsandbytes) are imported lazily inside the
functions that need them, so importing `core` stays cheap.
"""
