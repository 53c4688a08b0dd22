"""core.attention: every intermediate against PyTorch (float64), the helpers, the messages, the CLI."""
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core import attention

ROOT = Path(__file__).resolve().parents[2]


def random_case(T=6, d=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, d))
    w = {n: rng.standard_normal((d, d)) / math.sqrt(d) for n in ("w_q", "w_k", "w_v", "w_o")}
    b = {n: rng.standard_normal(d) for n in ("b_q", "b_k", "b_v", "b_o")}
    return x, w, b


def torch_heads(x, w, b, n_heads):
    """Q, K, V as torch does them: nn.Linear layout (weight = our W transposed), split into (H, T, d_k)."""
    T, d = x.shape
    xt = torch.from_numpy(x)

    def proj(name):
        bias = torch.from_numpy(b[f"b_{name}"]) if b else None
        out = F.linear(xt, torch.from_numpy(w[f"w_{name}"]).T, bias)
        return out.view(T, n_heads, d // n_heads).transpose(0, 1)

    return proj("q"), proj("k"), proj("v")


def per_head(a, n_heads):
    return a if n_heads > 1 else a[None]


def torch_steps(x, w, b, n_heads, causal=True, scaled=True):
    """Every intermediate recomputed with torch (per-head ones always (H, T, ·)), as NumPy float64."""
    q, k, v = torch_heads(x, w, b, n_heads)
    T, d_k = x.shape[0], q.shape[-1]
    scale = 1 / math.sqrt(d_k) if scaled else 1.0
    scores = q @ k.transpose(-2, -1)
    scaled_scores = scores * scale
    masked = scaled_scores.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf")) if causal else scaled_scores
    # SDPA computes softmax(QKᵀ·scale + mask)·V in one fused call: with V = identity it hands back the weights
    weights = F.scaled_dot_product_attention(q, k, torch.eye(T, dtype=torch.float64).expand(n_heads, T, T), is_causal=causal, scale=scale)
    head_outputs = F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=scale)
    concat = head_outputs.transpose(0, 1).reshape(T, -1)
    projected = F.linear(concat, torch.from_numpy(w["w_o"]).T, torch.from_numpy(b["b_o"]) if b else None)
    out = dict(x=torch.from_numpy(x), q=q, k=k, v=v, scores=scores, scaled_scores=scaled_scores, masked_scores=masked,
               weights=weights, softmax=torch.softmax(masked, dim=-1), head_outputs=head_outputs, concat=concat, projected=projected)
    return {name: t.numpy() for name, t in out.items()}


@pytest.mark.parametrize("n_heads", [1, 2, 4])
@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("scaled", [True, False])
@pytest.mark.parametrize("with_bias", [False, True])
def test_every_intermediate_equals_pytorch(n_heads, causal, scaled, with_bias):
    x, w, b = random_case(seed=n_heads)
    b = b if with_bias else {}
    steps = attention.attention_steps(x, n_heads=n_heads, causal=causal, scaled=scaled, **w, **b)
    want = torch_steps(x, w, b, n_heads, causal, scaled)
    for name in ("q", "k", "v", "scores", "scaled_scores", "masked_scores", "weights", "head_outputs"):
        got = steps[name]
        assert got.dtype == np.float64
        assert got.shape == ((n_heads,) if n_heads > 1 else ()) + want[name].shape[1:], name
        np.testing.assert_allclose(per_head(got, n_heads), want[name], rtol=1e-12, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(per_head(steps["weights"], n_heads), want["softmax"], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(steps["concat"], want["concat"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(steps["projected"], want["projected"], rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(steps["output"], steps["projected"])


@pytest.mark.parametrize("n_heads", [1, 2, 4])
@pytest.mark.parametrize("causal", [True, False])
def test_output_and_weights_equal_multihead_attention(n_heads, causal):
    x, w, b = random_case(T=7, d=8, seed=10 + n_heads)
    d = x.shape[1]
    mha = torch.nn.MultiheadAttention(d, n_heads, bias=True, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        # in_proj_weight stacks the three nn.Linear-style (out, in) matrices: [W_qᵀ; W_kᵀ; W_vᵀ]
        mha.in_proj_weight.copy_(torch.from_numpy(np.concatenate([w["w_q"].T, w["w_k"].T, w["w_v"].T])))
        mha.in_proj_bias.copy_(torch.from_numpy(np.concatenate([b["b_q"], b["b_k"], b["b_v"]])))
        mha.out_proj.weight.copy_(torch.from_numpy(w["w_o"].T))
        mha.out_proj.bias.copy_(torch.from_numpy(b["b_o"]))
    xt = torch.from_numpy(x)[None]
    mask = torch.ones(7, 7, dtype=torch.bool).triu(1) if causal else None  # True = may NOT attend
    with torch.no_grad():
        out, weights = mha(xt, xt, xt, attn_mask=mask, need_weights=True, average_attn_weights=False)
    steps = attention.attention_steps(x, n_heads=n_heads, causal=causal, **w, **b)
    np.testing.assert_allclose(steps["output"], out[0].numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(per_head(steps["weights"], n_heads), weights[0].numpy(), rtol=1e-12, atol=1e-14)


def test_without_w_o_the_output_is_the_concatenated_heads():
    x, w, _ = random_case()
    steps = attention.attention_steps(x, w["w_q"], w["w_k"], w["w_v"], n_heads=2)
    assert "projected" not in steps
    np.testing.assert_array_equal(steps["output"], np.concatenate(list(steps["head_outputs"]), axis=1))


def test_weights_are_distributions_and_mask_hides_the_future():
    x, w, _ = random_case(T=5)
    steps = attention.attention_steps(x, **w, n_heads=2, causal=True)
    np.testing.assert_allclose(steps["weights"].sum(-1), 1.0, rtol=1e-12)
    above = np.triu(np.ones((5, 5), dtype=bool), 1)
    assert np.all(steps["weights"][:, above] == 0) and np.all(np.isneginf(steps["masked_scores"][:, above]))
    assert np.all(steps["weights"][:, ~above] > 0)
    # the first token can only look at itself
    np.testing.assert_array_equal(steps["weights"][:, 0, 0], 1.0)


def test_unit_switches_are_the_identity():
    x, w, _ = random_case()
    steps = attention.attention_steps(x, **w, scaled=False, causal=False)
    np.testing.assert_array_equal(steps["scaled_scores"], steps["scores"])
    np.testing.assert_array_equal(steps["masked_scores"], steps["scores"])


def test_split_tokens_and_its_messages():
    assert attention.split_tokens("  the cat  sat ") == ["the", "cat", "sat"]
    assert attention.split_tokens("a b", "characters") == ["a", " ", "b"]
    with pytest.raises(ValueError, match="empty"):
        attention.split_tokens("   ")
    with pytest.raises(ValueError, match="17 words.*at most 16"):
        attention.split_tokens(" ".join(["w"] * 17))
    with pytest.raises(ValueError, match="switch to words"):
        attention.split_tokens("x" * 17, "characters")
    with pytest.raises(ValueError, match="words or characters"):
        attention.split_tokens("hi", "bytes")


def test_a_pasted_book_is_refused_before_it_is_split():
    start = time.perf_counter()
    for unit in attention.TOKEN_UNITS:
        with pytest.raises(ValueError, match="10,000,000 characters; keep it under 1,000"):
            attention.split_tokens("w " * 5_000_000, unit)
    assert time.perf_counter() - start < 0.5
    assert attention.split_tokens(" " * 990 + "the cat") == ["the", "cat"]  # padding under the bound is fine
    with pytest.raises(ValueError, match="1,001 characters"):
        attention.split_tokens("the cat" + " " * 994)
    with pytest.raises(ValueError, match="must be text"):
        attention.split_tokens(["the", "cat"])


def test_head_count_that_does_not_divide_the_width_is_explained():
    x, w, _ = random_case(d=6)
    with pytest.raises(ValueError, match=r"4 heads cannot split a width of 6.*try 1, 2, 3, 6"):
        attention.attention_steps(x, **w, n_heads=4)
    with pytest.raises(ValueError, match="at least 1"):
        attention.attention_steps(x, **w, n_heads=0)


def test_random_inputs_are_seeded_and_per_token():
    tokens = ["the", "cat", "the"]
    x, w = attention.random_inputs(tokens, 8, seed=3)
    x2, w2 = attention.random_inputs(tokens, 8, seed=3)
    np.testing.assert_array_equal(x, x2)
    assert all(np.array_equal(w[n], w2[n]) for n in w)
    np.testing.assert_array_equal(x[0], x[2])  # same token, same embedding
    assert not np.array_equal(x[0], x[1])
    x3, _ = attention.random_inputs(tokens, 8, seed=4)
    assert not np.array_equal(x, x3)
    assert x.shape == (3, 8) and w["w_q"].shape == (8, 8)


def test_describe_steps_follows_the_lesson():
    tokens = ["the", "cat", "sat", "down"]
    x, w = attention.random_inputs(tokens, 8)
    one = attention.describe_steps(attention.attention_steps(x, **w), tokens)
    assert [s.key for s in one] == ["x", "q", "k", "v", "scores", "scaled_scores", "masked_scores", "weights", "head_outputs", "projected"]
    assert not any(s.per_head for s in one)
    two = attention.describe_steps(attention.attention_steps(x, **w, n_heads=2), tokens, n_heads=2)
    assert [s.key for s in two][-2:] == ["concat", "projected"]
    for step in two:
        assert step.matrix.shape[-2] == len(step.row_labels) and step.matrix.shape[-1] == len(step.col_labels), step.key
    assert two[4].col_labels == tokens and two[4].shape_text() == "2 × 4 × 4"


def test_format_matrix_writes_minus_infinity():
    text = attention.format_matrix(np.array([[1.0, -np.inf], [0.25, 0.5]]), ["a", " "], ["a", " "])
    lines = text.splitlines()
    assert lines[1].split() == ["a", "1.00", "-inf"] and lines[2].split() == ["␣", "0.25", "0.50"]


def test_softmax_saturates_without_scaling():
    d_k = (1, 4, 64, 1024)
    sat = attention.softmax_saturation(d_k, n_keys=8, n_queries=256, seed=1)
    # independent check of the figures shown: redo them with torch from the same random draws
    rng = np.random.default_rng(1)
    for i, d in enumerate(d_k):
        q, k = torch.from_numpy(rng.standard_normal((256, d))), torch.from_numpy(rng.standard_normal((8, d)))
        scores = q @ k.T
        for name, s in (("unscaled", scores), ("scaled", scores / math.sqrt(d))):
            p = torch.softmax(s, dim=-1)
            assert sat[f"max_weight_{name}"][i] == pytest.approx(p.max(-1).values.mean().item(), rel=1e-12)
            ent = torch.special.entr(p).sum(-1).mean().item()
            assert sat[f"entropy_{name}"][i] == pytest.approx(ent, rel=1e-10)
            assert sat[f"score_std_{name}"][i] == pytest.approx(s.std(correction=0).item(), rel=1e-12)
    # the lesson's claim: unscaled scores spread like √d_k and softmax saturates; scaled ones do not
    assert sat["score_std_unscaled"][-1] == pytest.approx(32, rel=0.15)
    assert sat["max_weight_unscaled"][-1] > 0.9 and sat["max_weight_scaled"][-1] < 0.5
    assert np.all(np.diff(sat["max_weight_unscaled"]) > 0)


def test_saturation_example():
    ex = attention.saturation_example(256, n_keys=6)
    s = torch.from_numpy(ex["scores"])
    np.testing.assert_allclose(ex["weights_unscaled"], torch.softmax(s, -1).numpy(), rtol=1e-12)
    np.testing.assert_allclose(ex["weights_scaled"], torch.softmax(s / 16, -1).numpy(), rtol=1e-12)
    with pytest.raises(ValueError):
        attention.saturation_example(0)


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "core", "attention", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_cli_prints_the_steps():
    out = run_cli("the cat sat", "--heads", "2", "--head", "2")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for title in ("Input X", "Queries", "Scores", "Scaled scores", "Causal mask", "Attention weights", "Concatenate heads", "Output projection"):
        assert title in text
    # the printed weights of head 2 are the ones core computes
    tokens = ["the", "cat", "sat"]
    x, w = attention.random_inputs(tokens, 8, 0)
    weights = attention.attention_steps(x, **w, n_heads=2)["weights"][1]
    block = text.split("Attention weights")[1].splitlines()[3:6]
    printed = np.array([[0.0 if c == "-inf" else float(c) for c in line.split()[1:]] for line in block])
    np.testing.assert_allclose(printed, weights, atol=0.005)


def test_cli_bad_input_is_a_clean_message():
    out = run_cli("the cat sat", "--heads", "3")
    assert out.returncode == 2 and "3 heads cannot split a width of 8" in out.stderr and "Traceback" not in out.stderr
    out = run_cli("")
    assert out.returncode == 2 and "empty" in out.stderr


# ----------------------------------------------------------------------------- inside a MiniGPT

VOCAB = "abcdefghijklmnopqrstuvwxyz .,-TP"


def make_checkpoint(folder, n_layer=2, n_head=2, n_embd=16, block_size=24, seed=0):
    """A tiny MiniGPT with large random weights (so the maps are far from uniform), saved with issue 5's save()."""
    from core.minigpt import checkpoint
    from core.minigpt.config import GPTConfig
    from core.minigpt.model import MiniGPT
    from core.minigpt.tokenizer import CharTokenizer

    torch.manual_seed(seed)
    tokenizer = CharTokenizer(VOCAB)
    model = MiniGPT(GPTConfig(vocab_size=tokenizer.vocab_size, n_layer=n_layer, n_head=n_head, n_embd=n_embd, block_size=block_size))
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.5)
    checkpoint.save(folder, model, tokenizer)
    return checkpoint.load(folder)


def reference_forward(folder, text, ids=None):
    """Per layer: the attention weights (n_head, T, T) and the attention sublayer's output (T, C),
    recomputed in float64 from the saved tensors alone (GPT-2 pre-norm block, written out here).
    `ids`: the token ids to run (a BPE model's), instead of the characters of `text`."""
    import json

    from safetensors.torch import load_file

    cfg = json.loads((Path(folder) / "config.json").read_text())
    vocab, C, H = cfg["vocabulary"], cfg["model"]["n_embd"], cfg["model"]["n_head"]
    sd = {k: v.double() for k, v in load_file(str(Path(folder) / "model.safetensors")).items()}
    ids = torch.tensor([vocab.index(c) for c in text] if ids is None else list(ids))
    T = len(ids)
    x = sd["wte.weight"][ids] + sd["wpe.weight"][:T]
    maps, outputs = [], []
    for layer in range(cfg["model"]["n_layer"]):
        p = lambda name: sd[f"blocks.{layer}.{name}"]  # noqa: E731
        h = F.layer_norm(x, (C,), p("ln_1.weight"), p("ln_1.bias"))
        q, k, v = (h @ p("attn.qkv.weight").T + p("attn.qkv.bias")).split(C, dim=-1)
        q, k, v = (t.view(T, H, C // H).transpose(0, 1) for t in (q, k, v))
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(C // H)
        att = torch.softmax(scores.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf")), dim=-1)
        y = (att @ v).transpose(0, 1).reshape(T, C) @ p("attn.proj.weight").T + p("attn.proj.bias")
        maps.append(att)
        outputs.append(y)
        x = x + y
        h = F.layer_norm(x, (C,), p("ln_2.weight"), p("ln_2.bias"))
        x = x + F.gelu(h @ p("mlp.fc.weight").T + p("mlp.fc.bias")) @ p("mlp.proj.weight").T + p("mlp.proj.bias")
    return torch.stack(maps).numpy(), torch.stack(outputs).numpy()


def test_model_attention_maps_match_an_independent_forward(tmp_path):
    loaded = make_checkpoint(tmp_path / "ckpt", n_layer=3, n_head=2)
    text = "the cat sat on the mat."
    tokens, maps = attention.model_attention_maps(loaded, text)
    want, _ = reference_forward(tmp_path / "ckpt", text)
    assert tokens == list(text) and maps.shape == (3, 2, len(text), len(text))
    np.testing.assert_allclose(maps, want, atol=2e-5)
    assert maps.std() > 0.05  # the random weights give non-uniform maps, so the comparison means something


@pytest.mark.parametrize("layer", [0, 1])
def test_step_through_from_a_checkpoint_reproduces_the_layer(tmp_path, layer):
    loaded = make_checkpoint(tmp_path / "ckpt", n_layer=2, n_head=4, n_embd=16)
    tokens, x, w = attention.model_inputs(loaded, "Pat sat.", layer=layer)
    steps = attention.attention_steps(x, n_heads=4, **w)
    want_maps, want_out = reference_forward(tmp_path / "ckpt", "Pat sat.")
    assert tokens == list("Pat sat.") and x.shape == (8, 16)
    np.testing.assert_allclose(steps["weights"], want_maps[layer], atol=2e-5)
    np.testing.assert_allclose(steps["output"], want_out[layer], atol=2e-4)


def test_model_input_messages(tmp_path):
    loaded = make_checkpoint(tmp_path / "ckpt", block_size=12)
    with pytest.raises(ValueError, match="empty"):
        attention.model_attention_maps(loaded, "  ")
    with pytest.raises(ValueError, match="13 characters; this model reads at most 12"):
        attention.model_attention_maps(loaded, "a" * 13)
    with pytest.raises(ValueError, match="not in this model's vocabulary: 'Z'"):
        attention.model_attention_maps(loaded, "aZ")
    assert attention.model_attention_maps(loaded, "aZb", drop_unknown=True)[0] == ["a", "b"]
    with pytest.raises(ValueError, match="None of the prompt's characters"):
        attention.model_attention_maps(loaded, "ZZ", drop_unknown=True)
    with pytest.raises(ValueError, match="layers 1 to 2"):
        attention.model_inputs(loaded, "abc", layer=2)
    with pytest.raises(ValueError, match="at most 12 tokens"):
        attention.model_inputs(loaded, "a" * 13)
    with pytest.raises(ValueError, match="2,000,000 characters; keep it under 1,000"):
        attention.model_attention_maps(loaded, "aZ" * 1_000_000, drop_unknown=True)  # refused before the unknowns are dropped


def test_head_patterns():
    rng = np.random.default_rng(0)
    maps = attention.softmax(np.where(np.tril(np.ones((5, 5), dtype=bool)), rng.standard_normal((2, 3, 5, 5)), -np.inf))
    got = attention.head_patterns(maps)
    for l in range(2):
        for h in range(3):
            m = maps[l, h]
            assert got["self"][l, h] == pytest.approx(sum(m[i, i] for i in range(5)) / 5)
            assert got["previous"][l, h] == pytest.approx(sum(m[i, i - 1] for i in range(1, 5)) / 4)
            assert got["first"][l, h] == pytest.approx(sum(m[i, 0] for i in range(1, 5)) / 4)
    one = attention.head_patterns(np.ones((1, 1, 1, 1)))
    assert one["self"][0, 0] == 1 and np.isnan(one["previous"][0, 0])


def test_cli_from_a_checkpoint(tmp_path):
    make_checkpoint(tmp_path / "ckpt", n_head=2)
    out = run_cli("a cat", "--checkpoint", str(tmp_path / "ckpt"), "--heads", "2", "--precision", "4")
    assert out.returncode == 0, out.stderr
    want, _ = reference_forward(tmp_path / "ckpt", "a cat")
    block = out.stdout.split("Attention weights")[1].splitlines()[3:8]
    printed = np.array([[0.0 if c == "-inf" else float(c) for c in line.split()[1:]] for line in block])
    np.testing.assert_allclose(printed, want[0, 0], atol=1e-4)
