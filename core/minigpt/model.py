"""MiniGPT: a decoder-only transformer, GPT-2 style or Llama style, small enough to train on a CPU in a minute.

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

Llama style (`config.arch == "llama"`, the shape of today's open models) changes four things and keeps
the rest (pre-norm blocks, residuals, untied head):

    no wpe: positions enter as a rotation of each query and key (RoPE, `rotate`), so attention scores
            depend on how far apart two tokens are, not on a learned table of absolute positions
    RMSNorm instead of LayerNorm: divide by the root mean square, scale; no mean subtracted, no shift
    SwiGLU MLP: down(silu(gate(x)) * up(x)), a gated MLP, hidden size config.mlp_hidden (~8d/3)
    grouped-query attention: n_kv_head key/value heads shared by groups of query heads (smaller KV cache)
    and no biases anywhere. tests/core/test_minigpt_llama.py checks a block against transformers'
    LlamaDecoderLayer and the whole model against LlamaForCausalLM.

Randomness. The app trains several learners' models at once in one process, so nothing here draws
from torch's global generator (another thread could draw from it in between, or reseed it): the
initial weights come from a generator seeded with `seed`, and dropout draws its masks from a
generator the model owns (`dropout_generator`, seeded from the same seed).
"""
from __future__ import annotations

import hashlib
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from core.minigpt.config import RMS_EPS, ROPE_BASE, GPTConfig


def private_generator(seed: int, purpose: str) -> torch.Generator:
    """A generator of its own for one use of one run's seed ("init", "dropout", ...).

    Seeded from a hash of (seed, purpose), so the streams of one run differ from each other and
    from another seed's streams (seed + 1 for dropout would replay seed 1's initial weights)."""
    digest = hashlib.sha256(f"{int(seed)}/{purpose}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)


class Dropout(nn.Module):
    """Dropout whose masks come from a given generator instead of torch's global one.

    Same semantics as F.dropout: while training, each element is zeroed with probability p and the
    survivors are scaled by 1 / (1 - p), so the expected value is unchanged; in eval mode (or p = 0)
    it is the identity. The mask is scaled before multiplying, as F.dropout does, so with the same
    random bits the two give bit-identical outputs (tests/core/test_minigpt_model.py checks it).
    """

    def __init__(self, p: float, generator: torch.Generator):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"dropout probability must be between 0 and 1, got {p}")
        self.p, self.generator = p, generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if self.p == 1:
            return x * 0.0
        keep = torch.empty_like(x).bernoulli_(1 - self.p, generator=self.generator)
        return x * (keep * (1 / (1 - self.p)))

    def extra_repr(self) -> str:
        return f"p={self.p}"


class KVCache:
    """Keys and values of every token seen so far, for every layer.

    Without a cache, generating token t re-runs the whole model on all t previous tokens. Their keys
    and values never change (a token only attends to the past), so we store them once and each new
    token costs one row of attention instead of a full forward pass. Buffers are preallocated to the
    context length so appending is a copy, not a reallocation.
    """

    def __init__(self, config: GPTConfig, batch_size: int = 1, dtype=torch.float32, device=None):
        # one slot per key/value head: grouped-query attention stores fewer heads than it queries
        shape = (config.n_layer, batch_size, config.kv_heads, config.block_size, config.head_size)
        self.k = torch.zeros(shape, dtype=dtype, device=device)
        self.v = torch.zeros(shape, dtype=dtype, device=device)
        self.length = 0  # tokens stored so far (= position of the next token)


def _attention_weights(q: torch.Tensor, k: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) over the keys each query is `allowed` to see (True = may look)."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(k.size(-1))  # how well each query matches each key
    scores = scores.masked_fill(~allowed, float("-inf"))  # no peeking at later tokens
    return F.softmax(scores, dim=-1)


def rotary(positions: torch.Tensor, head_size: int, base: float = ROPE_BASE) -> tuple[torch.Tensor, torch.Tensor]:
    """RoPE's cos and sin, (T, head_size): dimension pair (i, i + head_size/2) turns at angle pos * base^(-2i/head_size)."""
    inv_freq = 1.0 / (base ** (torch.arange(0, head_size, 2, dtype=torch.float32, device=positions.device) / head_size))
    angles = positions.float()[:, None] * inv_freq[None, :]  # (T, head_size/2): fast turns first, slow ones last
    angles = torch.cat((angles, angles), dim=-1)
    return angles.cos(), angles.sin()


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate each (first half, second half) pair of x's last dimension by its angle (Llama's convention).

    A query rotated by position i and a key rotated by position j have a dot product that depends only
    on i - j: relative position, with no parameter learned."""
    half = x.size(-1) // 2
    rotated_half = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated_half * sin


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention where each token may only look at itself and earlier tokens (GPT-2 style).

    Subclasses change only `_heads` (how q, k, v are made); the causal attention itself is shared."""

    def __init__(self, config: GPTConfig, generator: torch.Generator):
        super().__init__()
        self.n_head, self.n_kv_head = config.n_head, config.kv_heads
        self._make_projections(config)
        self.attn_dropout = Dropout(config.dropout, generator)
        self.resid_dropout = Dropout(config.dropout, generator)

    def _make_projections(self, config: GPTConfig) -> None:
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)  # queries, keys, values in one matmul
        self.proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)  # mixes the heads' outputs

    def _heads(self, x: torch.Tensor, start: int = 0):
        """(B, T, C) -> q, k, v each (B, n_head, T, head_size): every head works on its own slice."""
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        return [t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v)]

    def _share(self, kv: torch.Tensor) -> torch.Tensor:
        """Key/value heads (B, n_kv_head, T, hs) -> one per query head: head h reads kv head h // group."""
        group = self.n_head // self.n_kv_head
        return kv if group == 1 else kv.repeat_interleave(group, dim=1)

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        """The attention pattern, written out: softmax(q k^T / sqrt(d) + causal mask), shape (B, n_head, T, T).

        Row i says how much token i takes from each earlier token j; every row sums to 1.
        """
        q, k, _ = self._heads(x)
        T = q.size(2)
        return _attention_weights(q, self._share(k), torch.ones(T, T, dtype=torch.bool, device=x.device).tril())

    @staticmethod
    def _cache_mask(T: int, start: int, device) -> torch.Tensor | None:
        """The fused kernel's mask for T new tokens after `start` cached ones (None: is_causal or see all)."""
        if start == 0 or T == 1:  # plain causal attention, or one new token that may see every stored one
            return None
        return torch.ones(T, start + T, dtype=torch.bool, device=device).tril(start)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        B, T, C = x.shape
        start = cache.length if cache is not None else 0
        q, k, v = self._heads(x, start)
        if cache is not None:  # append this step's keys/values, then attend over everything stored
            cache.k[layer, :, :, start:start + T] = k
            cache.v[layer, :, :, start:start + T] = v
            k, v = cache.k[layer, :, :, :start + T], cache.v[layer, :, :, :start + T]
        k, v = self._share(k), self._share(v)
        if cache is None or self.training:
            # Training and whole-sequence passes: the attention written out (token i sees keys 0..start+i).
            # On a CPU at this size its backward pass is ~1.5x faster than the fused kernel's.
            allowed = torch.ones(T, start + T, dtype=torch.bool, device=x.device).tril(start)
            y = self.attn_dropout(_attention_weights(q, k, allowed)) @ v
        else:  # generation with the cache (eval mode, no dropout): the fused kernel
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=self._cache_mask(T, start, x.device),
                                               is_causal=start == 0, dropout_p=0.0)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # put the heads side by side again
        return self.resid_dropout(self.proj(y))


class LlamaAttention(CausalSelfAttention):
    """Llama style: separate q, k, v projections without biases, n_kv_head key/value heads, RoPE on q and k."""

    def _make_projections(self, config: GPTConfig) -> None:
        C, kv_width = config.n_embd, config.kv_heads * config.head_size
        self.q = nn.Linear(C, C, bias=False)
        self.k = nn.Linear(C, kv_width, bias=False)  # fewer columns than q with grouped-query attention
        self.v = nn.Linear(C, kv_width, bias=False)
        self.proj = nn.Linear(C, C, bias=False)

    def _heads(self, x: torch.Tensor, start: int = 0):
        """q (B, n_head, T, hs), k and v (B, n_kv_head, T, hs); q and k rotated by their positions start.."""
        B, T, C = x.shape
        hs = C // self.n_head
        q = self.q(x).view(B, T, self.n_head, hs).transpose(1, 2)
        k = self.k(x).view(B, T, self.n_kv_head, hs).transpose(1, 2)
        v = self.v(x).view(B, T, self.n_kv_head, hs).transpose(1, 2)
        cos, sin = rotary(torch.arange(start, start + T, device=x.device), hs)
        return rotate(q, cos, sin), rotate(k, cos, sin), v  # the cache stores keys already rotated


class MLP(nn.Module):
    """Position-wise feed-forward network: widen 4x, GELU, project back."""

    def __init__(self, config: GPTConfig, generator: torch.Generator):
        super().__init__()
        self.fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = Dropout(config.dropout, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.proj(F.gelu(self.fc(x))))


class SwiGLU(nn.Module):
    """Llama's MLP: a gate (SiLU of one projection) multiplies another projection, then project back."""

    def __init__(self, config: GPTConfig, generator: torch.Generator):
        super().__init__()
        self.gate = nn.Linear(config.n_embd, config.mlp_hidden, bias=False)
        self.up = nn.Linear(config.n_embd, config.mlp_hidden, bias=False)
        self.proj = nn.Linear(config.mlp_hidden, config.n_embd, bias=False)  # "down_proj" in transformers
        self.dropout = Dropout(config.dropout, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.proj(F.silu(self.gate(x)) * self.up(x)))


def norm(config: GPTConfig) -> nn.Module:
    """LayerNorm (subtract the mean, divide by the std, scale and shift) or Llama's RMSNorm (divide by the
    root mean square, scale): cheaper, and works as well."""
    if config.arch == "llama":
        return nn.RMSNorm(config.n_embd, eps=RMS_EPS)
    return nn.LayerNorm(config.n_embd, bias=config.bias)


class Block(nn.Module):
    """One transformer block: communicate (attention), then compute (MLP), each with a residual."""

    def __init__(self, config: GPTConfig, generator: torch.Generator):
        super().__init__()
        llama = config.arch == "llama"
        self.ln_1 = norm(config)
        self.attn = (LlamaAttention if llama else CausalSelfAttention)(config, generator)
        self.ln_2 = norm(config)
        self.mlp = (SwiGLU if llama else MLP)(config, generator)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), cache, layer)
        x = x + self.mlp(self.ln_2(x))
        return x


class MiniGPT(nn.Module):
    """The whole model. `forward(idx, targets)` returns (logits, loss); loss is None without targets.

    `seed` fixes the initial weights and the dropout masks (see the module docstring).
    """

    def __init__(self, config: GPTConfig, seed: int = 0):
        super().__init__()
        self.config = config
        self.dropout_generator = private_generator(seed, "dropout")
        # The layers are built on the meta device (shapes only): torch's own initialisation would
        # draw from the global generator. The real weights come from _init_weights below.
        with torch.device("meta"):
            self.wte = nn.Embedding(config.vocab_size, config.n_embd)  # token id -> vector
            # position 0..block_size-1 -> vector (GPT-2 style; Llama style rotates q and k instead)
            self.wpe = nn.Embedding(config.block_size, config.n_embd) if config.arch == "gpt2" else None
            self.blocks = nn.ModuleList([Block(config, self.dropout_generator) for _ in range(config.n_layer)])
            self.ln_f = norm(config)
            self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)  # untied (see the module docstring)
        self.drop = Dropout(config.dropout, self.dropout_generator)
        self.to_empty(device=torch.get_default_device())
        self._init_weights(private_generator(seed, "init"))

    @torch.no_grad()
    def _init_weights(self, generator: torch.Generator) -> None:
        """GPT-2's initialisation (both styles): weights ~ N(0, 0.02), biases 0, norm gains 1."""
        for name, p in self.named_parameters():  # in a fixed order, so a seed always gives the same model
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif ".ln_" in name or name.startswith("ln_f"):
                nn.init.ones_(p)
            elif name.endswith("proj.weight"):
                # GPT-2: scale the layers that write into the residual stream so its variance stays ~1 with depth
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * self.config.n_layer), generator=generator)
            else:
                nn.init.normal_(p, mean=0.0, std=0.02, generator=generator)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def _embed(self, idx: torch.Tensor, start: int = 0) -> torch.Tensor:
        B, T = idx.shape
        if start + T > self.config.block_size:
            raise ValueError(
                f"The model sees at most {self.config.block_size} tokens at once (its context); "
                f"got {start + T}. Crop the input to its last {self.config.block_size} tokens."
            )
        x = self.wte(idx)
        if self.wpe is not None:
            x = x + self.wpe(torch.arange(start, start + T, device=idx.device))
        return self.drop(x)

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
