"""Which chat model to fine-tune, what this machine can do with it, and loading it.

Three settings, told apart once per process (the answer does not change while the app runs):
- "GPU": CUDA is present: TinyLlama-1.1B-Chat, the guide's model, optionally in 4-bit (QLoRA).
- "CPU with internet": the Hub is reachable: SmolLM2-135M-Instruct, small enough for a CPU.
- "offline": the bundled pocket model (see core.finetune.pocket), fine-tuned in seconds.
Any Hub id, local transformers folder or `.gguf` file can be typed in as well.

Heavy libraries (torch, transformers) are imported inside the functions that need them.
"""
from __future__ import annotations

import copy
import functools
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from core import sessions

TINYLLAMA = "TinyLlama/TinyLlama-1.1B-Chat-v1.0"
SMOLLM2 = "HuggingFaceTB/SmolLM2-135M-Instruct"
POCKET = "pocket"
POCKET_DIR = sessions.CHECKPOINTS_DIR / "pocket" / "pocket-llama"

# (value, label) for the picker; the value is what load_model() accepts.
PRESETS = [
    (TINYLLAMA, "TinyLlama-1.1B-Chat (GPU)"),
    (SMOLLM2, "SmolLM2-135M-Instruct (CPU, needs the Hub)"),
    (POCKET, "pocket-llama (bundled, offline)"),
]

def hub_url() -> str:
    """An API page every online Hub answers quickly (HF_ENDPOINT points at a mirror, if set)."""
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/") + f"/api/models/{SMOLLM2}"


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def hub_reachable(timeout: float = 2.0) -> bool:
    """Can this process use the Hub? False at once when HF_HUB_OFFLINE is set.

    A real HTTPS request, not just a TCP connection: proxies and sandboxes may accept any
    connection and still lead nowhere. Run in a daemon thread abandoned after `timeout` seconds,
    because DNS lookups ignore socket timeouts and a lab must never hang on a silent network.
    """
    if _truthy(os.environ.get("HF_HUB_OFFLINE")) or _truthy(os.environ.get("TRANSFORMERS_OFFLINE")):
        return False
    import urllib.request

    result = []

    def probe() -> None:
        try:
            with urllib.request.urlopen(urllib.request.Request(hub_url(), method="HEAD"), timeout=timeout) as reply:
                result.append(reply.status < 400)
        except (OSError, ValueError):  # URLError and socket errors are OSErrors
            result.append(False)

    worker = threading.Thread(target=probe, daemon=True)
    worker.start()
    worker.join(timeout)
    return bool(result and result[0])


@dataclass(frozen=True)
class Environment:
    cuda: bool
    gpu_name: str | None
    bitsandbytes: bool
    hub: bool
    spaces: bool  # the `spaces` package (Hugging Face ZeroGPU) is installed

    @property
    def setting(self) -> str:
        if self.cuda:
            return "GPU"
        return "CPU with internet" if self.hub else "offline"

    @property
    def default_model(self) -> str:
        return {"GPU": TINYLLAMA, "CPU with internet": SMOLLM2}.get(self.setting, POCKET)

    @property
    def four_bit_unavailable(self) -> str | None:
        """Why 4-bit loading cannot be used here, or None when it can."""
        if not self.cuda:
            return "4-bit (QLoRA) needs an NVIDIA GPU: bitsandbytes' 4-bit kernels are for CUDA, and this machine has only a CPU."
        if not self.bitsandbytes:
            return "4-bit (QLoRA) needs the bitsandbytes package: pip install bitsandbytes."
        return None

    def describe(self) -> str:
        hub = "Hub reachable" if self.hub else "Hub not reachable (offline)"
        device = f"GPU {self.gpu_name}" if self.cuda else "CPU only"
        return f"Setting: **{self.setting}** ({device}, {hub}); default model: `{self.default_model}`."


@functools.cache
def detect_environment() -> Environment:
    """Checked once per process: the hardware and the network do not change while the app runs."""
    import importlib.util

    import torch

    cuda = torch.cuda.is_available()
    return Environment(
        cuda=cuda,
        gpu_name=torch.cuda.get_device_name(0) if cuda else None,
        bitsandbytes=importlib.util.find_spec("bitsandbytes") is not None,
        hub=hub_reachable(),
        spaces=importlib.util.find_spec("spaces") is not None,
    )


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from. `kind`: pocket, hub, folder or gguf."""

    name: str  # what the learner typed or picked
    kind: str
    path: str  # Hub id, or a local folder
    gguf_file: str | None = None

    @property
    def local(self) -> bool:
        return self.kind != "hub"


def resolve(name: str) -> ModelSource:
    """Turn a picker value, Hub id, folder or .gguf path into a ModelSource, checking local files."""
    name = (name or "").strip()
    if not name:
        raise ValueError("Pick a model, or type a Hub id such as HuggingFaceTB/SmolLM2-135M-Instruct.")
    if name == POCKET:
        if not (POCKET_DIR / "config.json").is_file():
            raise ValueError(f"The pocket model is missing from {POCKET_DIR}. Build it with: "
                             "python -m core pocket --out checkpoints/pocket/pocket-llama")
        return ModelSource(name, "pocket", str(POCKET_DIR))
    path = Path(name).expanduser()
    looks_local = name.startswith((".", "/", "~")) or name.endswith(".gguf") or path.exists()
    if not looks_local:
        if name.count("/") != 1 or " " in name:
            raise ValueError(f"{name!r} is neither a Hub id (owner/name, like {SMOLLM2}) nor an existing file or folder.")
        return ModelSource(name, "hub", name)
    if not path.exists():
        raise ValueError(f"No file or folder at {name}. Give the path of a transformers model folder or a .gguf file.")
    if path.is_file():
        if path.suffix != ".gguf":
            raise ValueError(f"{name} is a file but not a .gguf file; give a .gguf file or a model folder.")
        return ModelSource(name, "gguf", str(path.parent.resolve()), path.name)
    if not (path / "config.json").is_file():
        raise ValueError(f"{name} is a folder without config.json, so it is not a transformers model folder.")
    return ModelSource(name, "folder", str(path.resolve()))


def _friendly_load_error(source: ModelSource, err: Exception, env: Environment) -> ValueError:
    text = str(err)
    if source.kind == "hub" and not env.hub:
        return ValueError(f"{source.name} is not in the local Hugging Face cache and the Hub is not reachable (offline). "
                          "Pick the bundled pocket model, or a local folder or .gguf file, or run where huggingface.co is reachable.")
    if source.kind == "hub" and ("not a valid model identifier" in text or "404" in text or "RepositoryNotFound" in type(err).__name__):
        return ValueError(f"No model called {source.name} on the Hugging Face Hub (or it is private). "
                          f"Check the spelling, e.g. {SMOLLM2}.")
    return ValueError(f"Could not load {source.name}: {text.splitlines()[0] if text else type(err).__name__}")


def _dtype(cuda: bool):
    import torch

    if not cuda:
        return torch.float32  # CPUs train in float32; bfloat16 matmuls are slow on most of them
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def quantization_config():
    """NF4 4-bit weights with bfloat16 compute: the QLoRA recipe."""
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=torch.bfloat16)


@dataclass
class LoadedModel:
    source: ModelSource
    model: object  # a transformers PreTrainedModel
    tokenizer: object
    seconds: float
    weight_bytes: int
    four_bit: bool

    @property
    def parameters(self) -> int:
        return count_parameters(self.model)

    def describe(self) -> str:
        quant = ", 4-bit" if self.four_bit else ""
        return (f"Loaded `{self.source.name}` ({self.parameters / 1e6:.2f} M parameters{quant}) in {self.seconds:.1f} s; "
                f"weights take {self.weight_bytes / 2**20:.1f} MB in memory.")


def count_parameters(model) -> int:
    """All parameters, counting a packed 4-bit tensor (two weights per byte) at its true size, as peft does."""
    total = 0
    for p in model.parameters():
        n = p.numel()
        if p.__class__.__name__ == "Params4bit":
            n *= 2
        total += n
    return total


def _load_uncached(source: ModelSource, four_bit: bool, env: Environment) -> LoadedModel:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = {"gguf_file": source.gguf_file} if source.gguf_file else {}
    if source.kind == "hub" and not env.hub:
        kwargs["local_files_only"] = True  # use the cache if it has the model, never wait on the network
    start = time.perf_counter()
    try:
        tokenizer = AutoTokenizer.from_pretrained(source.path, **kwargs)
        model_kwargs = dict(kwargs, dtype=_dtype(env.cuda))
        if four_bit:
            model_kwargs.update(quantization_config=quantization_config(), device_map={"": 0})
        model = AutoModelForCausalLM.from_pretrained(source.path, **model_kwargs)
    except (OSError, ValueError, EnvironmentError) as err:
        raise _friendly_load_error(source, err, env) from err
    if source.gguf_file:
        # transformers dequantizes GGUF weights to plain tensors on load but keeps the GGUF label,
        # which makes Trainer and save_pretrained refuse the model; the label no longer applies.
        model.hf_quantizer = None
        model.is_quantized = False
        if getattr(model.config, "quantization_config", None) is not None:
            del model.config.quantization_config
    if env.cuda and not four_bit:
        model.to("cuda")
    model.eval()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token  # batching needs a pad token; the mask hides it from the loss
    if tokenizer.chat_template is None:
        raise ValueError(f"{source.name} has no chat template, so it cannot be fine-tuned on chat data here; "
                         "pick an instruct/chat model.")
    weight_bytes = sum(t.numel() * t.element_size() for t in list(model.parameters()) + list(model.buffers()))
    return LoadedModel(source, model, tokenizer, time.perf_counter() - start, weight_bytes, four_bit)


# Process-wide cache of loaded *base* models, keyed by (source, 4-bit). Why a module-level dict is
# acceptable here: a loaded base model is never modified (training and adapters work on a copy,
# see load_model(copy=True)), so every learner may share it, like a read-only file; loading
# TinyLlama again for each click would cost tens of seconds and gigabytes.
_CACHE: dict[tuple[ModelSource, bool], LoadedModel] = {}
_CACHE_LOCK = threading.Lock()


def load_model(name: str, four_bit: bool = False, copy_for_training: bool = False) -> LoadedModel:
    """Load (or reuse) a model and its tokenizer.

    copy_for_training=True returns a private deep copy that peft may modify in place (LoRA layers
    are injected into the modules). 4-bit models are loaded afresh instead of copied, since the
    quantized weights live on the GPU and are cheaper to reload than to duplicate.
    """
    env = detect_environment()
    if four_bit and env.four_bit_unavailable:
        raise ValueError(env.four_bit_unavailable + " Uncheck 4-bit to load the model in full precision.")
    source = resolve(name)
    key = (source, four_bit)
    with _CACHE_LOCK:
        if four_bit and copy_for_training:
            return _load_uncached(source, four_bit, env)
        if key not in _CACHE:
            _CACHE[key] = _load_uncached(source, four_bit, env)
        loaded = _CACHE[key]
    if not copy_for_training:
        return loaded
    start = time.perf_counter()
    model = copy.deepcopy(loaded.model)
    return LoadedModel(source, model, loaded.tokenizer, time.perf_counter() - start, loaded.weight_bytes, four_bit)


def architecture(name: str):
    """The model's modules with no weights (meta device): shapes for counting, without loading.

    Needs only config.json (local, cached, or from the Hub), so the parameter counts and memory
    estimates work before a 2 GB download.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    source = resolve(name)
    kwargs = {"gguf_file": source.gguf_file} if source.gguf_file else {}
    if source.kind == "hub" and not detect_environment().hub:
        kwargs["local_files_only"] = True
    try:
        config = AutoConfig.from_pretrained(source.path, **kwargs)
    except (OSError, ValueError) as err:
        raise _friendly_load_error(source, err, detect_environment()) from err
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)
