"""How many CPU threads PyTorch may use.

On a small shared CPU, more threads than free cores makes PyTorch collapse (threads spin waiting
for each other): on a 2-core machine a training step with 2 threads ran at ~25 it/s when idle but
1–7 it/s when anything else ran, while 1 thread held a steady ~15 it/s. The app serves several
learners at once, so by default each job gets an equal share of the cores.
"""
from __future__ import annotations

import os


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS / Windows
        return os.cpu_count() or 1


def default_threads(concurrent_jobs: int = 1) -> int:
    """Threads per job: `PLAYGROUND_TORCH_THREADS` if set, else cores shared by concurrent jobs."""
    env = os.environ.get("PLAYGROUND_TORCH_THREADS")
    if env:
        return max(1, int(env))
    return max(1, cpu_count() // max(1, concurrent_jobs))


def set_torch_threads(n: int | None = None) -> int:
    """Apply a thread count to PyTorch (process-wide) and return it."""
    import torch

    n = n or default_threads()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n
