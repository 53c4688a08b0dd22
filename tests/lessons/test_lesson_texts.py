"""Every number the lesson texts' explanations state, recomputed independently (torch autograd, torch's GELU,
transformers' own KV cache and rotary embedding, the shipped checkpoints, core.architecture's presets) and
looked up in the text, so a text and its computation cannot drift apart."""
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core import architecture, attention, compute

TEXTS = Path(__file__).resolve().parents[2] / "lessons" / "text"


def text(part: str) -> str:
    return (TEXTS / f"{part}.md").read_text(encoding="utf-8")


def test_no_literal_dollar_amounts_in_any_lesson():
    for path in TEXTS.glob("*.md"):
        body = path.read_text(encoding="utf-8").replace("$$", "")
        assert body.count("$") % 2 == 0, path.name  # every $ opens or closes a formula: money is written USD


# ---------- Part 3: backpropagation, sampling, entropy ----------

def test_the_worked_backprop_graph_equals_torch_autograd():
    md = text("part03_core_math")
    w = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(-0.5, dtype=torch.float64, requires_grad=True)
    x = 2.0
    z = w * x + b
    z.retain_grad()
    p = torch.sigmoid(z)
    p.retain_grad()
    loss = -torch.log(p)
    loss.backward()
    assert "$x = 2$" in md and "$w = 0.5$" in md and "$b = -0.5$" in md
    for value in (loss.item(), p.item(), p.grad.item(), (p * (1 - p)).item(), z.grad.item(), w.grad.item()):
        assert f"{value:.4f}" in md, value
    assert f"| {z.item():g} |" in md
    assert z.grad.item() == pytest.approx(p.item() - 1)  # "the gradient at z is p − 1"
    eta = 0.1
    assert f"raises $w$ by ${-eta * w.grad.item():.4f}$" in md and f"$b$ by ${-eta * b.grad.item():.4f}$" in md
    with torch.no_grad():  # "and the loss falls"
        after = -torch.log(torch.sigmoid((w - eta * w.grad) * x + (b - eta * b.grad)))
    assert after < loss


def test_the_entropy_of_the_example_logits():
    md = text("part03_core_math")
    probs = torch.softmax(torch.tensor([2.0, 1.0, 0.1], dtype=torch.float64), dim=0)
    entropy = torch.distributions.Categorical(probs=probs).entropy().item()
    assert f"${entropy:.3f}$ nats" in md and f"\\ln 3 \\approx {math.log(3):.3f}" in md
    assert f"1/\\ln 2 \\approx {1 / math.log(2):.3f}" in md


# ---------- Part 4: GELU, the KV cache ----------

def test_gelu_values_equal_torch():
    md = text("part04_minigpt")
    for x in (1.0, -1.0):
        y = F.gelu(torch.tensor(x, dtype=torch.float64)).item()
        assert f"\\operatorname{{GELU}}({x:g}) = {y:.3f}" in md, y


def kv_bytes_per_token(name: str, bytes_per_number: int = 2, kv_heads: int | None = None) -> int:
    s = architecture.shape(architecture.preset(name))
    return 2 * s["n_layers"] * (kv_heads or s["n_kv_heads"]) * s["head_dim"] * bytes_per_number


def test_the_kv_cache_formula_is_what_transformers_stores():
    """The pocket model (a real Llama with grouped-query attention) run with use_cache: its cache holds
    2 · layers · kv heads · head dim numbers per token, the formula applied to its preset."""
    from transformers import AutoModelForCausalLM

    from core.finetune import models

    model = AutoModelForCausalLM.from_pretrained(str(models.POCKET_DIR))
    ids = torch.arange(3, 13)[None]
    with torch.no_grad():
        cache = model(input_ids=ids, use_cache=True).past_key_values
    stored = sum(t.numel() for layer in cache.layers for t in (layer.keys, layer.values))
    assert stored / ids.shape[1] == kv_bytes_per_token("pocket", 1)
    shape = compute.Shape(n_layer=22, d_model=2048, n_head=32, n_kv_head=4, d_ff=5632, vocab_size=32000, context=2048)
    assert compute.kv_cache_bytes(shape, batch=1, context=1) == kv_bytes_per_token("tinyllama-1.1b")


def test_the_kv_cache_table_comes_from_the_presets():
    md = text("part04_minigpt")
    tiny, llama2 = kv_bytes_per_token("tinyllama-1.1b"), kv_bytes_per_token("llama-2-7b")
    for name, per_token in (("tinyllama-1.1b", tiny), ("llama-2-7b", llama2)):
        s = architecture.shape(architecture.preset(name))
        row = next(line for line in md.splitlines() if line.startswith(f"| {architecture.PRESET_LABELS[name]} |"))
        assert f"| {s['n_layers']} | {s['n_kv_heads']} × {s['head_dim']} |" in row
        assert f"{per_token:,} bytes ({per_token // 1024} KiB)" in row
        total = per_token * s["context"]
        assert f"for {s['context']:,} tokens" in row
        assert (f"{total / 1e6:.1f} MB" if total < 1e9 else f"{total / 1e9:.2f} GB") in row
    full = kv_bytes_per_token("tinyllama-1.1b", kv_heads=32)
    assert f"stores {full // tiny} times less" in md and f"({full:,} bytes per token)" in md
    assert "costs more than 2 GB on top of the weights" in md and llama2 * 4096 > 2e9


def test_the_generator_keeps_the_recent_half_of_the_window():
    from core.minigpt import sample

    assert "most recent half of the window" in text("part04_minigpt")
    block = 192
    assert sample.window_start(block + 1, 0, block) == block + 1 - block // 2


# ---------- Part 5: order, RoPE ----------

def test_the_two_the_rows_of_the_step_through():
    md = text("part05_attention")
    sentence = "the cat sat on the mat"
    assert f"*{sentence}*" in md
    from lessons.part05_attention import DEFAULT_SENTENCE

    assert sentence == DEFAULT_SENTENCE
    tokens = attention.split_tokens(sentence, "words")
    first, second = [i for i, t in enumerate(tokens) if t == "the"]
    x, w = attention.random_inputs(tokens, d_model=8, seed=0)
    causal = attention.attention_steps(x, **w, causal=True)
    for key in ("x", "q", "k", "v"):
        np.testing.assert_array_equal(causal[key][first], causal[key][second])
    np.testing.assert_array_equal(causal["scores"][:, first], causal["scores"][:, second])  # same score from any query
    assert not np.allclose(causal["weights"][first], causal["weights"][second])  # the mask alone separates them
    free = attention.attention_steps(x, **w, causal=False)
    np.testing.assert_allclose(free["weights"][first], free["weights"][second], atol=1e-12)
    np.testing.assert_allclose(free["output"][first], free["output"][second], atol=1e-12)
    # "shuffle the earlier tokens and its output stays the same"; without the mask, rows just swap
    shuffled = [tokens[i] for i in (3, 0, 4, 2, 1)] + tokens[5:]
    xs, ws = attention.random_inputs(shuffled, d_model=8, seed=0)
    np.testing.assert_allclose(attention.attention_steps(xs, **ws)["output"][-1], causal["output"][-1], atol=1e-12)
    swapped = attention.attention_steps(xs, **ws, causal=False)["output"]
    np.testing.assert_allclose(swapped[[1, 4, 3, 0, 2, 5]], free["output"], atol=1e-12)


def test_the_shipped_minigpt_gives_repeated_characters_different_rows():
    from core import sessions
    from core.minigpt import checkpoint

    loaded = checkpoint.load(sessions.CHECKPOINTS_DIR / "minigpt" / "default")
    # the lab crops the sentence to the step-through's 16 characters for a MiniGPT: "the cat sat on t"
    tokens, x, _ = attention.model_inputs(loaded, "the cat sat on the mat"[: attention.MAX_TOKENS])
    t = [i for i, c in enumerate(tokens) if c == "t"]
    assert len(t) >= 2 and not np.allclose(x[t[0]], x[t[1]])  # its learned position table tells them apart
    ids = torch.tensor(loaded.tokenizer.encode("tt"))
    with torch.no_grad():
        rows = loaded.model.wte(ids)
    assert torch.equal(rows[0], rows[1])  # the token table alone does not


def test_rope_scores_depend_on_the_distance_only():
    from transformers import LlamaConfig
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding, apply_rotary_pos_emb

    md = text("part05_attention")
    assert "\\theta_i = 10000^{-2i/d_k}" in md
    d_k = 16
    rope = LlamaRotaryEmbedding(LlamaConfig(hidden_size=d_k, num_attention_heads=1, head_dim=d_k))
    np.testing.assert_allclose(rope.inv_freq.double().numpy(), 10000.0 ** (-np.arange(0, d_k, 2) / d_k), rtol=1e-6)
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(1, 1, 1, d_k, generator=g), torch.randn(1, 1, 1, d_k, generator=g)

    def score(m: int, n: int) -> float:
        cos, sin = rope(q, torch.tensor([[m, n]]))
        qr, _ = apply_rotary_pos_emb(q, q, cos[:, :1], sin[:, :1])
        kr, _ = apply_rotary_pos_emb(k, k, cos[:, 1:], sin[:, 1:])
        return float((qr * kr).sum())

    assert score(5, 2) == pytest.approx(score(105, 102), abs=1e-4)
    assert score(5, 2) == pytest.approx(score(3, 0), abs=1e-4) and score(5, 2) != pytest.approx(score(5, 4), abs=1e-3)


# ---------- Part 10: data parallelism; Part 2: DPO's compute ----------

def test_sixteen_gpus_for_ninety_days():
    md = text("part10_compute")
    tokens, gpus, days, params = 3e12, 16, 90, 1.1e9
    per_gpu = tokens / (gpus * days * 86400)
    assert f"about {round(per_gpu, -2):,.0f} tokens per second per GPU" in md
    assert "24,000 tokens per second per A100" in md and abs(per_gpu - 24_000) / 24_000 < 0.01
    assert f"{16 * params / 1e9:.1f} GB each" in md and f"{16 * params / gpus / 1e9:.1f} GB per GPU at stage 3" in md


def test_dpo_costs_about_2_7_sft_examples():
    md = text("part02_three_phases")
    policy, reference, sft = 2 * 6, 2 * 2, 6  # two answers forward+backward, two reference forwards; one example
    assert f"(6 + 6 + 2 + 2)\\,N = {policy + reference}N" in md and f"SFT's ${sft}N$" in md
    assert f"about {(policy + reference) / sft:.1f} times the compute" in md
