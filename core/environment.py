"""What this machine offers the labs, and what to do about what it lacks ("why doesn't it work here?").

Three levels of cost:
- `quick()` (the app's line on page load): no torch import, versions from package metadata and the GPU
  from the device files, because torch takes ~1.3 s to import and a first page view must not wait on it.
- `machine_checks()`, `library_checks()`, `tiktoken_checks()`, `hub_check()`, `space_checks()`: the live
  environment check of tab 9 and `python -m core info`. Each gives `Check`s: what was looked at, what was
  found, and for every red or amber item what to do about it. `library_checks` really imports each library
  (the first time ~15 s for the Hugging Face stack; Python keeps them imported afterwards).
- `describe()`: all of it as one JSON-ready dict (`python -m core info --json`).

The Hub check is a real HTTPS request bounded in time (core.finetune.models.hub_reachable runs it in a
thread abandoned after the timeout: DNS lookups ignore socket timeouts), so an offline machine answers
"not reachable" after at most `HUB_TIMEOUT_S` seconds, never a hang.
"""
from __future__ import annotations

import glob
import importlib
import importlib.metadata
import importlib.util
import os
import platform
import re
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from core import registry, sessions, threads

OK, WARN, FAIL, INFO = "ok", "warn", "fail", "info"  # green, amber, red, neutral
HUB_TIMEOUT_S = 3.0
MIN_FREE_DISK_GB = 2.0  # a LoRA run of the pocket model writes a few MB; SmolLM2 needs ~0.6 GB in the cache
MIN_FREE_MEMORY_GB = 3.0  # SmolLM2-135M's LoRA job peaks near 2.7 GB (core.caps)
REQUIREMENTS = sessions.PROJECT_ROOT / "requirements.txt"
INSTALL = "pip install -r requirements.txt"

# Every library the guide names (Part 9's map): (distribution on PyPI, import name, what it is for).
LIBRARIES = [
    ("torch", "torch", "tensors, autograd, layers and optimisers: everything else builds on it"),
    ("numpy", "numpy", "arrays on the CPU: data preparation, checking formulas"),
    ("tiktoken", "tiktoken", "OpenAI's fast BPE tokenizer with the GPT vocabularies"),
    ("tokenizers", "tokenizers", "Hugging Face's Rust tokenizers: train and run BPE, WordPiece, Unigram"),
    ("transformers", "transformers", "pre-trained models and their tokenizers behind one API"),
    ("datasets", "datasets", "load, map and split datasets from files or the Hub, memory-mapped"),
    ("peft", "peft", "LoRA and other adapters on any transformers model"),
    ("trl", "trl", "training loops for SFT, DPO and more (SFTTrainer, DPOTrainer)"),
    ("accelerate", "accelerate", "one script for CPU, one GPU or many, and mixed precision"),
    ("bitsandbytes", "bitsandbytes", "8-bit and 4-bit (NF4) quantisation for QLoRA, 8-bit optimisers"),
    ("safetensors", "safetensors", "weights as plain tensors: no executable code, memory-mappable"),
    ("huggingface_hub", "huggingface_hub", "downloads and uploads of models and datasets on the Hub"),
    ("gradio", "gradio", "web interfaces for Python functions, like this app"),
]


@dataclass(frozen=True)
class Check:
    area: str  # "Python", "PyTorch", "GPU", "library", "tiktoken", "network", "disk", "memory"
    name: str
    status: str  # OK, WARN, FAIL or INFO
    found: str  # what was found, in words
    fix: str = ""  # what to do, for WARN and FAIL (and INFO where there is a choice)


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def pinned_versions(path: Path = REQUIREMENTS) -> dict[str, str]:
    """{package: version} of the `name==version` lines of requirements.txt (the versions tested together)."""
    if not path.is_file():
        return {}
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s#;]+).*", line)
        if match:
            pins[match.group(1).lower().replace("-", "_")] = match.group(2)
    return pins


# ---------- the machine: Python, PyTorch, GPU, threads ----------

def torch_build(torch) -> str:
    """Which accelerators this PyTorch was compiled for (a CPU build never sees a GPU)."""
    if torch.version.cuda:
        return f"CUDA {torch.version.cuda} build"
    if getattr(torch.version, "hip", None):
        return f"ROCm {torch.version.hip} build"
    if torch.backends.mps.is_built():
        return "build with MPS (Apple GPU)"
    return "CPU-only build"


def _python_check() -> Check:
    version = platform.python_version()
    if sys.version_info < (3, 10):
        return Check("Python", "Python", FAIL, f"{version} at {sys.executable}",
                     "The playground needs Python 3.10 or newer (tested on 3.11): install it and make a new virtual environment.")
    return Check("Python", "Python", OK, f"{version} at {sys.executable}")


def _gpu_checks(torch) -> list[Check]:
    if torch.cuda.is_available():
        free, total = torch.cuda.mem_get_info(0)
        return [Check("GPU", "device", OK, f"{torch.cuda.get_device_name(0)} ({torch.cuda.device_count()} visible)"),
                Check("GPU", "GPU memory", OK, f"{free / 2**30:.1f} GB free of {total / 2**30:.1f} GB")]
    if torch.backends.mps.is_available():
        return [Check("GPU", "device", INFO, "Apple GPU (MPS)",
                      "PyTorch can use it with device='mps'; this playground trains on the CPU there, and 4-bit needs CUDA.")]
    nvidia = bool(glob.glob("/dev/nvidia[0-9]*"))
    if nvidia and not torch.version.cuda:
        return [Check("GPU", "device", FAIL, "an NVIDIA GPU is present, but this PyTorch is a CPU-only build",
                      "Install a CUDA build of the same version, e.g. pip install torch==2.13.0 --index-url "
                      "https://download.pytorch.org/whl/cu128 (pick the CUDA version your driver supports).")]
    if nvidia:
        return [Check("GPU", "device", FAIL, "an NVIDIA GPU is present, but CUDA does not start",
                      "Check the driver with nvidia-smi; the driver must support this build's CUDA version.")]
    return [Check("GPU", "device", INFO, "none: CPU only",
                  "Fine for every lab here (the pocket model, MiniGPT). TinyLlama fine-tuning and 4-bit QLoRA need an NVIDIA GPU.")]


def _thread_check(torch) -> Check:
    cores, n = threads.cpu_count(), torch.get_num_threads()
    found = f"{n} torch threads on {cores} CPU cores; {threads.training_slots()} training job(s) at once, " \
            f"{threads.default_threads()} thread(s) each"
    if n > cores:
        return Check("PyTorch", "threads", WARN, found,
                     "More threads than cores makes PyTorch slower, not faster: set PLAYGROUND_TORCH_THREADS or OMP_NUM_THREADS to at most the core count.")
    return Check("PyTorch", "threads", OK, found)


def four_bit_check(cuda: bool, gpu_name: str | None) -> Check:
    """Whether bitsandbytes' 4-bit loading (QLoRA) can run here; the reason text is tab 7's own."""
    from core.finetune.models import Environment

    has_bnb = importlib.util.find_spec("bitsandbytes") is not None
    why_not = Environment(cuda=cuda, gpu_name=gpu_name, bitsandbytes=has_bnb, hub=False, spaces=False).four_bit_unavailable
    if why_not is None:
        return Check("GPU", "4-bit (bitsandbytes)", OK, "available: NF4 weights with bfloat16 compute (QLoRA)")
    fix = INSTALL if cuda else "Nothing to do for this playground: LoRA runs in full precision on the CPU. For QLoRA, use a machine with an NVIDIA GPU."
    return Check("GPU", "4-bit (bitsandbytes)", WARN if cuda else INFO, why_not, fix)


def machine_checks() -> list[Check]:
    """Python, PyTorch and its build, the device, threads, 4-bit. Imports torch."""
    checks = [_python_check()]
    try:
        import torch
    except ImportError as err:
        return checks + [Check("PyTorch", "torch", FAIL, f"does not import: {err}", INSTALL)]
    checks.append(Check("PyTorch", "torch", OK, f"{torch.__version__}, {torch_build(torch)}"))
    checks += _gpu_checks(torch)
    checks.append(_thread_check(torch))
    cuda = torch.cuda.is_available()
    checks.append(four_bit_check(cuda, torch.cuda.get_device_name(0) if cuda else None))
    return checks


# ---------- libraries ----------

def library_check(package: str, module: str, purpose: str, pins: dict[str, str], really_import: bool = True) -> Check:
    """Installed version, whether it imports (really imported, timed), and the tested version.
    really_import=False (`info --skip-imports`): only whether Python can find it, in milliseconds."""
    version = _version(package)
    if version is None:
        return Check("library", package, FAIL, f"not installed — {purpose}", INSTALL)
    if not really_import:
        if importlib.util.find_spec(module) is None:
            return Check("library", package, FAIL, f"{version} is installed but Python cannot find {module}", INSTALL)
        return _version_check(package, version, f"{version}, found (not imported) — {purpose}", pins)
    start = time.perf_counter()
    try:
        importlib.import_module(module)
    except Exception as err:  # any failure while importing is what this check reports  # noqa: BLE001
        first = (str(err).splitlines() or [type(err).__name__])[0][:200]
        return Check("library", package, FAIL, f"{version} is installed but does not import: {first}",
                     f"Reinstall it: pip install --force-reinstall {package}=={pins.get(package, version)}")
    seconds = time.perf_counter() - start
    found = f"{version}, imports ({seconds:.1f} s) — {purpose}" if seconds >= 0.05 else f"{version}, imports — {purpose}"
    return _version_check(package, version, found, pins)


def _version_check(package: str, version: str, found: str, pins: dict[str, str]) -> Check:
    pinned = pins.get(package.lower().replace("-", "_"))
    if pinned and pinned != version and not version.startswith(pinned + "+"):
        return Check("library", package, WARN, f"{found}; the project is tested with {pinned}",
                     f"{INSTALL} (or pip install {package}=={pinned}); APIs change between versions.")
    return Check("library", package, OK, found)


def library_checks(really_import: bool = True) -> Iterator[Check]:
    """One Check per library of the guide, in the map's order (a generator: imports take seconds)."""
    pins = pinned_versions()
    for package, module, purpose in LIBRARIES:
        yield library_check(package, module, purpose, pins, really_import)


# ---------- tiktoken, the Hub, disk and memory ----------

def tiktoken_checks() -> list[Check]:
    from core import tiktoken_offline

    checks = []
    for a in tiktoken_offline.availability():
        if a.available:
            checks.append(Check("tiktoken", a.name, OK, f"offline ({a.models}): {a.detail}"))
        else:
            checks.append(Check("tiktoken", a.name, WARN, f"not available offline ({a.models})", a.detail))
    return checks


def hub_check(timeout: float = HUB_TIMEOUT_S) -> Check:
    """Is the Hugging Face Hub reachable? At most `timeout` seconds, whatever the network does."""
    from core.finetune import models

    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if models._truthy(os.environ.get(var)):
            return Check("network", "Hugging Face Hub", INFO, f"not tried: {var}={os.environ[var]} is set (offline mode)",
                         f"Works offline with the bundled pocket model. To use Hub models, unset {var} where huggingface.co is reachable.")
    start = time.perf_counter()
    reachable = models.hub_reachable(timeout=timeout)
    seconds = time.perf_counter() - start
    if reachable:
        return Check("network", "Hugging Face Hub", OK, f"{models.hub_url()} answered in {seconds:.1f} s")
    return Check("network", "Hugging Face Hub", WARN, f"no answer from {models.hub_url()} within {timeout:g} s",
                 "Offline, the labs use the bundled pocket model and tiktoken files. To use Hub models: check the "
                 "network or proxy (HTTPS_PROXY), or set HF_ENDPOINT to a mirror; set HF_HUB_OFFLINE=1 to skip this check.")


def available_memory_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (Linux): what can be allocated without swapping."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def space_checks() -> list[Check]:
    """Free disk where runs are written, and free memory."""
    folder = sessions.runs_root()
    disk = shutil.disk_usage(_existing(folder))
    free_gb = disk.free / 2**30
    found = f"{free_gb:.1f} GB free of {disk.total / 2**30:.0f} GB where runs are saved ({folder})"
    checks = [Check("disk", "free disk", OK, found) if free_gb >= MIN_FREE_DISK_GB else
              Check("disk", "free disk", WARN, found, f"Runs and downloaded models need space: delete old runs in {folder} "
                    "or set PLAYGROUND_RUNS_DIR to a bigger disk.")]
    memory = available_memory_bytes()
    if memory is None:
        checks.append(Check("memory", "free memory", INFO, "unknown (no /proc/meminfo on this system)"))
    elif memory / 2**30 >= MIN_FREE_MEMORY_GB:
        checks.append(Check("memory", "free memory", OK, f"{memory / 2**30:.1f} GB available"))
    else:
        checks.append(Check("memory", "free memory", WARN, f"{memory / 2**30:.1f} GB available",
                            "Close other programs; the pocket model needs little, SmolLM2 fine-tuning ~2.7 GB."))
    return checks


def all_checks(hub_timeout: float = HUB_TIMEOUT_S, really_import: bool = True) -> Iterator[Check]:
    """Every check, in the order the tab shows them (a generator: the slow ones come last)."""
    yield from machine_checks()
    yield from space_checks()
    yield from library_checks(really_import)
    yield from tiktoken_checks()
    yield hub_check(hub_timeout)


def counts(checks: list[Check]) -> dict[str, int]:
    return {status: sum(c.status == status for c in checks) for status in (OK, WARN, FAIL, INFO)}


def describe(hub_timeout: float = HUB_TIMEOUT_S, really_import: bool = True) -> dict:
    """The whole environment check as one JSON-ready dict (`python -m core info --json`)."""
    import torch

    cuda = torch.cuda.is_available()
    checks = list(all_checks(hub_timeout, really_import))
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_build": torch_build(torch),
        "device": torch.cuda.get_device_name(0) if cuda else "CPU",
        "cuda": cuda,
        "cpu_cores": threads.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "libraries": {p: _version(p) for p, _, _ in LIBRARIES},
        "shipped_checkpoints": {k: [c.name for c in registry.shipped_checkpoints(k)] for k in registry.MARKER_FILES},
        "counts": counts(checks),
        "checks": [asdict(c) for c in checks],
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
