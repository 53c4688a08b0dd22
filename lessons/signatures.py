"""Start-up: Gradio asks Python for the same component signatures thousands of times; answer once.

Building the app constructs ~1,070 blocks, and Gradio reads a constructor's signature for each of them:
`inspect.getfullargspec` in every component's `__init__` wrapper, and `inspect.signature(type(block).__init__)`
for every block each time it builds the config (four times at start-up: the app, its server app, launch
and launch's server app). That is ~6,000 signature computations of the same ~50 functions, 0.1–0.2 s of
a ~3 s start (bench/startup.py).

Python's own protocol for a known signature is the `__signature__` attribute: `inspect` returns it
instead of recomputing. Each class's `__init__` (and the function its wrapper wraps) gets the signature
inspect computes for it, so every answer is the one Gradio got before, only sooner.
"""
from __future__ import annotations

import inspect

import gradio as gr


def _subclasses(cls: type) -> list[type]:
    found, todo = {}, [cls]  # a dict: a class with two Block parents is met twice; keep the order met
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in found:
                found[sub] = None
                todo.append(sub)
    return list(found)


def remember_block_signatures() -> int:
    """Stamp every Gradio block class's constructor with its signature; returns how many were stamped.
    Safe to call again (an already stamped function is left as it is)."""
    stamped = 0
    for cls in [gr.blocks.Block, *_subclasses(gr.blocks.Block)]:
        init = cls.__dict__.get("__init__")
        # the wrapper Gradio puts around a component's __init__, then the function inside it
        for function in (init, getattr(init, "__wrapped__", None)):
            if inspect.isfunction(function) and "__signature__" not in function.__dict__:
                function.__signature__ = inspect.signature(function)
                stamped += 1
    return stamped
