"""core.alignment: the DPO loss against trl's own code, a float64 NumPy formula and torch autograd."""
from collections import defaultdict
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from core import alignment

CASES = [  # policy chosen, policy rejected, ref chosen, ref rejected, beta
    (-12.0, -15.0, -13.0, -14.0, 0.1),
    (-40.5, -22.0, -41.0, -20.0, 0.5),
    (-3.0, -3.0, -3.0, -3.0, 1.0),
    (-80.0, -10.0, -60.0, -30.0, 2.0),
    (-5.0, -200.0, -50.0, -9.0, 0.05),
]


def numpy_dpo(pc, pr, rc, rr, beta):
    """The paper's formula in float64, written independently: −log σ(β·h) = log(1 + exp(−β·h))."""
    h = np.float64(pc - rc) - np.float64(pr - rr)
    z = np.float64(beta) * h
    return np.logaddexp(0.0, -z), beta * (pc - rc), beta * (pr - rr), z


class _Accelerator:
    device = torch.device("cpu")

    @staticmethod
    def gather(x):
        return x

    gather_for_metrics = gather


def trl_dpo_loss(pc, pr, rc, rr, beta):
    """trl's DPOTrainer._compute_loss itself (the "sigmoid" loss, standard DPO), called without a model.

    A stand-in model returns per-token log-probabilities whose sums are the given policy log-probs; the
    reference's come precomputed in the batch (precompute_ref_logps), as trl supports."""
    from trl import DPOTrainer

    seq = 4
    log_probs = torch.zeros(2, seq - 1, dtype=torch.float64)
    log_probs[0, 1], log_probs[1, 1] = pc, pr  # batch is [chosen, rejected]
    outputs = SimpleNamespace(log_probs=log_probs, entropy=torch.zeros(2, seq - 1),
                              mean_logits=torch.zeros(2, seq - 1), is_top1=torch.zeros(2, seq - 1, dtype=torch.bool))
    model = lambda **kwargs: outputs  # noqa: E731
    fake = SimpleNamespace(
        model=SimpleNamespace(training=True), accelerator=_Accelerator(), aux_loss_enabled=False, ld_alpha=None,
        precompute_ref_logps=True, f_divergence_type="reverse_kl", loss_types=["sigmoid"], loss_weights=[1.0],
        beta=beta, use_weighting=False, _metrics={"train": defaultdict(list)}, _total_train_tokens=0, _tp_size=1)
    inputs = {"input_ids": torch.ones(2, seq, dtype=torch.long), "attention_mask": torch.ones(2, seq, dtype=torch.long),
              "completion_mask": torch.tensor([[0, 0, 1, 0], [0, 0, 1, 0]]),
              "ref_chosen_logps": torch.tensor([rc], dtype=torch.float64),
              "ref_rejected_logps": torch.tensor([rr], dtype=torch.float64)}
    loss = DPOTrainer._compute_loss(fake, model, inputs, return_outputs=False)
    metrics = fake._metrics["train"]
    return float(loss), metrics["rewards/chosen"][0], metrics["rewards/rejected"][0], metrics["rewards/margins"][0]


@pytest.mark.parametrize("case", CASES)
def test_dpo_loss_equals_trl_and_float64(case):
    ours = alignment.dpo_loss(*case)
    loss, chosen, rejected, margin = numpy_dpo(*case)
    assert ours.loss == pytest.approx(loss, rel=1e-12, abs=1e-12)
    assert ours.chosen_reward == pytest.approx(chosen, rel=1e-12)
    assert ours.rejected_reward == pytest.approx(rejected, rel=1e-12)
    assert ours.margin == pytest.approx(margin, rel=1e-12, abs=1e-12)
    trl_loss, trl_chosen, trl_rejected, trl_margin = trl_dpo_loss(*case)
    assert ours.loss == pytest.approx(trl_loss, rel=1e-9, abs=1e-12)
    assert (ours.chosen_reward, ours.rejected_reward, ours.margin) == pytest.approx(
        (trl_chosen, trl_rejected, trl_margin), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("case", CASES)
def test_gradient_weight_is_minus_dloss_dh_from_autograd(case):
    pc, pr, rc, rr, beta = case
    policy = torch.tensor([pc, pr], dtype=torch.float64, requires_grad=True)
    terms = alignment.dpo_loss(policy[0], policy[1], torch.tensor(rc, dtype=torch.float64),
                               torch.tensor(rr, dtype=torch.float64), beta)
    terms.loss.backward()
    # h = (pc − rc) − (pr − rr), so dL/d pc = dL/dh and dL/d pr = −dL/dh
    assert float(policy.grad[0]) == pytest.approx(-alignment.dpo_loss(*case).grad_weight, rel=1e-12, abs=1e-15)
    assert float(policy.grad[1]) == pytest.approx(alignment.dpo_loss(*case).grad_weight, rel=1e-12, abs=1e-15)
    assert float(terms.grad_weight.detach()) == pytest.approx(alignment.dpo_loss(*case).grad_weight, rel=1e-12)


@pytest.mark.parametrize("h", [1e4, -1e4, 1e3, -1e3])
def test_finite_for_huge_margins(h):
    terms = alignment.dpo_loss(h, 0.0, 0.0, 0.0, 1.0)
    assert np.isfinite(terms.loss) and np.isfinite(terms.grad_weight)
    assert terms.loss == pytest.approx(np.logaddexp(0.0, -h))  # ≈ 0 for +1e4, ≈ 1e4 for −1e4
    t = alignment.dpo_loss(torch.tensor([h]), torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([0.0]), 1.0)
    assert torch.isfinite(t.loss).all() and float(t.loss) == pytest.approx(np.logaddexp(0.0, -h), rel=1e-6)


def test_loss_curve_matches_point_and_bad_beta_refused():
    assert alignment.loss_curve(0.5, [2.0])[0] == pytest.approx(alignment.dpo_loss(-1, -3, -1, -1, 0.5).loss)
    assert alignment.loss_curve(0.1, [0.0])[0] == pytest.approx(np.log(2))
    for beta in (0, -1, float("nan"), 11):
        with pytest.raises(ValueError, match="β"):
            alignment.dpo_loss(-1, -2, -1, -2, beta)
    with pytest.raises(ValueError, match="finite"):
        alignment.dpo_loss(float("-inf"), -2, -1, -2, 0.1)
