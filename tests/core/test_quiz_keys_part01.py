"""Part 1's computable key: GPT-2 small's parameter count, from transformers' own GPT-2 (no weights)."""
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from core.quizzes import part01, quiz_for


def test_gpt2_small_count_is_transformers_count():
    with torch.device("meta"):
        model = GPT2LMHeadModel(GPT2Config())  # GPT-2 small's shape, weights on the meta device
    total = sum(p.numel() for p in model.parameters())  # tied head counted once
    assert part01.gpt2_small_total() == total
    question = quiz_for("part01").questions[2]
    assert question.choices[question.answer] == f"about {total / 1e6:.0f} million"
