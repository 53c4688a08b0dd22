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


# The app's training jobs (MiniGPT in tab 4, LoRA in tab 7) share this concurrency group, so at
# most `training_slots()` of them run at once, server-wide; further learners wait in the queue
# (and see their place in it).
TRAINING_CONCURRENCY_ID = "training"


def training_slots() -> int:
    """How many training jobs may run at once: `PLAYGROUND_TRAINING_JOBS`, else 2 (1 on one core)."""
    env = os.environ.get("PLAYGROUND_TRAINING_JOBS")
    return max(1, int(env)) if env else min(2, cpu_count())


def default_threads(concurrent_jobs: int | None = None) -> int:
    """Threads per job: `PLAYGROUND_TORCH_THREADS` if set, else the cores shared by the jobs that may
    run at once (`training_slots()` unless given), so they never oversubscribe the CPU."""
    env = os.environ.get("PLAYGROUND_TORCH_THREADS")
    if env:
        return max(1, int(env))
    jobs = training_slots() if concurrent_jobs is None else concurrent_jobs
    return max(1, cpu_count() // max(1, jobs))


def set_torch_threads(n: int | None = None) -> int:
    """Apply a thread count to PyTorch (process-wide) and return it."""
    import torch

    n = n or default_threads()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n
