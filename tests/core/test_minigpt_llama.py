"""The Llama-style MiniGPT (RoPE, RMSNorm, SwiGLU, grouped-query attention, no biases) against transformers'
own Llama: the same weights copied in, the same outputs to float tolerance."""
import pytest
import torch

from core import architecture
from core.minigpt.config import RMS_EPS, ROPE_BASE, GPTConfig, swiglu_hidden
from core.minigpt.model import KVCache, MiniGPT

transformers = pytest.importorskip("transformers")
from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402
from transformers.models.llama.modeling_llama import LlamaDecoderLayer, LlamaRotaryEmbedding  # noqa: E402

TINY = dict(vocab_size=13, block_size=16, n_layer=2, n_head=4, n_kv_head=2, n_embd=32, arch="llama")


def tiny_llama(seed=0, **overrides) -> MiniGPT:
    model = MiniGPT(GPTConfig(**{**TINY, **overrides}), seed=seed)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():  # norm gains away from 1, so a missing or misplaced gain shows
        for name, p in model.named_parameters():
            if ".ln_" in name or name.startswith("ln_f"):
                p.normal_(1.0, 0.2, generator=g)
            else:  # larger weights than the 0.02 init: non-uniform attention, so RoPE and GQA really matter
                p.normal_(0.0, 0.3, generator=g)
    return model.eval()


def hf_config(c: GPTConfig) -> LlamaConfig:
    return LlamaConfig(vocab_size=c.vocab_size, hidden_size=c.n_embd, intermediate_size=c.mlp_hidden,
                       num_hidden_layers=c.n_layer, num_attention_heads=c.n_head, num_key_value_heads=c.kv_heads,
                       max_position_embeddings=c.block_size, rms_norm_eps=RMS_EPS, rope_theta=ROPE_BASE,
                       attention_bias=False, mlp_bias=False, tie_word_embeddings=False,
                       attn_implementation="eager")


LAYER_NAMES = {"ln_1": "input_layernorm", "ln_2": "post_attention_layernorm", "attn.q": "self_attn.q_proj",
               "attn.k": "self_attn.k_proj", "attn.v": "self_attn.v_proj", "attn.proj": "self_attn.o_proj",
               "mlp.gate": "mlp.gate_proj", "mlp.up": "mlp.up_proj", "mlp.proj": "mlp.down_proj"}


def hf_state(model: MiniGPT) -> dict:
    """MiniGPT's weights under transformers' LlamaForCausalLM names (nothing else is changed)."""
    out = {"model.embed_tokens.weight": model.wte.weight, "model.norm.weight": model.ln_f.weight,
           "lm_head.weight": model.lm_head.weight}
    for i in range(model.config.n_layer):
        for ours, theirs in LAYER_NAMES.items():
            out[f"model.layers.{i}.{theirs}.weight"] = model.state_dict()[f"blocks.{i}.{ours}.weight"]
    return out


def test_block_equals_transformers_llama_decoder_layer_with_gqa():
    model = tiny_llama()
    config = hf_config(model.config)
    layer = LlamaDecoderLayer(config, layer_idx=0).eval()
    state = {k.removeprefix("model.layers.0."): v for k, v in hf_state(model).items() if k.startswith("model.layers.0.")}
    layer.load_state_dict(state)
    x = torch.randn(2, 11, 32, generator=torch.Generator().manual_seed(3))
    positions = torch.arange(11)[None].expand(2, -1)
    cos_sin = LlamaRotaryEmbedding(config)(x, positions)
    causal = torch.full((11, 11), float("-inf")).triu(1)[None, None].expand(2, 1, -1, -1)
    with torch.no_grad():
        want = layer(x, attention_mask=causal, position_ids=positions, position_embeddings=cos_sin)
        got = model.blocks[0](x)
    want = want[0] if isinstance(want, tuple) else want
    assert model.config.kv_heads == 2 < model.config.n_head
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    assert (got - x).abs().mean() > 0.1  # the block really changes its input


@pytest.mark.parametrize("n_kv_head", [1, 2, 4])
def test_whole_model_equals_transformers_llama_for_causal_lm(n_kv_head):
    model = tiny_llama(n_kv_head=n_kv_head)
    hf = LlamaForCausalLM(hf_config(model.config)).eval()
    missing, unexpected = hf.load_state_dict(hf_state(model), strict=False)
    assert not unexpected and all("rotary" in k for k in missing)
    idx = torch.randint(0, 13, (2, 16), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        out = hf(idx, output_attentions=True)
        logits, _ = model(idx)
    torch.testing.assert_close(logits, out.logits, atol=1e-4, rtol=1e-4)
    # tab 5's maps are the model's own attention weights, layer by layer
    maps = model.attention_maps(idx[0])
    torch.testing.assert_close(maps, torch.stack([a[0] for a in out.attentions]), atol=1e-5, rtol=1e-5)
    assert maps.std() > 0.05
    assert hf.num_parameters() == model.num_params() == model.config.num_params()


def test_rope_makes_scores_depend_on_distance_only():
    """Shifting every position by the same amount leaves q·k unchanged (with a cache, keys are stored rotated)."""
    from core.minigpt.model import rotary, rotate

    q, k = torch.randn(2, 8, generator=torch.Generator().manual_seed(0))
    def score(i, j):
        (ci, si), (cj, sj) = rotary(torch.tensor([i]), 8), rotary(torch.tensor([j]), 8)
        return (rotate(q, ci[0], si[0]) @ rotate(k, cj[0], sj[0])).item()
    assert score(5, 2) == pytest.approx(score(13, 10), abs=1e-5)
    assert score(5, 2) != pytest.approx(score(5, 4), abs=1e-3)


def test_kv_cache_with_grouped_query_attention_equals_the_full_forward():
    model = tiny_llama()
    idx = torch.randint(0, 13, (1, 14), generator=torch.Generator().manual_seed(2))
    cache = KVCache(model.config)
    assert cache.k.shape == (2, 1, 2, 16, 8)  # two key/value heads stored, not four
    with torch.no_grad():
        full, _ = model(idx)
        parts = [model(idx[:, :9], cache=cache)[0]] + [model(idx[:, t:t + 1], cache=cache)[0] for t in range(9, 14)]
    torch.testing.assert_close(torch.cat(parts, dim=1), full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("config", [
    GPTConfig(arch="llama"), GPTConfig(arch="llama", vocab_size=66, block_size=192, n_kv_head=2),
    GPTConfig(arch="llama", n_layer=1, n_head=8, n_kv_head=1, n_embd=16, vocab_size=300, block_size=8),
])
def test_llama_counts_equal_the_models_parameters(config):
    from tests.core.test_architecture import counted

    model = MiniGPT(config, seed=0)
    assert architecture.breakdown(config) == counted(model)
    assert architecture.breakdown(config)["total"] == model.num_params() == config.num_params()
    assert config.block_matrix_params() == sum(p.numel() for n, p in model.named_parameters()
                                               if n.startswith("blocks.") and p.dim() == 2)
    assert architecture.breakdown(config)["positions"] == 0


def test_same_size_budget_swiglu_hidden_size():
    for d in (16, 32, 48, 128, 384):
        m = swiglu_hidden(d)
        assert m % 8 == 0 and 8 * d / 3 <= m < 8 * d / 3 + 8  # 8d/3 rounded up to a multiple of 8
        assert abs(3 * d * m - 8 * d * d) / (8 * d * d) < 0.13  # ~GPT-2's 8d² per block's MLP
    gpt2, llama = GPTConfig(vocab_size=66, block_size=192), GPTConfig(vocab_size=66, block_size=192, arch="llama")
    assert 0.95 < llama.num_params() / gpt2.num_params() < 1.0  # a little smaller: no position table, no biases


def test_arch_settings_and_their_messages():
    assert GPTConfig().arch == "gpt2" and GPTConfig().kv_heads == 4
    assert GPTConfig.from_dict({"n_layer": 2}).arch == "gpt2"  # a config.json saved before `arch` existed
    assert GPTConfig(arch="llama").bias is False
    with pytest.raises(ValueError, match="Unknown architecture 'bert'"):
        GPTConfig(arch="bert")
    with pytest.raises(ValueError, match="Llama-style option"):
        GPTConfig(n_kv_head=2)
    with pytest.raises(ValueError, match="4 heads cannot share 3 key/value heads"):
        GPTConfig(arch="llama", n_kv_head=3)


def test_llama_init_is_seeded_and_leaves_the_global_generator_alone():
    before = torch.random.get_rng_state()
    a, b = MiniGPT(GPTConfig(**TINY), seed=4), MiniGPT(GPTConfig(**TINY), seed=4)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert a.wpe is None and all(".bias" not in n for n, _ in a.named_parameters())


# ---------- checkpoints, the command line, tab 5's maps ----------

def test_checkpoint_records_the_architecture_and_reloads_it(tmp_path):
    import json

    from core.minigpt import checkpoint
    from core.minigpt.tokenizer import CharTokenizer

    tok = CharTokenizer("abcdefghijklm")
    model = tiny_llama()
    checkpoint.save(tmp_path / "run", model, tok)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())["model"]
    assert saved["arch"] == "llama" and saved["n_kv_head"] == 2 and saved["bias"] is False
    loaded = checkpoint.load(tmp_path / "run")
    assert loaded.config == model.config
    idx = torch.tensor([tok.encode("abcabcm")])
    assert torch.equal(model(idx)[0], loaded.model(idx)[0])


def test_a_checkpoint_saved_before_arch_existed_loads_as_gpt2(tmp_path):
    import json

    from core.minigpt import checkpoint
    from core.minigpt.tokenizer import CharTokenizer

    tok = CharTokenizer("abc")
    model = MiniGPT(GPTConfig(vocab_size=3, block_size=8, n_layer=1, n_head=2, n_embd=16)).eval()
    checkpoint.save(tmp_path / "old", model, tok)
    path = tmp_path / "old" / "config.json"
    info = json.loads(path.read_text())
    for key in ("arch", "n_kv_head"):  # the config.json of a run saved before this change
        del info["model"][key]
    path.write_text(json.dumps(info))
    loaded = checkpoint.load(tmp_path / "old")
    assert loaded.config.arch == "gpt2" and loaded.model.wpe is not None
    assert torch.equal(loaded.model(torch.tensor([[0, 1, 2]]))[0], model(torch.tensor([[0, 1, 2]]))[0])


def test_cli_trains_a_llama_style_model_and_generates_from_it(tmp_path, capsys):
    from core.__main__ import main
    from core.minigpt import checkpoint

    out = tmp_path / "run"
    assert main(["train", "--arch", "llama", "--n-kv-head", "2", "--out", str(out), "--steps", "12", "--n-layer", "1",
                 "--n-embd", "32", "--block-size", "16", "--batch-size", "4", "--eval-every", "6"]) == 0
    printed = capsys.readouterr().out
    loaded = checkpoint.load(out)
    assert loaded.config.arch == "llama" and loaded.config.kv_heads == 2
    assert "Llama style MiniGPT: 1 layers x 4 heads (2 key/value)" in printed
    assert f"{loaded.config.num_params():,} parameters" in printed
    assert main(["generate", "Python is", "30", "--checkpoint", str(out), "--seed", "1"]) == 0
    cached = capsys.readouterr().out
    assert main(["generate", "Python is", "30", "--checkpoint", str(out), "--seed", "1", "--no-cache"]) == 0
    assert capsys.readouterr().out == cached and len(cached.rstrip("\n")) == len("Python is") + 30
    assert main(["train", "--n-kv-head", "2", "--steps", "2", "--out", str(tmp_path / "no")]) != 0
    assert "Llama-style option" in capsys.readouterr().err


def test_tab5_maps_of_a_llama_checkpoint_are_transformers_attentions(tmp_path):
    from core import attention
    from core.minigpt import checkpoint
    from core.minigpt.tokenizer import CharTokenizer

    tok = CharTokenizer("abcdefghijklm")
    model = tiny_llama()
    checkpoint.save(tmp_path / "run", model, tok)
    loaded = checkpoint.load(tmp_path / "run")
    tokens, maps = attention.model_attention_maps(loaded, "badcafe")
    hf = LlamaForCausalLM(hf_config(model.config)).eval()
    hf.load_state_dict(hf_state(model), strict=False)
    with torch.no_grad():
        want = torch.stack(hf(torch.tensor([tok.encode("badcafe")]), output_attentions=True).attentions)[:, 0]
    assert tokens == list("badcafe") and maps.shape == (2, 4, 7, 7)
    torch.testing.assert_close(torch.from_numpy(maps).float(), want, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="Llama style"):  # the step-through shows GPT-2's arithmetic only
        attention.model_inputs(loaded, "bad")


def test_the_lesson_paragraph_numbers_are_the_models():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "lessons" / "text" / "part04_minigpt.md").read_text(encoding="utf-8")
    paragraph = text[text.index("### Llama style"):text.index("### The training loop")]
    shape = dict(vocab_size=66, block_size=192)
    counts = [sum(p.numel() for p in MiniGPT(GPTConfig(**shape, **extra)).parameters())
              for extra in ({"arch": "llama"}, {"arch": "llama", "n_kv_head": 2}, {})]
    assert f"{counts[0]:,} parameters, {counts[1]:,} with grouped-query attention, against {counts[2]:,}" in paragraph
    assert f"({swiglu_hidden(128)} for $d = 128$)" in paragraph
