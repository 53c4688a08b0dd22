"""Self-attention taken apart: every intermediate matrix of one attention layer, in NumPy.

    from core import attention
    tokens = attention.split_tokens("the cat sat on the mat", "words")
    x, w = attention.random_inputs(tokens, d_model=8, seed=0)
    steps = attention.attention_steps(x, w["w_q"], w["w_k"], w["w_v"], w["w_o"], n_heads=2)
    steps["weights"]          # (heads, T, T): row i = how much token i looks at each token

Conventions (the guide's): X is (T, d_model), one row per token; Q = X·W_q with W_q of shape
(d_model, d_q), so a PyTorch nn.Linear's weight is W_q transposed. Several heads split the columns
of Q, K and V into equal contiguous blocks (head h gets columns h·d_k … (h+1)·d_k − 1), exactly as
nanoGPT and torch.nn.MultiheadAttention do, and their outputs are concatenated back in that order.
Everything is float64 NumPy so a learner can inspect any number; it is tiny, so speed is no issue.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np

# One softmax and one entropy for the whole project: probability's, over the last axis (row by row),
# where −∞ (a masked score) becomes exactly 0. Also importable from here as attention.softmax.
from core.probability import entropy, softmax
from core.seeds import check_seed

# A T×T heatmap stops being readable (and its numbers stop fitting in the cells) beyond this.
MAX_TOKENS = 16
# A sentence of 16 words is far shorter than this; the bound refuses a pasted book before splitting it.
MAX_SENTENCE_CHARS = 1_000
TOKEN_UNITS = ("words", "characters")


# ----------------------------------------------------------------------------- inputs


def split_tokens(text: str, unit: str = "words", max_tokens: int = MAX_TOKENS) -> list[str]:
    """Cut a sentence into tokens: whitespace-separated words, or single characters (spaces kept)."""
    if unit not in TOKEN_UNITS:
        raise ValueError(f"Tokens can be {' or '.join(TOKEN_UNITS)}, not {unit!r}.")
    check_sentence(text, max_tokens)
    text = (text or "").strip()
    tokens = text.split() if unit == "words" else list(text)
    if not tokens:
        raise ValueError("The sentence is empty: type a few words, e.g. 'the cat sat on the mat'.")
    if len(tokens) > max_tokens:
        hint = " or switch to words" if unit == "characters" else ""
        raise ValueError(f"The sentence has {len(tokens)} {unit}; the step-through shows at most {max_tokens} tokens "
                         f"(a {max_tokens}×{max_tokens} matrix is the most that stays readable). Shorten it{hint}.")
    return tokens


def check_sentence(text, max_tokens: int = MAX_TOKENS) -> None:
    """Refuse what is not a sentence of a few words before any work: not text, or a paste far too long."""
    if text is not None and not isinstance(text, str):
        raise ValueError("The sentence must be text, e.g. 'the cat sat on the mat'.")
    if len(text or "") > MAX_SENTENCE_CHARS:
        raise ValueError(f"The text has {len(text):,} characters; keep it under {MAX_SENTENCE_CHARS:,} "
                         f"(the lab shows at most {max_tokens} tokens).")


def random_inputs(tokens: list[str], d_model: int = 8, seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Seeded random embeddings X (T, d_model) and weights W_q, W_k, W_v, W_o (d_model, d_model).

    A token's embedding depends only on the token and the seed, so a word that appears twice gets
    the same row twice: plain attention has no idea of order (a real model adds position embeddings).
    Weights are scaled by 1/√d_model so Q, K and V have entries of about unit size, as after a
    trained layer's initialisation.
    """
    if not 1 <= d_model <= 512:
        raise ValueError(f"The embedding width d_model must be between 1 and 512, not {d_model}.")
    seed = check_seed(seed)
    rows = [np.random.default_rng([seed, zlib.crc32(t.encode("utf-8"))]).standard_normal(d_model) for t in tokens]
    x = np.stack(rows)
    rng = np.random.default_rng(seed)
    weights = {name: rng.standard_normal((d_model, d_model)) / math.sqrt(d_model) for name in ("w_q", "w_k", "w_v", "w_o")}
    return x, weights


# ----------------------------------------------------------------------------- the computation


def causal_mask(T: int) -> np.ndarray:
    """True where a query may look: on and below the diagonal (a token never sees the future)."""
    return np.tril(np.ones((T, T), dtype=bool))


def check_heads(width: int, n_heads: int) -> int:
    """The per-head width d_k, or a message saying which head counts would work."""
    if n_heads < 1:
        raise ValueError(f"The number of heads must be at least 1, not {n_heads}.")
    if width % n_heads:
        divisors = [str(h) for h in range(1, width + 1) if width % h == 0]
        raise ValueError(f"{n_heads} heads cannot split a width of {width}: each head gets width ÷ heads columns, "
                         f"so the head count must divide {width} (try {', '.join(divisors)}).")
    return width // n_heads


def attention_steps(x, w_q, w_k, w_v, w_o=None, n_heads: int = 1, causal: bool = True, scaled: bool = True,
                    *, b_q=None, b_k=None, b_v=None, b_o=None) -> dict[str, np.ndarray]:
    """Every intermediate of (multi-head) self-attention on X, as float64 NumPy arrays.

    Keys, in the order the lesson steps through them (per-head arrays are (heads, T, ·) when
    n_heads > 1, and (T, ·) for one head):
        x              the input (T, d_model)
        q, k, v        X·W_q (+ b_q) etc., split into heads
        scores         Q·Kᵀ                                   (heads, T, T)
        scaled_scores  scores / √d_k (equal to scores when scaled=False)
        masked_scores  −∞ above the diagonal (equal to scaled_scores when causal=False)
        weights        softmax of each row of masked_scores: each row sums to 1
        head_outputs   weights·V                              (heads, T, d_v)
        concat         the heads side by side                 (T, heads·d_v)
        output         concat·W_o (+ b_o) when W_o is given, else concat
        projected      concat·W_o (+ b_o), only when W_o is given
    The biases are optional (a MiniGPT's layers have them).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"X must be a matrix (tokens × d_model), got shape {x.shape}.")
    T = x.shape[0]
    w_q, w_k, w_v = (np.asarray(w, dtype=np.float64) for w in (w_q, w_k, w_v))
    if w_q.shape != w_k.shape:
        raise ValueError(f"W_q {w_q.shape} and W_k {w_k.shape} must have the same shape: Q·Kᵀ pairs their columns.")
    d_k = check_heads(w_q.shape[1], n_heads)
    d_v = check_heads(w_v.shape[1], n_heads)

    def project(w, b):
        out = x @ w
        return out if b is None else out + np.asarray(b, dtype=np.float64)

    def split(m, d):  # (T, heads·d) -> (heads, T, d)
        return m.reshape(T, n_heads, d).transpose(1, 0, 2)

    q, k, v = split(project(w_q, b_q), d_k), split(project(w_k, b_k), d_k), split(project(w_v, b_v), d_v)
    scores = q @ k.transpose(0, 2, 1)
    scaled_scores = scores / math.sqrt(d_k) if scaled else scores.copy()
    masked_scores = np.where(causal_mask(T), scaled_scores, -np.inf) if causal else scaled_scores.copy()
    weights = softmax(masked_scores)
    head_outputs = weights @ v
    concat = head_outputs.transpose(1, 0, 2).reshape(T, n_heads * d_v)

    steps = dict(x=x, q=q, k=k, v=v, scores=scores, scaled_scores=scaled_scores, masked_scores=masked_scores,
                 weights=weights, head_outputs=head_outputs)
    if n_heads == 1:  # one head: plain (T, ·) matrices, as in the guide's formulas
        steps = {name: (m[0] if m.ndim == 3 else m) for name, m in steps.items()}
    steps["concat"] = concat
    steps["output"] = concat
    if w_o is not None:
        projected = concat @ np.asarray(w_o, dtype=np.float64)
        if b_o is not None:
            projected = projected + np.asarray(b_o, dtype=np.float64)
        steps["projected"] = steps["output"] = projected
    return steps


# ----------------------------------------------------------------------------- the steps, described


@dataclass(frozen=True)
class Step:
    """One stop of the step-through: which matrix, what it means, and how to label its axes."""

    key: str  # the key in attention_steps' dict
    title: str
    formula: str  # plain Unicode, readable both in a terminal and in the app
    note: str
    matrix: np.ndarray  # (T, ·), or (heads, T, ·) when per_head
    row_labels: list[str]
    col_labels: list[str]
    per_head: bool

    def shape_text(self) -> str:
        return " × ".join(str(n) for n in self.matrix.shape)


def _dims(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def describe_steps(steps: dict[str, np.ndarray], tokens: list[str], n_heads: int = 1,
                   scaled: bool = True, causal: bool = True) -> list[Step]:
    """The lesson's stops, in order, for the result of `attention_steps` on `tokens`."""
    multi = n_heads > 1
    d_k = steps["q"].shape[-1]
    d_model = steps["x"].shape[1]
    split_note = f" Its {n_heads * d_k} columns are split into {n_heads} heads of d_k = {d_k} columns each; every head attends on its own." if multi else ""
    keys = tokens
    out = [
        Step("x", "Input X", "X = the tokens' embeddings", f"One row per token: its embedding, a vector of d_model = {d_model} numbers.",
             steps["x"], tokens, _dims("d", d_model), False),
        Step("q", "Queries", "Q = X · W_q", "What each token is looking for." + split_note,
             steps["q"], tokens, _dims("q", d_k), multi),
        Step("k", "Keys", "K = X · W_k", "What each token offers to be found by.",
             steps["k"], tokens, _dims("k", d_k), multi),
        Step("v", "Values", "V = X · W_v", "What each token passes on when it is attended to.",
             steps["v"], tokens, _dims("v", steps["v"].shape[-1]), multi),
        Step("scores", "Scores", "S = Q · Kᵀ", "Row i, column j: how well query i matches key j (a dot product). Rows are queries, columns keys.",
             steps["scores"], tokens, keys, multi),
        Step("scaled_scores", "Scaled scores", f"S / √d_k = S / √{d_k}" if scaled else "S (scaling off)",
             (f"Dividing by √{d_k} = {math.sqrt(d_k):.3g} keeps the scores' spread near 1 whatever d_k is, so softmax does not saturate."
              if scaled else "Scaling is off: as d_k grows the scores spread wider and softmax puts almost all weight on one key."),
             steps["scaled_scores"], tokens, keys, multi),
        Step("masked_scores", "Causal mask", "−∞ above the diagonal" if causal else "no mask",
             ("A token may not look at later tokens: their scores become −∞, which softmax turns into weight 0."
              if causal else "Mask off: every token sees every token, the future too (as in an encoder like BERT)."),
             steps["masked_scores"], tokens, keys, multi),
        Step("weights", "Attention weights", "A = softmax(row by row)",
             "Each row is a probability distribution over the keys: non-negative and summing to 1.",
             steps["weights"], tokens, keys, multi),
        Step("head_outputs", "Weighted values", "A · V",
             "Each token's new vector: the values mixed in the proportions of its row of weights.",
             steps["head_outputs"], tokens, _dims("o", steps["head_outputs"].shape[-1]), multi),
    ]
    if multi:
        out.append(Step("concat", "Concatenate heads", "[head 1 | … | head H]",
                        f"The {n_heads} heads' outputs side by side, back to width {steps['concat'].shape[1]}.",
                        steps["concat"], tokens, [f"h{h + 1}.{j}" for h in range(n_heads) for j in range(steps['head_outputs'].shape[-1])], False))
    if "projected" in steps:
        out.append(Step("projected", "Output projection", "Y = concat · W_o",
                        "A last linear layer mixes the heads' results into the vector added back to the residual stream.",
                        steps["projected"], tokens, _dims("y", steps["projected"].shape[1]), False))
    return out


def format_matrix(matrix: np.ndarray, row_labels: list[str], col_labels: list[str], precision: int = 2) -> str:
    """A labelled matrix as text for a terminal; −∞ is written as -inf."""
    cells = [[("-inf" if np.isneginf(v) else f"{v:.{precision}f}") for v in row] for row in np.asarray(matrix)]
    width = max(5, *(len(c) for row in cells for c in row))
    cols = [repr_label(c)[:width] for c in col_labels]  # long words are cut to the column width
    rows = [repr_label(r) for r in row_labels]
    label_w = max(len(r) for r in rows)
    lines = [" " * label_w + "  " + " ".join(c.rjust(width) for c in cols)]
    lines += [r.ljust(label_w) + "  " + " ".join(c.rjust(width) for c in row) for r, row in zip(rows, cells)]
    return "\n".join(lines)


def repr_label(token: str) -> str:
    """A token as a readable label: whitespace made visible (a space is invisible in a table)."""
    return token.replace(" ", "␣").replace("\n", "↵").replace("\t", "→")


# ----------------------------------------------------------------------------- why 1/√d_k


def softmax_saturation(d_k_values=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024), n_keys: int = 8,
                       n_queries: int = 256, seed: int = 0) -> dict[str, np.ndarray]:
    """How peaked softmax gets as d_k grows, with and without dividing the scores by √d_k.

    Queries and keys have independent unit-variance entries (as after LayerNorm), so a score q·k
    is a sum of d_k unit-variance products: its standard deviation is √d_k. Unscaled, the scores
    spread wider and wider and softmax saturates (one weight near 1, gradients near 0); scaled,
    their spread stays near 1. Returns, per d_k, the mean largest weight in a row, the mean
    entropy of a row (nats; ln n_keys means uniform) and the measured spread of the scores.
    """
    rng = np.random.default_rng(check_seed(seed))
    out = {name: [] for name in ("max_weight_unscaled", "max_weight_scaled", "entropy_unscaled", "entropy_scaled",
                                 "score_std_unscaled", "score_std_scaled")}
    for d_k in d_k_values:
        q = rng.standard_normal((n_queries, d_k))
        k = rng.standard_normal((n_keys, d_k))
        scores = q @ k.T
        for name, s in (("unscaled", scores), ("scaled", scores / math.sqrt(d_k))):
            w = softmax(s)
            out[f"max_weight_{name}"].append(w.max(axis=-1).mean())
            out[f"entropy_{name}"].append(entropy(w).mean())
            out[f"score_std_{name}"].append(s.std())
    result = {name: np.array(values) for name, values in out.items()}
    result["d_k"] = np.array(d_k_values)
    return result


def saturation_example(d_k: int, n_keys: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    """One query's scores against n_keys keys at width d_k, and softmax of them with and without scaling."""
    if not 1 <= d_k <= 4096:
        raise ValueError(f"d_k must be between 1 and 4096, not {d_k}.")
    rng = np.random.default_rng([check_seed(seed), d_k])
    scores = rng.standard_normal(d_k) @ rng.standard_normal((n_keys, d_k)).T
    return dict(scores=scores, weights_unscaled=softmax(scores), weights_scaled=softmax(scores / math.sqrt(d_k)))


# ----------------------------------------------------------------------------- inside a trained MiniGPT
# `loaded` below is what core.minigpt.checkpoint.load(folder) returns (.model, .tokenizer, .config).
# Its tokenizer reads characters (one token each) or BPE pieces (core.minigpt.tokenizer.BPETokenizer:
# a token covers a few characters, or a part of one).


def token_pieces(tokenizer, ids) -> list[str]:
    """Each id's own text: a character, or a BPE token's piece (bytes of a partial character as '\\xe2')."""
    if tokenizer.kind == "char":
        return [tokenizer.chars[int(i)] for i in ids]
    return [tokenizer.bpe.token_text(int(i)) for i in ids]


def crop_to_tokens(tokenizer, text: str, max_tokens: int) -> str:
    """The longest start of `text` that the model reads as at most `max_tokens` tokens (characters for a
    character model). A BPE cut never leaves half a character: the decoded ids are encoded again, and
    shortened until they fit (the tokens of a cut word may differ from those of the whole word)."""
    if tokenizer.kind == "char":
        return text[:max_tokens]
    ids = tokenizer.encode(text)
    n = max_tokens
    while len(ids) > max_tokens and n > 0:
        cropped = tokenizer.decode(ids[:n]).rstrip("\ufffd")
        ids, n = tokenizer.encode(cropped), n - 1
        text = cropped
    return text


def model_tokens(loaded, text: str, max_tokens: int = MAX_TOKENS) -> tuple[list[str], list[int]]:
    """A sentence as the model reads it (stripped): its tokens' pieces and ids, at most max_tokens of them."""
    tokenizer = loaded.tokenizer
    if tokenizer.kind == "char":
        tokens = split_tokens(text, "characters", max_tokens)
        return tokens, tokenizer.encode("".join(tokens))
    check_sentence(text, max_tokens)
    ids = tokenizer.encode((text or "").strip())
    if not ids:
        raise ValueError("The sentence is empty: type a few words, e.g. 'the cat sat on the mat'.")
    if len(ids) > max_tokens:
        raise ValueError(f"The sentence is {len(ids)} tokens of this BPE model; the step-through shows at most "
                         f"{max_tokens} tokens. Shorten it.")
    return token_pieces(tokenizer, ids), ids


def model_inputs(loaded, text: str, layer: int = 0, max_tokens: int = MAX_TOKENS) -> tuple[list[str], np.ndarray, dict[str, np.ndarray]]:
    """Tokens, X and the weights of one attention layer of a MiniGPT, ready for attention_steps.

    X is what that layer's attention really receives: token + position embeddings, passed through
    the blocks below it and then the block's LayerNorm (MiniGPT is pre-norm). The layer computes
    Q, K and V in one nn.Linear (`qkv`, weight (3C, C)); its transpose is [W_q | W_k | W_v]. With
    n_heads = the model's n_head, attention_steps then reproduces the model's own attention map.
    """
    import torch

    config = loaded.config
    if config.arch != "gpt2":  # RoPE rotates q and k inside the layer: X @ W_q is not yet the query
        raise ValueError("The step-through follows a GPT-2-style MiniGPT; this checkpoint is Llama style (RoPE rotates "
                         "each query and key by its position, a step not shown here). Pick a GPT-2-style checkpoint; "
                         "the attention maps below work for both.")
    if not 0 <= layer < config.n_layer:
        raise ValueError(f"This model has layers 1 to {config.n_layer}; there is no layer {layer + 1}.")
    tokens, ids = model_tokens(loaded, text, min(max_tokens, config.block_size))
    ids = torch.tensor(ids)
    model = loaded.model
    with torch.no_grad():
        x = model.wte(ids) + model.wpe(torch.arange(len(ids)))
        for block in model.blocks[:layer]:
            x = block(x[None])[0]
        block = model.blocks[layer]
        x = block.ln_1(x)
        C = config.n_embd
        w_qkv = block.attn.qkv.weight.T.double().numpy()  # (C, 3C): [W_q | W_k | W_v]
        weights = dict(w_q=w_qkv[:, :C], w_k=w_qkv[:, C:2 * C], w_v=w_qkv[:, 2 * C:], w_o=block.attn.proj.weight.T.double().numpy())
        if block.attn.qkv.bias is not None:
            b_qkv = block.attn.qkv.bias.double().numpy()
            weights.update(b_q=b_qkv[:C], b_k=b_qkv[C:2 * C], b_v=b_qkv[2 * C:])
        if block.attn.proj.bias is not None:
            weights["b_o"] = block.attn.proj.bias.double().numpy()
    return tokens, x.double().numpy(), weights


def model_attention_maps(loaded, prompt: str, drop_unknown: bool = False) -> tuple[list[str], np.ndarray]:
    """The prompt's tokens (characters, or a BPE model's pieces) and every layer × head attention map,
    (n_layer, n_head, T, T).

    Characters a character model never saw are an error, or with drop_unknown=True left out (the
    caller can name them with loaded.tokenizer.unknown(prompt)). A BPE model reads any text.
    """
    import torch

    check_sentence(prompt, loaded.config.block_size)
    if not (prompt or "").strip():
        raise ValueError("The prompt is empty: type a few words the model knows, e.g. 'The transformer'.")
    if drop_unknown:
        unknown = set(loaded.tokenizer.unknown(prompt))
        prompt = "".join(c for c in prompt if c not in unknown)
        if not prompt.strip():
            raise ValueError(f"None of the prompt's characters are in this model's vocabulary; it knows: {loaded.tokenizer.chars.strip()}")
    block_size, unit = loaded.config.block_size, loaded.tokenizer.unit
    ids = loaded.tokenizer.encode(prompt)  # names any character a character model has never seen
    if len(ids) > block_size:
        raise ValueError(f"The prompt is {len(ids)} {unit}s; this model reads at most {block_size} at once "
                         f"(its context). Shorten it.")
    maps = loaded.model.attention_maps(torch.tensor(ids))
    return token_pieces(loaded.tokenizer, ids), maps.double().numpy()


def head_patterns(maps: np.ndarray) -> dict[str, np.ndarray]:
    """What each head mostly does, as average weights (n_layer, n_head): a first reading of the maps.

    self      weight a character gives itself (the diagonal)
    previous  weight it gives the character just before it (the diagonal below), from the 2nd on
    first     weight it gives the very first character, from the 2nd on (a common "resting place")
    Averages over the rows that have such a key; NaN for a one-character prompt.
    """
    maps = np.asarray(maps, dtype=np.float64)
    T = maps.shape[-1]
    nan = np.full(maps.shape[:-2], np.nan)
    diag = np.diagonal(maps, axis1=-2, axis2=-1)
    if T < 2:
        return dict(self=diag.mean(-1), previous=nan, first=nan)
    return dict(self=diag.mean(-1), previous=np.diagonal(maps, offset=-1, axis1=-2, axis2=-1).mean(-1),
                first=maps[..., 1:, 0].mean(-1))
