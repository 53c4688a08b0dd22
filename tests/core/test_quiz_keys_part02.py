"""Part 2's computable key: a DPO run's first loss, from torch's logsigmoid at h = 0."""
import math

import torch
import torch.nn.functional as F

from core.quizzes import part02, quiz_for


def test_dpo_starts_at_ln_2():
    loss = -F.logsigmoid(torch.tensor(0.1 * 0.0, dtype=torch.float64)).item()
    assert math.isclose(part02.start_loss(), loss) and math.isclose(loss, math.log(2))
    question = quiz_for("part02").questions[3]
    assert question.choices[question.answer] == f"about {loss:.3f} (ln 2)"
