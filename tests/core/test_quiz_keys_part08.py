"""Part 8's computable keys, each against an independent computation: the accumulated gradient with and
without ÷k (torch autograd on a plain linear model), tokens per step (NumPy), the shipped sweep's losses (its JSON)."""
import json

import numpy as np
import torch
import torch.nn.functional as F

from core import sessions
from core.quizzes import part08, quiz_for

QUESTIONS = quiz_for("part08").questions


def _gradient(w, x, y, scale=1.0):
    w = w.clone().requires_grad_(True)
    grad = torch.zeros_like(w)
    for xs, ys in zip(x.split(part08.MICRO), y.split(part08.MICRO)):
        (g,) = torch.autograd.grad(F.cross_entropy(xs @ w, ys) * scale, w)
        grad += g  # what backward() does to .grad
    return grad


def test_forgetting_the_division_multiplies_the_gradient_by_k():
    question = QUESTIONS[1]
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(part08.K * part08.MICRO, 5, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (len(x),), generator=gen)
    w = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    wb = w.clone().requires_grad_(True)
    (big,) = torch.autograd.grad(F.cross_entropy(x @ wb, y), wb)
    assert torch.allclose(_gradient(w, x, y, 1 / part08.K), big, atol=1e-12)
    ratio = (_gradient(w, x, y).norm() / big.norm()).item()
    assert np.isclose(ratio, part08.K)
    assert f"{round(ratio)}× the big batch's" in question.choices[question.answer]


def test_tokens_per_optimizer_step():
    question = QUESTIONS[4]
    tokens = int(np.prod([part08.BATCH, part08.CONTEXT, part08.ACCUM, part08.GPUS]))
    assert question.choices[question.answer] == f"{tokens:,}"
    assert f"{tokens:,}" not in question.choices[1:]


def test_the_too_large_explanation_quotes_the_shipped_sweep():
    path = sessions.CHECKPOINTS_DIR / "examples" / "sweep" / "series.json"
    explanation = QUESTIONS[2].explanation
    if not path.is_file():
        assert "example sweep" not in explanation
        return
    raw = json.loads(path.read_text(encoding="utf-8"))
    for run in raw["runs"]:
        assert f"{run['label']} → {run['train_curve'][-1][1]:.2f}" in explanation
