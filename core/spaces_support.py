"""Hugging Face Spaces: ZeroGPU's `spaces.GPU` where the `spaces` package is installed, persistent storage,
and the Hub token from the environment only.

ZeroGPU (SPACES_ZERO_GPU=true on such a Space) attaches a GPU to the Gradio process only while a function
decorated with `@spaces.GPU` runs, and `spaces` must be imported before torch initialises CUDA. So:

    spaces_support.import_spaces()          # app.py, first thing (before gradio and torch)
    @spaces_support.gpu(duration=60)        # a handler that needs the GPU in the server process
    def generate(...): ...

Off a Space (no `spaces` package) both do nothing, and the decorator returns the function itself.
Limits to know (the Spaces docs, late 2026): a call gets 60 s by default (`duration=` sets it; shorter
durations get a better place in ZeroGPU's queue); each visitor has a daily GPU quota (2 min without an
account, 3.5 min for a free account, 25 min for PRO); supported torch versions are listed by the docs
(2.1.0 up to 2.8.0 when read; this project pins torch 2.13, so a ZeroGPU Space must pin a listed one);
`torch.compile` is not supported. This app's trainings run in worker processes (core.jobs) for minutes,
which ZeroGPU cannot serve: host a class on CPU (or a dedicated GPU), see README "Classroom".
"""
from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path
from typing import Callable

from core.sessions import SPACE_STORAGE  # /data: a Space's persistent storage, when attached


def on_space() -> bool:
    """Running on a Hugging Face Space (the platform sets SPACE_ID)."""
    return bool(os.environ.get("SPACE_ID"))


def on_zero_gpu() -> bool:
    return os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "t", "true")


def spaces_module():
    """The `spaces` package when installed, else None (it is only there on a Space, or where pip put it)."""
    if importlib.util.find_spec("spaces") is None:
        return None
    return importlib.import_module("spaces")


def import_spaces() -> bool:
    """Import `spaces` now, before torch touches CUDA (ZeroGPU requires that order). True if it is present."""
    return spaces_module() is not None


def gpu(duration: float | Callable | None = None):
    """A decorator: `spaces.GPU(duration=...)` where `spaces` is installed, else the function unchanged."""
    def decorate(fn):
        spaces = spaces_module()
        if spaces is None:
            return fn
        return spaces.GPU(duration=duration)(fn) if duration is not None else spaces.GPU(fn)
    return decorate


def persistent_storage() -> Path | None:
    """/data when a Space's persistent storage is attached and writable (runs, the board and the id secret go there)."""
    return SPACE_STORAGE if SPACE_STORAGE.is_dir() and os.access(SPACE_STORAGE, os.W_OK) else None


def hf_token() -> str | None:
    """The Hub token, from the environment only (a Space secret named HF_TOKEN): never from a file or the page."""
    token = os.environ.get("HF_TOKEN", "").strip()
    return token or None
