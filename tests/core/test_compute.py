"""core.compute against published figures, independent counts and a measured MiniGPT training step."""
import io
import json
import math
from contextlib import redirect_stdout

import pytest
import torch

from core import compute as C
from core import jobs, sessions, text_input
from core.__main__ import main
from core.minigpt.config import GPTConfig


# ---------- published figures ----------

def test_gpt3_training_compute_is_the_papers_3_14e23():
    """Brown et al. 2020, table D.1: GPT-3 175B on 300B tokens, 3.14e23 FLOPs (their N is 174.6B)."""
    assert C.training_flops(175e9, 300e9) == pytest.approx(3.14e23, rel=0.01)
    assert C.training_flops(174.6e9, 300e9) == pytest.approx(3.14e23, rel=0.002)


def test_chinchilla_70b_on_1_4t_tokens():
    """Hoffmann et al. 2022: 70B parameters, 1.4T tokens (20 per parameter), 5.76e23 FLOPs (table 3)."""
    assert C.chinchilla_tokens(70e9) == 1.4e12
    assert C.training_flops(70e9, 1.4e12) == pytest.approx(5.76e23, rel=0.025)


def test_tinyllama_run_90_days_on_16_a100_at_24k_tokens_per_second():
    """Zhang et al. 2024: 1.1B parameters, 3T tokens, 16 A100-40G, ~24,000 tokens/s per GPU, ~90 days.
    The MFU those tokens/s mean: 51% by 6N alone, 59% with the attention term (the paper says 56%)."""
    p = C.preset("tinyllama-1.1b")
    assert p.params == 1_100_048_384 and p.tokens == 3e12
    assert p.tokens / p.params == pytest.approx(2727, abs=1)  # "~2,700 tokens per parameter"
    a100 = C.gpu("A100").peak_flops
    per_token_6n = 6 * p.params
    per_token = per_token_6n + C.attention_flops_per_token(p.shape.n_layer, p.shape.d_model, p.shape.context)
    assert C.mfu(per_token_6n, 24_000, a100) == pytest.approx(0.508, abs=0.002)
    assert C.mfu(per_token, 24_000, a100) == pytest.approx(0.593, abs=0.002)
    est = C.estimate(p.params, p.tokens, "A100", gpus=16, mfu=C.mfu(per_token, 24_000, a100), shape=p.shape)
    assert est.seconds == pytest.approx(3e12 / (24_000 * 16), rel=1e-9)  # the same run, seen from the FLOPs side
    assert est.hours / 24 == pytest.approx(90.4, abs=0.1)


def test_attention_term_is_palms_12_l_h_q_t():
    """PaLM appendix B: 6N + 12 L H Q T per token, H Q = d."""
    assert C.attention_flops_per_token(118, 18432, 2048) == 12 * 118 * 18432 * 2048


def test_gpu_table_dense_16_bit_peaks():
    peaks = {name: g.peak_flops / 1e12 for name, g in C.GPUS.items()}
    assert peaks == {"T4": 65, "A10G": 125, "L4": 121, "A100": 312, "H100": 989}
    assert C.GPUS["T4"].dtype == "fp16" and "no bf16" in C.GPUS["T4"].source
    assert all(g.source for g in C.GPUS.values())


# ---------- time, cost and bad input ----------

def test_run_time_and_cost_by_hand():
    est = C.estimate(1e9, 2e10, "H100", gpus=4, mfu=0.5, price=3.0)
    seconds = 6 * 1e9 * 2e10 / (4 * 989e12 * 0.5)
    assert est.seconds == pytest.approx(seconds, rel=1e-12)
    assert est.cost_usd == pytest.approx(seconds / 3600 * 4 * 3.0, rel=1e-12)
    assert est.attention_flops == 0  # no shape given: 6ND only


@pytest.mark.parametrize("text, value", [("1.1e9", 1.1e9), ("1.1B", 1.1e9), ("3T", 3e12), ("1,000,000", 1e6),
                                         (" 250m ", 2.5e8), ("7b", 7e9), ("12k", 12e3)])
def test_parse_count_reads_what_learners_type(text, value):
    assert C.parse_count(text, "x", 1e16) == pytest.approx(value)


@pytest.mark.parametrize("text, message", [("", "Give the number"), ("abc", "must be a number"),
                                           ("-5", "more than zero"), ("0", "more than zero"),
                                           ("1e30", "limit"), ("1" * 50, "too long"), ("1.1 X", "must be a number")])
def test_parse_count_refuses_with_a_message(text, message):
    with pytest.raises(ValueError, match=message):
        C.parse_count(text, "number of parameters", C.MAX_PARAMS)


@pytest.mark.parametrize("mfu", [0, -0.2, 1.5, 40, math.nan, None])
def test_absurd_mfu_is_refused(mfu):
    with pytest.raises(ValueError, match="MFU"):
        C.estimate(1e9, 1e10, "A100", mfu=mfu)


def test_bad_gpus_price_and_shape_are_refused():
    with pytest.raises(ValueError, match="GPUs"):
        C.estimate(1e9, 1e10, gpus=0)
    with pytest.raises(ValueError, match="price"):
        C.estimate(1e9, 1e10, price=-1)
    with pytest.raises(ValueError, match="Unknown GPU"):
        C.estimate(1e9, 1e10, "V100")
    with pytest.raises(ValueError, match="multiple of the key/value heads"):
        C.estimate(1e9, 1e10, shape=C.Shape(2, 64, 4, 3, 256, 100, 16))


# ---------- shapes and presets ----------

def test_presets_come_from_core_architecture_and_match_transformers():
    """Parameter counts are core.architecture's; checked here against a meta-device transformers model."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from core import architecture

    for name in ("smollm2-135m",):
        p = C.preset(name)
        config = architecture.preset(name)
        assert p.params == architecture.breakdown(config)["total"]
        fields = {k: v for k, v in config.items() if k != "model_type"}
        with torch.device("meta"):
            model = LlamaForCausalLM(LlamaConfig(**fields))
        assert p.params == sum(t.numel() for t in model.parameters())
        linear = sum(m.weight.numel() for n, m in model.named_modules()
                     if isinstance(m, torch.nn.Linear) and ".layers." in n)
        assert p.shape.block_linear_params() == linear


# ---------- memory ----------

def test_korthikanti_per_layer_formula_with_dropout():
    """Korthikanti et al. 2022, eq. 1: s b h (34 + 5 a s / h) bytes per GPT layer (16-bit, dropout)."""
    for s, b, h, a in ((2048, 1, 12288, 96), (512, 8, 768, 12), (64, 3, 128, 4)):
        shape = C.Shape(1, h, a, a, 4 * h, 1000, s, glu=False)
        values, masks = C.layer_activation_values(shape, b, s, dropout=True)
        assert 2 * values + masks == pytest.approx(s * b * h * (34 + 5 * a * s / h), rel=1e-12)


def test_checkpointing_keeps_each_layers_input():
    shape = C.preset("tinyllama-1.1b").shape
    full = C.activation_bytes(shape, 1, checkpointing=False)
    ckpt = C.activation_bytes(shape, 1, checkpointing=True)
    one_layer = C.activation_bytes(C.Shape(**{**shape.__dict__, "n_layer": 1}), 1)
    top = (2 * 2048 * 2048 + 2048 * 32000) * 2
    assert ckpt == pytest.approx(shape.n_layer * 2048 * 2048 * 2 + (one_layer - top) + top)
    assert ckpt < full / 5


def test_kv_cache_equals_minigpts_own_cache_and_transformers_with_gqa():
    """MiniGPT's KVCache (no GQA) and a tiny Llama's past_key_values (2 key/value heads of 4) in bytes."""
    from core.minigpt.model import KVCache

    config = GPTConfig(vocab_size=30, block_size=48, n_layer=3, n_head=4, n_embd=64)
    cache = KVCache(config, batch_size=2)
    assert C.kv_cache_bytes(C.Shape.of(config), 2, value_bytes=4) == cache.k.nbytes + cache.v.nbytes

    from transformers import LlamaConfig, LlamaForCausalLM

    llama = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32))
    ids = torch.zeros(3, 20, dtype=torch.long)
    with torch.no_grad():
        past = llama(ids, use_cache=True).past_key_values
    stored = sum(layer.keys.nbytes + layer.values.nbytes for layer in past.layers)
    shape = C.Shape(2, 64, 4, 2, 96, 64, 32)
    assert C.kv_cache_bytes(shape, 3, context=20, value_bytes=4) == stored


def test_lora_and_qlora_match_the_lora_tabs_counts_on_the_pocket_model():
    """Tab 7 counts LoRA on the real modules (core.finetune.lora); this tab counts from the shape alone."""
    from core.finetune import lora, models

    model = models.load_model(models.POCKET).model
    p = C.preset("pocket")
    for targets, modules in (("all linear", lora.ATTENTION + lora.MLP), ("attention", lora.ATTENTION)):
        settings = lora.LoraSettings(rank=8, target_modules=list(modules))
        assert C.lora_params(p.shape, 8, targets) == lora.parameter_count(model, settings).trainable
    settings = lora.LoraSettings(rank=8, target_modules=list(lora.ATTENTION + lora.MLP))
    theirs = lora.memory_estimate(model, settings)
    ours = C.memory_table(p.shape, p.params, C.MemorySettings(lora_rank=8))
    for name, value in (("full_finetune", theirs.full), ("lora", theirs.lora), ("qlora", theirs.qlora)):
        assert ours[name]["total"] - ours[name]["activations"] == pytest.approx(value, rel=1e-12)


def test_full_finetune_is_16_bytes_per_parameter_and_zero_shards_it():
    p = C.preset("llama-2-7b")
    one = C.memory(p.shape, p.params, "full_finetune")
    assert one["weights"] + one["gradients"] + one["optimizer"] == 16 * p.params
    for stage, sharded in ((1, {"optimizer"}), (2, {"optimizer", "gradients"}), (3, {"optimizer", "gradients", "weights"})):
        eight = C.memory(p.shape, p.params, "full_finetune", C.MemorySettings(gpus=8, zero_stage=stage))
        for part in C.PARTS:
            assert eight[part] == pytest.approx(one[part] / 8 if part in sharded else one[part])
    inference = C.memory(p.shape, p.params, "inference", C.MemorySettings(inference_dtype="nf4"))
    assert inference["weights"] == pytest.approx(p.params * (4 + 0.127) / 8)


# ---------- the CLI ----------

def _cli(*args) -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["cost", *args]) == 0
    return out.getvalue()


def test_cli_json_fields():
    report = json.loads(_cli("--params", "1.1e9", "--tokens", "3e12", "--gpu", "A100", "--gpus", "16", "--mfu",
                             "0.5", "--price", "2", "--json"))
    flops = 6 * 1.1e9 * 3e12
    assert report["training_flops"] == pytest.approx(flops)
    assert report["chinchilla_tokens"] == pytest.approx(22e9)
    assert report["hours"] == pytest.approx(flops / (16 * 312e12 * 0.5) / 3600)
    assert report["cost_usd"] == pytest.approx(report["hours"] * 16 * 2)
    assert set(report["memory"]) == {"inference", "full_finetune", "lora", "qlora"}
    for parts in report["memory"].values():
        assert set(parts) == {"weights", "gradients", "optimizer", "activations", "total"}
        assert parts["total"] == pytest.approx(sum(parts[k] for k in C.PARTS))
    assert report["memory"]["full_finetune"]["optimizer"] == pytest.approx(12 * 1.1e9)
    assert "TinyLlama" in report["shape_source"]  # N alone: the nearest preset's shape, said so


def test_cli_text_and_a_bad_value(capsys):
    text = _cli("--preset", "minigpt", "--gpu", "T4")
    assert "Chinchilla-optimal" in text and "full_finetune" in text
    assert main(["cost", "--params", "lots"]) == 2
    assert "must be a number" in capsys.readouterr().err


# ---------- predict, then measure ----------

def test_measured_run_job_predicts_memory_and_reports_time_and_mfu_consistently():
    """The tab's job, in a worker process (fresh, as the memory measurement needs):
    - weights, gradients and AdamW moments exactly as predicted (GPTConfig.memory_estimate, tab 4's estimate);
    - activations within 2% of autograd's saved tensors; the worker's peak RSS rise within 20% of the total;
    - the achieved MFU is the model FLOPs over the measured time and the measured FLOP/s."""
    owner = sessions.new_user_id()
    shape = dict(n_layer=2, n_head=4, n_embd=128, block_size=128)
    reports = list(jobs.stream("core.compute:measured_run", dict(
        model_config=shape, batch=8, steps=5, text=text_input.builtin_corpus(), assumed_mfu=0.5), owner=owner,
        limits=jobs.Limits(memory_mb=2000, threads=1)))
    assert [r["phase"] for r in reports][:2] == ["predicted", "memory"] and reports[-1]["phase"] == "done"
    last = reports[-1]
    config = GPTConfig.from_dict(last["config"])
    predicted, measured = config.memory_estimate(8), last["measured_memory"]
    assert last["predicted"]["memory"] == {k: float(v) for k, v in predicted.items()}
    for part in ("weights", "gradients", "optimizer"):
        assert measured[part] == predicted[part]
    assert measured["saved_bytes"] == pytest.approx(predicted["activations"], rel=0.02)
    if measured["peak_rss_increase"] is not None:  # Linux with glibc
        assert measured["peak_rss_increase"] == pytest.approx(predicted["total"], rel=0.2)
    run, tokens = last["measured"], 5 * 8 * 128
    assert run["step"] == 5
    assert last["predicted"]["flops"] == pytest.approx(C.minigpt_flops_per_token(config) * tokens)
    assert run["tokens_per_s"] == pytest.approx(tokens / run["train_time"], rel=1e-6)
    assert run["achieved_mfu"] == pytest.approx(last["predicted"]["flops"] / run["train_time"] / last["flops_per_s"],
                                                rel=1e-6)
    print(f"\nMiniGPT {config.num_params():,} params, batch 8 x 128: predicted {predicted['total'] / 2**20:.1f} MB, "
          f"saved tensors {measured['saved_bytes'] / 2**20:.1f} MB (predicted activations "
          f"{predicted['activations'] / 2**20:.1f}), peak RSS rise {(measured['peak_rss_increase'] or 0) / 2**20:.1f} MB; "
          f"time predicted {last['predicted']['seconds']:.2f} s at 50% MFU, measured {run['train_time']:.2f} s, "
          f"achieved MFU {run['achieved_mfu']:.0%}")


def test_minigpt_flops_count_the_matmuls_by_hand():
    """6 x (blocks' matrices + biases + norms + head) + 12 L d T: the lookup tables do no FLOPs."""
    config = GPTConfig(vocab_size=66, block_size=64, n_layer=2, n_head=4, n_embd=128)
    C_, V, T, L = 128, 66, 64, 2
    per_block = (C_ * 3 * C_ + 3 * C_) + (C_ * C_ + C_) + (C_ * 4 * C_ + 4 * C_) + (4 * C_ * C_ + C_) + 4 * C_
    matmul_params = L * per_block + 2 * C_ + C_ * V
    assert C.minigpt_flops_per_token(config) == 6 * matmul_params + 12 * L * C_ * T
    assert matmul_params == config.num_params() - (V + T) * C_


def test_matmul_measurement_is_a_plausible_cpu_speed():
    flops = C.measure_matmul_flops(size=256, budget_s=0.05, threads=1)
    assert 1e8 < flops < 1e13  # 0.1 GFLOP/s to 10 TFLOP/s: a CPU core, whatever the load
