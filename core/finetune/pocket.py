"""The pocket model: a ~1M-parameter Llama the project pretrains on its own corpus and ships.

Why it exists: offline (no Hugging Face Hub) the LoRA lab still needs a *real* transformers chat
model, loaded with `AutoModelForCausalLM`, tokenized by a real BPE tokenizer with a chat template,
and small enough to fine-tune in seconds on a laptop CPU. It is the same architecture as TinyLlama
(`LlamaForCausalLM`: RMSNorm, rotary positions, SwiGLU MLP, grouped-query attention), only tiny.

It is pretrained on `core/data/builtin_corpus.txt` alone, so before fine-tuning it babbles
corpus-like prose about Python and neural networks whatever you ask it; it has never seen the
"Answer: ... [done]" format that the built-in instruction set teaches, which makes the effect of a
short LoRA run easy to see.

Build it (about a minute or two on one CPU core; deterministic for a given seed):

    python -m core pocket --out checkpoints/pocket/pocket-llama
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable

from core.files import atomic_write_json, atomic_write_text

from core.text_input import BUILTIN_CORPUS as CORPUS_PATH  # the one path of the built-in corpus

# Special tokens. <|end|> ends every turn and is the model's end-of-sequence token;
# a separate <|pad|> keeps padding from ever being confused with a real end of turn.
ROLES = ("system", "user", "assistant")
END, PAD = "<|end|>", "<|pad|>"
SPECIAL_TOKENS = [PAD, END] + [f"<|{role}|>" for role in ROLES]

# The prompt rendered alone (add_generation_prompt) is an exact prefix of prompt + answer, so
# trl's completion-only loss finds the answer tokens by their common prefix. The {% generation %}
# markers let `assistant_only_loss=True` work too.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' }}"
    "{% if message['role'] == 'assistant' %}"
    "{% generation %}{{ message['content'] + '<|end|>' }}{% endgeneration %}"
    "{% else %}{{ message['content'] + '<|end|>' }}{% endif %}"
    "{{ '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)

DEFAULT_SHAPE = dict(
    vocab_size=1024,
    hidden_size=128,
    intermediate_size=352,
    num_hidden_layers=4,
    num_attention_heads=4,
    num_key_value_heads=2,  # grouped-query attention, as in TinyLlama: k_proj/v_proj are narrower
    max_position_embeddings=256,
)


def train_tokenizer(text: str, vocab_size: int):
    """A byte-level BPE tokenizer (GPT-2 style) trained on `text`, wrapped for transformers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator([text], trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=END, pad_token=PAD,
                                   chat_template=CHAT_TEMPLATE, model_max_length=DEFAULT_SHAPE["max_position_embeddings"])


def build_model(tokenizer, seed: int = 0, **shape):
    """An untrained LlamaForCausalLM sized by `shape` (defaults: DEFAULT_SHAPE), its weights drawn
    from a private generator seeded by `seed` (never torch's global one: see _init_weights)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

    shape = {**DEFAULT_SHAPE, **shape, "vocab_size": len(tokenizer)}
    config = LlamaConfig(**shape, tie_word_embeddings=True, rms_norm_eps=1e-5,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                         bos_token_id=None)
    # Built on the meta device (shapes only): transformers' and torch's own initialisation would
    # draw from the global generator, which other jobs in the process share.
    with torch.device("meta"):
        model = LlamaForCausalLM(config)
    model.to_empty(device="cpu")
    model.model.rotary_emb = LlamaRotaryEmbedding(config)  # its frequencies are computed, not drawn
    _init_weights(model, torch.Generator().manual_seed(seed), config.initializer_range)
    model.tie_weights()
    return model


def _init_weights(model, generator, std: float) -> None:
    """transformers' Llama initialisation, drawn from `generator`: linear and embedding weights
    ~ N(0, std), the padding token's embedding 0, RMSNorm gains 1."""
    import torch

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (torch.nn.Linear, torch.nn.Embedding)):
                module.weight.normal_(0.0, std, generator=generator)
            if isinstance(module, torch.nn.Linear) and module.bias is not None:
                module.bias.zero_()
            if isinstance(module, torch.nn.Embedding) and module.padding_idx is not None:
                module.weight[module.padding_idx].zero_()
            if "RMSNorm" in type(module).__name__:
                module.weight.fill_(1.0)


def pretrain(model, ids, steps: int, batch_size: int = 16, context: int = 128, lr: float = 3e-3,
             seed: int = 0, on_step: Callable[[int, float], None] | None = None) -> list[float]:
    """Plain next-token pretraining on random windows of `ids` with AdamW and a cosine schedule."""
    import torch

    data = torch.tensor(ids, dtype=torch.long)
    if len(data) < context + 2:
        raise ValueError(f"The corpus has {len(data)} tokens; pretraining needs more than {context + 1}.")
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.1, betas=(0.9, 0.95))
    warmup = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    model.train()
    losses = []
    for step in range(steps):
        starts = torch.randint(0, len(data) - context - 1, (batch_size,), generator=gen)
        batch = torch.stack([data[s:s + context + 1] for s in starts])
        loss = model(input_ids=batch, labels=batch).loss  # transformers shifts labels by one inside
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        if on_step:
            on_step(step + 1, losses[-1])
    model.eval()
    return losses


def build_pocket(out_dir: str | Path, steps: int = 400, seed: int = 0, corpus_path: str | Path = CORPUS_PATH,
                 log: Callable[[str], None] = print, **shape) -> Path:
    """Train the tokenizer, pretrain the model and save both as a transformers folder.

    config.json is the registry's marker, so it is written last: a half-built folder never lists.
    """
    import torch

    out = Path(out_dir)
    text = Path(corpus_path).read_text(encoding="utf-8")
    t0 = time.perf_counter()
    tokenizer = train_tokenizer(text, shape.get("vocab_size", DEFAULT_SHAPE["vocab_size"]))
    # each paragraph ends with <|end|>, as documents do in real pretraining: the model learns that
    # token's meaning ("this text is over"), which is also how a chat turn ends
    ids = []
    for paragraph in (p.strip() for p in text.split("\n\n")):
        if paragraph:
            ids += tokenizer.backend_tokenizer.encode(paragraph).ids + [tokenizer.eos_token_id]
    model = build_model(tokenizer, seed=seed, **shape)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"corpus {len(text):,} characters -> {len(ids):,} tokens (vocab {len(tokenizer)}); model {n_params:,} parameters")

    def report(step: int, loss: float) -> None:
        if step == 1 or step % 100 == 0 or step == steps:
            log(f"step {step:5d}/{steps}  loss {loss:.3f}  ({time.perf_counter() - t0:.0f} s)")

    losses = pretrain(model, ids, steps=steps, seed=seed, on_step=report)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(out)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out, safe_serialization=True)
    config_json = (out / "config.json").read_text(encoding="utf-8")
    (out / "config.json").unlink()
    atomic_write_json(out / "pretraining.json", {
        "corpus": Path(corpus_path).name, "corpus_tokens": len(ids), "steps": steps, "seed": seed,
        "batch_size": 16, "context": 128, "final_loss": round(sum(losses[-50:]) / len(losses[-50:]), 4),
        "parameters": n_params, "torch": torch.__version__,
    })
    atomic_write_text(out / "config.json", config_json)  # the marker, last
    log(f"saved to {out} in {time.perf_counter() - t0:.0f} s")
    return out
