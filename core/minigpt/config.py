"""The shape of a MiniGPT and what it costs: parameter count and a training-memory estimate."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

# Bounds a learner may choose in the app and on the command line: big enough to see scaling,
# small enough that one training step stays well under a second on a 2-core CPU.
LIMITS = {
    "n_layer": (1, 8),
    "n_head": (1, 8),
    "n_embd": (16, 384),
    "block_size": (8, 256),
    "dropout": (0.0, 0.5),
}


@dataclass
class GPTConfig:
    """Hyperparameters that fix the model's shape. The defaults are the guide's ~0.8M-parameter GPT."""

    vocab_size: int = 65  # distinct characters in the corpus (set from the tokenizer)
    block_size: int = 64  # context length: how many characters the model sees at once
    n_layer: int = 4  # transformer blocks stacked on top of each other
    n_head: int = 4  # attention heads per block; each looks at n_embd / n_head dimensions
    n_embd: int = 128  # width of every token's vector all the way up the stack
    dropout: float = 0.0  # randomly zeroed activations while training (regularisation)
    bias: bool = True  # biases in Linear and LayerNorm layers

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ValueError with a learner-readable message for a shape that cannot work."""
        if self.vocab_size < 2:
            raise ValueError(f"vocab_size is {self.vocab_size}; a language model needs at least 2 distinct tokens.")
        for name, (low, high) in LIMITS.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise ValueError(f"{name} = {value} is outside the supported range {low}..{high}.")
        if self.n_embd % self.n_head:
            raise ValueError(
                f"The embedding size ({self.n_embd}) must be divisible by the number of heads ({self.n_head}): "
                f"each head gets n_embd / n_head dimensions. Try {self.n_head * max(1, round(self.n_embd / self.n_head))}."
            )

    @property
    def head_size(self) -> int:
        return self.n_embd // self.n_head

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "GPTConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def num_params(self) -> int:
        """Parameters counted from the shape alone (tests check it equals sum(p.numel()))."""
        C, V, T = self.n_embd, self.vocab_size, self.block_size
        b = 1 if self.bias else 0
        layer_norm = C + b * C  # scale (+ shift)
        attention = (C * 3 * C + b * 3 * C) + (C * C + b * C)  # qkv projection + output projection
        mlp = (C * 4 * C + b * 4 * C) + (4 * C * C + b * C)  # expand 4x, then project back
        block = 2 * layer_norm + attention + mlp
        embeddings = V * C + T * C  # token table + position table
        head = C * V  # the output layer (no bias, not tied to the token table)
        return embeddings + self.n_layer * block + layer_norm + head

    def block_matrix_params(self) -> int:
        """Parameters in the blocks' weight matrices (what Muon updates): qkv 3C², proj C², MLP 4C² + 4C²."""
        return self.n_layer * 12 * self.n_embd ** 2

    def memory_estimate(self, batch_size: int, optimizer: str = "adamw") -> dict[str, int]:
        """Rough bytes needed to train in float32, split by what uses them.

        Weights and gradients each hold one float per parameter. AdamW keeps two moment buffers per
        parameter; with "muon", the blocks' matrices keep one momentum buffer instead (AdamW the rest).
        Activations are what autograd keeps for the backward pass: core.compute.minigpt_activation_bytes
        (the layer-by-layer count of Korthikanti et al. 2022 at 4 bytes per value, the attention matrix
        included), the one activation formula that tab 10 checks against a measured training step.
        """
        from core.compute import minigpt_activation_bytes

        params = self.num_params()
        parts = {
            "weights": 4 * params,
            "gradients": 4 * params,
            "optimizer": 8 * params - (4 * self.block_matrix_params() if optimizer == "muon" else 0),
            "activations": round(minigpt_activation_bytes(self, batch_size)),
        }
        parts["total"] = sum(parts.values())
        return parts
