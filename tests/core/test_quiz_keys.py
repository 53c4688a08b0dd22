"""Each check's answer key agrees with an independent computation of what it states."""
import math

import numpy as np

from core import optimizers as O
from core.quizzes import quiz_for


def key(part: str, index: int) -> str:
    question = quiz_for(part).questions[index]
    return question.choices[question.answer]


def test_part03_untrained_loss_is_ln_65():
    assert f"{math.log(65):.2f}" in key("part03", 0)


def test_part03_max_trick_changes_nothing():
    z = np.array([3.2, 2.1, 1.8])
    naive = np.exp(z) / np.exp(z).sum()
    shifted = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    assert np.allclose(naive, shifted) and key("part03", 1).startswith("Nothing")


def test_part03_gradient_on_the_correct_logit_is_p_minus_one():
    import torch
    z = torch.tensor([2.0, 1.0, 0.1], dtype=torch.float64, requires_grad=True)
    torch.nn.functional.cross_entropy(z[None], torch.tensor([0])).backward()
    p = torch.softmax(z.detach(), -1)
    assert torch.isclose(z.grad[0], p[0] - 1) and key("part03", 2).startswith("p − 1")


def test_part03_cold_softmax_is_greedy():
    z = np.array([3.2, 2.1, 1.8])
    cold = np.exp((z - z.max()) / 0.01)
    assert (cold / cold.sum())[0] > 0.999 and "top token" in key("part03", 3)


def test_part03_momentum_wins_on_the_valley():
    # the valley's loss only, with central-difference gradients and heavy-ball momentum written out here
    surface = O.SURFACES["valley"]
    results = {}
    for name, beta in (("SGD", 0.0), ("Momentum", 0.9)):
        theta, velocity = np.array(surface.start, dtype=float), np.zeros(2)
        for _ in range(40):
            gradient = np.array([(surface.loss_at(theta + h) - surface.loss_at(theta - h)) / 2e-6 for h in np.eye(2) * 1e-6])
            velocity = beta * velocity + gradient
            theta = theta - 0.05 * velocity
        results[name] = float(surface.loss(*theta))
    assert results["Momentum"] < results["SGD"] and key("part03", 4) == "Momentum"
