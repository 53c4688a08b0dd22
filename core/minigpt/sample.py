"""Text generation: one token at a time, each sampled from the model's next-token distribution.

    logits -> / temperature -> keep top-k -> keep top-p (nucleus) -> softmax -> draw one token

Two paths produce exactly the same tokens:

- no cache: every step re-runs the model on the whole visible context (simple, slow: step t costs
  a forward over t tokens);
- KV cache (core.minigpt.model.KVCache): keys/values of earlier tokens are kept, so a step costs a
  forward over ONE token.

Context window. The model has learned positions 0..block_size-1 only. When the text outgrows the
window, both paths keep the most recent half of it and continue from there ("context shift"); with
learned absolute positions every kept token moves to a new position, so the cache path must
recompute those keys once per shift. A sliding window of block_size (shift by one every step) would
force that recomputation every step and erase the cache's advantage.
"""
from __future__ import annotations

from typing import Iterator

import torch

from core.minigpt.model import KVCache

MAX_NEW_TOKENS = 5000


def check_settings(max_new_tokens: int, temperature: float, top_k: int | None, top_p: float | None) -> None:
    if not 1 <= max_new_tokens <= MAX_NEW_TOKENS:
        raise ValueError(f"Number of tokens must be between 1 and {MAX_NEW_TOKENS}; got {max_new_tokens}.")
    if not 0 <= temperature <= 5:
        raise ValueError(f"Temperature must be between 0 (greedy) and 5; got {temperature}.")
    if top_k is not None and top_k < 0:
        raise ValueError(f"top-k must be 0 (off) or a positive number of tokens; got {top_k}.")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top-p must be in (0, 1] (1 = off); got {top_p}.")


def next_token_probs(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None) -> torch.Tensor:
    """The distribution a token is drawn from, after temperature, top-k and top-p. logits: (V,).

    temperature 0 means greedy: all probability on the single most likely token (the first of ties).
    The same rule as core.probability's softmax -> top_k_filter -> top_p_filter (tests check they agree).
    """
    logits = logits.detach().double()
    if temperature == 0:
        probs = torch.zeros_like(logits)
        probs[logits.argmax()] = 1.0
        return probs
    # < 1 sharpens the distribution, > 1 flattens it; the largest logit is subtracted first so exp never overflows
    probs = torch.exp((logits - logits.max()) / temperature)
    probs = probs / probs.sum()
    if top_k and top_k < probs.numel():
        kth_best = torch.topk(probs, top_k).values[-1]
        probs = torch.where(probs >= kth_best, probs, 0.0)  # the k most likely survive (and any tied with the k-th)
        probs = probs / probs.sum()
    if top_p is not None and top_p < 1:
        # nucleus: the smallest set of most-likely tokens whose probabilities add up to top_p. A stable
        # sort: of tied tokens at the edge, the earlier ones are kept, whatever the sort algorithm.
        sorted_probs, order = torch.sort(probs, descending=True, stable=True)
        before = torch.cumsum(sorted_probs, dim=0) - sorted_probs  # mass of strictly more likely tokens
        drop = before >= top_p  # the first token is always kept (its "before" is 0)
        probs = probs.clone()
        probs[order[drop]] = 0.0
        probs = probs / probs.sum()
    return probs


def pick_token(logits: torch.Tensor, temperature: float, top_k: int | None, top_p: float | None, generator: torch.Generator) -> int:
    if temperature == 0:
        return int(logits.argmax())
    probs = next_token_probs(logits, temperature, top_k, top_p)
    return int(torch.multinomial(probs, 1, generator=generator))


def window_start(length: int, start: int, block_size: int) -> int:
    """Where the visible context begins once the text is `length` tokens long (see the module docstring)."""
    if length - start <= block_size:
        return start
    return length - max(1, block_size // 2)


@torch.inference_mode()  # like no_grad, minus autograd's version bookkeeping: ~30% less overhead per step
def _last_logits(model, ids: list[int], cache: KVCache | None = None) -> torch.Tensor:
    device = model.wte.weight.device
    logits, _ = model(torch.tensor([ids], dtype=torch.long, device=device), cache=cache)
    return logits[0, -1]


def generate_ids(model, ids: list[int], max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, seed: int | None = None, use_cache: bool = True) -> Iterator[int]:
    """Yield `max_new_tokens` new token ids after the prompt `ids`, one at a time (puts the model in eval mode)."""
    check_settings(max_new_tokens, temperature, top_k, top_p)
    if not ids:
        raise ValueError("The prompt is empty: type at least one character the model knows.")
    model.eval()
    block_size = model.config.block_size
    # a private generator: the global one is shared with every other learner's job in the process
    generator = torch.Generator()
    if seed is None:
        generator.seed()  # a fresh random seed for this generator only (from the OS)
    else:
        generator.manual_seed(seed)
    ids = list(ids)
    start = max(0, len(ids) - block_size)  # a prompt longer than the context keeps its end
    with torch.inference_mode():  # the cache is only ever written inside inference mode
        cache = KVCache(model.config, dtype=model.wte.weight.dtype, device=model.wte.weight.device) if use_cache else None
    fed = None  # with a cache: where the cached context starts (None = nothing cached yet)
    for _ in range(max_new_tokens):
        start = window_start(len(ids), start, block_size)
        if cache is None:
            logits = _last_logits(model, ids[start:])  # the whole visible context, every step
        elif fed != start:
            cache.length = 0  # context shifted: positions changed, recompute the kept tokens once
            logits = _last_logits(model, ids[start:], cache)
            fed = start
        else:
            logits = _last_logits(model, ids[-1:], cache)  # only the newest token
        token = pick_token(logits, temperature, top_k, top_p, generator)
        ids.append(token)
        yield token


def prompt_ids(tokenizer, prompt: str, drop_unknown: bool = False) -> tuple[list[int], list[str]]:
    """Encode a prompt; with drop_unknown, characters outside the vocabulary are removed and returned."""
    unknown = tokenizer.unknown(prompt)
    if unknown and drop_unknown:
        prompt = "".join(c for c in prompt if c in tokenizer.stoi)
    return tokenizer.encode(prompt), unknown


def generate(model, tokenizer, prompt: str, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
             top_p: float | None = None, seed: int | None = None, use_cache: bool = True) -> Iterator[str]:
    """Stream the continuation of `prompt` as text, one character (token) at a time.

    Characters the model never saw raise ValueError naming them (use prompt_ids(drop_unknown=True)
    and generate_ids to drop them instead).
    """
    ids, _ = prompt_ids(tokenizer, prompt)
    for token in generate_ids(model, ids, max_new_tokens, temperature, top_k, top_p, seed, use_cache):
        yield tokenizer.decode([token])


def text_pieces(tokenizer, new_ids) -> Iterator[str]:
    """The new text as the tokens arrive, for printing as it streams. A BPE token may end inside a
    multi-byte character (its bytes are half of 'é'): that piece waits until the character is whole
    (at most 4 bytes, the longest UTF-8 character, so a token that never completes is shown as is)."""
    pending: list[int] = []
    for token in new_ids:
        pending.append(token)
        text = tokenizer.decode(pending)
        if tokenizer.kind != "char" and text.endswith("\ufffd") and len(pending) < 4:
            continue
        yield text
        pending = []
    if pending:
        yield tokenizer.decode(pending)


def time_generation(model, ids: list[int], max_new_tokens: int, use_cache: bool, **settings) -> tuple[list[int], float]:
    """Generate and time it: (new token ids, seconds). For comparing the two paths on the same settings."""
    import time

    start = time.perf_counter()
    tokens = list(generate_ids(model, ids, max_new_tokens, use_cache=use_cache, **settings))
    return tokens, time.perf_counter() - start
