"""What this machine offers the labs: CPU/GPU, threads, library versions, available checkpoints."""
from __future__ import annotations

import importlib.metadata
import platform

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


def summary_line(info: dict | None = None) -> str:
    info = info or describe()
    device = f"GPU: {info['device']}" if info["cuda"] else f"CPU ({info['cpu_cores']} cores, {info['torch_threads']} torch threads)"
    return f"Running on {device} · Python {info['python']} · PyTorch {info['torch']}"
