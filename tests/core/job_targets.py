"""Tiny generators for tests/core/test_jobs.py, run in a child process by core.jobs (importable by name)."""
import os
import signal
import time


def count(n: int, delay: float = 0.0, should_stop=None):
    for i in range(n):
        if should_stop is not None and should_stop():
            yield {"i": i, "stopped": True}
            return
        time.sleep(delay)
        yield {"i": i, "pid": os.getpid(), "nice": os.nice(0), "threads": os.environ.get("PLAYGROUND_TORCH_THREADS")}


def fail_with_value_error(should_stop=None):
    yield 1
    raise ValueError("the corpus is too short for this context")


def fail_with_bug(should_stop=None):
    yield 1
    raise KeyError("oops")


def hard_exit(should_stop=None):
    yield 1
    os._exit(3)


def killed(should_stop=None):
    yield 1
    os.kill(os.getpid(), signal.SIGKILL)
    yield 2  # never reached


def ignore_stop(pid_file: str, should_stop=None):
    """Never looks at the stop request and ignores SIGTERM: only SIGKILL ends it."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with open(pid_file, "w") as f:
        f.write(str(os.getpid()))
    i = 0
    while True:
        time.sleep(0.05)
        i += 1
        yield i


def save_on_stop(marker: str, should_stop=None):
    """Polls the stop request like a trainer, and 'saves' (writes a marker) before returning."""
    i = 0
    while not should_stop():
        time.sleep(0.02)
        i += 1
        yield i
    with open(marker, "w") as f:
        f.write(f"saved at {i}")
    yield "stopped"


def hog_memory(mb: int, should_stop=None):
    """Shared anonymous memory: outside RLIMIT_DATA, so only the parent's RSS watch can catch it."""
    import mmap

    block = mmap.mmap(-1, mb * 1024 * 1024)
    for i in range(0, len(block), 4096):  # touch every page so it is resident
        block[i] = 1
    while True:
        time.sleep(0.05)
        yield len(block)


def lora_style(stop=None):
    """A trainer that takes a StopFlag-like `stop` (core.finetune.train's spelling)."""
    for i in range(1000):
        if stop.is_set():
            yield "stopped"
            return
        time.sleep(0.02)
        yield i


def torch_too_big(should_stop=None):
    import torch

    yield 1
    torch.empty(2000 * 2**20 // 4).fill_(1.0)  # 2 GB
    yield 2
