"""What LoRA adds to a model: trainable parameters, the W + (α/r)·B·A shapes, memory estimates.

LoRA freezes a linear layer's weight W (out × in) and learns a low-rank update:
    y = W x + (α / r) · B A x,   A: r × in,  B: out × r,  B starts at zero
so each adapted layer trains r · (in + out) numbers instead of in · out.
Everything here is computed from the model's actual modules (works on a weightless "meta" model).
"""
from __future__ import annotations

from dataclasses import dataclass, field

ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP = ("gate_proj", "up_proj", "down_proj")
PRESETS = {"attention only": list(ATTENTION), "all linear": list(ATTENTION + MLP)}


@dataclass
class LoraSettings:
    rank: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: list(ATTENTION + MLP))

    def validate(self) -> None:
        if self.rank < 1:
            raise ValueError("The LoRA rank must be at least 1.")
        if not self.target_modules:
            raise ValueError("Tick at least one target module (e.g. q_proj and v_proj): LoRA needs layers to adapt.")
        if not 0 <= self.dropout < 1:
            raise ValueError("LoRA dropout must be between 0 and 1.")

    @property
    def scale(self) -> float:
        return self.alpha / self.rank

    def peft_config(self):
        from peft import LoraConfig

        self.validate()
        return LoraConfig(r=self.rank, lora_alpha=self.alpha, lora_dropout=self.dropout,
                          target_modules=list(self.target_modules), bias="none", task_type="CAUSAL_LM")


def target_layers(model, target_modules) -> dict[str, tuple[int, int]]:
    """{module name: (in_features, out_features)} of the linear layers LoRA will adapt.

    Same matching as peft for a list of names: a module whose last name part is in the list.
    """
    wanted = set(target_modules)
    layers = {}
    for name, module in model.named_modules():
        if name.rsplit(".", 1)[-1] in wanted and hasattr(module, "in_features") and hasattr(module, "out_features"):
            layers[name] = (module.in_features, module.out_features)
    return layers


def available_targets(model) -> list[str]:
    """The linear layer names inside the transformer blocks (what the checkboxes offer)."""
    names = {name.rsplit(".", 1)[-1] for name, m in model.named_modules() if ".layers." in name and hasattr(m, "in_features")}
    return [n for n in ATTENTION + MLP if n in names] + sorted(names - set(ATTENTION + MLP))


@dataclass
class ParameterCount:
    trainable: int
    total: int  # base model + LoRA, as peft's print_trainable_parameters counts it
    layers: int

    @property
    def percent(self) -> float:
        return 100.0 * self.trainable / self.total if self.total else 0.0

    def describe(self) -> str:
        return (f"trainable params: {self.trainable:,} || all params: {self.total:,} || "
                f"trainable%: {self.percent:.4f} ({self.layers} adapted layers)")


def parameter_count(model, settings: LoraSettings) -> ParameterCount:
    from core.finetune.models import count_parameters

    settings.validate()
    layers = target_layers(model, settings.target_modules)
    if not layers:
        raise ValueError(f"This model has no layers named {', '.join(settings.target_modules)}.")
    lora = sum(settings.rank * (i + o) for i, o in layers.values())
    return ParameterCount(lora, count_parameters(model) + lora, len(layers))


@dataclass
class LayerShapes:
    name: str
    in_features: int
    out_features: int
    rank: int
    alpha: int

    def formula(self) -> str:
        """LaTeX of the update with this layer's shapes."""
        o, i, r = self.out_features, self.in_features, self.rank
        return (rf"W_{{{o}\times{i}}} + \frac{{{self.alpha}}}{{{r}}}\,B_{{{o}\times{r}}}\,A_{{{r}\times{i}}}"
                rf"\quad\text{{: }}{o * i:,}\text{{ frozen, }}{r * (i + o):,}\text{{ trained}}")


def example_layer(model, settings: LoraSettings) -> LayerShapes:
    """The first adapted layer (in model order), to show the formula with real shapes."""
    layers = target_layers(model, settings.target_modules)
    if not layers:
        raise ValueError(f"This model has no layers named {', '.join(settings.target_modules)}.")
    name, (i, o) = next(iter(layers.items()))
    return LayerShapes(name, i, o, settings.rank, settings.alpha)


# Bytes per number. Training with Adam keeps, per trainable parameter: the weight, its gradient and
# two moments (fp32 each: 4 + 4 + 8 = 16 bytes; mixed precision keeps 16-bit weight+grad plus an
# fp32 master copy: 2 + 2 + 4 + 8 = 16 too). Frozen weights only need to be stored.
TRAINABLE_BYTES = 16
NF4_BITS = 4 + 0.127  # 4-bit weights + double-quantized block scales (QLoRA paper: ~0.127 bits/param)


@dataclass
class MemoryEstimate:
    full: float  # bytes: weights, gradients and Adam states of every parameter
    lora: float  # frozen weights (frozen_bytes each) + LoRA training state
    qlora: float  # frozen 4-bit linear weights (other weights 16-bit) + LoRA training state
    frozen_bytes: int = 2  # of a frozen weight in the LoRA estimate: 2 on a GPU (bf16/fp16), 4 for a float32 CPU run

    def rows(self) -> list[tuple[str, float]]:
        base = {2: "16-bit", 4: "float32"}.get(self.frozen_bytes, f"{8 * self.frozen_bytes}-bit")
        return [("Full fine-tune", self.full), (f"LoRA ({base} base)", self.lora), ("QLoRA (4-bit base)", self.qlora)]


def memory_estimate(model, settings: LoraSettings, frozen_bytes: int = 2) -> MemoryEstimate:
    """Memory for weights + gradients + optimizer states (activations excluded: they grow with
    batch × sequence length, and gradient checkpointing trades them for recomputation)."""
    total = count_parameters_excluding_lora(model)
    lora = parameter_count(model, settings).trainable
    # 4-bit applies to the linear layers inside the transformer blocks; embeddings and norms stay 16-bit
    quantizable = sum(i * o for i, o in target_layers(model, ATTENTION + MLP + tuple(available_targets(model))).values())
    full = total * TRAINABLE_BYTES
    lora_bytes = total * frozen_bytes + lora * TRAINABLE_BYTES
    qlora = quantizable * NF4_BITS / 8 + (total - quantizable) * 2 + lora * TRAINABLE_BYTES
    return MemoryEstimate(full, lora_bytes, qlora, frozen_bytes)


def count_parameters_excluding_lora(model) -> int:
    from core.finetune.models import count_parameters

    lora = sum(p.numel() for n, p in model.named_parameters() if "lora_" in n)
    return count_parameters(model) - lora
