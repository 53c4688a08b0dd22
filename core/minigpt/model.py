"""MiniGPT: a GPT-2-style decoder-only transformer, small enough to train on a CPU in a minute.

Read top to bottom:

    token ids (B, T)
      -> wte (token embedding) + wpe (position embedding)       each token becomes a vector of n_embd
      -> n_layer x Block:  x = x + attn(ln_1(x))                 tokens look at earlier tokens
                           x = x + mlp(ln_2(x))                  each token "thinks" on its own
      -> ln_f -> lm_head                                          one score (logit) per vocabulary entry

The blocks are pre-norm (LayerNorm before attention and MLP, as in GPT-2) and the residual
additions let gradients flow straight from the loss to the embeddings. The output head is UNTIED, as
in the guide: `lm_head` has its own V x n_embd weights, separate from the token table `wte` (GPT-2
ties them to save parameters; at V ~ 65 that would save only ~8k of ~818k).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from core.minigpt.config import GPTConfig


class KVCache:
    """Keys and values of every token seen so far, for every layer.

    Without a cache, generating token t re-runs the whole model on all t previous tokens. Their keys
    and values never change (a token only attends to the past), so we store them once and each new
    token costs one row of attention instead of a full forward pass. Buffers are preallocated to the
    context length so appending is a copy, not a reallocation.
    """

    def __init__(self, config: GPTConfig, batch_size: int = 1, dtype=torch.float32, device=None):
        shape = (config.n_layer, batch_size, config.n_head, config.block_size, config.head_size)
        self.k = torch.zeros(shape, dtype=dtype, device=device)
        self.v = torch.zeros(shape, dtype=dtype, device=device)
        self.length = 0  # tokens stored so far (= position of the next token)


def _attention_weights(q: torch.Tensor, k: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) over the keys each query is `allowed` to see (True = may look)."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(k.size(-1))  # how well each query matches each key
    scores = scores.masked_fill(~allowed, float("-inf"))  # no peeking at later tokens
    return F.softmax(scores, dim=-1)


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention where each token may only look at itself and earlier tokens."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head = config.n_head
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)  # queries, keys, values in one matmul
        self.proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)  # mixes the heads' outputs
        self.dropout = config.dropout
        self.resid_dropout = nn.Dropout(config.dropout)

    def _heads(self, x: torch.Tensor):
        """(B, T, C) -> q, k, v each (B, n_head, T, head_size): every head works on its own slice."""
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        return [t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v)]

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        """The attention pattern, written out: softmax(q k^T / sqrt(d) + causal mask), shape (B, n_head, T, T).

        Row i says how much token i takes from each earlier token j; every row sums to 1.
        """
        q, k, _ = self._heads(x)
        T = q.size(2)
        return _attention_weights(q, k, torch.ones(T, T, dtype=torch.bool, device=x.device).tril())

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self._heads(x)
        start = 0
        if cache is not None:  # append this step's keys/values, then attend over everything stored
            start = cache.length
            cache.k[layer, :, :, start:start + T] = k
            cache.v[layer, :, :, start:start + T] = v
            k, v = cache.k[layer, :, :, :start + T], cache.v[layer, :, :, :start + T]
        if start == 0:
            mask, causal = None, True  # plain causal attention over the T tokens
        elif T == 1:
            mask, causal = None, False  # one new token may see every stored token
        else:  # T new tokens after `start` stored ones: token i sees keys 0..start+i
            mask, causal = torch.ones(T, start + T, dtype=torch.bool, device=x.device).tril(start), False
        dropout = self.dropout if self.training else 0.0
        if cache is None:
            # Training and whole-sequence passes: the attention written out. On a CPU at this size its
            # backward pass is ~1.5x faster than the fused kernel's (scaled_dot_product_attention).
            weights = _attention_weights(q, k, torch.ones(T, T, dtype=torch.bool, device=x.device).tril())
            y = F.dropout(weights, dropout, self.training) @ v
        else:  # generation with the cache (no backward pass): the fused kernel
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal, dropout_p=dropout)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # put the heads side by side again
        return self.resid_dropout(self.proj(y))


class MLP(nn.Module):
    """Position-wise feed-forward network: widen 4x, GELU, project back."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.proj(F.gelu(self.fc(x))))


class Block(nn.Module):
    """One transformer block: communicate (attention), then compute (MLP), each with a residual."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), cache, layer)
        x = x + self.mlp(self.ln_2(x))
        return x


class MiniGPT(nn.Module):
    """The whole model. `forward(idx, targets)` returns (logits, loss); loss is None without targets."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)  # token id -> vector
        self.wpe = nn.Embedding(config.block_size, config.n_embd)  # position 0..block_size-1 -> vector
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList([Block(config) for _ in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)  # untied (see the module docstring)
        self.apply(self._init_weights)
        # GPT-2: scale the layers that write into the residual stream so its variance stays ~1 with depth
        for name, p in self.named_parameters():
            if name.endswith("proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def _embed(self, idx: torch.Tensor, start: int = 0) -> torch.Tensor:
        B, T = idx.shape
        if start + T > self.config.block_size:
            raise ValueError(
                f"The model sees at most {self.config.block_size} tokens at once (its context); "
                f"got {start + T}. Crop the input to its last {self.config.block_size} tokens."
            )
        positions = torch.arange(start, start + T, device=idx.device)
        return self.drop(self.wte(idx) + self.wpe(positions))

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, cache: KVCache | None = None):
        """idx (B, T) token ids -> logits (B, T, vocab_size) and the mean cross-entropy against targets.

        With a `cache`, idx holds only the new tokens; their positions continue after the stored ones.
        """
        start = cache.length if cache is not None else 0
        x = self._embed(idx, start)
        for layer, block in enumerate(self.blocks):
            x = block(x, cache, layer)
        if cache is not None:
            cache.length += idx.size(1)
        logits = self.lm_head(self.ln_f(x))
        loss = None
        if targets is not None:
            # cross-entropy = -log p(correct next character), averaged over every position
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1))
        return logits, loss

    @torch.no_grad()
    def attention_maps(self, idx: torch.Tensor) -> torch.Tensor:
        """Post-softmax causal attention weights for one sequence: (n_layer, n_head, T, T), float32.

        idx: LongTensor of shape (T,) or (1, T). Runs in eval mode (no dropout).
        """
        if idx.dim() == 1:
            idx = idx.unsqueeze(0)
        if idx.dim() != 2 or idx.size(0) != 1:
            raise ValueError(f"attention_maps takes one sequence of shape (T,) or (1, T), got {tuple(idx.shape)}.")
        was_training = self.training
        self.eval()
        try:
            x = self._embed(idx)
            maps = []
            for block in self.blocks:
                maps.append(block.attn.weights(block.ln_1(x))[0])
                x = block(x)
        finally:
            self.train(was_training)
        return torch.stack(maps).float()
