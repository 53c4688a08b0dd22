"""Direct Preference Optimization (DPO): the loss, its implicit rewards and its gradient weight.

DPO (Rafailov et al., 2023) trains a policy π on pairs (prompt x, chosen y_c, rejected y_r) against a
frozen reference model (the SFT model it starts from). With the log-probabilities of both answers under
both models, the *implicit rewards* are

    r_c = β·(log π(y_c|x) − log ref(y_c|x)),   r_r = β·(log π(y_r|x) − log ref(y_r|x))

and the loss is  L = −log σ(r_c − r_r) = −log σ(β·h),  h = (log π_c − log ref_c) − (log π_r − log ref_r).

Its gradient with respect to h is −β·σ(−β·h): a pair the policy already ranks right by a wide margin
weighs almost nothing, a pair it ranks wrong weighs up to β. That is the "gradient weight" below.

Numerically: −log σ(z) = softplus(−z) is computed as log1p(exp(−|z|)) + max(−z, 0), so it stays finite
for margins of ±1e4, where log(sigmoid(z)) would give log(0) = −inf. Pure Python floats or torch tensors
(the same formula, through torch.nn.functional.softplus) are accepted.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

MAX_BETA = 10.0  # β beyond this makes the loss a step function: nothing to learn from in the lab


@dataclass(frozen=True)
class DPOTerms:
    """Everything the DPO loss is made of, for one pair (floats) or a batch (tensors)."""

    loss: object  # −log σ(β·h)
    chosen_reward: object  # β·(log π_c − log ref_c)
    rejected_reward: object  # β·(log π_r − log ref_r)
    margin: object  # chosen_reward − rejected_reward = β·h (trl logs it as rewards/margins)
    logratio_delta: object  # h, the margin before scaling by β
    grad_weight: object  # β·σ(−β·h) = −dL/dh
    beta: float

    @property
    def prefers_chosen(self):
        return self.margin > 0


def softplus(x: float) -> float:
    """log(1 + e^x) without overflow for large |x|."""
    return math.log1p(math.exp(-abs(x))) + max(x, 0.0)


def sigmoid(x: float) -> float:
    """σ(x) without overflow: e^x / (1 + e^x) written for the sign of x."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def check_beta(beta: float) -> float:
    beta = float(beta)
    if not (math.isfinite(beta) and 0 < beta <= MAX_BETA):
        raise ValueError(f"β must be a number above 0 and at most {MAX_BETA:g}; got {beta:g}.")
    return beta


def _is_tensor(*values) -> bool:
    return any(type(v).__module__.startswith("torch") for v in values)


def dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta: float) -> DPOTerms:
    """The DPO loss of one pair (floats) or a batch (tensors of equal shape), with its parts.

    The arguments are summed log-probabilities of whole answers (≤ 0), as DPOTrainer computes them.
    """
    beta = check_beta(beta)
    if _is_tensor(policy_chosen, policy_rejected, ref_chosen, ref_rejected):
        return _dpo_loss_tensor(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta)
    values = [float(v) for v in (policy_chosen, policy_rejected, ref_chosen, ref_rejected)]
    if not all(math.isfinite(v) for v in values):
        raise ValueError("Log-probabilities must be finite numbers.")
    pc, pr, rc, rr = values
    chosen, rejected = beta * (pc - rc), beta * (pr - rr)
    margin = chosen - rejected
    return DPOTerms(loss=softplus(-margin), chosen_reward=chosen, rejected_reward=rejected, margin=margin,
                    logratio_delta=(pc - rc) - (pr - rr), grad_weight=beta * sigmoid(-margin), beta=beta)


def _dpo_loss_tensor(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta: float) -> DPOTerms:
    import torch
    import torch.nn.functional as F

    chosen_logratio = policy_chosen - ref_chosen
    rejected_logratio = policy_rejected - ref_rejected
    delta = chosen_logratio - rejected_logratio
    margin = beta * delta
    return DPOTerms(loss=F.softplus(-margin), chosen_reward=beta * chosen_logratio,
                    rejected_reward=beta * rejected_logratio, margin=margin, logratio_delta=delta,
                    grad_weight=beta * torch.sigmoid(-margin), beta=beta)


def loss_curve(beta: float, deltas) -> list[float]:
    """The loss −log σ(β·h) at each log-ratio difference h (for the loss-versus-margin plot)."""
    beta = check_beta(beta)
    return [softplus(-beta * float(h)) for h in deltas]
