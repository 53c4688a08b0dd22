"""Part 4's computable keys: the untrained loss from torch's cross-entropy, the width rule from a real model."""
import math

import torch
import torch.nn.functional as F

from core import text_input
from core.minigpt.config import GPTConfig
from core.minigpt.model import MiniGPT
from core.quizzes import quiz_for


def test_an_untrained_model_starts_near_ln_v():
    question = quiz_for("part04").questions[0]
    vocab = len(set(text_input.learner_text(text_input.BUILTIN)))
    uniform = F.cross_entropy(torch.zeros(1, vocab), torch.tensor([0])).item()
    assert f"{uniform:.2f} nats (ln {vocab})" in question.choices[question.answer]
    model = MiniGPT(GPTConfig(vocab_size=vocab, block_size=32, n_layer=2, n_head=4, n_embd=64), seed=0)
    x = torch.randint(0, vocab, (4, 32), generator=torch.Generator().manual_seed(1))
    _, loss = model(x, x)
    assert abs(loss.item() - uniform) < 0.3  # a real fresh model's loss is there


def test_doubling_the_width_multiplies_the_blocks_by_about_four():
    question = quiz_for("part04").questions[3]

    def block_weights(width):
        model = MiniGPT(GPTConfig(vocab_size=66, block_size=192, n_layer=4, n_head=4, n_embd=width), seed=0)
        return sum(p.numel() for name, p in model.named_parameters() if name.startswith("blocks."))

    small, big = block_weights(128), block_weights(256)
    assert small > 0 and question.choices[question.answer].startswith("4 ")
    assert f"{small:,} to {big:,}" in question.explanation and round(big / small) == 4
    assert math.isclose(big / small, 4, rel_tol=0.02)
