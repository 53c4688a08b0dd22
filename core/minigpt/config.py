"""The shape of a MiniGPT and what it costs: parameter count and a training-memory estimate.

Two architectures share one config (`arch`):

- "gpt2" (the default, and every checkpoint saved before `arch` existed): learned position table,
  LayerNorm, GELU MLP of width 4d, every head with its own keys and values, biases.
- "llama" (today's open models: Llama, Mistral, Qwen, SmolLM): rotary positions (RoPE, no table),
  RMSNorm, a SwiGLU MLP, optional grouped-query attention (`n_kv_head` < `n_head`), no biases.

"The same size budget": SwiGLU has three d x m matrices (gate, up, down) instead of GPT-2's two d x 4d,
so its hidden size m is 2/3 of 4d, i.e. 8d/3, rounded up to a multiple of 8 (Llama's own rule rounds up
to a multiple of 256, too coarse at these widths): the MLP keeps ~8d² parameters per block
(`swiglu_hidden`). The Llama-style model still comes out a little smaller: no position table, no
biases, RMSNorm has no shift, and grouped-query attention shrinks the key and value projections.
"""
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


ARCHS = {"gpt2": "GPT-2 style", "llama": "Llama style"}
RMS_EPS = 1e-5  # RMSNorm's epsilon (Llama 2's rms_norm_eps)
ROPE_BASE = 10000.0  # RoPE's base ("rope_theta" in a Llama config.json)


def swiglu_hidden(n_embd: int) -> int:
    """The SwiGLU MLP's hidden size for width n_embd at GPT-2's MLP budget: 8d/3 rounded up to a multiple of 8."""
    return -(-n_embd // 3) * 8  # ceil(8d/3 / 8) * 8 = ceil(d/3) * 8


@dataclass
class GPTConfig:
    """Hyperparameters that fix the model's shape. The defaults are the guide's ~0.8M-parameter GPT."""

    vocab_size: int = 65  # distinct characters in the corpus (set from the tokenizer)
    block_size: int = 64  # context length: how many characters the model sees at once
    n_layer: int = 4  # transformer blocks stacked on top of each other
    n_head: int = 4  # attention heads per block; each looks at n_embd / n_head dimensions
    n_embd: int = 128  # width of every token's vector all the way up the stack
    dropout: float = 0.0  # randomly zeroed activations while training (regularisation)
    bias: bool = True  # biases in Linear and LayerNorm layers (GPT-2 style only: Llama style has none)
    arch: str = "gpt2"  # "gpt2" or "llama" (see the module docstring)
    n_kv_head: int | None = None  # key/value heads (Llama style); None: one per query head (no grouping)

    def __post_init__(self) -> None:
        if self.arch == "llama":
            self.bias = False  # a Llama-style block has no biases at all
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
        self._validate_arch()

    def _validate_arch(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"Unknown architecture {self.arch!r}; choose one of {', '.join(ARCHS)}.")
        if self.n_kv_head is None:
            return
        if self.arch == "gpt2" and self.n_kv_head != self.n_head:
            raise ValueError("Grouped-query attention (fewer key/value heads than heads) is a Llama-style option; "
                             "GPT-2 style gives every head its own keys and values.")
        if not 1 <= self.n_kv_head <= self.n_head or self.n_head % self.n_kv_head:
            raise ValueError(f"{self.n_head} heads cannot share {self.n_kv_head} key/value heads evenly: choose a "
                             f"divisor of {self.n_head}.")

    @property
    def kv_heads(self) -> int:
        """Key/value heads: n_kv_head, or one per head."""
        return self.n_kv_head or self.n_head

    @property
    def mlp_hidden(self) -> int:
        """The MLP's hidden width: 4d for GPT-2 style, swiglu_hidden(d) for Llama style."""
        return 4 * self.n_embd if self.arch == "gpt2" else swiglu_hidden(self.n_embd)

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
        if self.arch == "llama":
            return self._llama_params()
        C, V, T = self.n_embd, self.vocab_size, self.block_size
        b = 1 if self.bias else 0
        layer_norm = C + b * C  # scale (+ shift)
        attention = (C * 3 * C + b * 3 * C) + (C * C + b * C)  # qkv projection + output projection
        mlp = (C * 4 * C + b * 4 * C) + (4 * C * C + b * C)  # expand 4x, then project back
        block = 2 * layer_norm + attention + mlp
        embeddings = V * C + T * C  # token table + position table
        head = C * V  # the output layer (no bias, not tied to the token table)
        return embeddings + self.n_layer * block + layer_norm + head

    def _llama_matrices(self) -> int:
        """One Llama-style block's matrices: q and output C², k and v C x kv width each, SwiGLU 3 C x m."""
        C = self.n_embd
        return 2 * C * C + 2 * C * self.kv_heads * self.head_size + 3 * C * self.mlp_hidden

    def _llama_params(self) -> int:
        C, V = self.n_embd, self.vocab_size
        block = 2 * C + self._llama_matrices()  # two RMSNorm gains + the matrices (no biases)
        return V * C + self.n_layer * block + C + C * V  # token table (no position table), final norm, head

    def block_matrix_params(self) -> int:
        """Parameters in the blocks' weight matrices (what Muon updates): qkv 3C², proj C², MLP 4C² + 4C²."""
        if self.arch == "llama":
            return self.n_layer * self._llama_matrices()
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
