"""Part 9's answer keys against the libraries themselves."""
import torch

from core.quizzes import part09, quiz_for


def key(index: int) -> str:
    question = quiz_for("part09").questions[index]
    return question.choices[question.answer]


def test_the_gradient_key_is_what_autograd_gives():
    w = torch.tensor(part09.W, requires_grad=True)
    loss = ((w * torch.tensor(part09.X)).sum() - part09.Y) ** 2
    loss.backward()
    assert key(1) == "[" + ", ".join(f"{v:g}" for v in w.grad.tolist()) + "]"


def test_the_example_numbers_are_the_examples():
    from core.library_examples import EXAMPLES

    code = EXAMPLES["torch"].code
    assert "torch.tensor([0.5, -1.0]" in code and "torch.tensor([2.0, 3.0])" in code and "torch.tensor(1.0)" in code


def test_sft_trains_on_every_token_by_default():
    from trl import SFTConfig

    assert SFTConfig(output_dir="/tmp/unused-sft", report_to="none", use_cpu=True).assistant_only_loss is False
    assert key(3).startswith("Every token")
