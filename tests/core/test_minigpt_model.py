"""MiniGPT's shape, forward pass and loss, checked against an independent float64 re-implementation."""
import math

import pytest
import torch
import torch.nn.functional as F

from core.minigpt.config import GPTConfig
from core.minigpt.model import Dropout, KVCache, MiniGPT
from core.minigpt.tokenizer import CharTokenizer

TINY = dict(vocab_size=11, block_size=12, n_layer=2, n_head=2, n_embd=16)


def tiny_model(seed=0, **overrides):
    model = MiniGPT(GPTConfig(**{**TINY, **overrides}), seed=seed)
    # Random (not zero) biases and LayerNorm affine parameters, so the reference checks every term.
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias") or ".ln_" in name or name.startswith("ln_f"):
                p.normal_(0.0 if name.endswith("bias") else 1.0, 0.1, generator=g)
    return model


def reference_forward(model, idx):
    """GPT forward from the raw parameter tensors in float64: nothing shared with model.py's code path."""
    P = {k: v.detach().double() for k, v in model.state_dict().items()}
    c = model.config
    B, T = idx.shape
    x = P["wte.weight"][idx] + P["wpe.weight"][:T]
    hs = c.n_embd // c.n_head

    def norm(h, prefix):
        mean = h.mean(-1, keepdim=True)
        var = ((h - mean) ** 2).mean(-1, keepdim=True)
        out = (h - mean) / torch.sqrt(var + 1e-5) * P[f"{prefix}.weight"]
        return out + P[f"{prefix}.bias"] if f"{prefix}.bias" in P else out

    def linear(h, prefix):
        out = h @ P[f"{prefix}.weight"].T
        return out + P[f"{prefix}.bias"] if f"{prefix}.bias" in P else out

    for i in range(c.n_layer):
        h = norm(x, f"blocks.{i}.ln_1")
        q, k, v = linear(h, f"blocks.{i}.attn.qkv").split(c.n_embd, dim=-1)
        heads = []
        for head in range(c.n_head):
            s = slice(head * hs, (head + 1) * hs)
            scores = q[..., s] @ k[..., s].transpose(1, 2) / math.sqrt(hs)
            scores = scores + torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)
            heads.append(torch.softmax(scores, dim=-1) @ v[..., s])
        x = x + linear(torch.cat(heads, dim=-1), f"blocks.{i}.attn.proj")
        h = norm(x, f"blocks.{i}.ln_2")
        h = linear(h, f"blocks.{i}.mlp.fc")
        h = 0.5 * h * (1 + torch.erf(h / math.sqrt(2)))  # exact GELU
        x = x + linear(h, f"blocks.{i}.mlp.proj")
    x = norm(x, "ln_f")
    return x @ P["lm_head.weight"].T


def test_parameter_count_from_the_shape_equals_the_models():
    for overrides in [{}, dict(bias=False), dict(n_layer=3, n_head=4, n_embd=32, vocab_size=50, block_size=20)]:
        config = GPTConfig(**{**TINY, **overrides})
        model = MiniGPT(config)
        assert config.num_params() == sum(p.numel() for p in model.parameters()) == model.num_params()


def test_default_config_is_the_guides_size():
    config = GPTConfig()
    assert 750_000 < config.num_params() < 850_000


def test_default_config_matches_the_lesson_text():
    # lessons/text/part04_minigpt.md: d=128, L=4, 4 heads, T=64, V=65 -> 818,176 parameters, 793,088 in the blocks
    model = MiniGPT(GPTConfig(vocab_size=65))
    assert model.num_params() == 818_176
    assert sum(p.numel() for p in model.blocks.parameters()) == 793_088
    assert model.lm_head.weight is not model.wte.weight  # untied head


def test_forward_and_loss_match_float64_reference():
    model = tiny_model().eval()
    g = torch.Generator().manual_seed(1)
    idx = torch.randint(0, 11, (3, 12), generator=g)
    targets = torch.randint(0, 11, (3, 12), generator=g)
    logits, loss = model(idx, targets)
    ref = reference_forward(model, idx)
    torch.testing.assert_close(logits.double(), ref, rtol=1e-4, atol=1e-5)
    ref_loss = -torch.log_softmax(ref, dim=-1).gather(-1, targets[..., None]).mean()
    assert loss.item() == pytest.approx(ref_loss.item(), rel=1e-5)


def test_untrained_loss_is_near_ln_vocab_size():
    model = MiniGPT(GPTConfig(vocab_size=40, block_size=16, n_layer=2, n_head=2, n_embd=32))
    g = torch.Generator().manual_seed(0)
    idx = torch.randint(0, 40, (8, 16), generator=g)
    _, loss = model(idx, torch.randint(0, 40, (8, 16), generator=g))
    assert loss.item() == pytest.approx(math.log(40), abs=0.1)


def test_attention_maps_match_reference_softmax():
    model = tiny_model().eval()
    idx = torch.tensor([3, 1, 4, 1, 5, 9, 2, 6])
    maps = model.attention_maps(idx)
    assert maps.shape == (2, 2, 8, 8) and maps.dtype == torch.float32
    torch.testing.assert_close(maps.sum(-1), torch.ones(2, 2, 8))
    assert torch.all(maps.triu(1) == 0)  # causal: nothing above the diagonal
    # layer 0 from scratch in float64
    P = {k: v.double() for k, v in model.state_dict().items()}
    x = P["wte.weight"][idx] + P["wpe.weight"][:8]
    h = F.layer_norm(x, (16,), P["blocks.0.ln_1.weight"], P["blocks.0.ln_1.bias"])
    q, k, _ = (h @ P["blocks.0.attn.qkv.weight"].T + P["blocks.0.attn.qkv.bias"]).split(16, dim=-1)
    s = (q[:, :8] @ k[:, :8].T) / math.sqrt(8) + torch.full((8, 8), float("-inf"), dtype=torch.float64).triu(1)
    torch.testing.assert_close(maps[0, 0].double(), torch.softmax(s, -1), rtol=1e-4, atol=1e-6)
    assert torch.equal(model.attention_maps(idx[None]), maps)


def test_fused_attention_equals_the_explicit_weights():
    model = tiny_model().eval()
    x = torch.randn(2, 7, 16)
    attn = model.blocks[0].attn
    _, _, v = attn._heads(x)
    explicit = (attn.weights(x) @ v).transpose(1, 2).reshape(2, 7, 16)
    torch.testing.assert_close(attn(x), attn.proj(explicit), rtol=1e-5, atol=1e-6)


def test_kv_cache_forward_equals_full_forward():
    model = tiny_model().eval().double()
    idx = torch.randint(0, 11, (1, 12), generator=torch.Generator().manual_seed(2))
    cache = KVCache(model.config, dtype=torch.float64)
    pieces = [model(idx[:, a:b], cache=cache)[0] for a, b in [(0, 5), (5, 8), (8, 9), (9, 12)]]
    torch.testing.assert_close(torch.cat(pieces, dim=1), model(idx)[0])
    assert cache.length == 12


def test_bad_shapes_give_clear_messages():
    with pytest.raises(ValueError, match="divisible"):
        GPTConfig(n_embd=30, n_head=4)
    with pytest.raises(ValueError, match="n_layer"):
        GPTConfig(n_layer=0)
    with pytest.raises(ValueError, match="at least 2"):
        GPTConfig(vocab_size=1)
    model = tiny_model()
    with pytest.raises(ValueError, match="at most 12 tokens"):
        model(torch.zeros(1, 13, dtype=torch.long))
    with pytest.raises(ValueError, match="one sequence"):
        model.attention_maps(torch.zeros(2, 5, dtype=torch.long))


def test_memory_estimate_is_close_to_what_training_really_holds():
    """Weights/grads/AdamW buffers counted from the live tensors; activations from autograd's saved tensors."""
    config = GPTConfig(vocab_size=30, block_size=32, n_layer=2, n_head=4, n_embd=64)
    batch = 8
    model = MiniGPT(config)
    opt = torch.optim.AdamW(model.parameters())
    saved = {}

    def pack(t):
        saved[(t.untyped_storage().data_ptr(), t.dtype)] = t.untyped_storage().nbytes()
        return t

    idx = torch.randint(0, 30, (batch, 32))
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        _, loss = model(idx, idx)
    loss.backward()
    opt.step()
    params = list(model.parameters())
    weights = sum(p.numel() * p.element_size() for p in params)
    grads = sum(p.grad.numel() * p.grad.element_size() for p in params)
    optimizer = sum(t.numel() * t.element_size() for s in opt.state.values() for t in s.values() if t.dim() > 0)
    param_ptrs = {(p.untyped_storage().data_ptr(), p.dtype) for p in params}
    activations = sum(n for key, n in saved.items() if key not in param_ptrs)
    estimate = config.memory_estimate(batch)
    assert (estimate["weights"], estimate["gradients"], estimate["optimizer"]) == (weights, grads, optimizer)
    assert 0.7 < estimate["activations"] / activations < 1.4
    assert estimate["total"] == sum(v for k, v in estimate.items() if k != "total")


def test_tokenizer_round_trip_and_unknown_characters():
    tok = CharTokenizer.from_text("hello world")
    assert tok.chars == " dehlorw" and tok.vocab_size == 8
    assert tok.decode(tok.encode("hello")) == "hello"
    assert tok.unknown("hi, world!") == ["i", ",", "!"]
    with pytest.raises(ValueError, match="not in this model's vocabulary: 'i' ','"):
        tok.encode("hi, world")
    with pytest.raises(ValueError, match="1 distinct"):
        CharTokenizer.from_text("aaaa")


def test_memory_estimate_with_muon_counts_its_one_momentum_buffer():
    """The optimizer state of a real Muon + AdamW pair after one step, against the estimate."""
    from core.minigpt import train

    config = GPTConfig(vocab_size=30, block_size=32, n_layer=2, n_head=4, n_embd=64)
    model = MiniGPT(config)
    optimizers = train.make_optimizers(model, train.TrainConfig(optimizer="muon"))
    idx = torch.randint(0, 30, (4, 32))
    model(idx, idx)[1].backward()
    for opt in optimizers:
        opt.step()
    state = sum(t.numel() * t.element_size() for opt in optimizers for s in opt.state.values()
                for t in s.values() if torch.is_tensor(t) and t.dim() > 0)
    assert config.memory_estimate(4, "muon")["optimizer"] == state
    assert config.memory_estimate(4, "muon")["optimizer"] < config.memory_estimate(4)["optimizer"]


# ---------- randomness: a seed of its own, dropout from the model's generator ----------

def test_dropout_is_f_dropout_with_a_private_generator():
    x = torch.randn(64, 33, generator=torch.Generator().manual_seed(0), requires_grad=True)
    for p in (0.1, 0.5, 0.9):
        ours = Dropout(p, torch.Generator().manual_seed(7))(x)
        with torch.random.fork_rng(devices=[]):  # the same random bits, drawn by F.dropout from the global generator
            torch.manual_seed(7)
            ref = F.dropout(x, p, training=True)
        assert torch.equal(ours, ref)  # bit for bit: same mask, same 1 / (1 - p) scaling
        (g_ours,) = torch.autograd.grad(ours.sum(), x)
        (g_ref,) = torch.autograd.grad(ref.sum(), x)
        assert torch.equal(g_ours, g_ref)
    zeros = Dropout(1.0, torch.Generator())(x)
    assert torch.equal(zeros, F.dropout(x, 1.0, training=True))


def test_dropout_keeps_the_mean_and_drops_a_fraction_p_and_is_off_in_eval():
    drop = Dropout(0.3, torch.Generator().manual_seed(1))
    ones = torch.ones(200_000)
    out = drop(ones)
    assert abs((out == 0).float().mean().item() - 0.3) < 0.005  # ~5 standard deviations
    survivors = out[out != 0]
    assert torch.equal(survivors, torch.ones_like(survivors) * (1 / 0.7))  # scaled by 1 / (1 - p)
    assert abs(out.mean().item() - 1.0) < 0.01  # E[dropout(x)] = x
    assert not torch.equal(out, drop(ones))  # a new mask every call
    drop.eval()
    assert drop(ones) is ones  # eval mode: the identity
    assert Dropout(0.0, torch.Generator())(ones) is ones
    with pytest.raises(ValueError, match="between 0 and 1"):
        Dropout(1.5, torch.Generator())


def test_the_seed_fixes_the_weights_and_the_dropout_and_the_global_generator_is_untouched():
    config = GPTConfig(**{**TINY, "dropout": 0.2})
    idx = torch.randint(0, 11, (2, 12), generator=torch.Generator().manual_seed(3))
    before = torch.get_rng_state()
    a, b, other = MiniGPT(config, seed=5), MiniGPT(config, seed=5), MiniGPT(config, seed=6)
    losses = [[m(idx, idx)[1] for _ in range(2)] for m in (a, b, other)]  # training mode: dropout on
    assert torch.equal(torch.get_rng_state(), before)  # nothing above drew from torch's global generator
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.wte.weight, other.wte.weight)
    assert [x.item() for x in losses[0]] == [x.item() for x in losses[1]]  # same masks, call after call
    assert losses[0][0].item() != losses[0][1].item()  # but a new mask every step
    # dropout does not change the initial weights: p = 0.2 and p = 0 models of one seed are the same model
    plain = MiniGPT(GPTConfig(**TINY), seed=5)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), plain.parameters()))
    torch.testing.assert_close(a.eval()(idx)[0], plain.eval()(idx)[0], rtol=0, atol=0)


def test_initial_weights_follow_gpt2():
    model = MiniGPT(GPTConfig(vocab_size=65), seed=0)
    assert abs(model.wte.weight.std().item() - 0.02) < 0.001
    assert abs(model.blocks[0].mlp.proj.weight.std().item() - 0.02 / math.sqrt(8)) < 0.0005
    assert torch.all(model.blocks[0].ln_1.weight == 1) and torch.all(model.blocks[0].attn.qkv.bias == 0)
    assert not any(p.is_meta for p in model.parameters())
