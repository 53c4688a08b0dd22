"""Tab 10's check: each answer key agrees with an independent computation of what it states."""
import numpy as np

from core import compute as C
from core.quizzes import quiz_for


def key(index: int) -> str:
    question = quiz_for("part10").questions[index]
    return question.choices[question.answer]


def test_gpt3_compute_is_6nd():
    flops = np.float64(6) * np.float64(175e9) * np.float64(300e9)
    assert key(0) == f"{flops:.3g} FLOPs" and abs(flops - 3.14e23) / 3.14e23 < 0.01  # the paper's figure


def test_chinchilla_is_20_tokens_per_parameter():
    n = C.preset("tinyllama-1.1b").params
    assert n == 1_100_048_384 and key(1).startswith(f"about {20 * n / 1e9:.0f}B")


def test_more_gpus_keep_the_gpu_hours():
    n, d = 1_100_048_384, 3e12
    hours = {g: 6 * n * d / (g * 312e12 * 0.5) / 3600 * g for g in (8, 16)}
    assert np.isclose(hours[8], hours[16]) and key(2) == f"{hours[16]:,.0f} (the same)"


def test_adamw_mixed_precision_is_16_bytes():
    assert key(3) == f"{2 + 2 + 4 + 4 + 4:g}"


def test_lora_memory_ratio():
    p = C.preset("llama-2-7b")
    s = p.shape
    acts = C.activation_bytes(s, 1, dropout=False)
    lora = C.lora_params(s, 8, "all linear")
    full = 16 * p.params + acts
    low = 2 * p.params + 16 * lora + acts
    assert key(4) == f"about {full / low:.1f}× less"
