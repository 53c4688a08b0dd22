"""core.architecture: every count checked against the real model's parameters (sum of p.numel()).

transformers models are built on the meta device: shapes only, no memory, so Llama-3-8B costs
nothing. Each part is checked on its own by grouping the model's named parameters."""
import json
import time

import pytest
import torch

from core import architecture
from core.minigpt.config import GPTConfig
from core.sessions import CHECKPOINTS_DIR

POCKET_DIR = CHECKPOINTS_DIR / "pocket" / "pocket-llama"
MINIGPT_DIR = CHECKPOINTS_DIR / "minigpt" / "default"


def part_of(name: str) -> str:
    """Which part of the breakdown a parameter belongs to, read from its name (GPT-2, Llama, MiniGPT)."""
    if name.startswith("lm_head"):
        return "head"
    if "wpe" in name:
        return "positions"
    if "wte" in name or "embed_tokens" in name:
        return "embeddings"
    if "ln_" in name or "norm" in name:
        return "norms"
    if ".attn." in name or "self_attn" in name:
        return "attention"
    if ".mlp." in name:
        return "mlp"
    raise AssertionError(f"unclassified parameter {name}")


def counted(model) -> dict[str, int]:
    """The breakdown of a real model: named_parameters() lists a tied weight once, as wte/embed_tokens."""
    parts = dict.fromkeys(architecture.PARTS, 0)
    for name, p in model.named_parameters():
        parts[part_of(name)] += p.numel()
    parts["total"] = sum(p.numel() for p in model.parameters())
    assert parts["total"] == sum(parts[k] for k in architecture.PARTS)
    return parts


def meta_model(config: dict):
    """The transformers model of a config.json dict, built on the meta device (no memory used)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    fields = {k: v for k, v in config.items() if k != "model_type"}
    hf_config = AutoConfig.for_model(config["model_type"], **fields)
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(hf_config)


@pytest.mark.parametrize("config", [
    GPTConfig(), GPTConfig(vocab_size=66, block_size=192), GPTConfig(n_layer=2, n_head=2, n_embd=48, bias=False),
    GPTConfig(vocab_size=300, block_size=8, n_layer=1, n_head=1, n_embd=16),
])
def test_minigpt_counts_equal_the_models_parameters(config):
    from core.minigpt.model import MiniGPT

    model = MiniGPT(config, seed=0)
    assert architecture.breakdown(config) == counted(model)
    assert architecture.breakdown(config)["total"] == model.num_params() == config.num_params()


def test_minigpt_checkpoint_config_json_and_the_tab4_preset():
    from core.minigpt import train

    info = json.loads((MINIGPT_DIR / "config.json").read_text())
    tab4 = train.preset("default")[0]
    tab4.vocab_size = len(info["vocabulary"])  # the built-in corpus's characters, as tab 4 trains it
    assert architecture.breakdown(info) == architecture.breakdown(tab4) == architecture.breakdown(architecture.preset("minigpt"))


@pytest.mark.parametrize("name", list(architecture.PRESETS))
def test_every_preset_equals_the_transformers_model_on_meta(name):
    config = architecture.preset(name)
    if config["model_type"] == "minigpt":
        from core.minigpt.model import MiniGPT

        model = MiniGPT(GPTConfig.from_dict(config))
    else:
        start = time.perf_counter()
        model = meta_model(config)
        print(f"{name}: meta build {time.perf_counter() - start:.2f} s")
    assert architecture.breakdown(config) == counted(model)


def test_published_totals():
    assert architecture.breakdown(architecture.preset("gpt2"))["total"] == 124_439_808
    assert architecture.breakdown(architecture.preset("tinyllama-1.1b"))["total"] == 1_100_048_384
    assert architecture.breakdown(architecture.preset("llama-2-7b"))["total"] == 6_738_415_616


def test_pocket_preset_is_the_shipped_pocket_model():
    shipped = json.loads((POCKET_DIR / "config.json").read_text())
    assert architecture.breakdown(shipped) == architecture.breakdown(architecture.preset("pocket"))
    model = meta_model_of_folder(POCKET_DIR)
    assert architecture.breakdown(model.config) == counted(model)  # a transformers config object


CONFIG_JSONS = {
    # Mistral-7B-v0.1's config.json (the fields it has), GQA with 8 key/value heads
    "mistral": dict(model_type="mistral", vocab_size=32000, hidden_size=4096, intermediate_size=14336,
                    num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                    max_position_embeddings=32768, tie_word_embeddings=False, sliding_window=4096),
    # Qwen2-0.5B's: biases on q, k, v; tied head
    "qwen2": dict(model_type="qwen2", vocab_size=151936, hidden_size=896, intermediate_size=4864,
                  num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                  max_position_embeddings=32768, tie_word_embeddings=True),
    "llama-biases-head-dim": dict(model_type="llama", vocab_size=500, hidden_size=64, intermediate_size=100,
                                  num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=1,
                                  head_dim=24, attention_bias=True, mlp_bias=True, max_position_embeddings=64),
    "mistral-head-dim": dict(model_type="mistral", vocab_size=300, hidden_size=60, intermediate_size=90,
                             num_hidden_layers=2, num_attention_heads=8, num_key_value_heads=2, head_dim=16),
    "gpt2-n-inner-untied": dict(model_type="gpt2", vocab_size=1000, n_embd=64, n_layer=3, n_head=4, n_inner=100,
                                n_positions=77, tie_word_embeddings=False),
    # fields left out: transformers' defaults apply (Llama: 32 layers of 4096, 32 heads, untied)
    "llama-defaults": dict(model_type="llama"),
    "gpt2-defaults": dict(model_type="gpt2", n_layer=2),
    "qwen2-defaults": dict(model_type="qwen2", num_hidden_layers=1),
    "mistral-defaults": dict(model_type="mistral", num_hidden_layers=1),
}


@pytest.mark.parametrize("name", list(CONFIG_JSONS))
def test_config_json_equals_the_transformers_model_on_meta(name):
    config = CONFIG_JSONS[name]
    model = meta_model(config)
    assert architecture.breakdown(config) == counted(model)
    assert architecture.breakdown(model.config) == counted(model)  # the transformers config object too
    text = json.dumps(config, indent=2)
    assert architecture.breakdown(architecture.parse_config_json(text)) == counted(model)


@pytest.mark.parametrize("family,tied", [("gpt2", True), ("gpt2", False), ("llama", True), ("llama", False)])
def test_custom_shapes_from_the_counters_controls(family, tied):
    config = architecture.custom(family, n_layers=3, d_model=96, n_heads=6, n_kv_heads=2, d_mlp=200,
                                 vocab_size=777, context=50, tied=tied)
    assert architecture.breakdown(config) == counted(meta_model(config))
    s = architecture.shape(config)
    assert (s["n_layers"], s["d_model"], s["n_heads"], s["d_mlp"], s["vocab_size"], s["context"]) == (3, 96, 6, 200, 777, 50)
    assert s["n_kv_heads"] == (6 if family == "gpt2" else 2)  # GPT-2 style: full multi-head attention


def test_gpt2_style_untied_with_4d_mlp_is_minigpt():
    config = architecture.custom("gpt2", 4, 128, 4, 4, 512, 66, 192, tied=False)
    assert architecture.breakdown(config) == architecture.breakdown(architecture.preset("minigpt"))


def test_shape_has_what_a_flop_and_memory_model_needs():
    s = architecture.shape(architecture.preset("llama-3-8b"))
    assert {k: s[k] for k in ("n_layers", "d_model", "n_heads", "n_kv_heads", "head_dim", "d_mlp", "vocab_size", "context")} \
        == dict(n_layers=32, d_model=4096, n_heads=32, n_kv_heads=8, head_dim=128, d_mlp=14336, vocab_size=128256, context=8192)
    assert s["family"] == "llama" and s["tied"] is False
    s = architecture.shape(GPTConfig())
    assert (s["family"], s["n_kv_heads"], s["d_mlp"], s["context"], s["tied"]) == ("gpt2", 4, 512, 64, False)


def test_rule_of_thumb_is_12_L_d_squared():
    assert architecture.rule_of_thumb(architecture.preset("gpt2")) == 12 * 12 * 768 ** 2
    # for GPT-2 it is exactly the blocks' weight matrices (biases, norms and embeddings left out)
    from core.minigpt.config import GPTConfig as G

    g = G(n_layer=3, n_embd=64, n_head=4)
    assert architecture.rule_of_thumb(g) == g.block_matrix_params()


def test_preset_returns_a_copy_and_refuses_unknown_names():
    architecture.preset("gpt2")["n_layer"] = 99
    assert architecture.PRESETS["gpt2"]["n_layer"] == 12
    with pytest.raises(ValueError, match="Unknown model 'gpt5'"):
        architecture.preset("gpt5")


@pytest.mark.parametrize("text,message", [
    ("", "box is empty"),
    ("{\"model_type\": \"gpt2\",", "not valid JSON: .* line 1"),
    ("[1, 2]", "one JSON object"),
    (json.dumps({"model_type": "bert", "hidden_size": 768}), "model_type 'bert' is not supported.*gpt2, llama, mistral, qwen2"),
    (json.dumps({"hidden_size": 768}), "model_type None is not supported"),
    (json.dumps({"model_type": "llama", "hidden_size": 100, "num_attention_heads": 3}), "divisible by the number of heads"),
    (json.dumps({"model_type": "llama", "num_key_value_heads": 5}), "multiple of the number of key/value heads"),
    (json.dumps({"model_type": "gpt2", "n_layer": "12"}), "n_layer must be a whole number"),
    (json.dumps({"model_type": "gpt2", "n_layer": 2.5}), "n_layer must be a whole number"),
    (json.dumps({"model_type": "gpt2", "n_layer": True}), "n_layer must be a whole number"),
    (json.dumps({"model_type": "gpt2", "n_embd": 0}), "n_embd = 0 is outside"),
    (json.dumps({"model_type": "llama", "vocab_size": 10**12}), "vocab_size = .* is outside"),
    (json.dumps({"model_type": "llama", "tie_word_embeddings": "yes"}), "true or false"),
    ("{" + " " * architecture.MAX_CONFIG_CHARS + "}", "limit is 200,000"),
])
def test_bad_config_json_gets_one_clear_message(text, message):
    with pytest.raises(ValueError, match=message):
        architecture.parse_config_json(text)


def test_bad_custom_shape_and_family():
    with pytest.raises(ValueError, match="divisible"):
        architecture.custom("gpt2", 2, 100, 3, 3, 400, 50, 10, tied=True)
    with pytest.raises(ValueError, match="Unknown family"):
        architecture.custom("bert", 2, 96, 3, 3, 400, 50, 10, tied=True)
    with pytest.raises(ValueError, match="Cannot read a model shape"):
        architecture.breakdown(42)


def test_importing_architecture_stays_light():
    import subprocess
    import sys

    code = "import sys, core.architecture; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_formulas_and_description_follow_the_family():
    llama, gpt2 = architecture.preset("llama-3-8b"), architecture.preset("gpt2")
    assert "RoPE" in architecture.formulas(llama)["positions"] and "SwiGLU" in architecture.formulas(llama)["mlp"]
    assert "RMSNorm" in architecture.formulas(llama)["norms"] and "LayerNorm" in architecture.formulas(gpt2)["norms"]
    assert "tied" in architecture.formulas(gpt2)["head"]
    assert architecture.describe(llama).startswith("Llama style (llama): 32 layers, d = 4,096, 32 heads (8 key/value)")
    total = architecture.breakdown(gpt2)["total"]
    assert architecture.rule_of_thumb_gap(gpt2) == pytest.approx((12 * 12 * 768 ** 2 - total) / total)


# ---- the command line: python -m core params NAME|CONFIG_JSON


def cli(capsys, *argv):
    from core.__main__ import main

    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def printed_total(out: str) -> int:
    line = next(line for line in out.splitlines() if line.split()[:1] == ["total"])
    return int(line.split()[1].replace(",", ""))


@pytest.mark.parametrize("name,total", [("gpt2", 124_439_808), ("tinyllama-1.1b", 1_100_048_384),
                                        ("llama-2-7b", 6_738_415_616)])
def test_cli_prints_the_breakdown_and_the_exact_total(capsys, name, total):
    code, out, _ = cli(capsys, "params", name)
    assert code == 0 and printed_total(out) == total
    for part, count in architecture.breakdown(architecture.preset(name)).items():
        if part != "total":
            assert any(line.split()[:2] == [part, f"{count:,}"] for line in out.splitlines())
    assert "12·L·d²" in out


def test_cli_reads_a_config_json_file_or_folder(capsys, tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(CONFIG_JSONS["qwen2"]))
    expected = counted(meta_model(CONFIG_JSONS["qwen2"]))
    for arg in (str(path), str(tmp_path)):
        code, out, _ = cli(capsys, "params", arg)
        assert code == 0 and printed_total(out) == expected["total"]
    code, out, _ = cli(capsys, "params", str(POCKET_DIR), "--json")
    assert code == 0 and json.loads(out) == counted(meta_model_of_folder(POCKET_DIR))
    code, out, _ = cli(capsys, "params", str(MINIGPT_DIR), "--json")  # a MiniGPT checkpoint folder
    assert code == 0 and json.loads(out)["total"] == architecture.breakdown(architecture.preset("minigpt"))["total"]


def meta_model_of_folder(folder):
    from transformers import AutoConfig, AutoModelForCausalLM

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(folder))


def test_cli_explains_bad_input(capsys, tmp_path):
    code, _, err = cli(capsys, "params", "gpt-5")
    assert code == 2 and "neither a preset" in err and "Traceback" not in err
    path = tmp_path / "bert.json"
    path.write_text(json.dumps({"model_type": "bert", "hidden_size": 768}))
    code, _, err = cli(capsys, "params", str(path))
    assert code == 2 and "model_type 'bert' is not supported" in err
