"""Part 10's check: training compute, GPU-hours and memory. Numbers come from core.compute, never typed."""
from __future__ import annotations

from core import compute as C
from core.quiz import Question, Quiz

GPT3_PARAMS, GPT3_TOKENS = 175e9, 300e9
HOURS_GPUS = (8, 16)  # the same run on 8, then 16 A100s


def _flops(x: float) -> str:
    return f"{x:.3g} FLOPs"


def _gpt3() -> Question:
    flops = C.training_flops(GPT3_PARAMS, GPT3_TOKENS)
    return Question(
        prompt="GPT-3 has 175B parameters and trained on 300B tokens. About how much training compute is that (6·N·D)?",
        choices=(_flops(flops), _flops(flops / 6), _flops(flops * 1000), _flops(GPT3_PARAMS + GPT3_TOKENS)),
        answer=0,
        explanation=(f"6 × 1.75·10¹¹ × 3·10¹¹ = {flops:.3g}: 2 FLOPs per parameter per token forward, 4 backward. "
                     "The paper reports 3.14 × 10²³."))


def _chinchilla() -> Question:
    p = C.preset("tinyllama-1.1b")
    optimal = C.chinchilla_tokens(p.params)
    return Question(
        prompt=f"Chinchilla-optimal training gives a model about how many tokens? For {p.label} ({p.params / 1e9:.2f}B parameters):",
        choices=(f"about {optimal / 1e9:.0f}B tokens (20 per parameter)", f"about {p.params / 1e9:.1f}B tokens (1 per parameter)",
                 f"about {p.tokens / 1e12:.0f}T tokens (its published run)", "as many as the data set has"),
        answer=0,
        explanation=(f"Hoffmann et al. 2022: ~20 tokens per parameter, {optimal:.3g} tokens here. TinyLlama trained on "
                     f"{p.tokens:.0e} tokens, {p.tokens / optimal:.0f}× that: over-trained on purpose, cheap to run."))


def gpu_hours(gpus: int) -> float:
    """TinyLlama's published run on `gpus` A100s at 50 % MFU (6ND only): its GPU-hours."""
    p = C.preset("tinyllama-1.1b")
    return C.estimate(p.params, p.tokens, "A100", gpus, 0.5).gpu_hours


def _more_gpus() -> Question:
    few, many = (gpu_hours(n) for n in HOURS_GPUS)
    return Question(
        prompt=(f"A run takes {few:,.0f} GPU-hours on {HOURS_GPUS[0]} A100s. At the same MFU, how many GPU-hours on "
                f"{HOURS_GPUS[1]} A100s?"),
        choices=(f"{many:,.0f} (the same)", f"{many / 2:,.0f} (half)", f"{many * 2:,.0f} (twice)", f"{many * 4:,.0f} (four times)"),
        answer=0,
        explanation=("The FLOPs are the same, so the GPU-seconds are the same: twice the GPUs finish in half the "
                     "time, and the bill (GPU-hours × price) does not change. Below perfect scaling the MFU drops, "
                     "and then the bill grows."))


def _adam_bytes() -> Question:
    b = C.TRAINABLE_BYTES
    return Question(
        prompt="Full fine-tuning with mixed-precision AdamW keeps how many bytes per parameter (before activations)?",
        choices=(f"{b:g}", "2", "4", "8"),
        answer=0,
        explanation=("bf16 weights (2) + bf16 gradients (2) + an fp32 master copy (4) + two fp32 Adam moments "
                     f"(4 + 4) = {b:g}: a 7B model needs ~{b * 7:g} GB before a single activation."))


def _lora_memory() -> Question:
    p = C.preset("llama-2-7b")
    table = C.memory_table(p.shape, p.params)
    full, lora = table["full_finetune"]["total"], table["lora"]["total"]
    return Question(
        prompt=f"{p.label}, batch 1: LoRA (r = 8) needs about how much less GPU memory than full fine-tuning?",
        choices=(f"about {full / lora:.1f}× less", "about the same", "about 1000× less", "more: the adapter is extra"),
        answer=0,
        explanation=(f"The lab: full fine-tuning {full / 1e9:.0f} GB, LoRA {lora / 1e9:.0f} GB. LoRA still keeps the "
                     "frozen bf16 weights and the activations, but no gradients or Adam state for them."))


QUIZ = Quiz("compute, GPU-hours and memory", (_gpt3(), _chinchilla(), _more_gpus(), _adam_bytes(), _lora_memory()))
