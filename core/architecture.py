"""Where a transformer's parameters live, counted exactly from its shape alone.

Two families, because the app trains both:

- **GPT-2 style** (GPT-2, MiniGPT): a learned position table, LayerNorm (scale and shift), a GELU MLP
  of width 4d, full multi-head attention (every head has its own keys and values), biases everywhere.
- **Llama style** (Llama, TinyLlama, Mistral, Qwen2, SmolLM2, the pocket model): rotary positions
  (RoPE: a rotation of queries and keys, no parameters), RMSNorm (scale only), a SwiGLU MLP (three
  matrices: gate, up, down) with its own hidden size, grouped-query attention (fewer key/value heads
  than query heads), no biases (Qwen2 keeps biases on q, k and v).

    breakdown(config)   -> {"embeddings", "positions", "attention", "mlp", "norms", "head", "total"}
    shape(config)       -> n_layers, d_model, n_heads, n_kv_heads, head_dim, d_mlp, vocab_size, context, ...

`config` is a MiniGPT `GPTConfig`, a transformers config object, or a config.json dict (of type gpt2,
llama, mistral or qwen2, or a MiniGPT checkpoint's config.json). Nothing is downloaded or built: the
counts are arithmetic, and tests check them against `sum(p.numel())` of the real models.
"""
from __future__ import annotations

import json

PARTS = ("embeddings", "positions", "attention", "mlp", "norms", "head")
FAMILIES = {"gpt2": "GPT-2 style", "llama": "Llama style"}
# config.json's "model_type" -> family. Mistral and Qwen2 are Llama's architecture with small changes.
MODEL_TYPES = {"minigpt": "gpt2", "gpt2": "gpt2", "llama": "llama", "mistral": "llama", "qwen2": "llama"}

# What transformers assumes when a config.json leaves a field out (the config classes' defaults in
# transformers 5), so a short hand-written config.json counts like the model transformers would build.
DEFAULTS = {
    "gpt2": dict(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12, n_inner=None,
                 tie_word_embeddings=True),
    "llama": dict(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                  num_attention_heads=32, num_key_value_heads=None, max_position_embeddings=2048,
                  tie_word_embeddings=False, attention_bias=False, mlp_bias=False, head_dim=None),
    "mistral": dict(vocab_size=32000, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                    num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=4096 * 32,
                    tie_word_embeddings=False, head_dim=None),
    "qwen2": dict(vocab_size=151936, hidden_size=4096, intermediate_size=22016, num_hidden_layers=32,
                  num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=32768,
                  tie_word_embeddings=False, head_dim=None),
    "minigpt": dict(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128, bias=True),
}

# Published configurations (the config.json of each model on the Hugging Face Hub, fields that
# change the count). MiniGPT is tab 4's default preset on the built-in corpus (66 characters);
# the pocket model is checkpoints/pocket/pocket-llama (tests check both against the real thing).
PRESETS: dict[str, dict] = {
    "minigpt": dict(model_type="minigpt", vocab_size=66, block_size=192, n_layer=4, n_head=4, n_embd=128, bias=True),
    "pocket": dict(model_type="llama", vocab_size=1024, hidden_size=128, intermediate_size=352, num_hidden_layers=4,
                   num_attention_heads=4, num_key_value_heads=2, head_dim=32, max_position_embeddings=256,
                   tie_word_embeddings=True),
    "gpt2": dict(model_type="gpt2", vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12),
    "gpt2-medium": dict(model_type="gpt2", vocab_size=50257, n_positions=1024, n_embd=1024, n_layer=24, n_head=16),
    "gpt2-large": dict(model_type="gpt2", vocab_size=50257, n_positions=1024, n_embd=1280, n_layer=36, n_head=20),
    "gpt2-xl": dict(model_type="gpt2", vocab_size=50257, n_positions=1024, n_embd=1600, n_layer=48, n_head=25),
    "smollm2-135m": dict(model_type="llama", vocab_size=49152, hidden_size=576, intermediate_size=1536,
                         num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3,
                         max_position_embeddings=8192, tie_word_embeddings=True),
    "tinyllama-1.1b": dict(model_type="llama", vocab_size=32000, hidden_size=2048, intermediate_size=5632,
                           num_hidden_layers=22, num_attention_heads=32, num_key_value_heads=4,
                           max_position_embeddings=2048, tie_word_embeddings=False),
    "llama-2-7b": dict(model_type="llama", vocab_size=32000, hidden_size=4096, intermediate_size=11008,
                       num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32,
                       max_position_embeddings=4096, tie_word_embeddings=False),
    "llama-3-8b": dict(model_type="llama", vocab_size=128256, hidden_size=4096, intermediate_size=14336,
                       num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                       max_position_embeddings=8192, tie_word_embeddings=False),
}
PRESET_LABELS = {
    "minigpt": "MiniGPT (tab 4)", "pocket": "Pocket model (tab 7)", "gpt2": "GPT-2 small",
    "gpt2-medium": "GPT-2 medium", "gpt2-large": "GPT-2 large", "gpt2-xl": "GPT-2 XL",
    "smollm2-135m": "SmolLM2-135M", "tinyllama-1.1b": "TinyLlama-1.1B", "llama-2-7b": "Llama-2-7B",
    "llama-3-8b": "Llama-3-8B",
}

# Bounds on a shape typed or pasted by a learner: far above any real model, so every published
# config.json fits, yet the counts stay plain integers a chart can show.
LIMITS = {"n_layers": (1, 1_000), "d_model": (1, 100_000), "n_heads": (1, 1_000), "n_kv_heads": (1, 1_000),
          "head_dim": (1, 10_000), "d_mlp": (1, 1_000_000), "vocab_size": (2, 10_000_000),
          "context": (1, 100_000_000)}
MAX_CONFIG_CHARS = 200_000  # a real config.json is a few kB; a tokenizer.json pasted by mistake is MBs


def preset(name: str) -> dict:
    """A copy of a preset's config.json-style dict (a learner's edits never touch PRESETS)."""
    if name not in PRESETS:
        raise ValueError(f"Unknown model {name!r}; choose one of {', '.join(PRESETS)}, or give a config.json.")
    return dict(PRESETS[name])


def _as_dict(config) -> dict:
    """A config.json-style dict (with "model_type") from any of the accepted kinds of config."""
    if isinstance(config, dict):
        if config.get("format") == "minigpt-1" and isinstance(config.get("model"), dict):
            return {"model_type": "minigpt", **config["model"]}  # a MiniGPT checkpoint's config.json
        return config
    if hasattr(config, "n_embd") and hasattr(config, "block_size") and hasattr(config, "to_dict"):
        return {"model_type": "minigpt", **config.to_dict()}  # core.minigpt.config.GPTConfig
    if hasattr(config, "model_type") and hasattr(config, "to_dict"):
        return {**config.to_dict(), "model_type": config.model_type}  # a transformers PretrainedConfig
    raise ValueError(f"Cannot read a model shape from a {type(config).__name__}: give a config.json dict, "
                     "a transformers config or a MiniGPT GPTConfig.")


def _field(d: dict, model_type: str, key: str):
    return d[key] if d.get(key) is not None else DEFAULTS[model_type].get(key)


def _int(value, name: str, key: str) -> int:
    """A whole number within LIMITS, or a ValueError naming the field as the learner wrote it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(f"{key} must be a whole number, got {value!r}.")
    low, high = LIMITS[name]
    if not low <= int(value) <= high:
        raise ValueError(f"{key} = {int(value):,} is outside {low:,}..{high:,}.")
    return int(value)


def _flag(value, key: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false, got {value!r}.")
    return value


def _gpt2_shape(d: dict, model_type: str) -> dict:
    get = lambda key: _field(d, model_type, key)  # noqa: E731
    minigpt = model_type == "minigpt"
    width = _int(get("n_embd"), "d_model", "n_embd")
    inner = d.get("n_inner")
    bias = _flag(get("bias"), "bias") if minigpt else True  # transformers' GPT-2 always has biases
    return dict(
        n_layers=_int(get("n_layer"), "n_layers", "n_layer"), d_model=width,
        n_heads=_int(get("n_head"), "n_heads", "n_head"),
        d_mlp=4 * width if inner is None or minigpt else _int(inner, "d_mlp", "n_inner"),
        vocab_size=_int(get("vocab_size"), "vocab_size", "vocab_size"),
        context=_int(get("block_size") if minigpt else d.get("n_positions", d.get("n_ctx", 1024)), "context",
                     "block_size" if minigpt else "n_positions"),
        tied=False if minigpt else _flag(get("tie_word_embeddings"), "tie_word_embeddings"),
        qkv_bias=bias, out_bias=bias, mlp_bias=bias, norm_bias=bias, learned_positions=True)


def _llama_shape(d: dict, model_type: str) -> dict:
    get = lambda key: _field(d, model_type, key)  # noqa: E731
    heads = _int(get("num_attention_heads"), "n_heads", "num_attention_heads")
    kv = get("num_key_value_heads")
    biases = _llama_biases(d, model_type)
    return dict(
        n_layers=_int(get("num_hidden_layers"), "n_layers", "num_hidden_layers"),
        d_model=_int(get("hidden_size"), "d_model", "hidden_size"), n_heads=heads,
        n_kv_heads=heads if kv is None else _int(kv, "n_kv_heads", "num_key_value_heads"),
        head_dim=None if get("head_dim") is None else _int(get("head_dim"), "head_dim", "head_dim"),
        d_mlp=_int(get("intermediate_size"), "d_mlp", "intermediate_size"),
        vocab_size=_int(get("vocab_size"), "vocab_size", "vocab_size"),
        context=_int(get("max_position_embeddings"), "context", "max_position_embeddings"),
        tied=_flag(get("tie_word_embeddings"), "tie_word_embeddings"),
        **biases, norm_bias=False, learned_positions=False)


def _minigpt_llama_shape(d: dict) -> dict:
    """A Llama-style MiniGPT (core.minigpt.config): RoPE, RMSNorm, SwiGLU of swiglu_hidden(d), no biases, untied."""
    from core.minigpt.config import GPTConfig  # no torch: the config module is arithmetic only

    config = GPTConfig.from_dict({k: v for k, v in d.items() if k != "model_type"})  # its own checks, its own words
    return dict(n_layers=config.n_layer, d_model=config.n_embd, n_heads=config.n_head, n_kv_heads=config.kv_heads,
                head_dim=None, d_mlp=config.mlp_hidden, vocab_size=config.vocab_size, context=config.block_size,
                tied=False, qkv_bias=False, out_bias=False, mlp_bias=False, norm_bias=False, learned_positions=False)


def _llama_biases(d: dict, model_type: str) -> dict:
    """Which Linear layers have biases: Llama's are switchable, Qwen2 always biases q, k and v (not the
    output projection), Mistral never has any (its code ignores attention_bias)."""
    if model_type == "qwen2":
        return dict(qkv_bias=True, out_bias=False, mlp_bias=False)
    if model_type == "mistral":
        return dict(qkv_bias=False, out_bias=False, mlp_bias=False)
    attention = _flag(d.get("attention_bias", False), "attention_bias")
    return dict(qkv_bias=attention, out_bias=attention, mlp_bias=_flag(d.get("mlp_bias", False), "mlp_bias"))


def _check_heads(s: dict) -> None:
    if s["head_dim"] is None:
        if s["d_model"] % s["n_heads"]:
            raise ValueError(f"The width ({s['d_model']}) must be divisible by the number of heads ({s['n_heads']}): "
                             "each head gets width / heads dimensions.")
        s["head_dim"] = s["d_model"] // s["n_heads"]
    if s["n_heads"] % s["n_kv_heads"]:
        raise ValueError(f"{s['n_heads']} query heads cannot share {s['n_kv_heads']} key/value heads evenly: "
                         "the number of heads must be a multiple of the number of key/value heads.")


def shape(config) -> dict:
    """The numbers that fix a model's size: family, model_type, n_layers, d_model, n_heads, n_kv_heads,
    head_dim, d_mlp, vocab_size, context, tied (head shares the token table) and which parts have biases.

    Raises ValueError, worded for a learner, for an unsupported model type or an impossible shape."""
    d = _as_dict(config)
    model_type = d.get("model_type")
    if model_type not in MODEL_TYPES:
        raise ValueError(f"A config.json of model_type {model_type!r} is not supported here; "
                         f"supported: {', '.join(t for t in MODEL_TYPES if t != 'minigpt')} (and MiniGPT).")
    family = MODEL_TYPES[model_type]
    if model_type == "minigpt" and d.get("arch", "gpt2") != "gpt2":  # a Llama-style MiniGPT
        family, s = "llama", _minigpt_llama_shape(d)
    elif family == "gpt2":
        s = _gpt2_shape(d, model_type)
        s["n_kv_heads"], s["head_dim"] = s["n_heads"], None  # full multi-head attention
    else:
        s = _llama_shape(d, model_type)
    _check_heads(s)
    return {"family": family, "model_type": model_type, **s}


def _attention(s: dict) -> int:
    """Queries for every head, keys and values for each key/value head, and the output projection."""
    d, q_width, kv_width = s["d_model"], s["n_heads"] * s["head_dim"], s["n_kv_heads"] * s["head_dim"]
    weights = d * q_width + 2 * d * kv_width + q_width * d
    biases = (q_width + 2 * kv_width if s["qkv_bias"] else 0) + (d if s["out_bias"] else 0)
    return weights + biases


def _mlp(s: dict) -> int:
    """GPT-2: up (d -> m), GELU, down (m -> d). Llama's SwiGLU: gate and up (d -> m each), down (m -> d)."""
    d, m = s["d_model"], s["d_mlp"]
    if s["family"] == "gpt2":
        return 2 * d * m + ((m + d) if s["mlp_bias"] else 0)
    return 3 * d * m + ((2 * m + d) if s["mlp_bias"] else 0)


def breakdown(config) -> dict[str, int]:
    """Exact parameter count by part: embeddings (token table), positions (learned position table; 0
    with RoPE), attention, mlp, norms (two per block and a final one), head (0 when tied), total."""
    s = shape(config)
    d, layers = s["d_model"], s["n_layers"]
    norm = d * (2 if s["norm_bias"] else 1)  # LayerNorm: scale and shift; RMSNorm: scale only
    parts = {
        "embeddings": s["vocab_size"] * d,
        "positions": s["context"] * d if s["learned_positions"] else 0,
        "attention": layers * _attention(s),
        "mlp": layers * _mlp(s),
        "norms": (2 * layers + 1) * norm,
        "head": 0 if s["tied"] else d * s["vocab_size"],  # the head has no bias in any of these models
    }
    parts["total"] = sum(parts.values())
    return parts


def rule_of_thumb(config) -> int:
    """12·L·d²: the blocks' weight matrices of a GPT-2-style model (4d² attention + 8d² MLP per block)."""
    s = shape(config)
    return 12 * s["n_layers"] * s["d_model"] ** 2


def custom(family: str, n_layers: int, d_model: int, n_heads: int, n_kv_heads: int, d_mlp: int,
           vocab_size: int, context: int, tied: bool) -> dict:
    """A config.json-style dict for a shape picked with the counter's controls (gpt2 or llama family).

    GPT-2 style has full multi-head attention, so its key/value heads are its heads (n_kv_heads unused)."""
    if family == "gpt2":
        config = dict(model_type="gpt2", n_layer=n_layers, n_embd=d_model, n_head=n_heads, n_inner=d_mlp,
                      vocab_size=vocab_size, n_positions=context, tie_word_embeddings=bool(tied))
    elif family == "llama":
        config = dict(model_type="llama", num_hidden_layers=n_layers, hidden_size=d_model,
                      num_attention_heads=n_heads, num_key_value_heads=n_kv_heads, intermediate_size=d_mlp,
                      vocab_size=vocab_size, max_position_embeddings=context, tie_word_embeddings=bool(tied))
    else:
        raise ValueError(f"Unknown family {family!r}; choose one of {', '.join(FAMILIES)}.")
    shape(config)  # refuse an impossible shape here, with the learner's message
    return config


def parse_config_json(text: str) -> dict:
    """A pasted or uploaded config.json as a dict whose shape is readable (checked by `shape`)."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("The config.json box is empty: paste a model's config.json or upload the file.")
    if len(text) > MAX_CONFIG_CHARS:
        raise ValueError(f"That text has {len(text):,} characters; a config.json is a few thousand "
                         f"(the limit is {MAX_CONFIG_CHARS:,}). Is it the tokenizer or the weights?")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"That is not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}.") from None
    if not isinstance(config, dict):
        raise ValueError("A config.json is one JSON object ({...}) of settings; this is a "
                         f"{type(config).__name__}.")
    shape(config)
    return config


def formulas(config) -> dict[str, str]:
    """How each part is counted for this model, in the shape's own symbols (V, d, L, H, ...)."""
    s = shape(config)
    gpt2 = s["family"] == "gpt2"
    kv = "" if s["n_kv_heads"] == s["n_heads"] else f" (q: {s['n_heads']} heads, k and v: {s['n_kv_heads']})"
    return {
        "embeddings": "token table: vocabulary × d",
        "positions": "learned position table: context × d" if gpt2 else "none: rotary positions (RoPE) rotate q and k",
        "attention": "L × (q, k, v, output projections" + (" + biases)" if s["qkv_bias"] else ")") + kv,
        "mlp": "L × (d → d_mlp → d" + (", GELU, biases)" if gpt2 and s["mlp_bias"] else ", GELU)" if gpt2
                                        else "; SwiGLU: gate, up, down)"),
        "norms": ("LayerNorm (scale + shift)" if s["norm_bias"] else "RMSNorm (scale)" if not gpt2
                  else "LayerNorm (scale)") + ": 2 per block + 1 final",
        "head": "tied: reuses the token table" if s["tied"] else "d × vocabulary (its own matrix)",
    }


def describe(config) -> str:
    """One line naming the shape: family, layers, width, heads, MLP, vocabulary, context, head."""
    s = shape(config)
    heads = f"{s['n_heads']} heads" + ("" if s["n_kv_heads"] == s["n_heads"] else f" ({s['n_kv_heads']} key/value)")
    return (f"{FAMILIES[s['family']]} ({s['model_type']}): {s['n_layers']} layers, d = {s['d_model']:,}, {heads}, "
            f"MLP {s['d_mlp']:,}, vocabulary {s['vocab_size']:,}, context {s['context']:,}, "
            f"{'tied' if s['tied'] else 'untied'} head")


def rule_of_thumb_gap(config) -> float:
    """How far 12·L·d² is from the exact total, as a fraction of the total (negative: it undercounts)."""
    total = breakdown(config)["total"]
    return (rule_of_thumb(config) - total) / total
