"""What this machine offers the labs: CPU/GPU, threads, library versions, available checkpoints.

`describe()` imports torch (the CLI's `info` wants the real device). The app's line on page load uses
`summary_line(quick())` instead: torch is ~1.3 s to import and a first page view must not wait on it
(issue 12), so it reads versions from package metadata and the GPU from the device files.
"""
from __future__ import annotations

import glob
import importlib.metadata
import platform
import sys

from core import registry, threads


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def describe() -> dict:
    """A summary without importing the heavy Hugging Face stack (versions come from metadata)."""
    import torch

    cuda = torch.cuda.is_available()
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(0) if cuda else "CPU",
        "cuda": cuda,
        "cpu_cores": threads.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "libraries": {p: _version(p) for p in ("gradio", "tiktoken", "transformers", "peft", "trl", "datasets", "accelerate", "bitsandbytes")},
        "shipped_checkpoints": {k: [c.name for c in registry.shipped_checkpoints(k)] for k in registry.MARKER_FILES},
    }


def quick() -> dict:
    """The fields summary_line needs, without importing torch (unless something already did)."""
    torch = sys.modules.get("torch")
    if getattr(getattr(torch, "__spec__", None), "_initializing", False):
        torch = None  # another thread is importing it right now (a tab's page-load handler): not usable yet
    if torch is not None:  # already paid for: ask it
        cuda = torch.cuda.is_available()
        device, version, n_threads = (torch.cuda.get_device_name(0) if cuda else "CPU"), torch.__version__, torch.get_num_threads()
    else:
        cuda = bool(glob.glob("/dev/nvidia[0-9]*"))
        device, version, n_threads = ("NVIDIA GPU" if cuda else "CPU"), _version("torch") or "not installed", threads.default_threads()
    return {"python": platform.python_version(), "torch": version, "device": device, "cuda": cuda,
            "cpu_cores": threads.cpu_count(), "torch_threads": n_threads}


def summary_line(info: dict | None = None) -> str:
    info = info or describe()
    device = f"GPU: {info['device']}" if info["cuda"] else f"CPU ({info['cpu_cores']} cores, {info['torch_threads']} torch threads)"
    return f"Running on {device} · Python {info['python']} · PyTorch {info['torch']}"
