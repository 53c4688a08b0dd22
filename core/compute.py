"""Cost and compute: training FLOPs, time, money and memory from a model's size and shape (tab 10).

The notebook API. Everything takes plain numbers (parameters N, tokens D, a `Shape`), never imports
torch at module level, and returns numbers in base units (FLOPs, seconds, bytes, USD):

    from core import compute
    compute.training_flops(175e9, 300e9)                         # 3.15e23: GPT-3
    compute.chinchilla_tokens(70e9)                              # 1.4e12: Chinchilla
    compute.run_time(compute.training_flops(1.1e9, 3e12), "A100", gpus=16, mfu=0.5)
    compute.memory(compute.preset("tinyllama").shape, "full_finetune", batch=1)

Formulas and where they come from:
- Training FLOPs ~ 6 N D (2 for the forward pass, 4 for the backward; Kaplan et al. 2020), plus the
  attention scores and their use, 12 L d T per token, which 6N does not count (PaLM, Chowdhery et al.
  2022, appendix B: "6N + 12 L H Q T"; the causal mask is not used to halve it).
- Chinchilla-optimal tokens D ~ 20 N (Hoffmann et al. 2022, table 3: 70B parameters, 1.4T tokens).
- Activations kept for the backward pass, per layer, after Korthikanti et al. 2022 ("Reducing
  activation recomputation in large transformer models", eq. 1): s b h (34 + 5 a s / h) bytes with
  16-bit values and dropout, generalised here to grouped-query attention, any MLP width and gated
  MLPs, and to no dropout (see `layer_activation_values`); with full activation checkpointing each
  layer keeps only its input (2 s b h bytes) and one layer is recomputed at a time.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Iterator

from core.finetune.lora import NF4_BITS, TRAINABLE_BYTES

# ---------- the size of a model and a run ----------

MAX_PARAMS = 1e13  # 10 trillion: ten times the largest published dense models
MAX_TOKENS = 1e15  # a quadrillion tokens: fifty times the largest published pre-training runs
MAX_GPUS = 100_000
MAX_PRICE = 1_000.0  # USD per GPU-hour
MFU_RANGE = (0.01, 1.0)
CHINCHILLA_TOKENS_PER_PARAM = 20

_SUFFIXES = {"k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12, "p": 1e15}
_COUNT = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([kmbgtp]?)\s*$", re.IGNORECASE)


def parse_count(text, what: str, maximum: float) -> float:
    """A count typed by a learner ("1.1e9", "1.1B", "3T", "1,100,000") as a positive number, or a
    ValueError that says what would work."""
    raw = "" if text is None else str(text).replace(",", "").replace("_", "").strip()
    if not raw:
        raise ValueError(f"Give the {what} a value, e.g. 1.1e9 or 1.1B.")
    if len(raw) > 40:
        raise ValueError(f"The {what} is too long to be a number: write it like 1.1e9 or 1.1B.")
    if raw.startswith("-"):
        raise ValueError(f"The {what} must be more than zero.")
    match = _COUNT.match(raw)
    if not match:
        raise ValueError(f"The {what} must be a number such as 1.1e9, 1.1B or 3T; '{raw[:20]}' is not one.")
    value = float(match.group(1)) * _SUFFIXES.get(match.group(2).lower(), 1.0)
    if not value > 0:
        raise ValueError(f"The {what} must be more than zero.")
    if value > maximum:
        raise ValueError(f"The {what} is {value:.3g}, more than this calculator's limit of {maximum:.0e}.")
    return value


def check_positive(value, what: str, maximum: float) -> float:
    """A number from a number box: present, finite, above zero and at most `maximum`."""
    if value is None:
        raise ValueError(f"Give the {what} a value (it is empty).")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"The {what} must be more than zero.")
    if value > maximum:
        raise ValueError(f"The {what} is {value:g}, more than the limit of {maximum:g}.")
    return value


def check_mfu(mfu) -> float:
    """Model FLOPs utilisation as a fraction: 1% to 100% (no run reaches 100%; above it is impossible)."""
    if mfu is None:
        raise ValueError("Give the utilisation (MFU) a value.")
    mfu = float(mfu)
    low, high = MFU_RANGE
    if not math.isfinite(mfu) or not low <= mfu <= high:
        raise ValueError(f"The utilisation (MFU) is {mfu:g}: it must be a fraction from {low:g} to {high:g} "
                         "(well-tuned large runs reach 0.35 to 0.55; above 1 would beat the chip's peak).")
    return mfu


# ---------- compute ----------

def training_flops(params: float, tokens: float) -> float:
    """6 N D: 2 FLOPs per parameter per token forward, 4 backward (Kaplan et al. 2020)."""
    return 6.0 * params * tokens


def attention_flops_per_token(n_layer: int, d_model: int, context: int) -> float:
    """12 L d T: scores q·k over T keys and the weighted sum of T values (2 · 2 · d · T FLOPs per layer
    forward), times 3 for forward + backward (PaLM, appendix B). Not part of 6N."""
    return 12.0 * n_layer * d_model * context


def chinchilla_tokens(params: float) -> float:
    """The compute-optimal number of training tokens, ~20 per parameter (Hoffmann et al. 2022)."""
    return CHINCHILLA_TOKENS_PER_PARAM * params


def mfu(flops_per_token: float, tokens_per_s: float, peak_flops: float) -> float:
    """Model FLOPs utilisation: the model's FLOPs per second over the hardware's peak."""
    return flops_per_token * tokens_per_s / peak_flops


# ---------- hardware ----------

@dataclass(frozen=True)
class Gpu:
    name: str
    peak_flops: float  # dense 16-bit tensor-core FLOP/s (no sparsity)
    memory_bytes: float
    dtype: str  # the 16-bit type that peak is for
    source: str


# Dense (no 2:4 sparsity) 16-bit peaks from NVIDIA's datasheets; datasheets print the sparse figure
# (twice as large) next to it with an asterisk.
GPUS: dict[str, Gpu] = {g.name: g for g in (
    Gpu("T4", 65e12, 16e9, "fp16", "NVIDIA T4 datasheet: 65 TFLOPS FP16 mixed precision. Turing has no bf16: "
        "train in fp16 with loss scaling."),
    Gpu("A10G", 125e12, 24e9, "bf16", "AWS's variant of the A10. NVIDIA publishes no A10G datasheet: this is the "
        "A10 datasheet's 125 TFLOPS BF16 dense, an upper bound (third-party tables list ~70 for the A10G)."),
    Gpu("L4", 121e12, 24e9, "bf16", "NVIDIA L4 datasheet: 242 TFLOPS BF16 with sparsity, 121 dense."),
    Gpu("A100", 312e12, 80e9, "bf16", "NVIDIA A100 datasheet: 312 TFLOPS BF16 dense (624 with sparsity); "
        "40 GB and 80 GB models."),
    Gpu("H100", 989e12, 80e9, "bf16", "NVIDIA H100 SXM datasheet: 1,979 TFLOPS BF16 with sparsity, 989 dense."),
)}
THIS_MACHINE = "this machine"


def gpu(name: str) -> Gpu:
    if name not in GPUS:
        raise ValueError(f"Unknown GPU {name!r}; choose one of {', '.join(GPUS)}.")
    return GPUS[name]


def this_machine(measured_flops: float) -> Gpu:
    """The server itself, at its measured float32 matmul FLOP/s (see measure_matmul_flops)."""
    return Gpu(THIS_MACHINE, measured_flops, 0.0, "fp32", "measured on this server: float32 matmuls, the "
               "torch threads one training job gets")


def run_time(flops: float, hardware: Gpu | str, gpus: int = 1, mfu: float = 0.4) -> float:
    """Seconds for `flops` on `gpus` of `hardware` with data parallelism at utilisation `mfu`."""
    hardware = gpu(hardware) if isinstance(hardware, str) else hardware
    return flops / (gpus * hardware.peak_flops * check_mfu(mfu))


def cost_usd(seconds: float, gpus: int, price_per_gpu_hour: float) -> float:
    return seconds / 3600 * gpus * price_per_gpu_hour


def measure_matmul_flops(size: int = 512, budget_s: float = 0.15, threads: int | None = None) -> float:
    """This machine's float32 matmul FLOP/s: the best of repeated (size x size) @ (size x size) products
    (2 size^3 FLOPs each) within `budget_s`, with the torch threads a training job gets. The best, not
    the mean: the peak is what the hardware can do, a slower repeat is another process's turn."""
    import time

    import torch

    from core import threads as threads_mod

    threads_mod.set_torch_threads(threads)
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator)
    b = torch.randn(size, size, generator=generator)
    a @ b  # warm-up: the first call pays for thread start-up and kernel choice
    best, start = math.inf, time.perf_counter()
    while time.perf_counter() - start < budget_s or best == math.inf:
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2.0 * size**3 / best


# ---------- shapes and presets ----------

@dataclass(frozen=True)
class Shape:
    """What the memory and attention formulas need from an architecture (core.architecture.shape's numbers)."""

    n_layer: int
    d_model: int
    n_head: int
    n_kv_head: int
    d_ff: int
    vocab_size: int
    context: int
    glu: bool = True  # gated MLP (SwiGLU: gate, up, down) or a plain one (GELU: up, down)
    head_size: int = 0  # 0: d_model / n_head

    @property
    def head_dim(self) -> int:
        return self.head_size or self.d_model // self.n_head

    @property
    def kv_width(self) -> int:
        return self.n_kv_head * self.head_dim

    def block_linear_params(self) -> int:
        """Weights of the linear layers inside the blocks (what QLoRA stores in 4 bits)."""
        d, q, kv, f = self.d_model, self.n_head * self.head_dim, self.kv_width, self.d_ff
        return self.n_layer * (2 * d * q + 2 * d * kv + (3 if self.glu else 2) * d * f)

    def validate(self) -> None:
        for name in ("n_layer", "d_model", "n_head", "n_kv_head", "d_ff", "vocab_size", "context"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"The shape's {name.replace('_', ' ')} must be a whole number of at least 1.")
        if not self.head_size and self.d_model % self.n_head:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by the heads ({self.n_head}).")
        if self.n_head % self.n_kv_head:
            raise ValueError(f"The heads ({self.n_head}) must be a multiple of the key/value heads ({self.n_kv_head}): "
                             "in grouped-query attention each key/value head serves a group of query heads.")

    @classmethod
    def of(cls, config) -> "Shape":
        """The shape of anything core.architecture reads: a preset's dict, a config.json, a GPTConfig."""
        from core import architecture

        s = architecture.shape(config)
        return cls(s["n_layers"], s["d_model"], s["n_heads"], s["n_kv_heads"], s["d_mlp"], s["vocab_size"],
                   s["context"], glu=s["family"] == "llama", head_size=s["head_dim"] or 0)


@dataclass(frozen=True)
class Preset:
    name: str
    label: str
    params: int  # core.architecture.breakdown(...)["total"]
    shape: Shape
    tokens: float  # the published pre-training run's tokens (0: none published)
    note: str


# The published pre-training runs (tokens) of core.architecture's presets used here; MiniGPT's is tab 4's
# default run (480 steps x 16 windows x 192 characters), the pocket model's the run that built it.
RUNS = {
    "minigpt": (480 * 16 * 192, "tab 4's default run: 480 steps of 16 windows of 192 characters"),
    "pocket": (0.0, "checkpoints/pocket/pocket-llama: a tiny Llama with tied embeddings"),
    "smollm2-135m": (2e12, "Hugging Face, 2024: 2T tokens"),
    "tinyllama-1.1b": (3e12, "Zhang et al. 2024: 3T tokens on 16 A100-40G at ~24,000 tokens/s per GPU, ~90 days"),
    "llama-2-7b": (2e12, "Touvron et al. 2023: 2T tokens"),
    "llama-3-8b": (15e12, "Meta, 2024: over 15T tokens"),
}


def preset(name: str) -> Preset:
    """A model by name (core.architecture's presets): its exact parameter count, shape and published run."""
    from core import architecture

    if name not in RUNS:
        raise ValueError(f"Unknown preset {name!r}; choose one of {', '.join(RUNS)}.")
    config = architecture.preset(name)
    tokens, note = RUNS[name]
    return Preset(name, architecture.PRESET_LABELS[name], architecture.breakdown(config)["total"], Shape.of(config),
                  tokens, note)


def presets() -> list[Preset]:
    return [preset(name) for name in RUNS]


# ---------- memory ----------

BYTES_PER_WEIGHT = {"fp32": 4.0, "bf16": 2.0, "int8": 1.0, "nf4": NF4_BITS / 8}
SETTINGS = ("inference", "full_finetune", "lora", "qlora")
SETTING_LABELS = {"inference": "Inference", "full_finetune": "Full fine-tune (mixed-precision AdamW)",
                  "lora": "LoRA (bf16 base)", "qlora": "QLoRA (NF4 base)"}
PARTS = ("weights", "gradients", "optimizer", "activations")
LORA_TARGETS = {"attention": "q, k, v, o", "all linear": "q, k, v, o and the MLP"}
MAX_BATCH = 4096
MAX_CONTEXT = 1_048_576


def layer_activation_values(shape: Shape, batch: int, context: int, dropout: bool = True,
                            fused_attention: bool = False) -> tuple[float, float]:
    """(16-bit values, 1-byte dropout masks) one transformer layer keeps for its backward pass.

    Korthikanti et al. 2022 count, for a GPT layer with a 4h GELU MLP and dropout, in bytes at 16 bits:
    attention 11 s b h + 5 a s^2 b, MLP 19 s b h, two LayerNorms 4 s b h: s b h (34 + 5 a s / h). As values:
    each LayerNorm's input (2), the q/k/v input (1), q (1), k and v (2 with as many key/value heads as
    query heads, fewer with GQA), the output projection's input (1), the MLP's input (1), GELU's input
    and output (2 f / h; a gated MLP keeps gate, up, act(gate) and their product: 4 f / h), the softmax
    output (a s^2 b), and with dropout its dropped copy (a s^2 b) plus three masks (a s^2 b + 2 s b h).
    A fused attention kernel (FlashAttention, PyTorch's scaled_dot_product_attention) keeps no s x s
    matrix: it recomputes it in the backward pass from q, k, v and one statistic per row (a s b values)."""
    s, b, h, a = context, batch, shape.d_model, shape.n_head
    mlp = (4 if shape.glu else 2) * shape.d_ff / h
    per_token = 2 + 1 + 1 + 2 * shape.kv_width / h + 1 + 1 + mlp
    scores = a * s * b if fused_attention else a * s * s * b
    values = s * b * h * per_token + scores * (2 if dropout and not fused_attention else 1)
    masks = ((0 if fused_attention else a * s * s * b) + 2 * s * b * h) if dropout else 0.0
    return values, masks


def activation_bytes(shape: Shape, batch: int, context: int | None = None, value_bytes: float = 2,
                     dropout: bool = True, checkpointing: bool = False, mask_bytes: float = 1,
                     fused_attention: bool = False) -> float:
    """Bytes of activations a training step keeps, all layers plus the top (final norm input, head input,
    the log-softmax of the logits: 2 s b h + s b V values). With full activation checkpointing each layer
    keeps only its input (s b h values) and the backward pass recomputes one layer at a time.
    `mask_bytes`: 1 for a boolean dropout mask (Megatron's), 4 for MiniGPT's (a float mask, scaled)."""
    context = context or shape.context
    values, masks = layer_activation_values(shape, batch, context, dropout, fused_attention)
    layer = values * value_bytes + masks * mask_bytes
    top = (2 * context * batch * shape.d_model + context * batch * shape.vocab_size) * value_bytes
    if checkpointing:
        return shape.n_layer * context * batch * shape.d_model * value_bytes + layer + top
    return shape.n_layer * layer + top


def kv_cache_bytes(shape: Shape, batch: int, context: int | None = None, value_bytes: float = 2) -> float:
    """Keys and values of every layer for `context` tokens: 2 L s b (kv heads x head size) values.
    Grouped-query attention shrinks it by heads / kv heads."""
    return 2 * shape.n_layer * (context or shape.context) * batch * shape.kv_width * value_bytes


def lora_params(shape: Shape, rank: int, targets: str = "all linear") -> int:
    """Trainable LoRA numbers: r (in + out) per adapted matrix, per layer."""
    if targets not in LORA_TARGETS:
        raise ValueError(f"Unknown LoRA targets {targets!r}; choose one of {', '.join(LORA_TARGETS)}.")
    d, kv, f = shape.d_model, shape.kv_width, shape.d_ff
    per_layer = 2 * (d + d) + 2 * (d + kv)  # q and o are d -> d, k and v are d -> kv width
    if targets == "all linear":
        per_layer += (3 if shape.glu else 2) * (d + f)
    return shape.n_layer * rank * per_layer


@dataclass(frozen=True)
class MemorySettings:
    batch: int = 1
    context: int | None = None  # None: the shape's
    inference_dtype: str = "bf16"
    checkpointing: bool = False
    dropout: bool = False  # Korthikanti's GPT trains with dropout; Llama-style models train without
    fused_attention: bool = False  # FlashAttention / scaled_dot_product_attention: no s x s matrix kept
    lora_rank: int = 8
    lora_targets: str = "all linear"
    gpus: int = 1
    zero_stage: int = 0  # 0: plain data parallel; 1: shard optimizer; 2: + gradients; 3 (FSDP): + weights

    def validate(self) -> None:
        if not 1 <= self.batch <= MAX_BATCH:
            raise ValueError(f"The batch must be from 1 to {MAX_BATCH:,}.")
        if self.context is not None and not 1 <= self.context <= MAX_CONTEXT:
            raise ValueError(f"The context must be from 1 to {MAX_CONTEXT:,} tokens.")
        if self.inference_dtype not in BYTES_PER_WEIGHT:
            raise ValueError(f"Unknown weight type {self.inference_dtype!r}; choose one of {', '.join(BYTES_PER_WEIGHT)}.")
        if not 1 <= self.lora_rank <= 1024:
            raise ValueError("The LoRA rank must be from 1 to 1024.")
        if not 1 <= self.gpus <= MAX_GPUS:
            raise ValueError(f"The number of GPUs must be from 1 to {MAX_GPUS:,}.")
        if self.zero_stage not in (0, 1, 2, 3):
            raise ValueError("The ZeRO stage must be 0, 1, 2 or 3.")


def _shard(parts: dict, settings: MemorySettings) -> dict:
    """Per GPU under ZeRO/FSDP: stage 1 splits the optimizer state over the GPUs, stage 2 the gradients
    too, stage 3 (FSDP's full sharding) the weights too. Activations belong to each GPU's own batch."""
    n, stage = settings.gpus, settings.zero_stage
    sharded = {1: ("optimizer",), 2: ("optimizer", "gradients"), 3: ("optimizer", "gradients", "weights")}
    return {k: (v / n if k in sharded.get(stage, ()) else v) for k, v in parts.items()}


def memory(shape: Shape, params: float, setting: str, settings: MemorySettings = MemorySettings()) -> dict:
    """Bytes per GPU for one setting: weights, gradients, optimizer, activations and their total.

    inference: the weights in `inference_dtype`, and as "activations" the bf16 KV cache for the batch and
    context (what grows while generating; the forward pass's own temporaries are small next to it).
    full_finetune: mixed-precision AdamW, 16 bytes per parameter: bf16 weights (2), bf16 gradients (2),
    the fp32 master copy and two fp32 moments (4 + 4 + 4, counted as optimizer state).
    lora: bf16 frozen weights; the adapter trains with the same 16 bytes per number.
    qlora: the blocks' linear weights in NF4 (4 bits + double-quantised block scales, QLoRA paper), the
    rest (embeddings, norms, head) bf16, and the adapter as in LoRA."""
    settings.validate()
    context = settings.context or shape.context
    if setting == "inference":
        parts = {"weights": params * BYTES_PER_WEIGHT[settings.inference_dtype], "gradients": 0.0, "optimizer": 0.0,
                 "activations": kv_cache_bytes(shape, settings.batch, context)}
    else:
        if setting not in SETTINGS:
            raise ValueError(f"Unknown setting {setting!r}; choose one of {', '.join(SETTINGS)}.")
        activations = activation_bytes(shape, settings.batch, context, dropout=settings.dropout,
                                       checkpointing=settings.checkpointing, fused_attention=settings.fused_attention)
        trained = params if setting == "full_finetune" else lora_params(shape, settings.lora_rank, settings.lora_targets)
        weights = {"full_finetune": 2 * params, "lora": 2 * params + 2 * trained,
                   "qlora": _qlora_base_bytes(shape, params) + 2 * trained}[setting]
        parts = {"weights": weights, "gradients": 2.0 * trained, "optimizer": (TRAINABLE_BYTES - 4) * trained,
                 "activations": activations}
    parts = _shard(parts, settings)
    parts["total"] = sum(parts[k] for k in PARTS)
    return parts


def _qlora_base_bytes(shape: Shape, params: float) -> float:
    quantised = min(shape.block_linear_params(), params)
    return quantised * BYTES_PER_WEIGHT["nf4"] + (params - quantised) * 2


def memory_table(shape: Shape, params: float, settings: MemorySettings = MemorySettings()) -> dict[str, dict]:
    """Every setting's parts, keyed as the CLI's --json prints them."""
    return {name: memory(shape, params, name, settings) for name in SETTINGS}


# ---------- one calculation, as the tab and the CLI show it ----------

@dataclass(frozen=True)
class Estimate:
    params: float
    tokens: float
    flops_6nd: float  # 6 N D
    attention_flops: float  # 12 L d T per token, times D (0 without a shape)
    chinchilla_tokens: float
    hardware: Gpu
    gpus: int
    mfu: float
    price: float  # USD per GPU-hour
    seconds: float

    @property
    def training_flops(self) -> float:
        return self.flops_6nd + self.attention_flops

    @property
    def tokens_per_param(self) -> float:
        return self.tokens / self.params

    @property
    def hours(self) -> float:
        return self.seconds / 3600

    @property
    def gpu_hours(self) -> float:
        return self.hours * self.gpus

    @property
    def cost_usd(self) -> float:
        return cost_usd(self.seconds, self.gpus, self.price)

    @property
    def chinchilla_flops(self) -> float:
        """6 N D at the compute-optimal D = 20 N: what the same model would cost trained 'optimally'."""
        return training_flops(self.params, self.chinchilla_tokens)


def estimate(params: float, tokens: float, hardware: Gpu | str = "A100", gpus: int = 1, mfu: float = 0.4,
             price: float = 2.0, shape: Shape | None = None) -> Estimate:
    """Training compute, time and cost of N parameters on D tokens; with a shape, the attention term too
    (counted in the time: the hardware does that work as well)."""
    params = check_positive(params, "number of parameters", MAX_PARAMS)
    tokens = check_positive(tokens, "number of training tokens", MAX_TOKENS)
    gpus = int(check_positive(gpus, "number of GPUs", MAX_GPUS))
    price = float(price if price is not None else -1)
    if not math.isfinite(price) or not 0 <= price <= MAX_PRICE:
        raise ValueError(f"The price must be from 0 to {MAX_PRICE:g} USD per GPU-hour.")
    hardware = gpu(hardware) if isinstance(hardware, str) else hardware
    attention = 0.0
    if shape is not None:
        shape.validate()
        attention = attention_flops_per_token(shape.n_layer, shape.d_model, shape.context) * tokens
    total = training_flops(params, tokens) + attention
    return Estimate(params, tokens, training_flops(params, tokens), attention, chinchilla_tokens(params), hardware,
                    gpus, check_mfu(mfu), price, run_time(total, hardware, gpus, mfu))


def cost_report(params: float, tokens: float, hardware: Gpu | str = "A100", gpus: int = 1, mfu: float = 0.4,
                price: float = 2.0, shape: Shape | None = None,
                settings: MemorySettings = MemorySettings()) -> dict:
    """`python -m core cost --json`: compute, time, cost and memory per setting, as one JSON-able dict."""
    est = estimate(params, tokens, hardware, gpus, mfu, price, shape)
    shape_source = "given"
    if shape is None:  # activations, the KV cache and LoRA's adapter need a shape: assume the nearest preset's
        near = nearest_preset(est.params)
        shape, shape_source = near.shape, f"assumed: {near.label}'s, the preset nearest in size"
    table = memory_table(shape, est.params, settings)
    return {
        "params": est.params, "tokens": est.tokens, "training_flops": est.training_flops, "flops_6nd": est.flops_6nd,
        "attention_flops": est.attention_flops, "chinchilla_tokens": est.chinchilla_tokens,
        "tokens_per_param": est.tokens_per_param, "gpu": est.hardware.name, "gpus": est.gpus, "mfu": est.mfu,
        "peak_flops_per_gpu": est.hardware.peak_flops, "hours": est.hours, "gpu_hours": est.gpu_hours,
        "price_per_gpu_hour": est.price, "cost_usd": est.cost_usd,
        "shape": {**shape.__dict__}, "shape_source": shape_source,
        "memory_settings": {**settings.__dict__},
        "memory": {name: {k: float(v) for k, v in parts.items()} for name, parts in table.items()},
    }


def nearest_preset(params: float) -> Preset:
    """The preset closest in size (on a log scale): the shape assumed when only N is given."""
    return min(presets(), key=lambda p: abs(math.log(p.params / params)))


# ---------- predict, then measure: a short MiniGPT run on this machine ----------

MEASURE_STEPS = (5, 300)


def minigpt_activation_bytes(config, batch: int) -> float:
    """What a MiniGPT training step keeps for its backward pass, in float32 (its dropout masks are floats
    too). GPTConfig.memory_estimate uses this: one activation formula for tab 4's estimate and this tab's."""
    return activation_bytes(Shape.of(config), batch, config.block_size, value_bytes=4, dropout=config.dropout > 0,
                            mask_bytes=4)


def minigpt_flops_per_token(config) -> float:
    """6 N + 12 L d T for a MiniGPT, N without the two lookup tables (an embedding lookup multiplies
    nothing; the output head is a real matmul and counts)."""
    from core import architecture

    parts = architecture.breakdown(config)
    matmul_params = parts["total"] - parts["embeddings"] - parts["positions"]
    return 6.0 * matmul_params + attention_flops_per_token(config.n_layer, config.n_embd, config.block_size)


def minigpt_memory(config, batch: int) -> dict:
    """Predicted bytes for training a MiniGPT in float32 with AdamW (tab 4's estimate, GPTConfig.memory_estimate):
    weights, gradients and two moments at 4 bytes per number, and minigpt_activation_bytes."""
    return {k: float(v) for k, v in config.memory_estimate(batch, "adamw").items()}


def predict_run(config, batch: int, steps: int, flops_per_s: float, assumed_mfu: float) -> dict:
    """Model FLOPs of `steps` training steps of `batch` windows, and the seconds they take at
    `assumed_mfu` of the measured FLOP/s."""
    if not MEASURE_STEPS[0] <= steps <= MEASURE_STEPS[1]:
        raise ValueError(f"Choose from {MEASURE_STEPS[0]} to {MEASURE_STEPS[1]} steps for a measured run.")
    tokens = steps * batch * config.block_size
    flops = minigpt_flops_per_token(config) * tokens
    return {"tokens": tokens, "flops": flops, "seconds": flops / (flops_per_s * check_mfu(assumed_mfu)),
            "memory": minigpt_memory(config, batch)}


def _rss_bytes(field: str = "VmRSS") -> float | None:
    """This process's resident memory (VmRSS) or its peak since the last reset (VmHWM), from /proc."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024.0
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    """Linux resets VmHWM to the current RSS when "5" is written to /proc/self/clear_refs."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


def _mmap_threshold(size: int) -> bool:
    """Allocations of at least `size` bytes get their own mapping, returned to the system when freed.
    Setting it also stops glibc from raising the threshold as it goes (its default): otherwise a freed
    activation stays in the heap, the next step reuses it, and the resident peak no longer shows the step."""
    try:
        import ctypes

        return bool(ctypes.CDLL("libc.so.6").mallopt(_M_MMAP_THRESHOLD, size))
    except (OSError, AttributeError):
        return False


def _training_steps(config, batch: int, seed: int, steps: int = 2, keep=None) -> tuple:
    """A fresh MiniGPT trained `steps` AdamW steps on random windows, as core.minigpt.train steps (the
    gradients freed before each forward); `keep` sees what autograd saves in the last one. From the
    second step on, the AdamW moments exist while the activations do: training's steady state."""
    import torch

    from core.minigpt.model import MiniGPT

    generator = torch.Generator().manual_seed(seed)
    x = torch.randint(0, config.vocab_size, (batch, config.block_size), generator=generator)
    y = torch.randint(0, config.vocab_size, (batch, config.block_size), generator=generator)
    model = MiniGPT(config, seed=seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for step in range(steps):
        optimizer.zero_grad(set_to_none=True)
        hook = keep if (keep and step == steps - 1) else (lambda t: t)
        with torch.autograd.graph.saved_tensors_hooks(hook, lambda t: t):
            _, loss = model(x, y)
        loss.backward()
        optimizer.step()
    return model, optimizer


def measure_training_memory(config, batch: int, seed: int = 0) -> dict:
    """Two real AdamW training steps of a fresh MiniGPT (float32), measured two ways:
    - `saved_bytes`: every tensor autograd keeps for the backward pass (saved_tensors_hooks, each storage
      counted once, the weights a Linear keeps left out): the activations, as the formula counts them;
    - `peak_rss_increase`: how much the process's peak resident memory rose while the model was built
      and trained (the peak comes in the second step's backward pass, AdamW's moments allocated): weights,
      gradients, AdamW moments, activations, the backward pass's temporaries and the allocator's slack.
    A first step on a throwaway model loads the kernels' code and buffers, which a training run pays once.
    Run it in a fresh process (a job's worker) before training: it changes how glibc hands out memory
    for its duration (see _mmap_threshold) and sets a fixed 32 MB threshold afterwards."""
    import torch

    exact = _mmap_threshold(64 * 1024)
    try:
        _training_steps(config, batch, seed + 1, steps=1)  # warm-up (result dropped): kernels, thread pools
        reset, before = _reset_peak_rss(), _rss_bytes()
        storages: dict[int, int] = {}

        def keep(tensor):
            storage = tensor.untyped_storage()
            storages[storage.data_ptr()] = storage.nbytes()
            return tensor

        model, optimizer = _training_steps(config, batch, seed, keep=keep)
        peak = _rss_bytes("VmHWM")
    finally:
        _mmap_threshold(32 * 2**20)  # glibc's own largest dynamic threshold: training speed as usual
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    state = [t for s in optimizer.state.values() for t in s.values() if torch.is_tensor(t) and t.dim()]
    return {"weights": sum(p.nbytes for p in model.parameters()),
            "gradients": sum(p.grad.nbytes for p in model.parameters()),
            "optimizer": sum(t.nbytes for t in state),
            "saved_bytes": sum(n for ptr, n in storages.items() if ptr not in weights),
            "peak_rss_increase": (peak - before) if (exact and reset and peak and before) else None}


def measured_run(model_config: dict, batch: int, steps: int, text: str, assumed_mfu: float = 0.5,
                 should_stop=None) -> Iterator[dict]:
    """The "predict, then measure" job (run it through core.jobs.stream): in this worker, measure the
    matmul FLOP/s, predict the run's time and memory, measure a training step's memory, then train
    `steps` real steps with core.minigpt.train and report the measured time and the achieved MFU.
    Yields plain dicts (they cross a process boundary): phase "predicted", then "training" every few
    steps, then "done" (or "stopped")."""
    from core.minigpt import train
    from core.minigpt.config import GPTConfig

    config = GPTConfig.from_dict({**model_config, "vocab_size": len(set(text)), "dropout": 0.0})
    flops_per_s = measure_matmul_flops(size=512, budget_s=0.3)
    report = {"phase": "predicted", "config": config.to_dict(), "batch": batch, "steps": steps,
              "flops_per_s": flops_per_s, "assumed_mfu": assumed_mfu,
              "predicted": predict_run(config, batch, steps, flops_per_s, assumed_mfu)}
    yield dict(report)
    report["measured_memory"] = measure_training_memory(config, batch)
    yield dict(report, phase="memory")
    cfg = train.TrainConfig(steps=steps, batch_size=batch, optimizer="adamw", warmup_steps=0, eval_every=steps,
                            eval_batches=1, sample_every=steps, sample_tokens=1, log_every=max(1, steps // 10))
    for progress in train.train(text, config, cfg, should_stop=should_stop):
        if progress.step == 0:
            continue  # the untrained model's evaluation: not a training step
        measured = {"step": progress.step, "train_time": progress.train_time, "tokens_per_s": progress.tokens_per_s,
                    "loss": progress.train_loss}
        measured["achieved_mfu"] = minigpt_flops_per_token(config) * progress.tokens_per_s / flops_per_s
        phase = ("stopped" if progress.stop_reason else "done") if progress.done else "training"
        yield dict(report, phase=phase, measured=measured)
