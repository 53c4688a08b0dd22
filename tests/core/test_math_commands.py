"""`python -m core softmax | cross-entropy | gradient-descent` print PyTorch's numbers and explain bad input."""
import re

import torch
import torch.nn.functional as F

from core.__main__ import main


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def numbers_after(label, text):
    line = next(line for line in text.splitlines() if line.strip().startswith(label))
    return [float(x) for x in re.findall(r"-?\d+\.\d+|nan", line[len(label) + 2:])]


def test_softmax_prints_torch_probabilities_per_temperature(capsys):
    code, out, _ = run(capsys, "softmax", "--logits", "3, 1, -2, 0.5", "--temperatures", "0.5", "2")
    assert code == 0
    logits = torch.tensor([3, 1, -2, 0.5], dtype=torch.float64)
    for t in (0.5, 2.0):
        probs = torch.softmax(logits / t, -1)
        entropy = torch.distributions.Categorical(probs=probs).entropy().item()
        expected = [round(p, 3) for p in probs.tolist()] + [round(entropy, 3)]
        assert numbers_after(f"T = {t:g}", out) == expected
    naive = next(line for line in out.splitlines() if line.strip().startswith("naive"))
    assert naive.split()[1:4] == ["nan"] * 3
    stable = torch.softmax(torch.tensor([1000.0, 1001, 1002], dtype=torch.float64), -1)
    assert numbers_after("max trick", out) == [round(p, 3) for p in stable.tolist()]


def test_cross_entropy_prints_loss_gradient_and_the_batch_mean(capsys):
    code, out, _ = run(capsys, "cross-entropy", "--logits", "2, 1, 0.1", "--labels", "cat,dog,fish", "--target", "dog",
                       "--batch", "1, 2, 3 -> 2", "--batch", "0, 0, 4 -> 0")
    assert code == 0
    logits = torch.tensor([2, 1, 0.1], dtype=torch.float64, requires_grad=True)
    loss = F.cross_entropy(logits[None], torch.tensor([1]))
    loss.backward()
    assert f"= {loss.item():.4f}" in out
    assert numbers_after("gradient", out) == [round(g, 3) for g in logits.grad.tolist()]
    batch = F.cross_entropy(torch.tensor([[1, 2, 3], [0, 0, 4]], dtype=torch.float64), torch.tensor([2, 0])).item()
    assert f"mean loss {batch:.6f}" in out
    assert "ln 65 = 4.174" in out and "exp(-0.09) = 0.914" in out


def test_gradient_descent_reports_divergence_in_words(capsys):
    code, out, _ = run(capsys, "gradient-descent", "--surface", "bowl", "--optimizer", "SGD", "--lr", "1.5")
    assert code == 0 and "Diverged at step" in out and "inf" not in out.replace("infinity", "")


def test_bad_input_is_a_message_not_a_traceback(capsys):
    code, _, err = run(capsys, "softmax", "--logits", "1, abc")
    assert code == 2 and "'abc' is not a number" in err
    code, _, err = run(capsys, "cross-entropy", "--target", "7")
    assert code == 2 and "index from 0 to 2" in err
    code, _, err = run(capsys, "gradient-descent", "--surface", "bowl", "--start", "1")
    assert code == 2 and "at least 2" in err
