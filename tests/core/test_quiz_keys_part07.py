"""Part 7's computable keys, from peft itself: a fresh adapter leaves the layer unchanged, and what it trains."""
import torch
from torch import nn

from core import architecture
from core.quizzes import quiz_for


class OneLayer(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.q_proj = nn.Linear(d, d, bias=False)

    def forward(self, x):
        return self.q_proj(x)


def _adapted(d: int, rank: int = 8):
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)  # peft draws A from torch's global generator (a test, not the app)
    return get_peft_model(OneLayer(d), LoraConfig(r=rank, lora_alpha=16, target_modules=["q_proj"]))


def test_a_fresh_adapter_changes_nothing():
    question = quiz_for("part07").questions[0]
    assert "B starts at zero" in question.choices[question.answer]
    model = _adapted(32)
    x = torch.randn(3, 32)
    with model.disable_adapter():
        base = model(x)
    assert torch.equal(model(x), base)
    assert all(torch.count_nonzero(p) == 0 for n, p in model.named_parameters() if "lora_B" in n)


def test_a_rank_8_adapter_on_tinyllamas_query_projection():
    question = quiz_for("part07").questions[1]
    d = architecture.preset("tinyllama-1.1b")["hidden_size"]
    trainable, _ = _adapted(d).get_nb_trainable_parameters()
    assert question.choices[question.answer].startswith(f"{trainable:,} ")


def test_the_share_of_a_layer_grows_as_it_narrows():
    question = quiz_for("part07").questions[3]
    shares = {}
    for d in (2048, 64):
        trainable, total = _adapted(d).get_nb_trainable_parameters()
        shares[d] = 100 * trainable / (total - trainable)
    assert f"{shares[2048]:.2f}% of a 2,048 × 2,048 layer" in question.explanation
    assert f"{shares[64]:.0f}% of a 64 × 64 one" in question.explanation
